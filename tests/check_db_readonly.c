/*
 * check_db_readonly.c - FC_READONLY on a closed forkcache store: tables and
 * WAL contents are visible to gets and iterators (in forked children too),
 * writes are refused, and the directory is byte for byte what it was.
 */
#include "config.h"

#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define NKEYS 6000

static size_t val_of(char *buf, int i, int gen)
{
    return (size_t)sprintf(buf, "value-%d-%d-%0*d", i, gen, 10 + i % 60, i);
}

/* Expected generation per key: -1 deleted or never written. */
static int gen_of[NKEYS];

/* Tables at several levels, then writes that stay only in the WAL. */
static void build_store(void)
{
    fc_options o = fct_small_opts();
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    char k[32], v[128];
    for (int i = 0; i < NKEYS; i++) {
        ck_assert_int_eq(fc_put(s, k, fct_key_of(k, "key", 6, i), v, val_of(v, i, 0)), 0);
        gen_of[i] = 0;
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int i = 0; i < NKEYS; i += 5) {
        ck_assert_int_eq(fc_put(s, k, fct_key_of(k, "key", 6, i), v, val_of(v, i, 1)), 0);
        gen_of[i] = 1;
    }
    for (int i = 1; i < NKEYS; i += 9) {
        ck_assert_int_eq(fc_del(s, k, fct_key_of(k, "key", 6, i)), 0);
        gen_of[i] = -1;
    }
    ck_assert_int_eq(fc_flush(s), 0);
    /* Only in the WAL: a few overwrites, deletes and a new key. */
    for (int i = 2; i < NKEYS; i += 500) {
        ck_assert_int_eq(fc_put(s, k, fct_key_of(k, "key", 6, i), v, val_of(v, i, 2)), 0);
        gen_of[i] = 2;
    }
    for (int i = 3; i < NKEYS; i += 700) {
        ck_assert_int_eq(fc_del(s, k, fct_key_of(k, "key", 6, i)), 0);
        gen_of[i] = -1;
    }
    ck_assert_int_eq(fc_put(s, "zz-wal-only", 11, "fresh", 5), 0);
    ck_assert_int_eq(fc_close(s), 0);
}

/* Every key by get, and a full scan each way; 0 when all agree. */
static int check_contents(fc_store *s)
{
    fc_txn *t;
    if (fc_txn_begin(s, &t) != 0)
        return 1;
    char k[32], v[128];
    int bad = 0;
    for (int i = 0; i < NKEYS && !bad; i++) {
        fc_val got;
        int rc = fc_get(t, k, fct_key_of(k, "key", 6, i), &got);
        if (gen_of[i] < 0) {
            bad = rc != FC_ENOTFOUND;
        } else {
            size_t n = val_of(v, i, gen_of[i]);
            bad = rc != 0 || got.size != n || memcmp(got.data, v, n) != 0;
        }
    }
    fc_val got;
    bad |= fc_get(t, "zz-wal-only", 11, &got) != 0 || got.size != 5;
    fc_iter *it;
    if (fc_iter_new(t, &it) != 0)
        return 1;
    int i = 0, rc;
    for (rc = fc_iter_first(it); rc == 0 && !bad; rc = fc_iter_next(it)) {
        while (i < NKEYS && gen_of[i] < 0)
            i++;
        fc_val key = fc_iter_key(it), val = fc_iter_value(it);
        if (i == NKEYS) {
            bad = key.size != 11 || memcmp(key.data, "zz-wal-only", 11) != 0;
        } else {
            size_t kl = fct_key_of(k, "key", 6, i), vl = val_of(v, i, gen_of[i]);
            bad = key.size != kl || memcmp(key.data, k, kl) != 0 || val.size != vl ||
                  memcmp(val.data, v, vl) != 0;
        }
        i++;
    }
    bad |= rc != FC_ENOTFOUND || i != NKEYS + 1;
    i = NKEYS;
    for (rc = fc_iter_last(it); rc == 0 && !bad; rc = fc_iter_prev(it)) {
        if (i == NKEYS) {
            bad = fc_iter_key(it).size != 11;
        } else {
            size_t kl = fct_key_of(k, "key", 6, i), vl = val_of(v, i, gen_of[i]);
            fc_val key = fc_iter_key(it), val = fc_iter_value(it);
            bad = key.size != kl || memcmp(key.data, k, kl) != 0 || val.size != vl ||
                  memcmp(val.data, v, vl) != 0;
        }
        do
            i--;
        while (i >= 0 && gen_of[i] < 0);
    }
    bad |= rc != FC_ENOTFOUND || i != -1;
    fc_iter_free(it);
    fc_txn_end(t);
    return bad;
}

