/*
 * check_db_manifest.c - numbers a crafted MANIFEST may carry, and its size.
 *
 * Each test writes a new MANIFEST for a real store (the store's own tables
 * and counters, one of them replaced by a bad value) and points CURRENT at
 * it. The writer's open, the read-only open and fc_verify must each refuse
 * it with FC_ECORRUPT and a message naming the field; a store near but
 * under the limits must still open, take writes, compact and verify.
 * Last, a MANIFEST listing one table 20,000 times must verify (reporting
 * the duplicates) in linear time: the elapsed time is printed, not timed.
 */
#include "config.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/vset.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "format/log_writer.h"
#include "format/version_edit.h"
#include "util/coding.h"

/* ---- the store and its MANIFEST ------------------------------------------ */

/* A copy of key's value in buf (a transaction of its own). */
static int get(fc_store *s, const char *key, char *buf, size_t cap, size_t *len)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    int rc = fc_get_copy(t, key, strlen(key), buf, cap, len);
    ck_assert_int_eq(fc_txn_end(t), 0);
    return rc;
}

/* A few tables at L0 and below, and some writes left in the WAL. */
static void build_store(void)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[64];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            int n = snprintf(v, sizeof v, "value-%d-%d", i, round);
            ck_assert_int_eq(fc_put(s, k, strlen(k), v, (size_t)n), 0);
        }
        ck_assert_int_eq(fc_flush(s), 0);
    }
    ck_assert_int_eq(fc_put(s, "wal", 3, "x", 1), 0);
    ck_assert_int_eq(fc_close(s), 0);
}

/* The store's state as the writer's replay sees it. */
typedef struct state {
    fci_vset vs;
    uint64_t manifest;     /* the number a crafted MANIFEST gets */
} state;

static void load(state *st)
{
    fci_err err;
    ck_assert_int_eq(fci_vset_init(&st->vs, AT_FDCWD, fct_dir, 0600), 0);
    ck_assert_msg(fci_vset_recover(&st->vs, 0, &err) == 0, "recover: %s", err.msg);
    st->manifest = st->vs.manifest_number;   /* reserved: below next_file */
}

/* A snapshot edit of the loaded state, as a writer would start a MANIFEST. */
static void snapshot(const state *st, fci_version_edit *e)
{
    fci_edit_init(e);
    ck_assert_int_eq(fci_edit_set_comparator(e, fci_slice_str(FCI_IKEY_COMPARATOR_NAME)), 0);
    fci_edit_set_log_number(e, st->vs.log_number);
    fci_edit_set_prev_log_number(e, 0);
    fci_edit_set_next_file_number(e, st->vs.next_file);
    fci_edit_set_last_sequence(e, st->vs.last_sequence);
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < st->vs.current->nfiles[l]; i++) {
            const fci_file_meta *f = st->vs.current->files[l][i];
            ck_assert_int_eq(fci_edit_add_file(e, l, f->number, f->size,
                                               fci_buf_slice(&f->smallest),
                                               fci_buf_slice(&f->largest)), 0);
        }
}

/* Writes records (encoded edits) as MANIFEST-<number> and points CURRENT
 * at it. */
static void write_manifest(uint64_t number, const fci_buf *recs, size_t n)
{
    char path[4096];
    fci_err err;
    fci_log_writer w;
    fci_filename(path, sizeof path, fct_dir, FCI_FILE_MANIFEST, number);
    ck_assert_msg(fci_log_writer_open(&w, AT_FDCWD, path, 1, 0600, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fci_log_writer_add(&w, fci_buf_slice(&recs[i]), &err) == 0, "%s", err.msg);
    ck_assert_int_eq(fci_log_writer_close(&w, &err), 0);
    ck_assert_int_ge(fci_current_write(AT_FDCWD, fct_dir, number, 0600, &err), 0);
}

static void write_edit(uint64_t number, const fci_version_edit *e)
{
    fci_buf rec = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(e, &rec), 0);
    write_manifest(number, &rec, 1);
    fci_buf_free(&rec);
}

/* ---- what must refuse it -------------------------------------------------- */

typedef struct seen {
    const char *want;      /* a phrase the damage must contain */
    int hits, damage;
    char first[1024];
} seen;

static void collect(void *arg, const fc_verify_finding *f)
{
    seen *s = arg;
    if (f->severity != FC_VERIFY_DAMAGE)
        return;
    s->damage++;
    if (strstr(f->message, s->want) != NULL && s->hits++ == 0)
        snprintf(s->first, sizeof s->first, "%s: %s", f->file, f->message);
}

static int verify_has(void *arg, const char *what)
{
    seen *s = arg;
    memset(s, 0, sizeof *s);
    s->want = what;
    return fc_verify(fct_dir, collect, s);
}

