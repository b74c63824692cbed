/*
 * proc_test.h - what the multi-process store suites share: shared memory
 * for the counts children report, forking workers that become readers of
 * the store and run one function, and waiting for them to succeed.
 */
#ifndef FC_PROC_TEST_H
#define FC_PROC_TEST_H

#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"
#include "forkcache.h"

/* Zeroed anonymous memory shared with every child forked afterwards. */
static inline void *fc_test_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, bytes);
    return p;
}

/* A worker's body: its exit status (0 = every check held). */
typedef int (*fc_test_worker)(fc_store *s, int w, void *arg);

/* Forks worker w: it calls fc_after_fork (exit 100 if that fails), then
 * exits with fn's answer. */
static inline pid_t fc_test_fork_worker(fc_store *s, int w, fc_test_worker fn, void *arg)
{
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fc_after_fork(s) != 0 ? 100 : fn(s, w, arg));
    return pid;
}

static inline void fc_test_wait_ok(pid_t pid, const char *what)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d (exit %d)", what,
                  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Runs n workers at once and checks that each exited 0. */
static inline void fc_test_run_workers(fc_store *s, int n, fc_test_worker fn, void *arg)
{
    pid_t kids[64];
    ck_assert_int_le(n, 64);
    for (int w = 0; w < n; w++)
        kids[w] = fc_test_fork_worker(s, w, fn, arg);
    for (int w = 0; w < n; w++)
        fc_test_wait_ok(kids[w], "worker");
}

#endif
