/*
 * check_interop_readonly.c - forkcache serving a database real LevelDB
 * wrote: snappy-compressed tables over several levels, overwrites,
 * deletions, and recent writes left only in the WAL. Opened FC_READONLY,
 * forkcache must show exactly what LevelDB's own iterator showed (same
 * pairs, same order, both directions), agree with its gets and seeks, and
 * leave the directory byte for byte as LevelDB left it.
 */
#include "config.h"

#include <leveldb/c.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/read/read.h"
#include "format/dbformat.h"
#include "format/table.h"

#define NKEYS 30000

typedef struct pair {
    char *key, *val;
    size_t klen, vlen;
} pair;

/* What LevelDB showed before it closed. */
static pair *scan;
static size_t nscan;
static char *got_val[NKEYS];
static size_t got_len[NKEYS];
static int got_found[NKEYS];

/* Later passes visit keys scattered, so their tables overlap the old. */
static int perm(int n)
{
    return (int)(((long)n * 7919) % NKEYS);
}

/* Values of 0..250 bytes: a readable run snappy squeezes, then noise it
 * cannot, so tables are compressed yet big enough to need several levels. */
static size_t val_of(char *dst, int i, int gen)
{
    size_t n = (size_t)((i * 37 + gen * 101) % 251);
    uint32_t x = (uint32_t)(i * 2654435761u) ^ (uint32_t)(gen * 40503u) ^ 0x9e3779b9u;
    for (size_t j = 0; j < n; j++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        dst[j] = j < n / 3 ? "leveldb wrote this, forkcache reads it "[(i + (int)j) % 39]
                           : (char)(' ' + x % 90);
    }
    return n;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, p, n);
    return d;
}

