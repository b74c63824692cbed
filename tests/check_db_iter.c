/*
 * check_db_iter.c - fc_iter against an in-memory model: random puts,
 * deletes and batches with a small write buffer, so the data sits in the
 * memtables, L0 and deeper levels at once; full scans both ways, random
 * seeks, random walks that change direction, snapshot isolation, the
 * empty store, 0-byte keys and values, and the txn/iterator lifetime rule.
 */
#include "config.h"

#include <stdint.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/read/read.h"

/* With compression on, values come from heap blocks instead of the
 * mapping: the path where fc_iter must copy when walking backwards. */
static int compressed;

static fc_store *open_store(void)
{
    fc_options o = fct_small_opts();
    if (compressed)
        o.compression = FC_COMPRESSION_SNAPPY;
    fc_store *s = NULL;
    int rc = fc_open(fct_dir, &o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

/* ---- the model: key i is "" for i == 0, else "k%05d" (same order) ------ */

#define NKEYS 1500

typedef struct model {
    int present[NKEYS];
    char *val[NKEYS];
    size_t len[NKEYS];
} model;

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Key i, except that key 0 is the empty key: iterators must order and
 * seek it like any other. */
static size_t iter_key(char *buf, int i)
{
    if (i == 0) {
        buf[0] = '\0';
        return 0;
    }
    return fct_key_of(buf, "k", 5, i);
}

static size_t val_of(char *buf, int i, uint64_t gen)
{
    size_t n = (size_t)((i * 31 + gen * 7) % 180);
    if (gen % 13 == 0)
        n = 0; /* some 0-byte values */
    for (size_t j = 0; j < n; j++)
        buf[j] = (char)('a' + (i + gen + j) % 26);
    return n;
}

static void model_set(model *m, int i, const char *v, size_t n)
{
    free(m->val[i]);
    m->val[i] = malloc(n + 1);
    memcpy(m->val[i], v, n);
    m->len[i] = n;
    m->present[i] = 1;
}

static void model_del(model *m, int i)
{
    free(m->val[i]);
    m->val[i] = NULL;
    m->len[i] = 0;
    m->present[i] = 0;
}

static void model_copy(model *dst, const model *src)
{
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < NKEYS; i++)
        if (src->present[i])
            model_set(dst, i, src->val[i], src->len[i]);
}

static void model_free(model *m)
{
    for (int i = 0; i < NKEYS; i++)
        free(m->val[i]);
}

/* One random operation, applied to the store and the model. */
static void random_op(fc_store *s, model *m, uint64_t gen)
{
    char k[16], v[256];
    uint64_t r = rnd() % 100;
    if (r < 60) {
        int i = (int)(rnd() % NKEYS);
        size_t kl = iter_key(k, i), vl = val_of(v, i, gen);
        ck_assert_int_eq(fc_put(s, k, kl, v, vl), 0);
        model_set(m, i, v, vl);
    } else if (r < 85) {
        int i = (int)(rnd() % NKEYS);
        size_t kl = iter_key(k, i);
        ck_assert_int_eq(fc_del(s, k, kl), 0);
        model_del(m, i);
    } else {
        fc_batch *b;
        ck_assert_int_eq(fc_batch_new(&b), 0);
        int n = 1 + (int)(rnd() % 20);
        int base = (int)(rnd() % NKEYS);
        for (int j = 0; j < n; j++) {
            int i = (base + j * 3) % NKEYS;
            size_t kl = iter_key(k, i);
            if (rnd() % 4 == 0) {
                ck_assert_int_eq(fc_batch_del(b, k, kl), 0);
                model_del(m, i);
            } else {
                size_t vl = val_of(v, i, gen + (uint64_t)j);
                ck_assert_int_eq(fc_batch_put(b, k, kl, v, vl), 0);
                model_set(m, i, v, vl);
            }
        }
        ck_assert_int_eq(fc_write(s, b, 0), 0);
        fc_batch_free(b);
    }
}

/* ---- checks ----------------------------------------------------------- */

static void expect_at(fc_iter *it, const model *m, int i)
{
    char k[16];
    size_t kl = iter_key(k, i);
    ck_assert_msg(fc_iter_valid(it), "iterator invalid, expected key %d", i);
    fc_val key = fc_iter_key(it), val = fc_iter_value(it);
    ck_assert_msg(key.size == kl && memcmp(key.data, k, kl) == 0,
                  "expected key %d '%s', got '%.*s'", i, k, (int)key.size, (const char *)key.data);
    ck_assert_uint_eq(val.size, m->len[i]);
    ck_assert_int_eq(memcmp(val.data, m->val[i], val.size), 0);
}

/* Next present index after i (or NKEYS), and before i (or -1). */
static int next_present(const model *m, int i)
{
    for (i++; i < NKEYS && !m->present[i]; i++)
        ;
    return i;
}

static int prev_present(const model *m, int i)
{
    for (i--; i >= 0 && !m->present[i]; i--)
        ;
    return i;
}

/* Full scans both ways, each entry equal to the model, and every value
 * the same bytes fc_get returns (zero-copy: the very same address). */
static void check_scans(fc_txn *t, const model *m)
{
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    int i = next_present(m, -1), rc, count = 0;
    for (rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it)) {
        ck_assert_int_lt(i, NKEYS);
        expect_at(it, m, i);
        fc_val got, v = fc_iter_value(it), k = fc_iter_key(it);
        ck_assert_int_eq(fc_get(t, k.data, k.size, &got), 0);
        if (v.size > 0 && !compressed)
            ck_assert_ptr_eq(got.data, v.data); /* zero-copy, same bytes */
        i = next_present(m, i);
        count++;
    }
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(i, NKEYS);
    ck_assert_int_eq(fc_iter_valid(it), 0);
    i = prev_present(m, NKEYS);
    int back = 0;
    for (rc = fc_iter_last(it); rc == 0; rc = fc_iter_prev(it)) {
        ck_assert_int_ge(i, 0);
        expect_at(it, m, i);
        i = prev_present(m, i);
        back++;
    }
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(back, count);
    ck_assert_int_eq(fc_iter_status(it), 0);
    fc_iter_free(it);
}

