/*
 * check_interop_log.c - our log, WriteBatch, VersionEdit and CURRENT code
 * against real LevelDB (its public C API only), both ways:
 *  - LevelDB writes a database; we parse its MANIFEST (found through
 *    CURRENT) and a WAL it left behind, and find what was written;
 *  - we write a store directory by hand (CURRENT, MANIFEST-000001, a WAL of
 *    our batches); LevelDB opens it, replays the WAL and returns our data.
 * Each runs with LevelDB's snappy compression and with none.
 */
#include "config.h"

#include <dirent.h>
#include <leveldb/c.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fct.h"
#include "forkcache.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "format/log_writer.h"
#include "format/version_edit.h"
#include "format/write_batch.h"

static const int compressions[2] = { leveldb_snappy_compression, leveldb_no_compression };

/* The table set a MANIFEST describes once all its edits are applied. */
typedef struct version {
    int has_comparator;
    char comparator[128];
    uint64_t log_number, prev_log_number, next_file, last_sequence;
    int edits;
    size_t n;
    int level[1024];
    uint64_t number[1024], size[1024];
} version;

static void apply(version *v, const fci_version_edit *e)
{
    if (e->has_comparator) {
        ck_assert_uint_lt(e->comparator.size, sizeof v->comparator);
        memcpy(v->comparator, e->comparator.data, e->comparator.size);
        v->comparator[e->comparator.size] = '\0';
        v->has_comparator = 1;
    }
    if (e->has_log_number)
        v->log_number = e->log_number;
    if (e->has_prev_log_number)
        v->prev_log_number = e->prev_log_number;
    if (e->has_next_file_number)
        v->next_file = e->next_file_number;
    if (e->has_last_sequence)
        v->last_sequence = e->last_sequence;
    for (size_t d = 0; d < e->n_deleted; d++)
        for (size_t i = 0; i < v->n; i++)
            if (v->level[i] == e->deleted[d].level && v->number[i] == e->deleted[d].number) {
                v->n--;
                v->level[i] = v->level[v->n];
                v->number[i] = v->number[v->n];
                v->size[i] = v->size[v->n];
                break;
            }
    for (size_t f = 0; f < e->n_new_files; f++) {
        ck_assert_uint_lt(v->n, 1024);
        v->level[v->n] = e->new_files[f].level;
        v->number[v->n] = e->new_files[f].number;
        v->size[v->n] = e->new_files[f].file_size;
        v->n++;
    }
    v->edits++;
}

/* CURRENT -> MANIFEST -> every edit, strictly: any damage fails the test. */
static void load_manifest(const char *dir, version *v)
{
    char name[64], path[4200];
    uint64_t number;
    fci_err err = { 0, "" };
    memset(v, 0, sizeof *v);
    ck_assert_msg(fci_current_read(AT_FDCWD, dir, &number, name, sizeof name, &err) == 0, "%s",
                  err.msg);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fci_log_reader r;
    ck_assert_msg(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err) == 0, "%s", err.msg);
    fci_version_edit e;
    fci_edit_init(&e);
    fci_slice rec;
    int rc;
    while ((rc = fci_log_reader_read(&r, &rec, &err)) == 1) {
        ck_assert_msg(fci_edit_decode(&e, rec, &err) == 0, "%s", err.msg);
        apply(v, &e);
    }
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(r.torn_tail, 0);
    ck_assert_uint_eq(r.corruptions, 0);
    fci_edit_free(&e);
    fci_log_reader_free(&r);
}

/* Every live table is on disk with the size the MANIFEST says. */
static void check_tables_exist(const char *dir, const version *v)
{
    for (size_t i = 0; i < v->n; i++) {
        char path[4200];
        struct stat st;
        ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_TABLE, v->number[i]), 0);
        if (stat(path, &st) != 0) {
            ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_TABLE_SST,
                                          v->number[i]), 0);
            ck_assert_msg(stat(path, &st) == 0, "table %llu missing",
                          (unsigned long long)v->number[i]);
        }
        ck_assert_uint_eq((uint64_t)st.st_size, v->size[i]);
        ck_assert_uint_lt(v->number[i], v->next_file);
        ck_assert_int_lt(v->level[i], FCI_NUM_LEVELS);
    }
}