START_TEST(reads_tables_and_wal_and_changes_nothing)
{
    build_store();
    char *before = fct_dir_snapshot(fct_dir);
    ck_assert_ptr_nonnull(before);
    ck_assert_msg(strstr(before, ".log ") != NULL && strstr(before, ".log 0 ") == NULL,
                  "expected a non-empty WAL:\n%s", before);
    ck_assert_msg(strstr(before, ".ldb ") != NULL, "expected tables:\n%s", before);
    usleep(20000); /* a write now would show in the mtimes */
    fc_options o = fct_small_opts();
    o.flags = FC_READONLY;
    fc_store *s;
    int rc = fc_open(fct_dir, &o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    ck_assert_int_eq(check_contents(s), 0);
    /* Writes of every kind are refused. */
    ck_assert_int_eq(fc_put(s, "a", 1, "b", 1), FC_EREADONLY);
    ck_assert_int_eq(fc_del(s, "key000000", 9), FC_EREADONLY);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "a", 1, "b", 1), 0);
    ck_assert_int_eq(fc_write(s, b, 0), FC_EREADONLY);
    fc_batch_free(b);
    ck_assert_int_eq(fc_flush(s), FC_EREADONLY);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), FC_EREADONLY);
    /* A forked worker reads through the private arena it inherited. */
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = fc_after_fork(s) == 0 && check_contents(s) == 0 &&
                 fc_put(s, "a", 1, "b", 1) == FC_EREADONLY;
        ok = ok && fc_close(s) == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(check_contents(s), 0);
    ck_assert_int_eq(fc_close(s), 0);
    char *after = fct_dir_snapshot(fct_dir);
    ck_assert_msg(strcmp(before, after) == 0, "directory changed:\nbefore:\n%s\nafter:\n%s",
                  before, after);
    free(before);
    free(after);
    /* The store still opens for writing and has lost nothing. */
    fc_options w = fct_small_opts();
    ck_assert_int_eq(fc_open(fct_dir, &w, &s), 0);
    ck_assert_int_eq(check_contents(s), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Two read-only handles at once, and beside a read-only one no LOCK is
 * taken: a writer can still open the store (and real LevelDB could). */
START_TEST(no_lock_taken)
{
    build_store();
    fc_options o = fct_small_opts();
    o.flags = FC_READONLY;
    fc_store *r1, *r2, *w;
    ck_assert_int_eq(fc_open(fct_dir, &o, &r1), 0);
    ck_assert_int_eq(fc_open(fct_dir, &o, &r2), 0);
    fc_options wo = fct_small_opts();
    ck_assert_int_eq(fc_open(fct_dir, &wo, &w), 0);
    ck_assert_int_eq(fc_close(w), 0);
    ck_assert_int_eq(check_contents(r1), 0);
    ck_assert_int_eq(check_contents(r2), 0);
    ck_assert_int_eq(fc_close(r1), 0);
    ck_assert_int_eq(fc_close(r2), 0);
}
END_TEST

START_TEST(missing_store_is_not_created)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/nothing-here", fct_dir);
    fc_options o = fct_small_opts();
    o.flags = FC_READONLY | FC_CREATE;
    fc_store *s = (fc_store *)1;
    ck_assert_int_eq(fc_open(path, &o, &s), FC_ENOTFOUND);
    ck_assert_ptr_null(s);
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0);
    /* An empty directory: nothing appears in it either. */
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_ENOTFOUND);
    char *snap = fct_dir_snapshot(fct_dir);
    ck_assert_str_eq(snap, "");
    free(snap);
}
END_TEST

START_TEST(empty_fresh_store)
{
    fc_options o = fct_small_opts();
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    ck_assert_int_eq(fc_close(s), 0);
    o.flags = FC_READONLY;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_first(it), FC_ENOTFOUND);
    fc_val v;
    ck_assert_int_eq(fc_get(t, "x", 1, &v), FC_ENOTFOUND);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *readonly_suite(void)
{
    Suite *s = suite_create("db_readonly");
    TCase *tc = tcase_create("readonly");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_add_test(tc, reads_tables_and_wal_and_changes_nothing);
    tcase_add_test(tc, no_lock_taken);
    tcase_add_test(tc, missing_store_is_not_created);
    tcase_add_test(tc, empty_fresh_store);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(readonly_suite)
