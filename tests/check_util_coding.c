/*
 * check_util_coding.c - fixed-width and varint encodings: round trips, the
 * exact bytes LevelDB expects, and every way a truncated input must fail.
 */
#include "config.h"

#include <stdint.h>

#include "fct.h"
#include "forkcache.h"
#include "util/coding.h"

START_TEST(fixed32_little_endian_bytes)
{
    char b[4];
    fci_put_fixed32(b, 0x04030201u);
    ck_assert_mem_eq(b, "\x01\x02\x03\x04", 4);
    ck_assert_uint_eq(fci_get_fixed32(b), 0x04030201u);
}
END_TEST

START_TEST(fixed64_little_endian_bytes)
{
    char b[8];
    fci_put_fixed64(b, 0x0807060504030201ull);
    ck_assert_mem_eq(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    ck_assert_uint_eq(fci_get_fixed64(b), 0x0807060504030201ull);
}
END_TEST

START_TEST(fixed32_round_trip_many)
{
    char b[4];
    for (uint64_t v = 0; v <= UINT32_MAX; v += 0x10001u) {
        fci_put_fixed32(b, (uint32_t)v);
        ck_assert_uint_eq(fci_get_fixed32(b), (uint32_t)v);
    }
    fci_put_fixed32(b, UINT32_MAX);
    ck_assert_uint_eq(fci_get_fixed32(b), UINT32_MAX);
}
END_TEST

START_TEST(fixed64_round_trip_powers)
{
    char b[8];
    for (int shift = 0; shift < 64; shift++) {
        uint64_t vals[3] = { (uint64_t)1 << shift, ((uint64_t)1 << shift) - 1,
                             ((uint64_t)1 << shift) + 1 };
        for (int i = 0; i < 3; i++) {
            fci_put_fixed64(b, vals[i]);
            ck_assert_uint_eq(fci_get_fixed64(b), vals[i]);
        }
    }
}
END_TEST

START_TEST(fixed_checked_truncated)
{
    const char b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    for (int len = 0; len < 4; len++) {
        const char *p = b;
        uint32_t v;
        ck_assert_int_eq(fci_get_fixed32_checked(&p, b + len, &v), FC_ECORRUPT);
        ck_assert_ptr_eq(p, b);
    }
    for (int len = 0; len < 8; len++) {
        const char *p = b;
        uint64_t v;
        ck_assert_int_eq(fci_get_fixed64_checked(&p, b + len, &v), FC_ECORRUPT);
    }
    const char *p = b;
    uint64_t v64;
    ck_assert_int_eq(fci_get_fixed64_checked(&p, b + 8, &v64), 0);
    ck_assert_ptr_eq(p, b + 8);
    ck_assert_uint_eq(v64, 0x0807060504030201ull);
}
END_TEST

START_TEST(varint32_known_bytes)
{
    char b[5];
    ck_assert_int_eq(fci_put_varint32(b, 0) - b, 1);
    ck_assert_int_eq((unsigned char)b[0], 0);
    ck_assert_int_eq(fci_put_varint32(b, 127) - b, 1);
    ck_assert_int_eq((unsigned char)b[0], 0x7f);
    ck_assert_int_eq(fci_put_varint32(b, 128) - b, 2);
    ck_assert_mem_eq(b, "\x80\x01", 2);
    ck_assert_int_eq(fci_put_varint32(b, 300) - b, 2);
    ck_assert_mem_eq(b, "\xac\x02", 2);
    ck_assert_int_eq(fci_put_varint32(b, UINT32_MAX) - b, 5);
    ck_assert_mem_eq(b, "\xff\xff\xff\xff\x0f", 5);
}
END_TEST

START_TEST(varint32_round_trip)
{
    char b[FCI_MAX_VARINT32_LEN];
    for (uint32_t i = 0; i < 32 * 32; i++) {
        uint32_t v = (i / 32) << (i % 32);
        char *end = fci_put_varint32(b, v);
        ck_assert_int_eq(end - b, fci_varint_length(v));
        const char *p = b;
        uint32_t got;
        ck_assert_int_eq(fci_get_varint32(&p, end, &got), 0);
        ck_assert_uint_eq(got, v);
        ck_assert_ptr_eq(p, end);
    }
}
END_TEST

START_TEST(varint64_round_trip)
{
    char b[FCI_MAX_VARINT64_LEN];
    uint64_t vals[] = { 0, 100, ~(uint64_t)0, ~(uint64_t)0 - 1 };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        char *end = fci_put_varint64(b, vals[k]);
        const char *p = b;
        uint64_t got;
        ck_assert_int_eq(fci_get_varint64(&p, end, &got), 0);
        ck_assert_uint_eq(got, vals[k]);
    }
    for (int shift = 0; shift < 64; shift++) {
        for (int d = -1; d <= 1; d++) {
            uint64_t v = ((uint64_t)1 << shift) + (uint64_t)(int64_t)d;
            char *end = fci_put_varint64(b, v);
            ck_assert_int_eq(end - b, fci_varint_length(v));
            const char *p = b;
            uint64_t got;
            ck_assert_int_eq(fci_get_varint64(&p, end, &got), 0);
            ck_assert_uint_eq(got, v);
        }
    }
}
END_TEST

