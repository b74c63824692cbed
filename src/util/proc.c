/*
 * proc.c - the cached pid. The cache is process-wide mutable state, and
 * fork-safe by construction: the atfork child handler runs in the child's
 * only thread before fork() returns there.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

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
