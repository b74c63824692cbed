/*
 * check_format_dbformat.c - internal keys: encoding, parsing, ordering and
 * the separator/successor shortening used by index blocks.
 */
#include "config.h"

#include "fct.h"
#include "forkcache.h"
#include "format/dbformat.h"

static fci_buf ikey(const char *user, uint64_t seq, int type)
{
    fci_buf b = FCI_BUF_INIT;
    ck_assert_int_eq(fci_ikey_append(&b, fci_slice_str(user), seq, type), 0);
    return b;
}

START_TEST(encode_layout)
{
    fci_buf b = ikey("foo", 0x0102, FCI_TYPE_VALUE);
    ck_assert_uint_eq(b.size, 11);
    ck_assert_mem_eq(b.data, "foo\x01\x02\x01\0\0\0\0\0", 11);
    fci_buf_free(&b);
}
END_TEST

START_TEST(parse_round_trip)
{
    const char *keys[] = { "", "k", "hello", "longggggggggggggggggggggg" };
    uint64_t seqs[] = { 1, 2, 3, (1ull << 8) - 1, 1ull << 8, (1ull << 8) + 1,
                        (1ull << 16) - 1, 1ull << 16, FCI_MAX_SEQUENCE };
    for (size_t k = 0; k < 4; k++)
        for (size_t s = 0; s < sizeof seqs / sizeof seqs[0]; s++)
            for (int t = 0; t <= 1; t++) {
                fci_buf b = ikey(keys[k], seqs[s], t);
                fci_parsed_ikey p;
                ck_assert_int_eq(fci_ikey_parse(fci_buf_slice(&b), &p), 0);
                ck_assert_uint_eq(p.user_key.size, strlen(keys[k]));
                ck_assert_int_eq(memcmp(p.user_key.data, keys[k], p.user_key.size), 0);
                ck_assert_uint_eq(p.sequence, seqs[s]);
                ck_assert_int_eq(p.type, t);
                fci_buf_free(&b);
            }
}
END_TEST

START_TEST(parse_rejects_bad)
{
    fci_parsed_ikey p;
    ck_assert_int_eq(fci_ikey_parse(fci_slice_make("1234567", 7), &p), FC_ECORRUPT);
    ck_assert_int_eq(fci_ikey_parse(fci_slice_make("", 0), &p), FC_ECORRUPT);
    fci_buf b = ikey("k", 5, FCI_TYPE_VALUE);
    b.data[1] = 7; /* type byte 7 is neither value nor deletion */
    ck_assert_int_eq(fci_ikey_parse(fci_buf_slice(&b), &p), FC_ECORRUPT);
    fci_buf_free(&b);
    ck_assert_uint_eq(fci_ikey_user(fci_slice_make("abc", 3)).size, 0);
    ck_assert_uint_eq(fci_ikey_tag(fci_slice_make("abc", 3)), 0);
}
END_TEST

static int cmp(const char *ua, uint64_t sa, int ta, const char *ub, uint64_t sb, int tb)
{
    fci_buf a = ikey(ua, sa, ta), b = ikey(ub, sb, tb);
    int r = fci_ikey_compare(fci_buf_slice(&a), fci_buf_slice(&b));
    fci_buf_free(&a);
    fci_buf_free(&b);
    return r;
}

START_TEST(compare_order)
{
    ck_assert_int_lt(cmp("a", 5, 1, "b", 5, 1), 0);
    ck_assert_int_lt(cmp("a", 9, 1, "b", 1, 1), 0);
    ck_assert_int_lt(cmp("a", 9, 1, "a", 5, 1), 0);   /* newer first */
    ck_assert_int_gt(cmp("a", 5, 1, "a", 9, 1), 0);
    ck_assert_int_lt(cmp("a", 5, 1, "a", 5, 0), 0);   /* value before deletion */
    ck_assert_int_eq(cmp("a", 5, 1, "a", 5, 1), 0);
    ck_assert_int_lt(cmp("", 1, 1, "a", 100, 1), 0);
    ck_assert_int_lt(cmp("a", 1, 1, "aa", 100, 1), 0);
}
END_TEST

START_TEST(compare_malformed_is_total)
{
    fci_slice shortk = fci_slice_make("ab", 2);
    fci_buf b = ikey("ab", 1, 1);
    int r1 = fci_ikey_compare(shortk, fci_buf_slice(&b));
    int r2 = fci_ikey_compare(fci_buf_slice(&b), shortk);
    ck_assert_int_ne(r1, 0);
    ck_assert((r1 < 0) == (r2 > 0));
    ck_assert_int_eq(fci_ikey_compare(shortk, shortk), 0);
    fci_buf_free(&b);
}
END_TEST

static void check_separator(const char *start, const char *limit, const char *want_user)
{
    fci_buf s = ikey(start, 100, 1), l = ikey(limit, 200, 1);
    fci_buf orig = ikey(start, 100, 1);
    ck_assert_int_eq(fci_ikey_shortest_separator(&s, fci_buf_slice(&l)), 0);
    fci_slice u = fci_ikey_user(fci_buf_slice(&s));
    ck_assert_uint_eq(u.size, strlen(want_user));
    ck_assert_int_eq(memcmp(u.data, want_user, u.size), 0);
    ck_assert_int_le(fci_ikey_compare(fci_buf_slice(&orig), fci_buf_slice(&s)), 0);
    /* start < limit is the caller's promise; only then must s stay below. */
    if (fci_ikey_compare(fci_buf_slice(&orig), fci_buf_slice(&l)) < 0)
        ck_assert_int_lt(fci_ikey_compare(fci_buf_slice(&s), fci_buf_slice(&l)), 0);
    fci_buf_free(&s);
    fci_buf_free(&l);
    fci_buf_free(&orig);
}

START_TEST(shortest_separator)
{
    check_separator("foo", "foo", "foo");        /* same user key */
    check_separator("foo", "bar", "foo");        /* misordered: unchanged */
    check_separator("foo", "hello", "g");        /* shortened */
    check_separator("foo", "foobar", "foo");     /* prefix: unchanged */
    check_separator("foobar", "foo", "foobar");
    check_separator("abc1xyz", "abc3", "abc2");
    check_separator("abc1xyz", "abc2", "abc1xyz"); /* no room between */
}
END_TEST

START_TEST(short_successor)
{
    fci_buf k = ikey("foo", 100, 1);
    ck_assert_int_eq(fci_ikey_short_successor(&k), 0);
    fci_slice u = fci_ikey_user(fci_buf_slice(&k));
    ck_assert_uint_eq(u.size, 1);
    ck_assert_int_eq(u.data[0], 'g');
    ck_assert_uint_eq(fci_ikey_tag(fci_buf_slice(&k)), fci_pack_tag(FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK));
    fci_buf_free(&k);
    k = ikey("\xff\xff", 100, 1);
    ck_assert_int_eq(fci_ikey_short_successor(&k), 0);
    ck_assert_uint_eq(k.size, 10); /* unchanged */
    fci_buf_free(&k);
}
END_TEST

static Suite *dbformat_suite(void)
{
    Suite *s = suite_create("format_dbformat");
    TCase *tc = tcase_create("ikey");
    tcase_add_test(tc, encode_layout);
    tcase_add_test(tc, parse_round_trip);
    tcase_add_test(tc, parse_rejects_bad);
    tcase_add_test(tc, compare_order);
    tcase_add_test(tc, compare_malformed_is_total);
    tcase_add_test(tc, shortest_separator);
    tcase_add_test(tc, short_successor);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(dbformat_suite)
