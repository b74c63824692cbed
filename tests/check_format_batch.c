/*
 * check_format_batch.c - WriteBatch: the exact bytes LevelDB expects,
 * round trips with empty and 64 KiB keys, and refusal of every malformed
 * input (each truncation, wrong counts, unknown tags).
 */
#include "config.h"

#include <stdlib.h>

#include "fct.h"
#include "forkcache.h"
#include "format/dbformat.h"
#include "format/write_batch.h"

typedef struct seen {
    fci_buf text;       /* "seq:P(key,value)" / "seq:D(key)" joined */
    int calls;
    int stop_at;        /* return 99 on this call (1-based), 0 never */
} seen;

static int record(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    seen *s = arg;
    char head[64];
    s->calls++;
    if (s->stop_at && s->calls == s->stop_at)
        return 99;
    snprintf(head, sizeof head, "%llu:%c(", (unsigned long long)seq,
             type == FCI_TYPE_VALUE ? 'P' : 'D');
    fci_buf_append(&s->text, head, strlen(head));
    fci_buf_append(&s->text, key.data, key.size);
    if (type == FCI_TYPE_VALUE) {
        fci_buf_push(&s->text, ',');
        fci_buf_append(&s->text, value.data, value.size);
    }
    fci_buf_push(&s->text, ')');
    return 0;
}

static void expect_text(fci_slice rep, const char *want)
{
    seen s = { FCI_BUF_INIT, 0, 0 };
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_batch_iterate(rep, record, &s, &err), 0);
    fci_buf_push(&s.text, '\0');
    ck_assert_str_eq(s.text.data, want);
    fci_buf_free(&s.text);
}

START_TEST(empty_batch)
{
    fci_write_batch b;
    ck_assert_int_eq(fci_batch_init(&b), 0);
    ck_assert_uint_eq(fci_batch_approximate_size(&b), 12);
    ck_assert_uint_eq(fci_batch_count(&b), 0);
    ck_assert_uint_eq(fci_batch_sequence(&b), 0);
    ck_assert_mem_eq(fci_batch_contents(&b).data, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
    expect_text(fci_batch_contents(&b), "");
    fci_batch_free(&b);
}
END_TEST

START_TEST(exact_layout)
{
    fci_write_batch b;
    ck_assert_int_eq(fci_batch_init(&b), 0);
    fci_batch_set_sequence(&b, 0x0102030405060708ull);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("foo"), fci_slice_str("bar")), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_str("box")), 0);
    static const char want[] = "\x08\x07\x06\x05\x04\x03\x02\x01" "\x02\0\0\0"
                               "\x01\x03" "foo" "\x03" "bar" "\x00\x03" "box";
    ck_assert_uint_eq(b.rep.size, sizeof want - 1);
    ck_assert_mem_eq(b.rep.data, want, sizeof want - 1);
    ck_assert_uint_eq(fci_batch_count(&b), 2);
    ck_assert_uint_eq(fci_batch_sequence(&b), 0x0102030405060708ull);
    fci_batch_free(&b);
}
END_TEST

START_TEST(round_trip_and_sequences)
{
    fci_write_batch b;
    ck_assert_int_eq(fci_batch_init(&b), 0);
    fci_batch_set_sequence(&b, 100);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("foo"), fci_slice_str("bar")), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_str("box")), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("baz"), fci_slice_str("boo")), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str(""), fci_slice_str("")), 0);
    expect_text(fci_batch_contents(&b), "100:P(foo,bar)101:D(box)102:P(baz,boo)103:P(,)");
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), NULL), 0);

    fci_batch_clear(&b);
    ck_assert_uint_eq(fci_batch_count(&b), 0);
    ck_assert_uint_eq(fci_batch_sequence(&b), 0);
    ck_assert_uint_eq(fci_batch_approximate_size(&b), 12);
    expect_text(fci_batch_contents(&b), "");
    fci_batch_free(&b);
}
END_TEST

