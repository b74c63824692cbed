/*
 * fc_test.h - what every Check suite of forkcache shares: a main() that runs
 * one suite with each test in its own process (so a crash fails one test,
 * not the run), and small helpers for scratch directories.
 */
#ifndef FC_TEST_H
#define FC_TEST_H

#include <check.h>
#include <dirent.h>
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

/* How many files in dir end in suffix; path gets the last one's full path.
 * Tests use it to find "the" WAL or table of a store. */
static inline int fc_test_find_suffix(const char *dir, const char *suffix, char *path,
                                      size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl > sl && strcmp(e->d_name + nl - sl, suffix) == 0) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static inline int fc_test_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

#endif
