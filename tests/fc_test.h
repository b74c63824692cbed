/*
 * fc_test.h - what every Check suite of forkcache shares: a main() that runs
 * one suite with each test in its own process (so a crash fails one test,
 * not the run), and small helpers for scratch directories.
 */
#ifndef FC_TEST_H
#define FC_TEST_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CK_FORK_GETENV: fork per test unless CK_FORK=no (handy under gdb). */
#define FC_TEST_MAIN(suite_fn)                                   \
    int main(void)                                               \
    {                                                            \
        SRunner *sr = srunner_create(suite_fn());                \
        srunner_set_fork_status(sr, CK_FORK_GETENV);             \
        srunner_run_all(sr, CK_NORMAL);                          \
        int failed = srunner_ntests_failed(sr);                  \
        srunner_free(sr);                                        \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;        \
    }

/* Makes a fresh directory under $TMPDIR (or /tmp) and returns its path in a
 * static buffer; the test removes it with fc_test_rmtree. */
static inline const char *fc_test_tmpdir(void)
{
    static char path[4096];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fctest.XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(path) == NULL)
        return NULL;
    return path;
}

static inline int fc_test_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

#endif