/* 0-byte and 64 KiB keys and values survive, and the varint lengths of
 * 64 KiB take three bytes. */
START_TEST(big_and_empty_keys)
{
    size_t n = 64 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    fci_write_batch b;
    ck_assert_int_eq(fci_batch_init(&b), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_make(big, n), fci_slice_make(big, n)), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_make("", 0), fci_slice_make(big, n)), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_make(big, n)), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_make("", 0)), 0);
    ck_assert_uint_eq(b.rep.size, 12 + (1 + 3 + n + 3 + n) + (1 + 1 + 3 + n) + (1 + 3 + n) + 2);

    fci_batch_iter it;
    fci_err err = { 0, "" };
    int type;
    fci_slice k, v;
    ck_assert_int_eq(fci_batch_iter_init(&it, fci_batch_contents(&b), &err), 0);
    ck_assert_int_eq(fci_batch_iter_next(&it, &type, &k, &v, &err), 1);
    ck_assert(type == FCI_TYPE_VALUE && k.size == n && v.size == n);
    ck_assert_int_eq(memcmp(k.data, big, n), 0);
    ck_assert_int_eq(memcmp(v.data, big, n), 0);
    ck_assert_int_eq(fci_batch_iter_next(&it, &type, &k, &v, &err), 1);
    ck_assert(type == FCI_TYPE_VALUE && k.size == 0 && v.size == n);
    ck_assert_int_eq(fci_batch_iter_next(&it, &type, &k, &v, &err), 1);
    ck_assert(type == FCI_TYPE_DELETION && k.size == n && v.size == 0);
    ck_assert_int_eq(memcmp(k.data, big, n), 0);
    ck_assert_int_eq(fci_batch_iter_next(&it, &type, &k, &v, &err), 1);
    ck_assert(type == FCI_TYPE_DELETION && k.size == 0);
    ck_assert_int_eq(fci_batch_iter_next(&it, &type, &k, &v, &err), 0);
    fci_batch_free(&b);
    free(big);
}
END_TEST

START_TEST(append_batches)
{
    fci_write_batch a, b;
    ck_assert_int_eq(fci_batch_init(&a), 0);
    ck_assert_int_eq(fci_batch_init(&b), 0);
    fci_batch_set_sequence(&a, 200);
    ck_assert_int_eq(fci_batch_append(&a, &b), 0);
    expect_text(fci_batch_contents(&a), "");
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("a"), fci_slice_str("va")), 0);
    ck_assert_int_eq(fci_batch_append(&a, &b), 0);
    expect_text(fci_batch_contents(&a), "200:P(a,va)");
    fci_batch_clear(&b);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_str("b")), 0);
    ck_assert_int_eq(fci_batch_append(&a, &b), 0);
    ck_assert_int_eq(fci_batch_append(&a, &b), 0);
    ck_assert_uint_eq(fci_batch_count(&a), 3);
    ck_assert_uint_eq(fci_batch_sequence(&a), 200);
    expect_text(fci_batch_contents(&a), "200:P(a,va)201:D(b)202:D(b)");
    ck_assert_int_eq(fci_batch_append(&a, &a), 0);   /* doubling itself */
    expect_text(fci_batch_contents(&a),
                "200:P(a,va)201:D(b)202:D(b)203:P(a,va)204:D(b)205:D(b)");
    fci_batch_set_count(&a, 3);
    fci_buf_truncate(&a.rep, a.rep.size / 2 + 6);

    fci_write_batch c;
    ck_assert_int_eq(fci_batch_init(&c), 0);
    ck_assert_int_eq(fci_batch_set_contents(&c, fci_batch_contents(&a), NULL), 0);
    ck_assert_uint_eq(c.rep.size, a.rep.size);
    ck_assert_int_eq(memcmp(c.rep.data, a.rep.data, a.rep.size), 0);
    ck_assert_int_eq(fci_batch_set_contents(&c, fci_slice_make("short", 5), NULL), FC_ECORRUPT);
    fci_batch_free(&a);
    fci_batch_free(&b);
    fci_batch_free(&c);
}
END_TEST