/* Seeks to existing keys and to keys between them, then walks randomly
 * in both directions for a while, following the model step by step. */
static void check_walks(fc_txn *t, const model *m, int walks)
{
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    char k[24];
    for (int w = 0; w < walks; w++) {
        int i = (int)(rnd() % NKEYS), between = (int)(rnd() % 3 == 0);
        size_t kl = iter_key(k, i);
        int want;
        if (between) {
            k[kl++] = 'x'; /* after key i, before key i+1 */
            want = next_present(m, i);
        } else {
            want = m->present[i] ? i : next_present(m, i);
        }
        int rc = fc_iter_seek(it, k, kl);
        if (want == NKEYS) {
            ck_assert_int_eq(rc, FC_ENOTFOUND);
            ck_assert_int_eq(fc_iter_valid(it), 0);
            continue;
        }
        ck_assert_int_eq(rc, 0);
        expect_at(it, m, want);
        int pos = want;
        for (int step = 0; step < 40; step++) {
            if (rnd() % 2) {
                rc = fc_iter_next(it);
                pos = next_present(m, pos);
                if (pos == NKEYS) {
                    ck_assert_int_eq(rc, FC_ENOTFOUND);
                    break;
                }
            } else {
                rc = fc_iter_prev(it);
                pos = prev_present(m, pos);
                if (pos < 0) {
                    ck_assert_int_eq(rc, FC_ENOTFOUND);
                    break;
                }
            }
            ck_assert_int_eq(rc, 0);
            expect_at(it, m, pos);
        }
    }
    fc_iter_free(it);
}

static int total_files(const fc_txn *t, int from, int to)
{
    int n = 0;
    for (int l = from; l <= to; l++)
        n += (int)t->view.nfiles[l];
    return n;
}

