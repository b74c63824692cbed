/*
 * check_util_buf.c - the growable buffer and the bytewise comparator.
 */
#include "config.h"

#include <stdint.h>

#include "fct.h"
#include "forkcache.h"
#include "util/buf.h"
#include "util/coding.h"
#include "util/slice.h"

START_TEST(append_grows)
{
    fci_buf b = FCI_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(fci_buf_push(&b, (char)(i & 0x7f)), 0);
    ck_assert_uint_eq(b.size, 10000);
    ck_assert_uint_ge(b.cap, 10000);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(b.data[i], (char)(i & 0x7f));
    fci_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.size, 0);
}
END_TEST

START_TEST(put_encodings)
{
    fci_buf b;
    fci_buf_init(&b);
    ck_assert_int_eq(fci_buf_put_fixed32(&b, 0x01020304u), 0);
    ck_assert_int_eq(fci_buf_put_fixed64(&b, 5), 0);
    ck_assert_int_eq(fci_buf_put_varint32(&b, 300), 0);
    ck_assert_int_eq(fci_buf_put_varint64(&b, (uint64_t)1 << 40), 0);
    ck_assert_int_eq(fci_buf_put_length_prefixed(&b, fci_slice_str("key")), 0);
    const char *p = b.data, *end = b.data + b.size;
    uint32_t v32;
    uint64_t v64;
    fci_slice s;
    ck_assert_int_eq(fci_get_fixed32_checked(&p, end, &v32), 0);
    ck_assert_uint_eq(v32, 0x01020304u);
    ck_assert_int_eq(fci_get_fixed64_checked(&p, end, &v64), 0);
    ck_assert_uint_eq(v64, 5);
    ck_assert_int_eq(fci_get_varint32(&p, end, &v32), 0);
    ck_assert_uint_eq(v32, 300);
    ck_assert_int_eq(fci_get_varint64(&p, end, &v64), 0);
    ck_assert_uint_eq(v64, (uint64_t)1 << 40);
    ck_assert_int_eq(fci_get_length_prefixed(&p, end, &s), 0);
    ck_assert_mem_eq(s.data, "key", 3);
    ck_assert_ptr_eq(p, end);
    fci_buf_free(&b);
}
END_TEST

START_TEST(clear_and_truncate_keep_memory)
{
    fci_buf b = FCI_BUF_INIT;
    fci_buf_append(&b, "abcdef", 6);
    char *mem = b.data;
    fci_buf_truncate(&b, 3);
    ck_assert_uint_eq(b.size, 3);
    fci_buf_truncate(&b, 10); /* never grows */
    ck_assert_uint_eq(b.size, 3);
    fci_buf_clear(&b);
    ck_assert_uint_eq(b.size, 0);
    ck_assert_ptr_eq(b.data, mem);
    fci_buf_free(&b);
}
END_TEST

START_TEST(reserve_overflow_refused)
{
    fci_buf b = FCI_BUF_INIT;
    fci_buf_append(&b, "ab", 2);
    ck_assert_int_eq(fci_buf_reserve(&b, SIZE_MAX), FC_ENOMEM);
    ck_assert_uint_eq(b.size, 2);
    ck_assert_mem_eq(b.data, "ab", 2);
    fci_buf_free(&b);
}
END_TEST

START_TEST(append_zero_is_noop)
{
    fci_buf b = FCI_BUF_INIT;
    ck_assert_int_eq(fci_buf_append(&b, NULL, 0), 0);
    ck_assert_ptr_null(b.data);
    fci_buf_free(&b);
}
END_TEST

START_TEST(bytewise_order)
{
    ck_assert_int_eq(fci_bytewise_compare(fci_slice_str(""), fci_slice_str("")), 0);
    ck_assert_int_lt(fci_bytewise_compare(fci_slice_str(""), fci_slice_str("a")), 0);
    ck_assert_int_lt(fci_bytewise_compare(fci_slice_str("a"), fci_slice_str("ab")), 0);
    ck_assert_int_gt(fci_bytewise_compare(fci_slice_str("b"), fci_slice_str("ab")), 0);
    ck_assert_int_eq(fci_bytewise_compare(fci_slice_str("abc"), fci_slice_str("abc")), 0);
    /* Bytes compare unsigned: 0xff sorts after 0x01. */
    ck_assert_int_gt(fci_bytewise_compare(fci_slice_make("\xff", 1), fci_slice_make("\x01", 1)), 0);
    ck_assert_int_lt(fci_bytewise_compare(fci_slice_make("a\0", 2), fci_slice_make("a\1", 2)), 0);
}
END_TEST

static int sign(int x)
{
    return (x > 0) - (x < 0);
}

/* The inlined compare of the read path orders every pair as the library
 * one does: lengths 0..80 on both sides of its 8-byte words and of its
 * 64-byte switch to memcmp, keys that differ in one byte anywhere (high
 * bit set or not) or are prefixes of each other. */
START_TEST(inline_compare_agrees)
{
    char a[80], b[80];
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t an = x % 81, bn = (x >> 8) % 81;
        for (size_t i = 0; i < sizeof a; i++)
            a[i] = b[i] = (char)('a' + i % 7);
        if (an > 0 && (x >> 16) % 3 != 0) {
            size_t at = (x >> 20) % an;
            b[at] = (char)((x >> 28) & 1 ? 0xf0 : 0x01);
        }
        fci_slice sa = fci_slice_make(a, an), sb = fci_slice_make(b, bn);
        ck_assert_int_eq(sign(fci_slice_compare(sa, sb)), sign(fci_bytewise_compare(sa, sb)));
        ck_assert_int_eq(sign(fci_slice_compare(sb, sa)), sign(fci_bytewise_compare(sb, sa)));
    }
}
END_TEST

static Suite *buf_suite(void)
{
    Suite *s = suite_create("util_buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, append_grows);
    tcase_add_test(tc, put_encodings);
    tcase_add_test(tc, clear_and_truncate_keep_memory);
    tcase_add_test(tc, reserve_overflow_refused);
    tcase_add_test(tc, append_zero_is_noop);
    suite_add_tcase(s, tc);
    tc = tcase_create("slice");
    tcase_add_test(tc, bytewise_order);
    tcase_add_test(tc, inline_compare_agrees);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(buf_suite)