/* Every strict prefix of a well-formed batch is refused: either a record
 * is cut or the count no longer matches. */
START_TEST(every_truncation_refused)
{
    fci_write_batch b;
    ck_assert_int_eq(fci_batch_init(&b), 0);
    fci_batch_set_sequence(&b, 7);
    char big[300];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("k1"), fci_slice_make(big, sizeof big)), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_make(big, 200)), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str(""), fci_slice_str("")), 0);
    fci_slice rep = fci_batch_contents(&b);
    ck_assert_int_eq(fci_batch_validate(rep, NULL), 0);
    for (size_t len = 0; len < rep.size; len++) {
        fci_err err = { 0, "" };
        /* A private copy so ASan/valgrind see any read past len. */
        char *copy = malloc(len ? len : 1);
        memcpy(copy, rep.data, len);
        seen s = { FCI_BUF_INIT, 0, 0 };
        ck_assert_int_eq(fci_batch_validate(fci_slice_make(copy, len), &err), FC_ECORRUPT);
        ck_assert_int_eq(err.code, FC_ECORRUPT);
        ck_assert_int_eq(fci_batch_insert(fci_slice_make(copy, len), record, &s, NULL),
                         FC_ECORRUPT);
        ck_assert_int_eq(s.calls, 0);      /* a damaged batch inserts nothing */
        fci_buf_free(&s.text);
        free(copy);
    }
    fci_batch_free(&b);
}
END_TEST

START_TEST(bad_counts_and_tags)
{
    fci_write_batch b;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_batch_init(&b), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("a"), fci_slice_str("1")), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("b"), fci_slice_str("2")), 0);

    fci_batch_set_count(&b, 3);
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "counts 3 records, found 2"));
    fci_batch_set_count(&b, 1);
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "more records than the count 1"));
    /* A count of 4 billion costs nothing up front. */
    fci_batch_set_count(&b, 0xffffffffu);
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    fci_batch_set_count(&b, 2);
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), 0);

    b.rep.data[12] = 2;   /* unknown record tag */
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 12: unknown record tag 2"));
    b.rep.data[12] = 1;
    b.rep.data[13] = 50;  /* key length past the end */
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 12: bad key"));
    b.rep.data[13] = 1;
    b.rep.data[15] = (char)0x80;  /* value length: varint never ends */
    ck_assert_int_eq(fci_batch_validate(fci_batch_contents(&b), &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 12: bad value"));
    fci_batch_free(&b);
}
END_TEST

START_TEST(insert_assigns_sequences)
{
    fci_write_batch b;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_batch_init(&b), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("k"), fci_slice_str("v1")), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_str("k")), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("k"), fci_slice_str("v3")), 0);

    fci_batch_set_sequence(&b, FCI_MAX_SEQUENCE - 2);   /* last one fits exactly */
    seen s = { FCI_BUF_INIT, 0, 0 };
    ck_assert_int_eq(fci_batch_insert(fci_batch_contents(&b), record, &s, &err), 0);
    fci_buf_push(&s.text, '\0');
    char want[128];
    snprintf(want, sizeof want, "%llu:P(k,v1)%llu:D(k)%llu:P(k,v3)",
             (unsigned long long)FCI_MAX_SEQUENCE - 2, (unsigned long long)FCI_MAX_SEQUENCE - 1,
             (unsigned long long)FCI_MAX_SEQUENCE);
    ck_assert_str_eq(s.text.data, want);
    fci_buf_free(&s.text);

    fci_batch_set_sequence(&b, FCI_MAX_SEQUENCE - 1);   /* one too many */
    seen s2 = { FCI_BUF_INIT, 0, 0 };
    ck_assert_int_eq(fci_batch_insert(fci_batch_contents(&b), record, &s2, &err), FC_ECORRUPT);
    ck_assert_int_eq(s2.calls, 0);
    fci_batch_set_sequence(&b, UINT64_MAX);
    ck_assert_int_eq(fci_batch_insert(fci_batch_contents(&b), record, &s2, &err), FC_ECORRUPT);

    /* The callback's error stops the walk and comes back unchanged. */
    fci_batch_set_sequence(&b, 1);
    seen s3 = { FCI_BUF_INIT, 0, 2 };
    ck_assert_int_eq(fci_batch_insert(fci_batch_contents(&b), record, &s3, &err), 99);
    ck_assert_int_eq(s3.calls, 2);
    fci_buf_free(&s2.text);
    fci_buf_free(&s3.text);

    uint64_t seq;
    uint32_t count;
    ck_assert_int_eq(fci_batch_header(fci_batch_contents(&b), &seq, &count, &err), 0);
    ck_assert_uint_eq(seq, 1);
    ck_assert_uint_eq(count, 3);
    ck_assert_int_eq(fci_batch_header(fci_slice_make("x", 1), &seq, &count, &err), FC_ECORRUPT);
    fci_batch_free(&b);
}
END_TEST

