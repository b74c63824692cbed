/*
 * check_db_bcache.c - the shared block cache under a store: tables the
 * Limiter refuses to map are read through the cache by forked readers with
 * the same results as mapped ones, and snappy-compressed tables are served
 * zero-copy from the cache's frames in the arena.
 */
#include "config.h"

#include <sys/wait.h>
#include <unistd.h>

#include "fct_internal.h"
#include "forkcache.h"
#include "db/core/store.h"
#include "shm/bcache.h"

#define NKEYS 3000

static void val_of(char *buf, int i, int gen)
{
    sprintf(buf, "value-%d-%d-%0*d", i, gen, 40 + i % 60, i);
}

/* What key i holds after fill(): deleted every 7th, rewritten every 3rd. */
static int expected(int i, char *buf)
{
    if (i % 7 == 0)
        return 0;
    val_of(buf, i, i % 3 == 0 ? 2 : 1);
    return 1;
}

/* Two generations in different tables, so reads must pick the newest. */
static void fill(const fc_options *o)
{
    fc_store *s = fct_open_in(o);
    char k[32], v[160];
    for (int i = 0; i < NKEYS; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 1);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    for (int i = 0; i < NKEYS; i++) {
        fct_key_of(k, "key", 6, i);
        if (i % 7 == 0) {
            ck_assert_int_eq(fc_del(s, k, strlen(k)), 0);
        } else if (i % 3 == 0) {
            val_of(v, i, 2);
            ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
        }
    }
    ck_assert_int_eq(fc_flush(s), 0);
    fct_settle(s); /* else the reopened store compacts under the readers */
    ck_assert_int_eq(fc_close(s), 0);
}

/* Reads every key (a few passes, 16 gets per transaction) and counts
 * wrong answers; in_arena counts values that point into the arena. */
static int read_all(fc_store *s, int passes, int start, long *in_arena)
{
    int bad = 0;
    char k[32], want[160];
    const char *base = fci_arena_base(s->arena);
    size_t size = fci_arena_size(s->arena);
    for (int p = 0; p < passes; p++) {
        fc_txn *t = NULL;
        for (int n = 0; n < NKEYS; n++) {
            int i = (start + n * 7 + p) % NKEYS;
            if (n % 16 == 0) {
                if (t)
                    fc_txn_end(t);
                if (fc_txn_begin(s, &t) != 0)
                    return NKEYS;
            }
            fct_key_of(k, "key", 6, i);
            fc_val v;
            int rc = fc_get(t, k, strlen(k), &v);
            if (!expected(i, want)) {
                bad += rc != FC_ENOTFOUND;
                continue;
            }
            if (rc != 0 || v.size != strlen(want) || memcmp(v.data, want, v.size) != 0) {
                bad++;
                continue;
            }
            if (in_arena && (const char *)v.data >= base && (const char *)v.data < base + size)
                (*in_arena)++;
        }
        if (t)
            fc_txn_end(t);
    }
    return bad;
}

static void cache_stats(fc_store *s, fci_bcache_stats *st)
{
    fci_bcache *bc;
    fci_err e;
    ck_assert_msg(fci_bcache_open(s->arena, &bc, &e) == 0, "bcache: %s", e.msg);
    fci_bcache_stats_get(bc, st);
    fci_bcache_close(bc);
}

/* Four forked readers check every key; returns total wrong answers. */
static int forked_readers(fc_store *s)
{
    pid_t kids[4];
    for (int r = 0; r < 4; r++) {
        kids[r] = fc_fork();
        ck_assert_int_ge(kids[r], 0);
        if (kids[r] == 0) {
            if (fc_after_fork(s) != 0)
                _exit(255);
            int bad = read_all(s, 2, r * 500, NULL);
            _exit(bad > 250 ? 250 : bad);
        }
    }
    int bad = 0;
    for (int r = 0; r < 4; r++) {
        int st;
        ck_assert_int_eq(waitpid(kids[r], &st, 0), kids[r]);
        ck_assert(WIFEXITED(st));
        bad += WEXITSTATUS(st);
    }
    return bad;
}

