/*
 * proc.c - process identity (see proc.h). The pid cache is process-wide
 * mutable state, and fork-safe by construction: the atfork child handler
 * runs in the child's only thread before fork() returns there.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/io.h"
#include "util/proc.h"

static _Atomic pid_t cached_pid;      /* 0 = not known yet */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
    atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_pid);
}

/* Relaxed is enough: every thread that stores computes the same value. */
pid_t fci_getpid(void)
{
    pid_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (pid != 0)
        return pid;
    pthread_once(&atfork_once, register_atfork);
    pid = getpid();
    atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
    return pid;
}

/* /proc/<pid>/stat from just after the command name (field 2), which may
 * hold spaces and parentheses: so after the last ')'. NULL when the
 * process is gone or the file cannot be read. */
static const char *stat_after_name(int pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = fci_io_open(FCI_IO_SITE_PROC_OPEN, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    ssize_t n = fci_io_read(FCI_IO_SITE_PROC_READ, fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p + 1 : NULL;
}

/* Field 22 of /proc/<pid>/stat: the start time, in clock ticks since boot. */
uint64_t fci_proc_start_time(int pid)
{
    char buf[1024];
    const char *p = stat_after_name(pid, buf, sizeof buf);
    if (p == NULL)
        return 0;
    /* after ')' come fields 3, 4, ...: skip 19 of them to reach field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return 0;
    }
    unsigned long long v = 0;
    if (sscanf(p, " %llu", &v) != 1)
        return 0;
    return (uint64_t)v;
}

/* Field 3, the state: a killed process stays a zombie (Z, or X while it
 * goes) until its parent reaps it, and holds nothing meanwhile. */
int fci_proc_zombie(int pid)
{
    char buf[1024];
    const char *p = stat_after_name(pid, buf, sizeof buf);
    return p != NULL && (p[1] == 'Z' || p[1] == 'X');
}

/* kill(pid, 0) says whether a pid exists: EPERM means it does, owned by
 * someone else. */
static int pid_gone(int pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

/* The start time says whether the pid still names the same process. */
int fci_proc_alive(int pid, uint64_t start)
{
    if (pid <= 0 || pid_gone(pid))
        return 0;
    if (start == 0)
        return 1;
    uint64_t now = fci_proc_start_time(pid);
    if (now == 0)
        return 0;   /* vanished between the two checks */
    return now == start;
}

/* pid in the low half, the low 32 bits of its start time in the high half:
 * one word, so an owner is never seen half-written. Cached per process
 * (reading /proc on every write would cost more than the write); relaxed,
 * since every thread of a process computes the same value. A forked child
 * has another pid, so it never takes its parent's cached word. */
static _Atomic uint64_t owner_word_cache;

uint64_t fci_owner_word_self(void)
{
    uint64_t w = atomic_load_explicit(&owner_word_cache, memory_order_relaxed);
    if ((uint32_t)w == (uint32_t)fci_getpid())
        return w;
    uint64_t start = fci_proc_start_time(fci_getpid());
    w = (uint64_t)(uint32_t)fci_getpid() | (start & 0xffffffffu) << 32;
    atomic_store_explicit(&owner_word_cache, w, memory_order_relaxed);
    return w;
}

/* An unreadable start time (0) leaves the owner alive: only a pid that is
 * gone, or a start time that differs, proves it dead. */
int fci_owner_word_dead(uint64_t owner)
{
    if (owner == 0)
        return 1;
    int pid = (int)(uint32_t)owner;
    if (pid_gone(pid))
        return 1;
    uint64_t start = fci_proc_start_time(pid);
    return start != 0 && (start & 0xffffffffu) != owner >> 32;
}