static leveldb_t *open_db(const char *dir, int compression, int create)
{
    leveldb_options_t *o = leveldb_options_create();
    leveldb_options_set_create_if_missing(o, (unsigned char)create);
    leveldb_options_set_paranoid_checks(o, 1);
    leveldb_options_set_write_buffer_size(o, 64 * 1024);
    leveldb_options_set_compression(o, compressions[compression]);
    char *errptr = NULL;
    leveldb_t *db = leveldb_open(o, dir, &errptr);
    ck_assert_msg(db != NULL, "leveldb_open: %s", errptr ? errptr : "?");
    leveldb_options_destroy(o);
    return db;
}

/* Value i: mostly small, every 97th is 100 KiB so tables and log records
 * span blocks. */
static size_t value_of(char *buf, int i)
{
    size_t n = (i % 97 == 0) ? 100 * 1024 : (size_t)(10 + i % 50);
    for (size_t j = 0; j < n; j++)
        buf[j] = (char)('a' + (i + (int)j) % 26);
    return n;
}

static int track_max(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    uint64_t *max = arg;
    (void)type;
    (void)key;
    (void)value;
    if (seq > *max)
        *max = seq;
    return 0;
}

/* The highest sequence in the WALs numbered min_log or later, each read
 * strictly (LevelDB closed cleanly: no torn tail either). */
static uint64_t max_wal_sequence(const char *dir, uint64_t min_log)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t max = 0;
    int logs = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t n;
        if (fci_filename_parse(de->d_name, &kind, &n) != 0 || kind != FCI_FILE_WAL ||
            n < min_log)
            continue;
        char path[4200];
        fci_log_reader r;
        fci_err err = { 0, "" };
        fci_slice rec;
        int rc;
        ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_WAL, n), 0);
        ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
        while ((rc = fci_log_reader_read(&r, &rec, &err)) == 1)
            ck_assert_msg(fci_batch_insert(rec, track_max, &max, &err) == 0, "%s", err.msg);
        ck_assert_msg(rc == 0, "%s", err.msg);
        ck_assert_int_eq(r.torn_tail, 0);
        fci_log_reader_free(&r);
        logs++;
    }
    closedir(d);
    ck_assert_int_ge(logs, 1);
    return max;
}

START_TEST(leveldb_manifest_parses)
{
    const char *dir = fct_tmpdir();
    leveldb_t *db = open_db(dir, _i, 1);
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    static char val[100 * 1024];
    char key[32], *errptr = NULL;
    int writes = 0;
    for (int i = 0; i < 3000; i++) {
        fct_key_of(key, "key", 6, i);
        size_t n = value_of(val, i);
        leveldb_put(db, wo, key, strlen(key), val, n, &errptr);
        ck_assert_ptr_null(errptr);
        writes++;
        if (i % 10 == 3) {
            fct_key_of(key, "key", 6, i - 2);
            leveldb_delete(db, wo, key, strlen(key), &errptr);
            ck_assert_ptr_null(errptr);
            writes++;
        }
    }
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);

    /* The MANIFEST knows the tables flushed so far; the writes after the
     * last flush are only in the live WAL(s), which end at `writes`. */
    version v;
    load_manifest(dir, &v);
    ck_assert_int_eq(v.has_comparator, 1);
    ck_assert_str_eq(v.comparator, "leveldb.BytewiseComparator");
    ck_assert_uint_le(v.last_sequence, (uint64_t)writes);
    ck_assert_uint_gt(v.n, 0);        /* the small write buffer forced flushes */
    ck_assert_int_ge(v.edits, 2);
    ck_assert_uint_gt(v.next_file, v.log_number);
    check_tables_exist(dir, &v);
    ck_assert_uint_eq(max_wal_sequence(dir, v.log_number), (uint64_t)writes);

    /* Reopening recovers that WAL into a table and records the sequence. */
    leveldb_close(open_db(dir, _i, 0));
    load_manifest(dir, &v);
    ck_assert_str_eq(v.comparator, "leveldb.BytewiseComparator");
    ck_assert_uint_ge(v.last_sequence, (uint64_t)writes);
    check_tables_exist(dir, &v);
    fct_rmtree(dir);
}
END_TEST

/* What a WAL holds, as text: "seq:P(key,value)" / "seq:D(key)". */
static int wal_text(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    fci_buf *t = arg;
    char head[40];
    snprintf(head, sizeof head, "%llu:%c(", (unsigned long long)seq,
             type == FCI_TYPE_VALUE ? 'P' : 'D');
    fci_buf_append(t, head, strlen(head));
    fci_buf_append(t, key.data, key.size);
    if (type == FCI_TYPE_VALUE) {
        fci_buf_push(t, ',');
        fci_buf_append(t, value.data, value.size);
    }
    fci_buf_push(t, ')');
    return 0;
}

