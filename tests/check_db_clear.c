/*
 * check_db_clear.c - fc_clear (a clear record readers obey) and fills
 * (fc_fill_begin / fc_fill_put, refused after an invalidation or a clear):
 * db/core/follow.c, db/write/clear.c, the FILL op of db/write/condwrite.c.
 */
#include "config.h"

#include "fct.h"
#include "db/core/store.h"
#include "db/write/clear.h"

/* Counts the keys an iterator over the whole store shows. */
static int count_keys(fc_store *s)
{
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    int n = 0;
    for (int rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it))
        n++;
    fc_iter_free(it);
    fc_txn_end(t);
    return n;
}

START_TEST(clear_prefix_keeps_later_writes)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fct_put_str(s, "a:1", "old1");
    fct_put_str(s, "b:1", "keep");
    ck_assert_int_eq(fc_flush(s), 0); /* one of them in a table */
    fct_put_str(s, "a:2", "old2");
    ck_assert_int_eq(fc_clear(s, "a:", 2), 0);
    fct_expect(s, "a:1", NULL);
    fct_expect(s, "a:2", NULL);
    fct_expect(s, "b:1", "keep");
    ck_assert_int_eq(count_keys(s), 1);
    fct_put_str(s, "a:1", "new1"); /* after the clear: kept */
    fct_expect(s, "a:1", "new1");
    ck_assert_int_eq(count_keys(s), 2);
    ck_assert_int_eq(fc_flush(s), 0);
    fct_expect(s, "a:1", "new1");
    fct_expect(s, "a:2", NULL);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.clears, 1);
    ck_assert_int_eq(st.follow_link, FC_LINK_NONE);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(clear_everything_and_reopen)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[FCT_KEY_MAX];
    for (int i = 0; i < 3000; i++) { /* several tables */
        fct_key_of(k, "k", 6, i);
        fct_put_str(s, k, "v");
    }
    ck_assert_int_eq(fc_clear(s, NULL, 0), 0);
    ck_assert_int_eq(count_keys(s), 0);
    fct_put_str(s, "z", "after");
    ck_assert_int_eq(fc_close(s), 0);
    /* the clear is recorded: a new writer and a read-only open obey it */
    s = fct_open_in(&o);
    fct_expect(s, "k000001", NULL);
    fct_expect(s, "z", "after");
    ck_assert_int_eq(count_keys(s), 1);
    fct_put_str(s, "k000001", "again");
    ck_assert_int_eq(fc_close(s), 0);
    o.flags = FC_READONLY;
    s = fct_open_in(&o);
    ck_assert_int_eq(count_keys(s), 2);
    fct_expect(s, "k000002", NULL);
    fct_expect(s, "k000001", "again");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A recovered store whose WAL lost writes the clear covered still gives
 * new writes sequences above the clear. */
START_TEST(clear_sequence_survives_lost_writes)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    for (int i = 0; i < 50; i++)
        fct_put_str(s, "p:x", "old");
    ck_assert_int_eq(fc_clear(s, "p:", 2), 0);
    ck_assert_int_eq(fc_close(s), 0);
    /* forget the WALs: recovery finds fewer writes than the clear saw */
    char path[4200];
    while (fct_find_suffix(fct_dir, ".log", path, sizeof path) > 0)
        ck_assert_int_eq(unlink(path), 0);
    s = fct_open_in(&o);
    fct_put_str(s, "p:y", "new");
    fct_expect(s, "p:y", "new");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static uint64_t table_bytes(fc_store *s)
{
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    uint64_t n = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        n += st.level_bytes[l];
    return n;
}

/* Compaction drops the values a clear covers: the space comes back. */
START_TEST(clear_then_compaction_drops)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[FCT_KEY_MAX], v[128];
    for (int i = 0; i < 3000; i++) { /* two passes: level-0 tables overlap */
        int j = i < 1500 ? 2 * i : 2 * (i - 1500) + 1;
        fct_key_of(k, "c", 6, j);
        fct_val_of(v, j, 0);
        fct_put_str(s, k, v);
    }
    fct_put_str(s, "d", "kept");
    ck_assert_int_eq(fc_flush(s), 0);
    uint64_t before = table_bytes(s);
    ck_assert_int_eq(fc_clear(s, "c", 1), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    uint64_t after = table_bytes(s);
    /* values gone; what may hide an older version deeper stays a tombstone */
    ck_assert_msg(after < before * 6 / 10, "tables %llu bytes before, %llu after",
                  (unsigned long long)before, (unsigned long long)after);
    ck_assert_int_eq(count_keys(s), 1);
    fct_expect(s, "d", "kept");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(clear_limits)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char p[64];
    for (int i = 0; i < 16; i++) {
        int n = snprintf(p, sizeof p, "p%d:", i);
        ck_assert_int_eq(fc_clear(s, p, (size_t)n), 0);
    }
    ck_assert_int_eq(fc_clear(s, "p3:", 3), 0); /* again: same record */
    ck_assert_int_eq(fc_clear(s, "other", 5), FC_ELIMIT);
    memset(p, 'x', sizeof p);
    ck_assert_int_eq(fc_clear(s, p, 49), FC_ELIMIT);
    ck_assert_int_eq(fc_clear(s, NULL, 3), FC_EINVAL);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- never half visible ---------------------------------------------------- */

#define HALF_KEYS 200
#define HALF_ROUNDS 60

typedef struct half_shared {
    volatile int done;
    volatile long txns[4];
} half_shared;

/* Every transaction sees all HALF_KEYS keys or none. */
static int half_reader(fc_store *s, int w, void *arg)
{
    half_shared *sh = arg;
    char k[FCT_KEY_MAX];
    while (!sh->done) {
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0)
            return 2;
        int present = 0;
        for (int i = 0; i < HALF_KEYS; i++) {
            fc_val v;
            size_t n = fct_key_of(k, "h:", 5, i);
            present += fc_get(t, k, n, &v) == 0;
        }
        fc_txn_end(t);
        if (present != 0 && present != HALF_KEYS)
            return 3;
        sh->txns[w]++;
    }
    return 0;
}