/* Every proper prefix of a valid encoding must be refused, without moving
 * the cursor: this is the "truncated varint is an error" rule. */
START_TEST(varint32_every_truncation)
{
    uint32_t vals[] = { 128, 300, 1u << 14, 1u << 21, 1u << 28, UINT32_MAX };
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        char b[FCI_MAX_VARINT32_LEN];
        int len = (int)(fci_put_varint32(b, vals[k]) - b);
        for (int cut = 0; cut < len; cut++) {
            const char *p = b;
            uint32_t got = 12345;
            ck_assert_int_eq(fci_get_varint32(&p, b + cut, &got), FC_ECORRUPT);
            ck_assert_ptr_eq(p, b);
            ck_assert_uint_eq(got, 12345);
        }
    }
}
END_TEST

START_TEST(varint64_every_truncation)
{
    char b[FCI_MAX_VARINT64_LEN];
    for (int shift = 7; shift < 64; shift += 7) {
        int len = (int)(fci_put_varint64(b, (uint64_t)1 << shift) - b);
        for (int cut = 0; cut < len; cut++) {
            const char *p = b;
            uint64_t got;
            ck_assert_int_eq(fci_get_varint64(&p, b + cut, &got), FC_ECORRUPT);
            ck_assert_ptr_eq(p, b);
        }
    }
}
END_TEST

START_TEST(varint32_overlong_refused)
{
    /* Six continuation bytes: longer than any 32-bit varint. */
    const char six[] = "\x80\x80\x80\x80\x80\x01";
    const char *p = six;
    uint32_t v;
    ck_assert_int_eq(fci_get_varint32(&p, six + 6, &v), FC_ECORRUPT);
    /* Five bytes whose last carries bits above 32. */
    const char wide[] = "\xff\xff\xff\xff\x1f";
    p = wide;
    ck_assert_int_eq(fci_get_varint32(&p, wide + 5, &v), FC_ECORRUPT);
}
END_TEST