/* Open (writer and read-only) and verify all refuse the store with
 * FC_ECORRUPT, and each says field and value. */
static void expect_refused(const char *field, const char *value)
{
    fc_options o = fct_small_opts();
    fc_store *s = NULL;
    for (int ro = 0; ro < 2; ro++) {
        o.flags = ro ? FC_READONLY : 0;
        int rc = fc_open(fct_dir, &o, &s);
        const char *msg = fc_errmsg(NULL);
        fprintf(stderr, "  open%s: %s: %s\n", ro ? " (read-only)" : "", fc_strerror(rc), msg);
        if (rc == 0)
            fc_close(s);
        ck_assert_msg(rc == FC_ECORRUPT, "open%s: %s", ro ? " read-only" : "", fc_strerror(rc));
        ck_assert_msg(strstr(msg, field) != NULL, "open's message lacks '%s': %s", field, msg);
        ck_assert_msg(strstr(msg, value) != NULL, "open's message lacks '%s': %s", value, msg);
        ck_assert_msg(strstr(msg, "MANIFEST-") != NULL, "open's message names no MANIFEST: %s",
                      msg);
    }
    seen sn;
    int rc = verify_has(&sn, field);
    fprintf(stderr, "  verify: %s: %s\n", fc_strerror(rc), sn.first);
    ck_assert_int_eq(rc, FC_ECORRUPT);
    ck_assert_msg(sn.hits > 0, "verify did not name '%s'", field);
    ck_assert_msg(strstr(sn.first, value) != NULL, "verify's finding lacks %s", value);
}

/* One counter of the snapshot replaced, then refused everywhere. A value
 * past_next is added to the store's next file number; returns the value
 * written. */
enum { F_NEXT, F_LAST, F_LOG, F_PREV_LOG };

static uint64_t craft_counter(int field, uint64_t value, int past_next)
{
    build_store();
    state st;
    load(&st);
    if (past_next)
        value += st.vs.next_file;
    fci_version_edit e;
    snapshot(&st, &e);
    switch (field) {
    case F_NEXT: fci_edit_set_next_file_number(&e, value); break;
    case F_LAST: fci_edit_set_last_sequence(&e, value); break;
    case F_LOG: fci_edit_set_log_number(&e, value); break;
    default: fci_edit_set_prev_log_number(&e, value); break;
    }
    write_edit(st.manifest, &e);
    fci_edit_free(&e);
    fci_vset_free(&st.vs);
    return value;
}

static const char *u64(uint64_t v)
{
    static char b[4][32];
    static int i;
    i = (i + 1) % 4;
    snprintf(b[i], sizeof b[i], "%llu", (unsigned long long)v);
    return b[i];
}

START_TEST(next_file_near_wrap)
{
    craft_counter(F_NEXT, UINT64_MAX - 5, 0);
    expect_refused("next file number", u64(UINT64_MAX - 5));
}
END_TEST

START_TEST(next_file_past_headroom)
{
    craft_counter(F_NEXT, FCI_NEXT_FILE_LIMIT + 1, 0);
    expect_refused("next file number", u64(FCI_NEXT_FILE_LIMIT + 1));
}
END_TEST

START_TEST(last_sequence_all_ones)
{
    craft_counter(F_LAST, UINT64_MAX, 0);
    expect_refused("last sequence", u64(UINT64_MAX));
}
END_TEST

START_TEST(last_sequence_at_max)
{
    craft_counter(F_LAST, FCI_MAX_SEQUENCE, 0);
    expect_refused("last sequence", u64(FCI_MAX_SEQUENCE));
}
END_TEST

START_TEST(last_sequence_past_headroom)
{
    craft_counter(F_LAST, FCI_LAST_SEQUENCE_LIMIT + 1, 0);
    expect_refused("last sequence", u64(FCI_LAST_SEQUENCE_LIMIT + 1));
}
END_TEST

START_TEST(log_number_past_next)
{
    craft_counter(F_LOG, UINT64_MAX, 0);
    expect_refused("log number", u64(UINT64_MAX));
}
END_TEST

START_TEST(log_number_at_next)
{
    uint64_t v = craft_counter(F_LOG, 3, 1);
    expect_refused("log number", u64(v));
}
END_TEST

START_TEST(prev_log_number_huge)
{
    craft_counter(F_PREV_LOG, UINT64_MAX - 1, 0);
    expect_refused("previous log number", u64(UINT64_MAX - 1));
}
END_TEST

/* A table entry with one number replaced: added as well as the real ones
 * (past_next as for craft_counter). Returns the number written. */