START_TEST(clear_never_half_visible)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    half_shared *sh = fct_shared(sizeof *sh);
    pid_t kids[4];
    for (int w = 0; w < 4; w++)
        kids[w] = fct_fork_worker(s, w, half_reader, sh);
    char k[FCT_KEY_MAX], v[128];
    for (int r = 0; r < HALF_ROUNDS; r++) {
        fc_batch *b;
        ck_assert_int_eq(fc_batch_new(&b), 0);
        for (int i = 0; i < HALF_KEYS; i++) {
            size_t n = fct_key_of(k, "h:", 5, i);
            fct_val_of(v, i, r);
            ck_assert_int_eq(fc_batch_put(b, k, n, v, strlen(v)), 0);
        }
        ck_assert_int_eq(fc_write(s, b, 0), 0);
        fc_batch_free(b);
        if (r % 7 == 3)
            ck_assert_int_eq(fc_flush(s), 0); /* some rounds in tables */
        ck_assert_int_eq(fc_clear(s, "h:", 2), 0);
    }
    sh->done = 1;
    for (int w = 0; w < 4; w++)
        fct_wait_ok(kids[w], "half reader");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- fills ---------------------------------------------------------------- */

START_TEST(fill_refused_after_invalidation_or_clear)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fc_fill_token f;
    ck_assert_int_eq(fc_fill_begin(s, "u:1", 3, &f), 0);
    ck_assert_int_eq(fc_fill_put(s, "u:1", 3, "v1", 2, 0, &f), 0);
    fct_expect(s, "u:1", "v1");

    ck_assert_int_eq(fc_fill_begin(s, "u:1", 3, &f), 0);
    fci_slice key = fci_slice_make("u:1", 3);
    ck_assert_int_eq(fci_follow_invalidate(s, &key, 1), 0);
    fct_expect(s, "u:1", NULL);
    ck_assert_int_eq(fc_fill_put(s, "u:1", 3, "stale", 5, 0, &f), FC_EMISMATCH);
    fct_expect(s, "u:1", NULL);

    ck_assert_int_eq(fc_fill_begin(s, "u:2", 3, &f), 0);
    ck_assert_int_eq(fc_clear(s, "zzz", 3), 0); /* any clear ages every token */
    ck_assert_int_eq(fc_fill_put(s, "u:2", 3, "stale", 5, 0, &f), FC_EMISMATCH);
    fct_expect(s, "u:2", NULL);

    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.follow_fills, 1);
    ck_assert_uint_eq(st.follow_fills_stale, 2);
    ck_assert_uint_eq(st.follow_invalidations, 1);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* The same decided for another process, through the write queue. */
static int queued_fill(fc_store *s, int w, void *arg)
{
    (void)w;
    int *phase = arg;
    fc_fill_token f;
    if (fc_fill_begin(s, "q:1", 3, &f) != 0)
        return 2;
    phase[0] = 1; /* the parent invalidates now */
    while (phase[1] == 0)
        usleep(1000);
    return fc_fill_put(s, "q:1", 3, "stale", 5, 0, &f) == FC_EMISMATCH ? 0 : 3;
}

START_TEST(fill_refused_through_the_queue)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    int *phase = fct_shared(2 * sizeof *phase);
    pid_t kid = fct_fork_worker(s, 0, queued_fill, phase);
    while (phase[0] == 0)
        usleep(1000);
    fci_slice key = fci_slice_make("q:1", 3);
    ck_assert_int_eq(fci_follow_invalidate(s, &key, 1), 0);
    phase[1] = 1;
    fct_wait_ok(kid, "queued fill");
    fct_expect(s, "q:1", NULL);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *clear_suite(void)
{
    Suite *s = suite_create("db_clear");
    TCase *tc = tcase_create("clear");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clear_prefix_keeps_later_writes);
    tcase_add_test(tc, clear_everything_and_reopen);
    tcase_add_test(tc, clear_sequence_survives_lost_writes);
    tcase_add_test(tc, clear_then_compaction_drops);
    tcase_add_test(tc, clear_limits);
    tcase_add_test(tc, clear_never_half_visible);
    tcase_add_test(tc, fill_refused_after_invalidation_or_clear);
    tcase_add_test(tc, fill_refused_through_the_queue);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(clear_suite)