static void build_leveldb(void)
{
    leveldb_options_t *opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(opt, 1);
    leveldb_options_set_write_buffer_size(opt, 64 * 1024);
    leveldb_options_set_max_file_size(opt, 128 * 1024);
    char *errstr = NULL;
    leveldb_t *db = leveldb_open(opt, fct_dir, &errstr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    char k[24], v[256];
    for (int i = 0; i < NKEYS; i++) {
        leveldb_put(db, wo, k, fct_key_of(k, "user:", 7, i), v, val_of(v, i, 0), &errstr);
        ck_assert_ptr_null(errstr);
    }
    /* In key order, so flushed memtables are disjoint and LevelDB places
     * them straight into level 2; what follows lands in L0 and L1. */
    for (int n = 0; n < NKEYS; n += 3) { /* overwrites */
        int i = perm(n);
        leveldb_put(db, wo, k, fct_key_of(k, "user:", 7, i), v, val_of(v, i, 1), &errstr);
        ck_assert_ptr_null(errstr);
    }
    for (int n = 1; n < NKEYS; n += 7) { /* deletions */
        int i = perm(n);
        leveldb_delete(db, wo, k, fct_key_of(k, "user:", 7, i), &errstr);
        ck_assert_ptr_null(errstr);
    }
    /* Part of the key space pushed down; the rest stays where it is. */
    leveldb_compact_range(db, "user:0010000", 12, "user:0020000", 12);
    for (int n = 2; n < NKEYS; n += 5) {
        int i = perm(n);
        leveldb_put(db, wo, k, fct_key_of(k, "user:", 7, i), v, val_of(v, i, 2), &errstr);
        ck_assert_ptr_null(errstr);
    }
    /* A few writes that will exist only in the WAL (LevelDB does not flush
     * its memtable on close). */
    for (int i = 4; i < NKEYS; i += 997) {
        leveldb_put(db, wo, k, fct_key_of(k, "user:", 7, i), v, val_of(v, i, 3), &errstr);
        leveldb_delete(db, wo, k, fct_key_of(k, "user:", 7, i + 1), &errstr);
    }
    leveldb_put(db, wo, "zz:wal", 6, "only in the log", 15, &errstr);
    ck_assert_ptr_null(errstr);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_options_destroy(opt);
}

/* LevelDB's own answers, taken from a copy: reads may trigger compactions
 * and a reopen turns the WAL into a table, which must not happen to the
 * directory forkcache is tested on. */
static void collect_expected(void)
{
    char copy[2048], cmd[6400];
    snprintf(copy, sizeof copy, "%s/copy", fct_dir);
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -p '%s'/[0-9A-Z]* '%s'/", copy, fct_dir, copy);
    ck_assert_int_eq(system(cmd), 0);
    leveldb_options_t *opt = leveldb_options_create();
    char *errstr = NULL;
    leveldb_t *db = leveldb_open(opt, copy, &errstr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
    size_t cap = NKEYS + 16;
    scan = calloc(cap, sizeof *scan);
    nscan = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        ck_assert_uint_lt(nscan, cap);
        pair *p = &scan[nscan++];
        const char *kp = leveldb_iter_key(it, &p->klen);
        const char *vp = leveldb_iter_value(it, &p->vlen);
        p->key = dup_bytes(kp, p->klen);
        p->val = dup_bytes(vp, p->vlen);
    }
    leveldb_iter_destroy(it);
    char k[24];
    for (int i = 0; i < NKEYS; i++) {
        size_t kl = fct_key_of(k, "user:", 7, i);
        got_val[i] = leveldb_get(db, ro, k, kl, &got_len[i], &errstr);
        ck_assert_ptr_null(errstr);
        got_found[i] = got_val[i] != NULL;
    }
    leveldb_readoptions_destroy(ro);
    leveldb_close(db);
    leveldb_options_destroy(opt);
    fct_rmtree(copy);
}

static void free_expected(void)
{
    for (size_t i = 0; i < nscan; i++) {
        free(scan[i].key);
        free(scan[i].val);
    }
    free(scan);
    for (int i = 0; i < NKEYS; i++)
        leveldb_free(got_val[i]);
}

static void expect_pair(fc_iter *it, size_t i)
{
    ck_assert_uint_lt(i, nscan);
    fc_val k = fc_iter_key(it), v = fc_iter_value(it);
    ck_assert_msg(k.size == scan[i].klen && memcmp(k.data, scan[i].key, k.size) == 0,
                  "entry %zu: key '%.*s', LevelDB had '%.*s'", i, (int)k.size,
                  (const char *)k.data, (int)scan[i].klen, scan[i].key);
    ck_assert_msg(v.size == scan[i].vlen && memcmp(v.data, scan[i].val, v.size) == 0,
                  "entry %zu (%.*s): value differs", i, (int)k.size, (const char *)k.data);
}

/* Index of the first scanned key >= target. */
static size_t lower_bound(const char *t, size_t tl)
{
    size_t lo = 0, hi = nscan;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t n = scan[mid].klen < tl ? scan[mid].klen : tl;
        int c = memcmp(scan[mid].key, t, n);
        if (c < 0 || (c == 0 && scan[mid].klen < tl))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Data blocks LevelDB stored snappy-compressed in the directory's tables:
 * proof that the test exercises the non-zero-copy path. */
static int compressed_blocks(void)
{
    DIR *d = opendir(fct_dir);
    struct dirent *e;
    int n = 0;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".ldb") == NULL)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", fct_dir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        if (st.st_size == 0) {
            /* A compaction output LevelDB had only just created when it
             * closed (seen once under ASan): nothing to map, no version
             * names it. */
            close(fd);
            continue;
        }
        char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        ck_assert(m != MAP_FAILED);
        fci_table t;
        if (fci_table_open(&t, m, (uint64_t)st.st_size, 0, NULL) != 0) {
            /* LevelDB leaves a compaction output it abandoned at close
             * behind; no version names it, so skip it here as well. */
            munmap(m, (size_t)st.st_size);
            continue;
        }
        fci_block_iter ix;
        fci_block_iter_init(&ix, &t.index, fci_ikey_compare);
        for (fci_block_iter_first(&ix); fci_block_iter_valid(&ix); fci_block_iter_next(&ix)) {
            fci_block_handle h;
            const char *p = ix.value.data;
            ck_assert_int_eq(fci_block_handle_decode(&p, p + ix.value.size, &h), 0);
            n += m[h.offset + h.size] == FC_COMPRESSION_SNAPPY;
        }
        fci_block_iter_free(&ix);
        fci_table_close(&t);
        munmap(m, (size_t)st.st_size);
    }
    if (d != NULL)
        closedir(d);
    return n;
}

