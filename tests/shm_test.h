/*
 * shm_test.h - helpers shared by the shm suites: small arenas, children
 * that report back through a pipe, and killing/reaping them.
 */
#ifndef FC_SHM_TEST_H
#define FC_SHM_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "shm/arena.h"

/* An anonymous arena of size bytes with the given slot and mapping counts. */
static inline fci_arena *shm_test_anon(size_t size, uint32_t slots, uint32_t mappings)
{
    fci_arena_config cfg;
    fci_arena *a = NULL;
    fci_err e;
    fci_arena_config_init(&cfg);
    cfg.size = size;
    cfg.reader_slots = slots;
    cfg.max_mappings = mappings;
    int rc = fci_arena_create(&cfg, &a, &e);
    ck_assert_msg(rc == 0, "create: %s", e.msg);
    return a;
}

/* Seconds since an arbitrary start, for bounding stress loops. */
static inline double shm_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one byte from fd (a child's "I am ready"), failing the test on EOF. */
static inline void shm_test_wait_byte(int fd)
{
    char c;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    ck_assert_int_eq((int)n, 1);
}

/* SIGKILLs pid and reaps it. */
static inline void shm_test_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Waits for pid and returns its exit status, or -1 if it did not exit. */
static inline int shm_test_reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

#endif
