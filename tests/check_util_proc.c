/*
 * check_util_proc.c - the cached pid follows fork(): a child that asked for
 * its pid before never gets its parent's.
 */
#include "config.h"

#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "util/proc.h"

START_TEST(matches_getpid)
{
    ck_assert_int_eq(fci_getpid(), getpid());
    ck_assert_int_eq(fci_getpid(), getpid()); /* cached path */
}
END_TEST

START_TEST(child_sees_its_own_pid)
{
    pid_t parent = fci_getpid(); /* fills the cache before the fork */
    for (int gen = 0; gen < 3; gen++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(fci_getpid() == getpid() && fci_getpid() != parent ? 0 : 1);
        int status;
        waitpid(pid, &status, 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    ck_assert_int_eq(fci_getpid(), parent);
}
END_TEST

static Suite *proc_suite(void)
{
    Suite *s = suite_create("util_proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, matches_getpid);
    tcase_add_test(tc, child_sees_its_own_pid);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(proc_suite)