START_TEST(readonly_open_matches_leveldb)
{
    build_leveldb();
    char *before = fct_dir_snapshot(fct_dir);
    ck_assert_int_gt(compressed_blocks(), 0);
    collect_expected();
    ck_assert_uint_gt(nscan, NKEYS / 2);
    ck_assert_msg(strstr(before, ".log ") != NULL && strstr(before, ".log 0 ") == NULL,
                  "expected a non-empty WAL:\n%s", before);
    usleep(20000);

    fc_options o;
    fc_options_init(&o);
    o.flags = FC_READONLY;
    o.arena_size = 64u << 20;
    fc_store *s;
    int rc = fc_open(fct_dir, &o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    int levels = 0;
    for (int l = 0; l < 7; l++)
        levels += t->view.nfiles[l] > 0;
    ck_assert_msg(levels >= 2, "LevelDB left tables in only %d level(s)", levels);
    ck_assert(t->has_mem);

    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    size_t i = 0;
    for (rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it))
        expect_pair(it, i++);
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_uint_eq(i, nscan);
    for (rc = fc_iter_last(it); rc == 0; rc = fc_iter_prev(it))
        expect_pair(it, --i);
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_uint_eq(i, 0);

    /* Seeks (to present, absent and in-between keys) with a step each way. */
    char k[32];
    for (int n = 0; n < 2000; n++) {
        size_t kl = fct_key_of(k, "user:", 7, (n * 131) % NKEYS);
        if (n % 3 == 0)
            k[kl++] = '!';
        size_t want = lower_bound(k, kl);
        rc = fc_iter_seek(it, k, kl);
        if (want == nscan) {
            ck_assert_int_eq(rc, FC_ENOTFOUND);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        expect_pair(it, want);
        rc = n % 2 ? fc_iter_prev(it) : fc_iter_next(it);
        size_t step = n % 2 ? want - 1 : want + 1;
        if ((n % 2 && want == 0) || (!(n % 2) && want + 1 == nscan)) {
            ck_assert_int_eq(rc, FC_ENOTFOUND);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        expect_pair(it, step);
        rc = n % 2 ? fc_iter_next(it) : fc_iter_prev(it);
        ck_assert_int_eq(rc, 0);
        expect_pair(it, want);
    }
    fc_iter_free(it);

    for (int j = 0; j < NKEYS; j++) {
        fc_val v;
        size_t kl = fct_key_of(k, "user:", 7, j);
        rc = fc_get(t, k, kl, &v);
        if (!got_found[j]) {
            ck_assert_msg(rc == FC_ENOTFOUND, "%.*s: LevelDB has no value, forkcache %d",
                          (int)kl, k, rc);
            continue;
        }
        ck_assert_msg(rc == 0, "%.*s: %s", (int)kl, k, fc_errmsg(s));
        ck_assert_uint_eq(v.size, got_len[j]);
        ck_assert_int_eq(memcmp(v.data, got_val[j], v.size), 0);
    }
    fc_val v;
    ck_assert_int_eq(fc_get(t, "zz:wal", 6, &v), 0);
    ck_assert_uint_eq(v.size, 15);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_put(s, "a", 1, "b", 1), FC_EREADONLY);
    ck_assert_int_eq(fc_close(s), 0);

    char *after = fct_dir_snapshot(fct_dir);
    ck_assert_msg(strcmp(before, after) == 0, "directory changed:\nbefore:\n%s\nafter:\n%s",
                  before, after);
    free(before);
    free(after);

    /* LevelDB still opens it and still sees the WAL-only write. */
    leveldb_options_t *opt = leveldb_options_create();
    char *errstr = NULL;
    leveldb_t *db = leveldb_open(opt, fct_dir, &errstr);
    ck_assert_msg(db != NULL, "leveldb reopen: %s", errstr ? errstr : "?");
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    size_t vl;
    char *val = leveldb_get(db, ro, "zz:wal", 6, &vl, &errstr);
    ck_assert_ptr_nonnull(val);
    leveldb_free(val);
    leveldb_readoptions_destroy(ro);
    leveldb_close(db);
    leveldb_options_destroy(opt);
    free_expected();
}
END_TEST

static Suite *interop_suite(void)
{
    Suite *s = suite_create("interop_readonly");
    TCase *tc = tcase_create("readonly");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, readonly_open_matches_leveldb);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(interop_suite)