START_TEST(empty_store)
{
    fc_store *s = open_store();
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_valid(it), 0);
    ck_assert_int_eq(fc_iter_first(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_last(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_seek(it, "a", 1), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_seek(it, NULL, 0), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_next(it), FC_EINVAL);
    ck_assert_int_eq(fc_iter_prev(it), FC_EINVAL);
    ck_assert_uint_eq(fc_iter_key(it).size, 0);
    ck_assert_uint_eq(fc_iter_value(it).size, 0);
    ck_assert_int_eq(fc_iter_status(it), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    /* Only tombstones: still nothing to show. */
    ck_assert_int_eq(fc_del(s, "a", 1), 0);
    ck_assert_int_eq(fc_put(s, "b", 1, "x", 1), 0);
    ck_assert_int_eq(fc_del(s, "b", 1), 0);
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert_int_eq(fc_del(s, "c", 1), 0);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_first(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_last(it), FC_ENOTFOUND);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(bad_arguments_and_lifetime)
{
    fc_store *s = open_store();
    fc_txn *t;
    fc_iter *it = (fc_iter *)1;
    ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(NULL, &it), FC_EINVAL);
    ck_assert_ptr_null(it);
    ck_assert_int_eq(fc_iter_new(t, NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_first(NULL), FC_EINVAL);
    ck_assert_int_eq(fc_iter_valid(NULL), 0);
    ck_assert_int_eq(fc_iter_status(NULL), FC_EINVAL);
    fc_iter_free(NULL);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    fc_iter *it2;
    ck_assert_int_eq(fc_iter_new(t, &it2), 0);
    ck_assert_int_eq(fc_iter_seek(it, "k", 1), 0);
    ck_assert_int_eq(fc_iter_seek(it, NULL, 1), FC_EINVAL);
    /* An open iterator keeps its txn from ending. */
    ck_assert_int_eq(fc_txn_end(t), FC_EBUSY);
    ck_assert_int_eq(fc_iter_first(it), 0);
    ck_assert_int_eq(fc_iter_last(it2), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), FC_EBUSY);
    fc_iter_free(it2);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(zero_length_keys_and_values)
{
    fc_store *s = open_store();
    ck_assert_int_eq(fc_put(s, "", 0, "", 0), 0);
    ck_assert_int_eq(fc_put(s, "a", 1, "", 0), 0);
    ck_assert_int_eq(fc_put(s, "b", 1, "bee", 3), 0);
    for (int round = 0; round < 2; round++) {
        fc_txn *t;
        fc_iter *it;
        ck_assert_int_eq(fc_txn_begin(s, &t), 0);
        ck_assert_int_eq(fc_iter_new(t, &it), 0);
        ck_assert_int_eq(fc_iter_first(it), 0);
        ck_assert_uint_eq(fc_iter_key(it).size, 0);
        ck_assert_uint_eq(fc_iter_value(it).size, 0);
        ck_assert_int_eq(fc_iter_next(it), 0);
        ck_assert_int_eq(memcmp(fc_iter_key(it).data, "a", 1), 0);
        ck_assert_uint_eq(fc_iter_value(it).size, 0);
        ck_assert_int_eq(fc_iter_next(it), 0);
        ck_assert_uint_eq(fc_iter_value(it).size, 3);
        ck_assert_int_eq(fc_iter_next(it), FC_ENOTFOUND);
        ck_assert_int_eq(fc_iter_last(it), 0);
        ck_assert_int_eq(fc_iter_prev(it), 0);
        ck_assert_int_eq(fc_iter_prev(it), 0);
        ck_assert_uint_eq(fc_iter_key(it).size, 0);
        ck_assert_int_eq(fc_iter_prev(it), FC_ENOTFOUND);
        ck_assert_int_eq(fc_iter_seek(it, "", 0), 0);
        ck_assert_uint_eq(fc_iter_key(it).size, 0);
        fc_iter_free(it);
        ck_assert_int_eq(fc_txn_end(t), 0);
        ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Many versions of a key spread over memtable, L0 and L1: only the newest
 * shows, and direction changes around it land right. */
START_TEST(newest_version_and_direction_changes)
{
    fc_store *s = open_store();
    char v[32];
    for (int gen = 0; gen < 4; gen++) {
        for (int k = 0; k < 3; k++) {
            char key[2] = { (char)('a' + k), 0 };
            snprintf(v, sizeof v, "%c%d", key[0], gen);
            ck_assert_int_eq(fc_put(s, key, 1, v, strlen(v)), 0);
        }
        if (gen == 0)
            ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
        else if (gen < 3)
            ck_assert_int_eq(fc_flush(s), 0);
    }
    ck_assert_int_eq(fc_del(s, "b", 1), 0);
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_first(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "a3", 2), 0);
    ck_assert_int_eq(fc_iter_next(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "c3", 2), 0);
    ck_assert_int_eq(fc_iter_prev(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "a", 1), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "a3", 2), 0);
    ck_assert_int_eq(fc_iter_next(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "c", 1), 0);
    ck_assert_int_eq(fc_iter_next(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_last(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "c3", 2), 0);
    ck_assert_int_eq(fc_iter_prev(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "a3", 2), 0);
    ck_assert_int_eq(fc_iter_prev(it), FC_ENOTFOUND);
    ck_assert_int_eq(fc_iter_seek(it, "b", 1), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "c", 1), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(random_against_model)
{
    compressed = _i == 1;
    fc_store *s = open_store();
    static model m;
    memset(&m, 0, sizeof m);
    rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)_i;
    int saw_l0 = 0, saw_deep = 0, saw_mem = 0;
    for (int round = 0; round < 8; round++) {
        for (int op = 0; op < 1500; op++)
            random_op(s, &m, (uint64_t)(round * 100000 + op));
        if (round % 4 == 1)
            ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
        else if (round % 4 == 2) {
            char lo[16], hi[16];
            size_t ll = iter_key(lo, 200), hl = iter_key(hi, 700);
            ck_assert_int_eq(fc_compact_range(s, lo, ll, hi, hl), 0);
        } else if (round % 4 == 3)
            ck_assert_int_eq(fc_flush(s), 0);
        for (int op = 0; op < 150; op++) /* something for the memtable */
            random_op(s, &m, (uint64_t)(round * 100000 + 50000 + op));
        fc_txn *t;
        ck_assert_int_eq(fc_txn_begin(s, &t), 0);
        saw_l0 |= total_files(t, 0, 0) > 0;
        saw_deep |= total_files(t, 1, 6) > 0;
        saw_mem |= t->has_mem;
        check_scans(t, &m);
        check_walks(t, &m, 150);
        ck_assert_int_eq(fc_txn_end(t), 0);
    }
    ck_assert(saw_l0 && saw_deep && saw_mem);
    model_free(&m);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A txn's iterator shows the store as of fc_txn_begin, whatever is written,
 * flushed or compacted afterwards; a new txn shows the new state. */
START_TEST(snapshot_isolation)
{
    fc_store *s = open_store();
    static model m, before;
    memset(&m, 0, sizeof m);
    rng = 12345;
    for (int op = 0; op < 3000; op++)
        random_op(s, &m, (uint64_t)op);
    ck_assert_int_eq(fc_flush(s), 0);
    for (int op = 0; op < 300; op++)
        random_op(s, &m, (uint64_t)(10000 + op));
    model_copy(&before, &m);
    fc_txn *old;
    ck_assert_int_eq(fc_txn_begin(s, &old), 0);
    fc_iter *it;
    ck_assert_int_eq(fc_iter_new(old, &it), 0);
    ck_assert_int_eq(fc_iter_first(it), 0);
    for (int op = 0; op < 3000; op++)
        random_op(s, &m, (uint64_t)(20000 + op));
    /* New keys at both ends and between. */
    ck_assert_int_eq(fc_put(s, "zzz", 3, "new", 3), 0);
    ck_assert_int_eq(fc_put(s, "k00001a", 7, "new", 3), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int op = 0; op < 200; op++)
        random_op(s, &m, (uint64_t)(40000 + op));
    /* The iterator made before the writes, and fresh ones on the old txn. */
    int i = next_present(&before, -1);
    for (int rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it)) {
        expect_at(it, &before, i);
        i = next_present(&before, i);
    }
    ck_assert_int_eq(i, NKEYS);
    fc_iter_free(it);
    check_scans(old, &before);
    check_walks(old, &before, 60);
    ck_assert_int_eq(fc_txn_end(old), 0);
    fc_txn *now;
    ck_assert_int_eq(fc_txn_begin(s, &now), 0);
    ck_assert_int_eq(fc_iter_new(now, &it), 0);
    ck_assert_int_eq(fc_iter_last(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "zzz", 3), 0);
    ck_assert_int_eq(fc_iter_seek(it, "k00001", 6), 0);
    if (!m.present[1])
        ck_assert_int_eq(memcmp(fc_iter_key(it).data, "k00001a", 7), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(now), 0);
    ck_assert_int_eq(fc_del(s, "zzz", 3), 0);
    ck_assert_int_eq(fc_del(s, "k00001a", 7), 0);
    ck_assert_int_eq(fc_txn_begin(s, &now), 0);
    model_free(&before);
    model_copy(&before, &m);
    for (int op = 0; op < 2000; op++) /* after begin: invisible to now */
        random_op(s, &m, (uint64_t)(50000 + op));
    check_scans(now, &before);
    ck_assert_int_eq(fc_txn_end(now), 0);
    ck_assert_int_eq(fc_txn_begin(s, &now), 0);
    check_scans(now, &m);
    ck_assert_int_eq(fc_txn_end(now), 0);
    model_free(&m);
    model_free(&before);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A scan in a forked child reads the same data through its own mappings. */
START_TEST(forked_child_scans)
{
    fc_store *s = open_store();
    static model m;
    memset(&m, 0, sizeof m);
    rng = 777;
    for (int op = 0; op < 4000; op++)
        random_op(s, &m, (uint64_t)op);
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = fc_after_fork(s) == 0;
        fc_txn *t;
        fc_iter *it;
        ok = ok && fc_txn_begin(s, &t) == 0 && fc_iter_new(t, &it) == 0;
        int n = 0, i = prev_present(&m, NKEYS);
        for (int rc = ok ? fc_iter_last(it) : -1; rc == 0; rc = fc_iter_prev(it), n++) {
            fc_val v = fc_iter_value(it);
            if (i < 0 || v.size != m.len[i] || memcmp(v.data, m.val[i], v.size) != 0)
                ok = 0;
            i = prev_present(&m, i);
        }
        ok = ok && i == -1 && n > 0;
        if (ok) {
            fc_iter_free(it);
            ok = fc_txn_end(t) == 0;
        }
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    model_free(&m);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A worker's iterator keeps its snapshot while the writer, in another
 * process, overwrites, deletes, flushes and compacts underneath it. */
START_TEST(child_snapshot_survives_parent_compactions)
{
    fc_store *s = open_store();
    static model m;
    memset(&m, 0, sizeof m);
    rng = 4242;
    for (int op = 0; op < 4000; op++)
        random_op(s, &m, (uint64_t)op);
    int go[2], done[2];
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(done, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c = 0;
        fc_txn *t;
        fc_iter *it;
        int ok = fc_after_fork(s) == 0 && fc_txn_begin(s, &t) == 0 && fc_iter_new(t, &it) == 0;
        ok = ok && fc_iter_seek(it, "k00700", 6) == 0;
        if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
            ok = 0;
        /* Finish the walk begun before the writes, then scan both ways. */
        int i = m.present[700] ? 700 : next_present(&m, 700), rc = 0;
        for (; ok && rc == 0; rc = fc_iter_next(it), i = next_present(&m, i)) {
            fc_val v = fc_iter_value(it);
            ok = i < NKEYS && v.size == m.len[i] && memcmp(v.data, m.val[i], v.size) == 0;
        }
        ok = ok && rc == FC_ENOTFOUND && i == NKEYS;
        i = prev_present(&m, NKEYS);
        for (rc = ok ? fc_iter_last(it) : -1; ok && rc == 0; rc = fc_iter_prev(it)) {
            fc_val v = fc_iter_value(it);
            ok = i >= 0 && v.size == m.len[i] && memcmp(v.data, m.val[i], v.size) == 0;
            i = prev_present(&m, i);
        }
        ok = ok && rc == FC_ENOTFOUND && i == -1;
        if (ok) {
            fc_iter_free(it);
            ok = fc_txn_end(t) == 0;
        }
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    char c;
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    for (int op = 0; op < 4000; op++)
        random_op(s, &m, (uint64_t)(100000 + op));
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int op = 0; op < 500; op++)
        random_op(s, &m, (uint64_t)(200000 + op));
    ck_assert_int_eq(write(done[1], &c, 1), 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    check_scans(t, &m);
    ck_assert_int_eq(fc_txn_end(t), 0);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
    model_free(&m);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *iter_suite(void)
{
    Suite *s = suite_create("db_iter");
    TCase *tc = tcase_create("iter");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, empty_store);
    tcase_add_test(tc, bad_arguments_and_lifetime);
    tcase_add_test(tc, zero_length_keys_and_values);
    tcase_add_test(tc, newest_version_and_direction_changes);
    tcase_add_loop_test(tc, random_against_model, 0, 2);
    tcase_add_test(tc, snapshot_isolation);
    tcase_add_test(tc, forked_child_scans);
    tcase_add_test(tc, child_snapshot_survives_parent_compactions);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(iter_suite)