/* The newest NNNNNN.log in dir; 0 when there is none. */
static uint64_t newest_wal(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t best = 0;
    *count = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t n;
        if (fci_filename_parse(de->d_name, &kind, &n) == 0 && kind == FCI_FILE_WAL) {
            (*count)++;
            if (n > best)
                best = n;
        }
    }
    closedir(d);
    return best;
}

START_TEST(leveldb_wal_parses)
{
    const char *dir = fct_tmpdir();
    leveldb_t *db = open_db(dir, _i, 1);
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    char *errptr = NULL;
    leveldb_put(db, wo, "apple", 5, "red", 3, &errptr);
    leveldb_put(db, wo, "banana", 6, "yellow", 6, &errptr);
    leveldb_delete(db, wo, "apple", 5, &errptr);
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    leveldb_writebatch_put(wb, "cherry", 6, "dark", 4);
    leveldb_writebatch_delete(wb, "banana", 6);
    leveldb_writebatch_put(wb, "", 0, "empty key", 9);
    leveldb_write(db, wo, wb, &errptr);
    leveldb_writebatch_destroy(wb);
    leveldb_put(db, wo, "date", 4, "", 0, &errptr);
    ck_assert_ptr_null(errptr);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);   /* a small memtable is not flushed: the WAL stays */

    int count;
    uint64_t number = newest_wal(dir, &count);
    ck_assert_int_ge(count, 1);
    char path[4200];
    ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_WAL, number), 0);

    fci_log_reader r;
    fci_err err = { 0, "" };
    fci_buf text = FCI_BUF_INIT;
    fci_slice rec;
    int rc, batches = 0;
    ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, path, 0, &err), 0);
    while ((rc = fci_log_reader_read(&r, &rec, &err)) == 1) {
        ck_assert_msg(fci_batch_insert(rec, wal_text, &text, &err) == 0, "%s", err.msg);
        batches++;
    }
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_int_eq(r.torn_tail, 0);
    ck_assert_int_eq(batches, 5);
    fci_buf_push(&text, '\0');
    ck_assert_str_eq(text.data, "1:P(apple,red)2:P(banana,yellow)3:D(apple)"
                                "4:P(cherry,dark)5:D(banana)6:P(,empty key)7:P(date,)");
    fci_buf_free(&text);
    fci_log_reader_free(&r);

    /* And the MANIFEST next to it names that log as the live one. */
    version v;
    load_manifest(dir, &v);
    ck_assert_uint_le(v.log_number, number);
    fct_rmtree(dir);
}
END_TEST