static uint64_t craft_table(uint64_t number, uint64_t size, int past_next)
{
    build_store();
    state st;
    load(&st);
    if (past_next)
        number += st.vs.next_file;
    fci_version_edit e;
    snapshot(&st, &e);
    const fci_file_meta *f = st.vs.current->files[0][0];
    ck_assert_int_eq(fci_edit_add_file(&e, 0, number, size, fci_buf_slice(&f->smallest),
                                       fci_buf_slice(&f->largest)), 0);
    write_edit(st.manifest, &e);
    fci_edit_free(&e);
    fci_vset_free(&st.vs);
    return number;
}

START_TEST(table_number_huge)
{
    craft_table(UINT64_MAX, 1000, 0);
    expect_refused("new file number", u64(UINT64_MAX));
}
END_TEST

START_TEST(table_number_past_next)
{
    uint64_t n = craft_table(10, 1000, 1);
    expect_refused("table number", u64(n));
}
END_TEST

START_TEST(table_size_huge)
{
    craft_table(3, UINT64_MAX - 7, 0);
    expect_refused("new file size", u64(UINT64_MAX - 7));
}
END_TEST

/* The encoder refuses a bad level, so this record is written by hand. */
START_TEST(table_level_too_deep)
{
    build_store();
    state st;
    load(&st);
    fci_version_edit e;
    snapshot(&st, &e);
    fci_buf rec = FCI_BUF_INIT;
    ck_assert_int_eq(fci_edit_encode(&e, &rec), 0);
    const fci_file_meta *f = st.vs.current->files[0][0];
    ck_assert_int_eq(fci_buf_put_varint32(&rec, FCI_EDIT_NEW_FILE), 0);
    ck_assert_int_eq(fci_buf_put_varint32(&rec, 9), 0);
    ck_assert_int_eq(fci_buf_put_varint64(&rec, f->number), 0);
    ck_assert_int_eq(fci_buf_put_varint64(&rec, f->size), 0);
    ck_assert_int_eq(fci_buf_put_length_prefixed(&rec, fci_buf_slice(&f->smallest)), 0);
    ck_assert_int_eq(fci_buf_put_length_prefixed(&rec, fci_buf_slice(&f->largest)), 0);
    write_manifest(st.manifest, &rec, 1);
    fci_buf_free(&rec);
    fci_edit_free(&e);
    fci_vset_free(&st.vs);
    expect_refused("level", "9");
}
END_TEST

/* fc_verify's answer, each finding printed to the test's log. */
static void print_finding(void *arg, const fc_verify_finding *f)
{
    (void)arg;
    fprintf(stderr, "    verify [%d] %s: %s\n", f->severity, f->file, f->message);
}

static int verify_printed(void)
{
    return fc_verify(fct_dir, print_finding, NULL);
}

/* Just under every limit: the store opens, takes writes, flushes and
 * compacts (new file numbers), verifies clean before and after, and opens
 * again: what the writer writes stays within what open accepts. */
START_TEST(near_limits_still_work)
{
    build_store();
    state st;
    load(&st);
    fci_version_edit e;
    snapshot(&st, &e);
    fci_edit_set_next_file_number(&e, FCI_NEXT_FILE_LIMIT - 1000);
    fci_edit_set_last_sequence(&e, FCI_LAST_SEQUENCE_LIMIT - 100000);
    write_edit(st.manifest, &e);
    fci_edit_free(&e);
    fci_vset_free(&st.vs);
    ck_assert_int_eq(verify_printed(), 0);

    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        int n = snprintf(v, sizeof v, "new-%d", i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, (size_t)n), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(verify_printed(), 0);

    s = fct_open_in(&o);
    size_t len;
    ck_assert_int_eq(get(s, "key000123", v, sizeof v, &len), 0);
    ck_assert_int_eq((int)len, 7);
    ck_assert(memcmp(v, "new-123", 7) == 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* At the end of the sequences the writer hands out, a write is refused
 * with FC_ELIMIT before it reaches the WAL, the store keeps serving, and
 * it opens again. */
START_TEST(sequence_end_refuses_writes)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    ck_assert_int_eq(fc_put(s, "a", 1, "1", 1), 0);
    pthread_mutex_lock(&s->w->mu);
    s->w->vs.last_sequence = FCI_LAST_SEQUENCE_LIMIT - 1;
    pthread_mutex_unlock(&s->w->mu);
    ck_assert_int_eq(fc_put(s, "b", 1, "2", 1), 0);      /* takes the last one */
    ck_assert_int_eq(fc_put(s, "c", 1, "3", 1), FC_ELIMIT);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(s), "sequence"));
    char v[8];
    size_t len;
    ck_assert_int_eq(get(s, "a", v, sizeof v, &len), 0);
    ck_assert_int_eq(get(s, "c", v, sizeof v, &len), FC_ENOTFOUND);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(verify_printed(), 0);
    s = fct_open_in(&o);
    ck_assert_int_eq(get(s, "b", v, sizeof v, &len), 0);
    ck_assert_int_eq(fc_put(s, "d", 1, "4", 1), FC_ELIMIT);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* File numbers stop at FCI_NEXT_FILE_LIMIT instead of wrapping. */