START_TEST(varint64_overlong_refused)
{
    const char eleven[] = "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01";
    const char *p = eleven;
    uint64_t v;
    ck_assert_int_eq(fci_get_varint64(&p, eleven + 11, &v), FC_ECORRUPT);
    const char wide[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02";
    p = wide;
    ck_assert_int_eq(fci_get_varint64(&p, wide + 10, &v), FC_ECORRUPT);
    const char max[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
    p = max;
    ck_assert_int_eq(fci_get_varint64(&p, max + 10, &v), 0);
    ck_assert_uint_eq(v, ~(uint64_t)0);
}
END_TEST

START_TEST(varint_length_table)
{
    ck_assert_int_eq(fci_varint_length(0), 1);
    ck_assert_int_eq(fci_varint_length(127), 1);
    ck_assert_int_eq(fci_varint_length(128), 2);
    ck_assert_int_eq(fci_varint_length(16383), 2);
    ck_assert_int_eq(fci_varint_length(16384), 3);
    ck_assert_int_eq(fci_varint_length(UINT32_MAX), 5);
    ck_assert_int_eq(fci_varint_length(~(uint64_t)0), 10);
}
END_TEST

START_TEST(varint_sequence_decode)
{
    char b[64];
    char *q = b;
    for (uint32_t v = 0; v < 10; v++)
        q = fci_put_varint32(q, v * 1000);
    const char *p = b;
    for (uint32_t v = 0; v < 10; v++) {
        uint32_t got;
        ck_assert_int_eq(fci_get_varint32(&p, q, &got), 0);
        ck_assert_uint_eq(got, v * 1000);
    }
    ck_assert_ptr_eq(p, q);
    uint32_t extra;
    ck_assert_int_eq(fci_get_varint32(&p, q, &extra), FC_ECORRUPT);
}
END_TEST

START_TEST(length_prefixed_ok)
{
    const char in[] = "\x05hello\x00";
    const char *p = in;
    fci_slice s;
    ck_assert_int_eq(fci_get_length_prefixed(&p, in + 7, &s), 0);
    ck_assert_uint_eq(s.size, 5);
    ck_assert_mem_eq(s.data, "hello", 5);
    ck_assert_int_eq(fci_get_length_prefixed(&p, in + 7, &s), 0);
    ck_assert_uint_eq(s.size, 0);
    ck_assert_ptr_eq(p, in + 7);
}
END_TEST

START_TEST(length_prefixed_truncated)
{
    const char in[] = "\x05hell";
    for (int cut = 0; cut <= 5; cut++) {
        const char *p = in;
        fci_slice s;
        ck_assert_int_eq(fci_get_length_prefixed(&p, in + cut, &s), FC_ECORRUPT);
        ck_assert_ptr_eq(p, in);
    }
}
END_TEST

/* A huge length must not wrap the end-pointer arithmetic. */
START_TEST(length_prefixed_huge_length)
{
    const char in[] = "\xff\xff\xff\xff\x0f" "abc";
    const char *p = in;
    fci_slice s;
    ck_assert_int_eq(fci_get_length_prefixed(&p, in + 8, &s), FC_ECORRUPT);
}
END_TEST

static Suite *coding_suite(void)
{
    Suite *s = suite_create("util_coding");
    TCase *tc = tcase_create("fixed");
    tcase_add_test(tc, fixed32_little_endian_bytes);
    tcase_add_test(tc, fixed64_little_endian_bytes);
    tcase_add_test(tc, fixed32_round_trip_many);
    tcase_add_test(tc, fixed64_round_trip_powers);
    tcase_add_test(tc, fixed_checked_truncated);
    suite_add_tcase(s, tc);
    tc = tcase_create("varint");
    tcase_add_test(tc, varint32_known_bytes);
    tcase_add_test(tc, varint32_round_trip);
    tcase_add_test(tc, varint64_round_trip);
    tcase_add_test(tc, varint32_every_truncation);
    tcase_add_test(tc, varint64_every_truncation);
    tcase_add_test(tc, varint32_overlong_refused);
    tcase_add_test(tc, varint64_overlong_refused);
    tcase_add_test(tc, varint_length_table);
    tcase_add_test(tc, varint_sequence_decode);
    suite_add_tcase(s, tc);
    tc = tcase_create("length_prefixed");
    tcase_add_test(tc, length_prefixed_ok);
    tcase_add_test(tc, length_prefixed_truncated);
    tcase_add_test(tc, length_prefixed_huge_length);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(coding_suite)
