/*
 * check_db_store.c - the store end to end in one writer process and its
 * forked readers: limits and bad arguments, flushes and compactions that
 * keep every key, the LOCK, file modes, reads from children while the
 * parent writes, and the figures fc_stats reports. The write path,
 * reclamation and recovery have their own suites (check_db_write,
 * check_db_reclaim, check_db_recover).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

START_TEST(limits_and_bad_arguments)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    static char big[FC_MAX_KEY_SIZE + 1];
    ck_assert_int_eq(fc_put(s, big, sizeof big, "v", 1), FC_ETOOBIG);
    ck_assert_int_eq(fc_put(s, big, FC_MAX_KEY_SIZE, "v", 1), 0);
    ck_assert_int_eq(fc_put(s, NULL, 3, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_put(NULL, "k", 1, "v", 1), FC_EINVAL);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    ck_assert_int_eq(fc_get(t, big, sizeof big, &v), FC_ETOOBIG);
    ck_assert_int_eq(fc_get(t, NULL, 1, &v), FC_EINVAL);
    ck_assert_int_eq(fc_get(t, "k", 1, NULL), FC_EINVAL);
    fc_txn_end(t);
    ck_assert_int_eq(fc_txn_begin(NULL, &t), FC_EINVAL);
    fc_close(s);
    ck_assert_int_eq(fc_open(NULL, &o, &s), FC_EINVAL);
    o.block_size = 1;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EINVAL);
}
END_TEST

START_TEST(flush_and_compaction_keep_every_key)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    const int n = 6000;
    for (int gen = 0; gen < 2; gen++)
        for (int i = 0; i < n; i++) {
            fct_key_of(k, "key", 6, i);
            fct_val_of(v, i, gen);
            ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
        }
    for (int i = 0; i < n; i += 3) {
        fct_key_of(k, "key", 6, i);
        ck_assert_int_eq(fc_del(s, k, strlen(k)), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++) {
            fct_key_of(k, "key", 6, i);
            fct_val_of(v, i, 1);
            fct_expect(s, k, i % 3 == 0 ? NULL : v);
        }
        ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    for (int i = 1; i < n; i += 7) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 1);
        fct_expect(s, k, i % 3 == 0 ? NULL : v);
    }
    fc_close(s);
}
END_TEST

START_TEST(second_writer_is_busy)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A different process, so the fcntl lock really conflicts. */
        fc_store *other = NULL;
        int rc = fc_open(fct_dir, &o, &other);
        _exit(rc == FC_EBUSY && strstr(fc_errmsg(NULL), "locked by process") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fc_close(s);
}
END_TEST

START_TEST(missing_store_without_create)
{
    fc_options o = fct_small_opts();
    o.flags = 0;
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_ENOTFOUND);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "CURRENT"));
}
END_TEST

static int private_files;

/* nftw callback: every regular file of the store is mode 0600; anything
 * nftw cannot stat fails the walk (and so the test). */
static int check_private(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    ck_assert_msg(type != FTW_NS && type != FTW_DNR, "%s: cannot stat or read", path);
    if (type == FTW_F) {
        ck_assert_msg(S_ISREG(st->st_mode) && (st->st_mode & 07777) == 0600,
                      "%s: mode %o, not 0600", path, (unsigned)(st->st_mode & 07777));
        private_files++;
    }
    return 0;
}

START_TEST(files_are_private_by_default)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fct_put_str(s, "k", "v");
    ck_assert_int_eq(fc_flush(s), 0);
    fc_close(s);
    private_files = 0;
    ck_assert_int_eq(nftw(fct_dir, check_private, 8, FTW_PHYS), 0);
    ck_assert_int_ge(private_files, 3); /* at least CURRENT, a MANIFEST and a table */
}
END_TEST

/* Forked children read what the parent wrote, zero-copy through the arena
 * and the tables, while the parent keeps writing and flushing. */
START_TEST(forked_readers_see_writes)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    pid_t kids[4];
    for (int c = 0; c < 4; c++) {
        kids[c] = fc_fork();
        ck_assert_int_ge(kids[c], 0);
        if (kids[c] == 0) {
            if (fc_after_fork(s) != 0)
                _exit(3);
            for (int round = 0; round < 3; round++)
                for (int i = c; i < 3000; i += 4) {
                    fc_txn *t;
                    fc_val got;
                    fct_key_of(k, "key", 6, i);
                    if (fc_txn_begin(s, &t) != 0)
                        _exit(4);
                    int rc = fc_get(t, k, strlen(k), &got);
                    int bad = rc != 0 || got.size < 8 || memcmp(got.data, "value-", 6) != 0;
                    fc_txn_end(t);
                    if (bad)
                        _exit(5);
                }
            fc_close(s);
            _exit(0);
        }
    }
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 1);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    for (int c = 0; c < 4; c++) {
        int status;
        waitpid(kids[c], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d: status %d", c, status);
    }
    fc_close(s);
}
END_TEST

/* Figures agree with what was done, and a forked reader sees the same
 * store-wide ones (they live in the arena) plus its own slot. */
START_TEST(stats_in_writer_and_reader)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    fct_key_of(k, "key", 6, 5);
    fct_val_of(v, 5, 0);
    fct_expect(s, k, v); /* maps a table */
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_int_eq(st.writer_pid, getpid());
    ck_assert_uint_eq(st.last_sequence, 3000);
    ck_assert_uint_ge(st.flushes, 1);
    ck_assert_uint_ge(st.compactions + st.files[1] + st.files[2], 1);
    uint32_t files = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        files += st.files[l];
    ck_assert_uint_ge(files, 2);
    ck_assert_uint_eq(st.files[0], 0); /* a full compaction empties L0 */
    ck_assert_uint_ge(st.tables_mapped, 1);
    ck_assert_uint_ge(st.mappings_in_use, 1);
    ck_assert_uint_eq(st.mappings_capacity, 1000);
    ck_assert_uint_ge(st.readers, 1);
    ck_assert_int_eq(st.stall, FC_STALL_NONE);
    ck_assert_uint_gt(st.arena_in_use, 0);
    ck_assert_uint_gt(st.block_cache_size, 0);       /* the writer carved one */
    ck_assert_uint_eq(st.block_cache_misses, 0);     /* mapped, uncompressed: unused */
    pid_t pid = fc_fork();
    if (pid == 0) {
        fc_stats cs;
        fc_reader_stat rs[16];
        size_t n = 0;
        int mine = 0;
        if (fc_after_fork(s) != 0 || fc_stats_get(s, &cs) != 0 ||
            fc_stats_readers(s, rs, 16, &n) != 0)
            _exit(2);
        for (size_t i = 0; i < n; i++)
            mine |= rs[i].pid == getpid();
        _exit(cs.writer_pid == getppid() && cs.last_sequence == 3000 && cs.flushes == st.flushes &&
              cs.tables_mapped == 0 && n >= 2 && mine ? 0 : 3);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_eq(fc_stats_get(NULL, &st), FC_EINVAL);
    fc_close(s);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("db_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, limits_and_bad_arguments);
    tcase_add_test(tc, flush_and_compaction_keep_every_key);
    tcase_add_test(tc, second_writer_is_busy);
    tcase_add_test(tc, missing_store_without_create);
    tcase_add_test(tc, files_are_private_by_default);
    tcase_add_test(tc, forked_readers_see_writes);
    tcase_add_test(tc, stats_in_writer_and_reader);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(store_suite)