START_TEST(file_numbers_never_wrap)
{
    fci_vset vs;
    ck_assert_int_eq(fci_vset_init(&vs, AT_FDCWD, fct_dir, 0600), 0);
    vs.next_file = FCI_NEXT_FILE_LIMIT - 1;
    ck_assert_uint_eq(fci_vset_new_file_number(&vs), FCI_NEXT_FILE_LIMIT - 1);
    ck_assert_uint_eq(fci_vset_new_file_number(&vs), 0);
    ck_assert_uint_eq(fci_vset_new_file_number(&vs), 0);
    ck_assert_uint_eq(vs.next_file, FCI_NEXT_FILE_LIMIT);
    fci_vset_free(&vs);
}
END_TEST

/* ---- a large MANIFEST ----------------------------------------------------- */

/* 20,000 copies; FC_TEST_DUPLICATES=N measures other sizes by hand. */
static size_t duplicates(void)
{
    const char *e = getenv("FC_TEST_DUPLICATES");
    return e != NULL && atoi(e) > 0 ? (size_t)atoi(e) : 20000;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The same table added to L0 duplicates() times: in as many edits, or in
 * one_edit. */
static void craft_duplicates(int one_edit)
{
    build_store();
    state st;
    load(&st);
    const fci_file_meta *f = st.vs.current->files[0][0];
    size_t dups = duplicates();
    size_t n = one_edit ? 2 : dups + 1;
    fci_buf *recs = calloc(n, sizeof *recs);
    fci_version_edit e;
    snapshot(&st, &e);
    ck_assert_int_eq(fci_edit_encode(&e, &recs[0]), 0);
    fci_edit_free(&e);
    fci_edit_init(&e);
    for (size_t i = 0; i < dups; i++) {
        ck_assert_int_eq(fci_edit_add_file(&e, 0, f->number, f->size,
                                           fci_buf_slice(&f->smallest),
                                           fci_buf_slice(&f->largest)), 0);
        if (!one_edit) {
            ck_assert_int_eq(fci_edit_encode(&e, &recs[i + 1]), 0);
            fci_edit_free(&e);
            fci_edit_init(&e);
        }
    }
    if (one_edit)
        ck_assert_int_eq(fci_edit_encode(&e, &recs[1]), 0);
    fci_edit_free(&e);
    write_manifest(st.manifest, recs, n);
    for (size_t i = 0; i < n; i++)
        fci_buf_free(&recs[i]);
    free(recs);
    fci_vset_free(&st.vs);
}

static void verify_duplicates(const char *how)
{
    seen sn;
    double t0 = now_s();
    int rc = verify_has(&sn, "listed");
    double t1 = now_s();
    fprintf(stderr, "  verify of %zu duplicates (%s): %.3f s, %d findings: %s\n", duplicates(),
            how, t1 - t0, sn.damage, sn.first);
    ck_assert_int_eq(rc, FC_ECORRUPT);
    ck_assert_int_eq(sn.hits, 1);   /* the table, once, with its count */
    ck_assert_ptr_nonnull(strstr(sn.first, u64(duplicates() + 1)));
}

START_TEST(duplicates_in_many_edits)
{
    craft_duplicates(0);
    verify_duplicates("one edit each");
}
END_TEST

START_TEST(duplicates_in_one_edit)
{
    craft_duplicates(1);
    verify_duplicates("one edit");
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("db_manifest");
    TCase *tc = tcase_create("numbers");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, next_file_near_wrap);
    tcase_add_test(tc, next_file_past_headroom);
    tcase_add_test(tc, last_sequence_all_ones);
    tcase_add_test(tc, last_sequence_at_max);
    tcase_add_test(tc, last_sequence_past_headroom);
    tcase_add_test(tc, log_number_past_next);
    tcase_add_test(tc, log_number_at_next);
    tcase_add_test(tc, prev_log_number_huge);
    tcase_add_test(tc, table_number_huge);
    tcase_add_test(tc, table_number_past_next);
    tcase_add_test(tc, table_size_huge);
    tcase_add_test(tc, table_level_too_deep);
    tcase_add_test(tc, near_limits_still_work);
    tcase_add_test(tc, sequence_end_refuses_writes);
    tcase_add_test(tc, file_numbers_never_wrap);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("size");
    tcase_add_checked_fixture(big, fct_setup, fct_teardown);
    /* generous: a run under valgrind; the assertions are on the result */
    tcase_set_timeout(big, 600);
    tcase_add_test(big, duplicates_in_many_edits);
    tcase_add_test(big, duplicates_in_one_edit);
    suite_add_tcase(s, big);
    return s;
}

FCT_MAIN(manifest_suite)
