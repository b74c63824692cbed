/*
 * check_interop_table.c - forkcache's table reader on tables written by
 * real LevelDB (through its public C API), with snappy off and on: every
 * key and value LevelDB holds comes back, in LevelDB's order; the bloom
 * filter is found, used, and is byte for byte the filter our own builder
 * makes from the same keys; every checksum verifies; and our builder, fed
 * the same entries, writes each table byte for byte as LevelDB did.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <leveldb/c.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "format/dbformat.h"
#include "format/filter_block.h"
#include "format/table.h"

#define NKEYS 20000

typedef struct expect {
    char value[256];
    size_t len;
    int deleted;
    /* newest entry seen in the tables */
    uint64_t seq;
    int type;
    int seen;
    char got[256];
    size_t got_len;
} expect;

static void ukey(char *dst, int i)
{
    snprintf(dst, 16, "key%08d", i);
}

/* Text-like values (so snappy has something to compress), length 0..200. */
static size_t make_value(char *dst, int i, int gen)
{
    size_t n = (size_t)((i * 37 + gen * 11) % 201);
    for (size_t j = 0; j < n; j++)
        dst[j] = "forkcache serves leveldb tables "[(i + gen + (int)j) % 32];
    return n;
}

static void fill_db(const char *dir, int compression, expect *ex, char ***order, int *norder)
{
    leveldb_options_t *opt = leveldb_options_create();
    leveldb_filterpolicy_t *bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_create_if_missing(opt, 1);
    leveldb_options_set_filter_policy(opt, bloom);
    leveldb_options_set_compression(opt, compression);
    leveldb_options_set_write_buffer_size(opt, 64 * 1024);
    leveldb_options_set_max_file_size(opt, 256 * 1024);
    char *errstr = NULL;
    leveldb_t *db = leveldb_open(opt, dir, &errstr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    char k[16];
    for (int i = 0; i < NKEYS; i++) {
        ukey(k, i);
        ex[i].len = make_value(ex[i].value, i, 0);
        leveldb_put(db, wo, k, strlen(k), ex[i].value, ex[i].len, &errstr);
        ck_assert_ptr_null(errstr);
    }
    /* flushes the memtable and pushes everything into sorted tables */
    leveldb_compact_range(db, NULL, 0, NULL, 0);
    for (int i = 0; i < NKEYS; i += 7) {   /* newer versions */
        ukey(k, i);
        ex[i].len = make_value(ex[i].value, i, 1);
        leveldb_put(db, wo, k, strlen(k), ex[i].value, ex[i].len, &errstr);
        ck_assert_ptr_null(errstr);
    }
    for (int i = 3; i < NKEYS; i += 11) {  /* deletions */
        ukey(k, i);
        ex[i].deleted = 1;
        leveldb_delete(db, wo, k, strlen(k), &errstr);
        ck_assert_ptr_null(errstr);
    }
    /* Reopening turns what the log still holds into a level-0 table, so
     * newer versions and tombstones sit in tables above the older ones. */
    leveldb_close(db);
    db = leveldb_open(opt, dir, &errstr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
    *order = malloc(sizeof(char *) * NKEYS);
    *norder = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl;
        const char *kp = leveldb_iter_key(it, &kl);
        ck_assert_int_lt(*norder, NKEYS);
        (*order)[(*norder)++] = strndup(kp, kl);
    }
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_options_destroy(opt);
    leveldb_filterpolicy_destroy(bloom);
}

/* Rebuilds the filter block from the table's own keys with our builder. */
static void check_filter_bytes(const fci_table *t)
{
    fci_filter_builder fb;
    fci_filter_builder_init(&fb, 10);
    fci_table_iter it;
    fci_table_iter_init(&it, t);
    uint64_t block = UINT64_MAX;
    for (fci_table_iter_first(&it); fci_table_iter_valid(&it); fci_table_iter_next(&it)) {
        if (it.block_offset != block) {
            block = it.block_offset;
            ck_assert_int_eq(fci_filter_builder_start_block(&fb, block), 0);
        }
        fci_filter_builder_add_key(&fb, fci_ikey_user(fci_table_iter_key(&it)));
    }
    ck_assert_int_eq(fci_table_iter_status(&it, NULL), 0);
    fci_table_iter_free(&it);
    /* LevelDB starts a filter range at the end of the last data block too */
    fci_block_iter ix;
    fci_block_iter_init(&ix, &t->index, fci_ikey_compare);
    fci_block_iter_last(&ix);
    if (fci_block_iter_valid(&ix)) {
        fci_block_handle h;
        const char *p = ix.value.data;
        ck_assert_int_eq(fci_block_handle_decode(&p, p + ix.value.size, &h), 0);
        ck_assert_int_eq(fci_filter_builder_start_block(&fb, h.offset + h.size + FCI_BLOCK_TRAILER_SIZE), 0);
    }
    fci_block_iter_free(&ix);
    fci_slice ours;
    ck_assert_int_eq(fci_filter_builder_finish(&fb, &ours), 0);
    ck_assert_uint_eq(ours.size, t->filter_ref.data.size);
    ck_assert_int_eq(memcmp(ours.data, t->filter_ref.data.data, ours.size), 0);
    fci_filter_builder_free(&fb);
}

/*
 * Feeds every entry of a LevelDB table to our builder with LevelDB's
 * default options: the result must be the same file, byte for byte (so a
 * forkcache table is what LevelDB itself would have written).
 */
static void check_rebuild_identical(const fci_table *t, const char *map, size_t size, int compression)
{
    fci_table_options o;
    fci_table_options_init(&o);   /* 4 KiB blocks, restart 16, bloom 10 */
    o.compression = compression ? FC_COMPRESSION_SNAPPY : FC_COMPRESSION_NONE;
    fci_buf out = FCI_BUF_INIT;
    fci_table_builder tb;
    ck_assert_int_eq(fci_table_builder_init_buf(&tb, &o, &out), 0);
    fci_table_iter it;
    fci_table_iter_init(&it, t);
    for (fci_table_iter_first(&it); fci_table_iter_valid(&it); fci_table_iter_next(&it))
        ck_assert_int_eq(fci_table_builder_add(&tb, fci_table_iter_key(&it), fci_table_iter_value(&it), NULL), 0);
    fci_table_iter_free(&it);
    ck_assert_int_eq(fci_table_builder_finish(&tb, NULL), 0);
    ck_assert_uint_eq(out.size, size);
    size_t i = 0;
    while (i < size && out.data[i] == map[i])
        i++;
    ck_assert_msg(i == size, "rebuilt table differs from LevelDB's at offset %zu", i);
    fci_table_builder_free(&tb);
    fci_buf_free(&out);
}

typedef struct table_stats {
    int tables, entries, compressed_blocks, raw_blocks, zero_copy, absent_filtered, absent_tried;
} table_stats;

static void read_table(const char *path, expect *ex, table_stats *st, int compression)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    char *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert(map != MAP_FAILED);
    close(fd);
    fci_table t;
    fci_err err;
    ck_assert_msg(fci_table_open(&t, map, (uint64_t)sb.st_size, FCI_TABLE_VERIFY_CHECKSUMS, &err) == 0,
                  "%s: %s", path, err.msg);
    ck_assert_msg(fci_table_verify(&t, &err) == 0, "%s: verify: %s", path, err.msg);
    ck_assert_msg(t.has_filter, "%s: no filter.leveldb.BuiltinBloomFilter2 block", path);
    check_filter_bytes(&t);
    check_rebuild_identical(&t, map, (size_t)sb.st_size, compression);
    st->tables++;

    /* block types, from the index */
    fci_block_iter ix;
    fci_block_iter_init(&ix, &t.index, fci_ikey_compare);
    for (fci_block_iter_first(&ix); fci_block_iter_valid(&ix); fci_block_iter_next(&ix)) {
        fci_block_handle h;
        const char *p = ix.value.data;
        ck_assert_int_eq(fci_block_handle_decode(&p, p + ix.value.size, &h), 0);
        if (map[h.offset + h.size] == FC_COMPRESSION_NONE)
            st->raw_blocks++;
        else
            st->compressed_blocks++;
    }
    fci_block_iter_free(&ix);

    /* every entry: order, newest version per user key */
    fci_table_iter it;
    fci_table_iter_init(&it, &t);
    fci_buf prev = FCI_BUF_INIT;
    fci_table_get_result r;
    fci_table_get_init(&r);
    for (fci_table_iter_first(&it); fci_table_iter_valid(&it); fci_table_iter_next(&it)) {
        fci_slice k = fci_table_iter_key(&it);
        if (prev.size)
            ck_assert_int_gt(fci_ikey_compare(k, fci_buf_slice(&prev)), 0);
        fci_buf_clear(&prev);
        fci_buf_append(&prev, k.data, k.size);
        fci_parsed_ikey pk;
        ck_assert_int_eq(fci_ikey_parse(k, &pk), 0);
        ck_assert_uint_eq(pk.user_key.size, 11);
        char digits[16]; /* keys are not NUL-terminated inside a block */
        memcpy(digits, pk.user_key.data + 3, 8);
        digits[8] = '\0';
        int i = atoi(digits);
        ck_assert(i >= 0 && i < NKEYS);
        st->entries++;
        expect *e = &ex[i];
        if (!e->seen || pk.sequence > e->seq) {
            e->seen = 1;
            e->seq = pk.sequence;
            e->type = pk.type;
            fci_slice v = fci_table_iter_value(&it);
            ck_assert_uint_le(v.size, sizeof e->got);
            memcpy(e->got, v.data, v.size);
            e->got_len = v.size;
        }
        /* a get of this user key at the newest sequence finds this table's
         * newest entry for it: the filter lets a present key through */
        fci_buf lk = FCI_BUF_INIT;
        fci_ikey_append(&lk, pk.user_key, FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
        ck_assert_int_eq(fci_table_get(&t, fci_buf_slice(&lk), &r, &err), 0);
        ck_assert_uint_ge(r.sequence, pk.sequence);
        if (r.value.data >= map && r.value.data < map + sb.st_size)
            st->zero_copy++;
        fci_buf_free(&lk);
    }
    ck_assert_int_eq(fci_table_iter_status(&it, NULL), 0);
    fci_table_iter_free(&it);
    fci_buf_free(&prev);

    /* absent keys: most never get past the filter */
    char k[32];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "key%08d", NKEYS + i);
        fci_buf lk = FCI_BUF_INIT;
        fci_ikey_append(&lk, fci_slice_str(k), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
        int rc = fci_table_get(&t, fci_buf_slice(&lk), &r, NULL);
        ck_assert_int_eq(rc, FC_ENOTFOUND);
        /* keys past the table's last key stop at the index: not a filter use */
        fci_buf_free(&lk);
        snprintf(k, sizeof k, "key%08dx", i * 40);
        fci_ikey_append(&lk, fci_slice_str(k), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
        rc = fci_table_get(&t, fci_buf_slice(&lk), &r, NULL);
        ck_assert_int_eq(rc, FC_ENOTFOUND);
        st->absent_tried++;
        st->absent_filtered += r.filtered;
        fci_buf_free(&lk);
    }
    fci_table_get_free(&t, &r);
    fci_table_close(&t);
    munmap(map, (size_t)sb.st_size);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void interop(int compression)
{
    const char *tmp = fct_tmpdir();
    ck_assert_ptr_nonnull(tmp);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmp);
    expect *ex = calloc(NKEYS, sizeof *ex);
    char **order;
    int norder;
    fill_db(dir, compression, ex, &order, &norder);

    table_stats st;
    memset(&st, 0, sizeof st);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".ldb") == 0) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            read_table(path, ex, &st, compression);
        }
    }
    closedir(d);
    fprintf(stderr, "interop (%s): %d tables, %d entries, %d raw + %d compressed blocks, "
            "%d zero-copy gets, %d/%d absent keys rejected by the filter\n",
            compression ? "snappy" : "no compression", st.tables, st.entries, st.raw_blocks,
            st.compressed_blocks, st.zero_copy, st.absent_filtered, st.absent_tried);
    ck_assert_int_gt(st.tables, 0);
    if (compression) {
        ck_assert_int_gt(st.compressed_blocks, 0);
    } else {
        ck_assert_int_eq(st.compressed_blocks, 0);
        ck_assert_int_eq(st.zero_copy, st.entries);
    }
    ck_assert_int_gt(st.absent_filtered, st.absent_tried * 9 / 10);

    /* every live key with its latest value; deleted keys absent or tombstoned */
    char **live = malloc(sizeof(char *) * NKEYS);
    int nlive = 0;
    for (int i = 0; i < NKEYS; i++) {
        expect *e = &ex[i];
        if (e->deleted) {
            ck_assert(!e->seen || e->type == FCI_TYPE_DELETION);
            continue;
        }
        ck_assert_msg(e->seen, "key %d missing from the tables", i);
        ck_assert_int_eq(e->type, FCI_TYPE_VALUE);
        ck_assert_uint_eq(e->got_len, e->len);
        ck_assert_int_eq(memcmp(e->got, e->value, e->len), 0);
        live[nlive] = malloc(16);
        ukey(live[nlive++], i);
    }
    /* same keys in the same order as LevelDB's own iterator */
    qsort(live, (size_t)nlive, sizeof *live, cmp_str);
    ck_assert_int_eq(nlive, norder);
    for (int i = 0; i < nlive; i++) {
        ck_assert_str_eq(live[i], order[i]);
        free(live[i]);
        free(order[i]);
    }
    free(live);
    free(order);
    free(ex);
    fct_rmtree(dir);
}

START_TEST(leveldb_tables_uncompressed)
{
    interop(leveldb_no_compression);
}
END_TEST

START_TEST(leveldb_tables_snappy)
{
    interop(leveldb_snappy_compression);
}
END_TEST

static Suite *interop_suite(void)
{
    Suite *s = suite_create("interop_table");
    TCase *tc = tcase_create("leveldb");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, leveldb_tables_uncompressed);
    tcase_add_test(tc, leveldb_tables_snappy);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(interop_suite)