/* The writer's one-pass apply: the same records and sequences as
 * fci_batch_insert, the same sequence limit, and on a malformed record it
 * stops there (the records before it were applied: callers only hand it
 * batches they built or validated). */
START_TEST(apply_is_insert_in_one_pass)
{
    fci_write_batch b;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_batch_init(&b), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str("k"), fci_slice_str("v1")), 0);
    ck_assert_int_eq(fci_batch_delete(&b, fci_slice_str("k")), 0);
    ck_assert_int_eq(fci_batch_put(&b, fci_slice_str(""), fci_slice_str("")), 0);
    fci_batch_set_sequence(&b, 41);
    seen s = { FCI_BUF_INIT, 0, 0 };
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), record, &s, &err), 0);
    fci_buf_push(&s.text, '\0');
    ck_assert_str_eq(s.text.data, "41:P(k,v1)42:D(k)43:P(,)");

    fci_batch_set_sequence(&b, FCI_MAX_SEQUENCE - 1);   /* one too many */
    seen s2 = { FCI_BUF_INIT, 0, 0 };
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), record, &s2, &err), FC_ECORRUPT);
    ck_assert_int_eq(s2.calls, 0);
    ck_assert_int_eq(fci_batch_apply(fci_slice_make("short", 5), record, &s2, &err), FC_ECORRUPT);
    ck_assert_int_eq(s2.calls, 0);

    fci_batch_set_sequence(&b, 1);
    b.rep.data[b.rep.size - 3] = 7;   /* the last record's tag */
    seen s3 = { FCI_BUF_INIT, 0, 0 };
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), record, &s3, &err), FC_ECORRUPT);
    ck_assert_int_eq(s3.calls, 2);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown record tag 7"));
    fci_buf_free(&s.text);
    fci_buf_free(&s2.text);
    fci_buf_free(&s3.text);
    fci_batch_free(&b);
}
END_TEST

/* Collects what the sorted apply hands over: (key, sequence, type, value)
 * per call, to compare with an order computed here. */
typedef struct applied {
    int n;
    char key[64][40];
    size_t klen[64];
    uint64_t seq[64];
    int type[64];
    char val[64][8];
} applied;

static int collect(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    applied *a = arg;
    ck_assert_int_lt(a->n, 64);
    ck_assert_uint_le(key.size, sizeof a->key[0]);
    memcpy(a->key[a->n], key.data, key.size);
    a->klen[a->n] = key.size;
    a->seq[a->n] = seq;
    a->type[a->n] = type;
    ck_assert_uint_lt(value.size, sizeof a->val[0]);
    memcpy(a->val[a->n], value.data, value.size);
    a->val[a->n][value.size] = '\0';
    a->n++;
    return 0;
}

