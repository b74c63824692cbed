/*
 * check_db_exhaust.c - resource exhaustion on the read side: a store with
 * many tables is read whole under a file descriptor limit of 64, and
 * forked workers read everything with the Limiter at 0 (no table mapped at
 * all). Writes that stall on a full arena are in check_db_write.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

/* `ulimit -n 64`: a store of a few hundred tables is opened and read
 * whole, by point reads and a scan, with 64 descriptors. */
START_TEST(many_tables_under_fd_limit_64)
{
    fc_options o = fct_small_opts();
    o.max_file_size = 64 * 1024;
    fc_store *s = fct_open_in(&o);
    char k[32], v[2000];
    memset(v, 'f', sizeof v);
    const int n = 12000;   /* ~24 MB: about 350 tables of 64 KiB */
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    struct rlimit rl = { 64, 64 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    s = fct_open_in(&o);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    uint32_t tables = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        tables += st.files[l];
    ck_assert_uint_gt(tables, 128); /* twice the descriptors there are */
    fc_txn *t;
    fc_val got;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        ck_assert_msg(fc_get(t, k, strlen(k), &got) == 0, "get %s: %s", k, fc_errmsg(s));
        ck_assert_uint_eq(got.size, sizeof v);
    }
    fc_iter *it;
    int seen = 0;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    for (int rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it))
        seen++;
    ck_assert_int_eq(fc_iter_status(it), 0);
    ck_assert_int_eq(seen, n);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    /* And it still writes, flushes and compacts. */
    ck_assert_int_eq(fc_put(s, "after", 5, "x", 1), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* Limiter at 0: no process may map a table, so forked workers read every
 * table through pread and the shared block cache, and still see all. */
START_TEST(limiter_zero_workers_read_everything)
{
    fc_options o = fct_small_opts();
    o.max_mappings = 0;
    fc_store *s = fct_open_in(&o);
    char k[32], v[300];
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        memset(v, 'a' + i % 26, sizeof v);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    pid_t pids[2];
    for (int w = 0; w < 2; w++) {
        pids[w] = fc_fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] != 0)
            continue;
        fc_txn *t;
        fc_val got;
        fc_stats st;
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        for (int i = w; i < n; i += 2) {
            fct_key_of(k, "key", 8, i);
            if (fc_get(t, k, strlen(k), &got) != 0 || got.size != sizeof v ||
                ((const char *)got.data)[0] != 'a' + i % 26)
                _exit(3);
        }
        if (fc_txn_end(t) != 0 || fc_stats_get(s, &st) != 0)
            _exit(4);
        /* nothing mapped, all read by pread, and the cache was used */
        _exit(st.tables_mapped == 0 && st.tables_pread > 0 &&
                      st.block_cache_hits + st.block_cache_misses > 0 ? 0 : 5);
    }
    for (int w = 0; w < 2; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d status %#x", w,
                      status);
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.mappings_in_use, 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *exhaust_suite(void)
{
    Suite *s = suite_create("db_exhaust");
    TCase *tf = tcase_create("fd_limit");
    tcase_add_checked_fixture(tf, fct_setup, fct_teardown);
    tcase_set_timeout(tf, 180);
    tcase_add_test(tf, many_tables_under_fd_limit_64);
    tcase_add_test(tf, limiter_zero_workers_read_everything);
    suite_add_tcase(s, tf);
    return s;
}

FCT_MAIN(exhaust_suite)