/* Writes one log file of records with our writer. */
static void write_log(const char *path, const fci_slice *recs, size_t n)
{
    fci_log_writer w;
    fci_err err = { 0, "" };
    ck_assert_msg(fci_log_writer_open(&w, AT_FDCWD, path, 1, 0600, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(fci_log_writer_add(&w, recs[i], &err), 0);
    ck_assert_int_eq(fci_log_writer_sync(&w, &err), 0);
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
}

#define NKEYS 500

/* Key i's value in the hand-made store; deleted keys return NULL. */
static size_t our_value(char *buf, int i)
{
    if (i % 7 == 3)
        return (size_t)-1;                        /* deleted by batch 3 */
    if (i == 250)
        return value_of(buf, 97 * 3);             /* 100 KiB, rewritten */
    return value_of(buf, i + 1);
}

START_TEST(leveldb_opens_our_store)
{
    const char *dir = fct_tmpdir();
    static char val[100 * 1024];
    char key[32], path[4200];
    fci_err err = { 0, "" };

    /* The WAL: three batches with consecutive sequences. */
    fci_write_batch b[3];
    uint64_t seq = 1;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(fci_batch_init(&b[k]), 0);
        fci_batch_set_sequence(&b[k], seq);
        if (k == 0) {
            for (int i = 0; i < NKEYS; i++) {
                fct_key_of(key, "key", 6, i);
                size_t n = value_of(val, i + 1);
                ck_assert_int_eq(fci_batch_put(&b[k], fci_slice_str(key),
                                               fci_slice_make(val, n)), 0);
            }
        } else if (k == 1) {
            fct_key_of(key, "key", 6, 250);
            size_t n = value_of(val, 97 * 3);
            ck_assert_int_eq(fci_batch_put(&b[k], fci_slice_str(key), fci_slice_make(val, n)), 0);
            ck_assert_int_eq(fci_batch_put(&b[k], fci_slice_make("", 0), fci_slice_str("e")), 0);
        } else {
            for (int i = 3; i < NKEYS; i += 7) {
                fct_key_of(key, "key", 6, i);
                ck_assert_int_eq(fci_batch_delete(&b[k], fci_slice_str(key)), 0);
            }
        }
        seq += fci_batch_count(&b[k]);
    }
    uint64_t last = seq - 1;
    fci_slice recs[3] = { fci_batch_contents(&b[0]), fci_batch_contents(&b[1]),
                          fci_batch_contents(&b[2]) };
    ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_WAL, 2), 0);
    write_log(path, recs, 3);

    /* The MANIFEST: one snapshot edit. */
    fci_version_edit e;
    fci_buf enc = FCI_BUF_INIT;
    fci_edit_init(&e);
    ck_assert_int_eq(fci_edit_set_comparator(&e, fci_slice_str(FCI_BYTEWISE_NAME)), 0);
    fci_edit_set_log_number(&e, 2);
    fci_edit_set_prev_log_number(&e, 0);
    fci_edit_set_next_file_number(&e, 3);
    fci_edit_set_last_sequence(&e, last);
    ck_assert_int_eq(fci_edit_encode(&e, &enc), 0);
    fci_slice mrec = fci_buf_slice(&enc);
    ck_assert_int_ge(fci_filename(path, sizeof path, dir, FCI_FILE_MANIFEST, 1), 0);
    write_log(path, &mrec, 1);
    ck_assert_msg(fci_current_write(AT_FDCWD, dir, 1, 0600, &err) == 0, "%s", err.msg);

    /* LevelDB replays our WAL and serves exactly our data. */
    for (int round = 0; round < 2; round++) {
        leveldb_t *db = open_db(dir, _i, 0);
        leveldb_readoptions_t *ro = leveldb_readoptions_create();
        char *errptr = NULL;
        for (int i = 0; i < NKEYS; i++) {
            size_t got_n = 0;
            fct_key_of(key, "key", 6, i);
            char *got = leveldb_get(db, ro, key, strlen(key), &got_n, &errptr);
            ck_assert_ptr_null(errptr);
            size_t n = our_value(val, i);
            if (n == (size_t)-1) {
                ck_assert_ptr_null(got);
                continue;
            }
            ck_assert_msg(got != NULL, "key %d missing", i);
            ck_assert_uint_eq(got_n, n);
            ck_assert_int_eq(memcmp(got, val, n), 0);
            leveldb_free(got);
        }
        /* Nothing else is there: count with an iterator. */
        leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
        int live = 0, empty_key = 0;
        for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
            size_t kl;
            leveldb_iter_key(it, &kl);
            if (kl == 0)
                empty_key++;
            live++;
        }
        leveldb_iter_destroy(it);
        ck_assert_int_eq(empty_key, 1);
        ck_assert_int_eq(live, NKEYS - (NKEYS - 3 + 6) / 7 + 1);
        leveldb_readoptions_destroy(ro);
        leveldb_close(db);
    }

    /* After LevelDB recovered our log into a table, its MANIFEST (parsed
     * by us again) lists that table and keeps our last sequence. */
    version v;
    load_manifest(dir, &v);
    ck_assert_str_eq(v.comparator, "leveldb.BytewiseComparator");
    ck_assert_uint_ge(v.last_sequence, last);
    ck_assert_uint_gt(v.n, 0);
    ck_assert_uint_gt(v.log_number, 2);
    check_tables_exist(dir, &v);

    for (int k = 0; k < 3; k++)
        fci_batch_free(&b[k]);
    fci_edit_free(&e);
    fci_buf_free(&enc);
    fct_rmtree(dir);
}
END_TEST

static Suite *interop_suite(void)
{
    Suite *s = suite_create("interop_log");
    TCase *tc = tcase_create("leveldb");
    tcase_add_loop_test(tc, leveldb_manifest_parses, 0, 2);
    tcase_add_loop_test(tc, leveldb_wal_parses, 0, 2);
    tcase_add_loop_test(tc, leveldb_opens_our_store, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(interop_suite)