/* A batch big enough to be sorted: keys that share 16-byte prefixes, are
 * prefixes of each other, hold zero bytes (where zero padding would tie)
 * and repeat. Every record comes back once with its own sequence and value,
 * in internal-key order. */
START_TEST(apply_sorts_large_batches)
{
    static const char *const keys[] = {
        "zebra", "apple", "0123456789abcdefX", "0123456789abcdef", "0123456789abcdefA",
        "apple", "", "ap", "0123456789abcdef", "a\0", "a", "apple\0\0", "z",
    };
    static const size_t lens[] = { 5, 5, 17, 16, 17, 5, 0, 2, 16, 2, 1, 7, 1 };
    enum { N = sizeof lens / sizeof lens[0] };
    fci_write_batch b;
    fci_err err = { 0, "" };
    ck_assert_int_eq(fci_batch_init(&b), 0);
    for (int i = 0; i < N; i++) {
        char v[8];
        snprintf(v, sizeof v, "v%d", i);
        if (i == 5)
            ck_assert_int_eq(fci_batch_delete(&b, fci_slice_make(keys[i], lens[i])), 0);
        else
            ck_assert_int_eq(fci_batch_put(&b, fci_slice_make(keys[i], lens[i]), fci_slice_str(v)), 0);
    }
    fci_batch_set_sequence(&b, 100);
    applied a = { 0 };
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), collect, &a, &err), 0);
    ck_assert_int_eq(a.n, N);
    int got[N] = { 0 };
    for (int i = 0; i < N; i++) {
        int r = (int)(a.seq[i] - 100);
        ck_assert(r >= 0 && r < N && !got[r]);
        got[r] = 1;
        ck_assert_uint_eq(a.klen[i], lens[r]);
        ck_assert_mem_eq(a.key[i], keys[r], lens[r]);
        ck_assert_int_eq(a.type[i], r == 5 ? FCI_TYPE_DELETION : FCI_TYPE_VALUE);
        char v[8];
        snprintf(v, sizeof v, "v%d", r);
        ck_assert_str_eq(a.val[i], r == 5 ? "" : v);
        if (i > 0) {
            int c = fci_bytewise_compare(fci_slice_make(a.key[i - 1], a.klen[i - 1]),
                                         fci_slice_make(a.key[i], a.klen[i]));
            ck_assert(c < 0 || (c == 0 && a.seq[i - 1] > a.seq[i]));
        }
    }

    /* Damage anywhere is found before anything is applied. */
    b.rep.data[b.rep.size - 7] = 9;   /* the tag of the last record, z -> v12 */
    applied a2 = { 0 };
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), collect, &a2, &err), FC_ECORRUPT);
    ck_assert_int_eq(a2.n, 0);
    b.rep.data[b.rep.size - 7] = FCI_TYPE_VALUE;
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), collect, &a2, &err), 0);
    ck_assert_int_eq(a2.n, N);
    a2.n = 0;
    fci_batch_set_count(&b, N + 1);    /* one record missing */
    ck_assert_int_eq(fci_batch_apply(fci_batch_contents(&b), collect, &a2, &err), FC_ECORRUPT);
    ck_assert_int_eq(a2.n, 0);
    fci_batch_free(&b);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("format_batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_batch);
    tcase_add_test(tc, exact_layout);
    tcase_add_test(tc, round_trip_and_sequences);
    tcase_add_test(tc, big_and_empty_keys);
    tcase_add_test(tc, append_batches);
    tcase_add_test(tc, every_truncation_refused);
    tcase_add_test(tc, bad_counts_and_tags);
    tcase_add_test(tc, insert_assigns_sequences);
    tcase_add_test(tc, apply_is_insert_in_one_pass);
    tcase_add_test(tc, apply_sorts_large_batches);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(batch_suite)