/* max_mappings 0 and 2: the Limiter forces pread for (most) tables; the
 * results are the same as with every table mapped, and the cache hits. */
START_TEST(unmapped_tables_read_through_the_cache)
{
    fc_options o = fct_small_opts();
    fill(&o);
    int mappings[] = { 0, 2, 1000 };
    for (int m = 0; m < 3; m++) {
        o.max_mappings = mappings[m];
        fc_store *s = fct_open_in(&o);
        ck_assert_int_eq(read_all(s, 1, 0, NULL), 0);
        ck_assert_int_eq(forked_readers(s), 0);
        fci_bcache_stats st;
        cache_stats(s, &st);
        fprintf(stderr, "max_mappings %4d: tables mapped %llu, pread %llu; cache hits %llu, "
                "misses %llu, fills %llu, evictions %llu, waits %llu, bypasses %llu (hit rate %.1f%%)\n",
                mappings[m], (unsigned long long)s->tcache.mapped, (unsigned long long)s->tcache.preads,
                (unsigned long long)st.hits, (unsigned long long)st.misses,
                (unsigned long long)st.fills, (unsigned long long)st.evictions,
                (unsigned long long)st.waits, (unsigned long long)st.bypasses,
                100.0 * (double)st.hits / (double)(st.hits + st.misses ? st.hits + st.misses : 1));
        ck_assert_uint_gt(s->tcache.count, 2);      /* several tables */
        if (mappings[m] < 1000) {
            ck_assert_uint_gt(s->tcache.preads, 0);
            ck_assert_uint_gt(st.hits, st.misses);
            ck_assert_uint_gt(st.fills, 0);
        } else {
            ck_assert_uint_eq(s->tcache.preads, 0);
            ck_assert_uint_eq(st.fills, 0);        /* mapped, uncompressed: zero-copy */
        }
        ck_assert_uint_eq(st.filling, 0);
        ck_assert_uint_eq(st.pinned_records, 0);
        ck_assert_int_eq(fc_close(s), 0);
    }
}
END_TEST

/* Snappy (and zstd) tables: values come back right, decompressed once into
 * a frame and returned zero-copy from the arena. */
START_TEST(compressed_blocks_served_from_the_arena)
{
    fc_options o = fct_small_opts();
    o.compression = _i == 0 ? FC_COMPRESSION_SNAPPY : FC_COMPRESSION_ZSTD;
    o.block_cache_size = 4u << 20;   /* room for every block */
    fill(&o);
    fc_store *s = fct_open_in(&o);
    long in_arena = 0;
    ck_assert_int_eq(read_all(s, 1, 0, &in_arena), 0);
    int present = 0;
    char want[160];
    for (int i = 0; i < NKEYS; i++)
        present += expected(i, want);
    fci_bcache_stats st1, st2;
    cache_stats(s, &st1);
    ck_assert_uint_gt(st1.fills, 0);
    ck_assert_uint_eq(st1.bypasses, 0);
    ck_assert_int_eq(in_arena, present);   /* every value points into a frame */
    ck_assert_int_eq(forked_readers(s), 0);
    cache_stats(s, &st2);
    fprintf(stderr, "%s: %d values in the arena; after 4 readers: hits %llu, misses %llu, "
            "fills %llu (hit rate %.1f%%)\n", _i == 0 ? "snappy" : "zstd", (int)in_arena, (unsigned long long)st2.hits,
            (unsigned long long)st2.misses, (unsigned long long)st2.fills,
            100.0 * (double)st2.hits / (double)(st2.hits + st2.misses));
    ck_assert_uint_gt(st2.hits, st1.hits);
    /* the cache holds the whole data set: the readers filled nothing */
    ck_assert_uint_eq(st2.fills, st1.fills);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *db_bcache_suite(void)
{
    Suite *s = suite_create("db_bcache");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unmapped_tables_read_through_the_cache);
    tcase_add_loop_test(tc, compressed_blocks_served_from_the_arena, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(db_bcache_suite)
