/*
 * check_db_compact.c - compaction beyond the basics: LevelDB's grandparent
 * rule (outputs end before they overlap too much of level + 2), trivial
 * moves bounded by it, inputs grown at level L when level L + 1 stays the
 * same, a store deep enough to have level 2 (invariants, every key back,
 * LevelDB opens it), and a running compaction that fc_close cancels.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef FC_TEST_WITH_LEVELDB
#include <leveldb/c.h>
#endif

#include "fct_internal.h"
#include "forkcache.h"
#include "db/core/store.h"
#include "db/bg/bg.h"
#include "db/write/write.h"
#include "db/core/version.h"
#include "format/dbformat.h"
#include "format/filename.h"

#define MAXF (2u << 20) /* the default max_file_size */

/* ---- crafted versions ------------------------------------------------------ */

typedef struct add_spec { int level; fci_file_meta *file; } add_spec;

/* A version holding exactly the given files (released here). */
static fci_version *version_of(add_spec *adds, size_t n)
{
    fci_version_delta d;
    memset(&d, 0, sizeof d);
    d.added = calloc(n, sizeof *d.added);
    for (size_t i = 0; i < n; i++) {
        d.added[i].level = adds[i].level;
        d.added[i].file = adds[i].file;
    }
    d.nadded = n;
    fci_version *base = fci_version_new(), *v = NULL;
    fci_err err;
    fci_err_clear(&err);
    ck_assert_msg(fci_version_apply(base, &d, &v, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        fci_file_meta_unref(adds[i].file);
    free(d.added);
    fci_version_unref(base);
    return v;
}

static fci_compaction *pick(fci_version *v)
{
    fci_buf ptrs[FCI_NUM_LEVELS];
    for (int i = 0; i < FCI_NUM_LEVELS; i++)
        fci_buf_init(&ptrs[i]);
    fci_compaction *c = NULL;
    ck_assert_int_eq(fci_compaction_pick(v, ptrs, MAXF, &c), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(move_bounded_by_grandparents)
{
    /* One L1 file over its target, nothing under it at L2; L3 below. */
    add_spec heavy[] = { { 1, fct_meta(1, 12u << 20, "c", "m") },
                         { 3, fct_meta(2, 8u << 20, "a", "d") },
                         { 3, fct_meta(3, 8u << 20, "e", "h") },
                         { 3, fct_meta(4, 8u << 20, "i", "z") } };
    fci_version *v = version_of(heavy, 4);
    fci_compaction *c = pick(v);
    ck_assert_int_eq(c->level, 1);
    ck_assert_uint_eq(c->ninputs[0], 1);
    ck_assert_uint_eq(c->ninputs[1], 0);
    ck_assert_uint_eq(c->ngrandparents, 3);
    ck_assert_uint_eq(c->max_grandparent_overlap, 10ull * MAXF);
    ck_assert(!fci_compaction_is_move(c)); /* 24 MiB of L3 > 20 MiB */
    fci_compaction_free(c);
    fci_version_unref(v);

    add_spec light[] = { { 1, fct_meta(1, 12u << 20, "c", "m") },
                         { 3, fct_meta(2, 8u << 20, "a", "d") },
                         { 3, fct_meta(3, 8u << 20, "e", "h") },
                         { 3, fct_meta(4, 8u << 20, "n", "z") } };
    v = version_of(light, 4);
    c = pick(v);
    ck_assert_uint_eq(c->ngrandparents, 2);
    ck_assert(fci_compaction_is_move(c)); /* 16 MiB: moves */
    fci_compaction_free(c);
    fci_version_unref(v);
}
END_TEST

START_TEST(inputs_grow_without_growing_next_level)
{
    /* f1 is picked; its L2 file g1 spans c..e, so f2 (c..d) comes along
     * free of charge; f3 (e..f) would pull in g2 as well, so it does not. */
    add_spec adds[] = { { 1, fct_meta(1, 4u << 20, "a", "b") },
                        { 1, fct_meta(2, 4u << 20, "c", "d") },
                        { 1, fct_meta(3, 4u << 20, "f", "g") },
                        { 2, fct_meta(4, 1u << 20, "a", "e") },
                        { 2, fct_meta(5, 1u << 20, "f", "h") } };
    fci_version *v = version_of(adds, 5);
    fci_compaction *c = pick(v);
    ck_assert_int_eq(c->level, 1);
    ck_assert_uint_eq(c->ninputs[0], 2);
    ck_assert_uint_eq(c->inputs[0][0]->number, 1);
    ck_assert_uint_eq(c->inputs[0][1]->number, 2);
    ck_assert_uint_eq(c->ninputs[1], 1);
    ck_assert_uint_eq(c->inputs[1][0]->number, 4);
    fci_compaction_free(c);
    fci_version_unref(v);

    /* Growing would pull in a second L2 file: inputs stay as picked. */
    add_spec adds2[] = { { 1, fct_meta(1, 4u << 20, "a", "b") },
                         { 1, fct_meta(2, 4u << 20, "c", "e") },
                         { 1, fct_meta(3, 4u << 20, "f", "g") },
                         { 2, fct_meta(4, 1u << 20, "a", "c") },
                         { 2, fct_meta(5, 1u << 20, "d", "h") } };
    v = version_of(adds2, 5);
    c = pick(v);
    ck_assert_uint_eq(c->ninputs[0], 1);
    ck_assert_uint_eq(c->ninputs[1], 1);
    fci_compaction_free(c);
    fci_version_unref(v);

    /* Growing would make the compaction too big (25 x max_file_size). */
    add_spec adds3[] = { { 1, fct_meta(1, 30u << 20, "a", "b") },
                         { 1, fct_meta(2, 30u << 20, "c", "d") },
                         { 2, fct_meta(4, 1u << 20, "a", "e") } };
    v = version_of(adds3, 3);
    c = pick(v);
    ck_assert_uint_eq(c->ninputs[0], 1);
    fci_compaction_free(c);
    fci_version_unref(v);
}
END_TEST

/* ---- a real store, a crafted compaction ------------------------------------ */

/* Values of about 1000 bytes, recognisable by key and generation. */
static size_t val_of(char *buf, int i, int gen)
{
    int n = sprintf(buf, "v%d.%d:", i, gen);
    int len = 900 + (i * 7 + gen * 13) % 200;
    for (int k = n; k < len; k++)
        buf[k] = (char)('a' + (i + gen + k / 16) % 26);
    return (size_t)len;
}

static void put_i(fc_store *s, int i, int gen)
{
    char k[32], v[1200];
    fct_key_of(k, "key", 6, i);
    size_t n = val_of(v, i, gen);
    int rc = fc_put(s, k, strlen(k), v, n);
    ck_assert_msg(rc == 0, "put %s: %s", k, fc_errmsg(s));
}

static void expect_i(fc_store *s, int i, int gen)
{
    char k[32], want[1200];
    fct_key_of(k, "key", 6, i);
    size_t n = val_of(want, i, gen);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    int rc = fc_get(t, k, strlen(k), &v);
    ck_assert_msg(rc == 0, "%s: %s (%s)", k, fc_strerror(rc), fc_errmsg(s));
    ck_assert_msg(v.size == n && memcmp(v.data, want, n) == 0, "%s: wrong value", k);
    fc_txn_end(t);
}

static fc_options opts_with(size_t buffer, size_t max_file)
{
    fc_options o = fct_small_opts();
    o.write_buffer_size = buffer;
    o.max_file_size = max_file;
    return o;
}

/* Runs c on the test's thread as the background thread would, holding the
 * compaction slot so the background thread cannot start one meanwhile. */
static int run_crafted(fc_store *s, fci_compaction *c, fci_version_edit *edit, fci_err *err)
{
    fci_writer *w = s->w;
    pthread_mutex_lock(&w->mu);
    ck_assert(!w->compacting);
    w->compacting = 1;
    uint64_t snapshot = w->vs.last_sequence, bytes = 0;
    pthread_mutex_unlock(&w->mu);
    int rc = fci_compaction_run(s, c, edit, snapshot, &bytes, err);
    pthread_mutex_lock(&w->mu);
    w->pending_compact = 0;
    w->compacting = 0;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* A compaction of the store's one L0 table, with 40 made-up grandparents
 * of 1 MiB, each spanning 100 keys: the real inputs, the fake level + 2. */
#define GP_FILES 40
static fci_compaction *crafted(fc_store *s, fci_file_meta *gps[GP_FILES])
{
    pthread_mutex_lock(&s->w->mu);
    fci_compaction *c = NULL;
    ck_assert_int_eq(fci_compaction_range(s->w->vs.current, 0, NULL, NULL, 1u << 20, &c), 0);
    pthread_mutex_unlock(&s->w->mu);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->ninputs[0], 1);
    free(c->grandparents);
    c->grandparents = calloc(GP_FILES, sizeof *c->grandparents);
    for (int j = 0; j < GP_FILES; j++) {
        char lo[32], hi[32];
        fct_key_of(lo, "key", 6, j * 100);
        fct_key_of(hi, "key", 6, j * 100 + 99);
        gps[j] = fct_meta(900000 + (uint64_t)j, 1u << 20, lo, hi);
        c->grandparents[j] = gps[j];
    }
    c->ngrandparents = GP_FILES;
    return c;
}

static void crafted_free(fci_compaction *c, fci_file_meta *gps[GP_FILES])
{
    fci_compaction_free(c);
    for (int j = 0; j < GP_FILES; j++)
        fci_file_meta_unref(gps[j]);
}

/* A store whose one L0 table holds keys 0..n-1, generation 0. */
static fc_store *store_with_l0(const fc_options *o, int n)
{
    fc_store *s = fct_open_in(o);
    for (int i = 0; i < n; i++)
        put_i(s, i, 0);
    ck_assert_int_eq(fc_flush(s), 0);
    return s;
}

/* Outputs of a crafted compaction are never installed: the test removes
 * them. */
static void unlink_outputs(const fci_version_edit *edit)
{
    for (size_t i = 0; i < edit->n_new_files; i++) {
        char path[PATH_MAX];
        fci_filename(path, sizeof path, fct_dir, FCI_FILE_TABLE, edit->new_files[i].number);
        ck_assert_int_eq(unlink(path), 0);
    }
}

static int user_cmp(const fci_buf *ikey, const fci_buf *other)
{
    return fci_bytewise_compare(fci_ikey_user(fci_buf_slice(ikey)),
                                fci_ikey_user(fci_buf_slice(other)));
}

/* Bytes of gps overlapping [lo, hi] wholly before hi (LevelDB's count). */
static uint64_t passed_overlap(fci_file_meta **gps, size_t n, const fci_buf *lo, const fci_buf *hi)
{
    uint64_t sum = 0;
    for (size_t j = 0; j < n; j++)
        if (user_cmp(&gps[j]->largest, lo) >= 0 && user_cmp(&gps[j]->largest, hi) < 0)
            sum += gps[j]->size;
    return sum;
}

START_TEST(outputs_split_at_grandparent_limit)
{
    /* 4000 keys of about 1 KB: 4 MB, one L0 table; 1 MiB tables would
     * make 4 outputs by size, but 10 MiB of grandparents is passed every
     * 1000-1100 keys, well before. Use 8 MiB tables: only the rule splits. */
    fc_options o = opts_with(8u << 20, 8u << 20);
    fc_store *s = store_with_l0(&o, 4000);
    fci_file_meta *gps[GP_FILES];
    fci_compaction *c = crafted(s, gps);
    c->max_grandparent_overlap = 10ull << 20;
    fci_version_edit edit;
    fci_edit_init(&edit);
    fci_err err;
    fci_err_clear(&err);
    ck_assert_msg(run_crafted(s, c, &edit, &err) == 0, "%s", err.msg);
    size_t n = edit.n_new_files;
    ck_assert_msg(n >= 3 && n <= 5, "%zu outputs", n);
    pthread_mutex_lock(&s->w->mu);
    ck_assert_uint_eq(s->w->grandparent_splits, n - 1);
    pthread_mutex_unlock(&s->w->mu);
    for (size_t i = 0; i < n; i++) {
        fci_edit_file *f = &edit.new_files[i];
        ck_assert_int_eq(f->level, 1);
        uint64_t passed = passed_overlap(gps, GP_FILES, &f->smallest, &f->largest);
        ck_assert_msg(passed <= c->max_grandparent_overlap, "output %zu passes %llu bytes", i,
                      (unsigned long long)passed);
        if (i > 0) /* consecutive, disjoint by user key */
            ck_assert_int_lt(user_cmp(&edit.new_files[i - 1].largest, &f->smallest), 0);
    }
    unlink_outputs(&edit);
    char first[32], last[32];
    fct_key_of(first, "key", 6, 0);
    fct_key_of(last, "key", 6, 3999);
    ck_assert(fci_bytewise_compare(fci_ikey_user(fci_buf_slice(&edit.new_files[0].smallest)),
                                   fci_slice_str(first)) == 0);
    ck_assert(fci_bytewise_compare(fci_ikey_user(fci_buf_slice(&edit.new_files[n - 1].largest)),
                                   fci_slice_str(last)) == 0);
    fci_edit_free(&edit);
    crafted_free(c, gps);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Table numbers in dir that v does not list; 0 when the directory holds
 * only what the version needs. */
static int stray_tables(const char *dir, const fci_version *v)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int stray = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(e->d_name, &kind, &number) != 0 || !fci_file_is_table(kind))
            continue;
        int found = 0;
        for (int l = 0; l < FCI_NUM_LEVELS; l++)
            for (size_t i = 0; i < v->nfiles[l]; i++)
                found |= v->files[l][i]->number == number;
        if (!found) {
            fprintf(stderr, "stray table %s\n", e->d_name);
            stray++;
        }
    }
    closedir(d);
    return stray;
}

/* The closed store's version, read from its MANIFEST. */
static void load_version(fci_vset *vs)
{
    fci_err err;
    fci_err_clear(&err);
    ck_assert_int_eq(fci_vset_init(vs, AT_FDCWD, fct_dir, 0600), 0);
    ck_assert_msg(fci_vset_recover(vs, 0, &err) == 0, "%s", err.msg);
}

/* Table files in dir. */
static int count_tables(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    fci_file_kind kind;
    uint64_t number;
    while ((e = readdir(d)) != NULL)
        n += fci_filename_parse(e->d_name, &kind, &number) == 0 && fci_file_is_table(kind);
    closedir(d);
    return n;
}

/* Sets the stop flag once the compaction has finished two outputs and is
 * writing a third (or has ended, when it outran this thread). */
typedef struct canceller { fc_store *s; int done; } canceller;

static void *cancel_mid_way(void *arg)
{
    canceller *k = arg;
    for (int naps = 0; naps < 100000; naps++) {
        if (count_tables(fct_dir) >= 4 || __atomic_load_n(&k->done, __ATOMIC_ACQUIRE))
            break;
        usleep(50);
    }
    atomic_store(&k->s->w->stop_compaction, 1);
    return NULL;
}

START_TEST(cancelled_compaction_leaves_nothing)
{
    /* 2 MB into 64 KiB outputs: about 30 tables, each fdatasynced. */
    fc_options o = opts_with(8u << 20, 64u << 10);
    fc_store *s = store_with_l0(&o, 2000);
    int rc = 0;
    size_t finished = 0;
    for (int attempt = 0; attempt < 20 && rc != FC_ECLOSED; attempt++) {
        atomic_store(&s->w->stop_compaction, 0);
        fci_file_meta *gps[GP_FILES];
        fci_compaction *c = crafted(s, gps);
        fci_version_edit edit;
        fci_edit_init(&edit);
        fci_err err;
        fci_err_clear(&err);
        canceller k = { s, 0 };
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, cancel_mid_way, &k), 0);
        rc = run_crafted(s, c, &edit, &err);
        __atomic_store_n(&k.done, 1, __ATOMIC_RELEASE);
        pthread_join(th, NULL);
        ck_assert_msg(rc == 0 || rc == FC_ECLOSED, "%s", err.msg);
        finished = edit.n_new_files;
        if (rc == 0) /* ran to the end before the flag: try again */
            unlink_outputs(&edit);
        fci_edit_free(&edit);
        crafted_free(c, gps);
    }
    ck_assert_int_eq(rc, FC_ECLOSED);
    ck_assert_uint_ge(finished, 2); /* outputs were finished, then removed */
    pthread_mutex_lock(&s->w->mu);
    ck_assert_int_eq(stray_tables(fct_dir, s->w->vs.current), 0);
    ck_assert_uint_eq(s->w->vs.current->nfiles[0], 1); /* the version is untouched */
    pthread_mutex_unlock(&s->w->mu);
    atomic_store(&s->w->stop_compaction, 0);
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    for (int i = 0; i < 2000; i++)
        expect_i(s, i, 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- a store with level 2 ---------------------------------------------------- */

/* Levels >= 1 sorted and disjoint; and every file F at level j overlaps at
 * most 10 x max_file_size of level j + 1 besides the two files at its
 * ends (the grandparent rule: later compactions change only those). */
static void check_levels(const fci_version *v, uint64_t limit)
{
    for (int l = 1; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 1; i < v->nfiles[l]; i++)
            ck_assert_int_lt(user_cmp(&v->files[l][i - 1]->largest, &v->files[l][i]->smallest), 0);
    for (int l = 1; l + 1 < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const fci_file_meta *f = v->files[l][i];
            uint64_t total = 0, first = 0, last = 0;
            size_t seen = 0;
            for (size_t k = 0; k < v->nfiles[l + 1]; k++) {
                const fci_file_meta *g = v->files[l + 1][k];
                if (user_cmp(&g->largest, &f->smallest) < 0 || user_cmp(&g->smallest, &f->largest) > 0)
                    continue;
                if (seen++ == 0)
                    first = g->size;
                last = g->size;
                total += g->size;
            }
            uint64_t interior = seen >= 2 ? total - first - last : 0;
            ck_assert_msg(interior <= limit, "L%d file %llu overlaps %llu bytes of L%d", l,
                          (unsigned long long)f->number, (unsigned long long)interior, l + 1);
        }
}

#define DEEP_KEYS 13000
#define SPARSE 50

#ifdef FC_TEST_WITH_LEVELDB
/* Real LevelDB opens the closed store and reads every pair, in order. */
static void leveldb_reads_all(void)
{
    char *errstr = NULL;
    leveldb_options_t *lo = leveldb_options_create();
    leveldb_options_set_paranoid_checks(lo, 1);
    leveldb_t *db = leveldb_open(lo, fct_dir, &errstr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_readoptions_set_verify_checksums(ro, 1);
    leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
    int i = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it), i++) {
        char k[32], v[1200];
        fct_key_of(k, "key", 6, i);
        size_t n = val_of(v, i, i % SPARSE == 0), klen, vlen;
        const char *gk = leveldb_iter_key(it, &klen), *gv = leveldb_iter_value(it, &vlen);
        ck_assert_msg(klen == strlen(k) && memcmp(gk, k, klen) == 0, "key %d", i);
        ck_assert_msg(vlen == n && memcmp(gv, v, n) == 0, "value %d", i);
    }
    leveldb_iter_get_error(it, &errstr);
    ck_assert_msg(errstr == NULL, "leveldb iterator: %s", errstr ? errstr : "");
    ck_assert_int_eq(i, DEEP_KEYS);
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    leveldb_close(db);
    leveldb_options_destroy(lo);
}
#endif

START_TEST(deep_store_keeps_grandparent_rule)
{
    /* 13 MB of values in 64 KiB tables, written in key order: L0 tables move down whole,
     * L1 passes its 10 MiB target and moves fill L2. Then everything goes to L2 and sparse
     * overwrites over the whole key range are flushed as 4 L0 tables: their
     * compaction into the empty L1 would, without the rule, write a few
     * tables each spanning megabytes of L2. */
    fc_options o = opts_with(256u << 10, 64u << 10);
    fc_store *s = fct_open_in(&o);
    for (int i = 0; i < DEEP_KEYS; i++)
        put_i(s, i, 0);
    fct_settle(s);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_gt(st.files[2], 0);
    pthread_mutex_lock(&s->w->mu);
    ck_assert_uint_gt(s->w->trivial_moves, 0); /* keys in order: L0 tables move down */
    pthread_mutex_unlock(&s->w->mu);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.files[1], 0);
    ck_assert_uint_eq(st.files[0], 0);
    for (int b = 0; b < FCI_L0_COMPACTION_TRIGGER; b++) {
        for (int i = b * SPARSE; i < DEEP_KEYS; i += FCI_L0_COMPACTION_TRIGGER * SPARSE)
            put_i(s, i, 1);
        ck_assert_int_eq(fc_flush(s), 0);
    }
    fct_settle(s);
    pthread_mutex_lock(&s->w->mu);
    ck_assert_uint_gt(s->w->grandparent_splits, 0);
    check_levels(s->w->vs.current, 10ull * o.max_file_size);
    ck_assert_uint_gt(s->w->vs.current->nfiles[1], 1);
    pthread_mutex_unlock(&s->w->mu);
    for (int i = 0; i < DEEP_KEYS; i++)
        expect_i(s, i, i % SPARSE == 0);
    ck_assert_int_eq(fc_close(s), 0);
    fci_vset vs;
    load_version(&vs);
    ck_assert_int_eq(stray_tables(fct_dir, vs.current), 0);
    check_levels(vs.current, 10ull * o.max_file_size);
    fci_vset_free(&vs);
#ifdef FC_TEST_WITH_LEVELDB
    leveldb_reads_all();
#endif
}
END_TEST

/* ---- fc_close while a compaction runs ----------------------------------------- */

#define CLOSE_KEYS 4000
#define LATE_KEY "key002000.late"

/* 1 once the background thread is writing a compaction's output, 0 once
 * it is idle with nothing due (a bounded number of naps either way). */
static int compaction_writing(fc_store *s)
{
    fci_writer *w = s->w;
    for (int naps = 0; naps < 200000; naps++) {
        pthread_mutex_lock(&w->mu);
        int writing = w->compacting && w->pending_compact != 0;
        int idle = fct_settled_locked(s);
        pthread_mutex_unlock(&w->mu);
        if (writing || idle)
            return writing;
        usleep(100);
    }
    ck_abort_msg("background thread neither idle nor compacting: compacting %d, bg_error %d, "
                 "has_imm %d, L0 %zu", w->compacting, w->bg_error, w->has_imm,
                 w->vs.current->nfiles[0]);
    return 0;
}

START_TEST(close_cancels_running_compaction)
{
    /* Each round writes a quarter of the keys per L0 table until a
     * compaction (of L0 and the L1 under it) is writing its output; then
     * an acknowledged write sits in an immutable memtable and the store is
     * closed. gen[] says which round's value each key must hold. */
    static int gen[CLOSE_KEYS];
    memset(gen, 0, sizeof gen);
    fc_options o = opts_with(8u << 20, 64u << 10);
    uint64_t cancelled = 0;
    int round = 0;
    for (; round < 20 && (cancelled == 0 || round < 2); round++) {
        fc_store *s = fct_open_in(&o);
        int writing = 0;
        for (int b = 0; b < 12 && !writing; b++) {
            for (int i = b % 4; i < CLOSE_KEYS; i += 4) {
                put_i(s, i, round);
                gen[i] = round;
            }
            ck_assert_int_eq(fc_flush(s), 0);
            writing = compaction_writing(s);
        }
        ck_assert(writing);
        /* A key inside the range, so its table never just moves down. */
        char late[32];
        int n = sprintf(late, "key%06d.late", round);
        ck_assert_int_eq(fc_put(s, LATE_KEY, strlen(LATE_KEY), late, (size_t)n), 0);
        pthread_mutex_lock(&s->w->mu);
        if (!s->w->has_imm)
            ck_assert_int_eq(fci_switch_memtable(s), 0);
        pthread_mutex_unlock(&s->w->mu);
        fci_bg_stop(s); /* what fc_close does first */
        ck_assert(!s->w->has_imm);
        ck_assert_int_eq(s->w->bg_error, 0);
        cancelled += s->w->compactions_cancelled;
        ck_assert_int_eq(fc_close(s), 0);
        fci_vset vs;
        load_version(&vs);
        ck_assert_int_eq(stray_tables(fct_dir, vs.current), 0);
        fci_vset_free(&vs);
    }
    fprintf(stderr, "close_cancels_running_compaction: %llu of %d rounds cancelled\n",
            (unsigned long long)cancelled, round);
    ck_assert_msg(cancelled > 0, "no compaction was cancelled in %d rounds", round);
    fc_store *s = fct_open_in(&o);
    char late[32];
    sprintf(late, "key%06d.late", round - 1);
    for (int pass = 0; pass < 2; pass++) { /* before and after compacting it all */
        for (int i = 0; i < CLOSE_KEYS; i++)
            expect_i(s, i, gen[i]);
        fc_txn *t;
        ck_assert_int_eq(fc_txn_begin(s, &t), 0);
        fc_val v;
        ck_assert_int_eq(fc_get(t, LATE_KEY, strlen(LATE_KEY), &v), 0);
        ck_assert(v.size == strlen(late) && memcmp(v.data, late, v.size) == 0);
        fc_txn_end(t);
        if (pass == 0)
            ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *compact_suite(void)
{
    Suite *s = suite_create("db_compact");
    TCase *tc = tcase_create("compact");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, move_bounded_by_grandparents);
    tcase_add_test(tc, inputs_grow_without_growing_next_level);
    tcase_add_test(tc, outputs_split_at_grandparent_limit);
    tcase_add_test(tc, cancelled_compaction_leaves_nothing);
    tcase_add_test(tc, deep_store_keeps_grandparent_rule);
    tcase_add_test(tc, close_cancels_running_compaction);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(compact_suite)
