/*
 * check_util_crc32c.c - CRC-32C against published test vectors (RFC 3720's
 * iSCSI examples and the "123456789" check value), the table, hardware and
 * dispatched implementations against a bitwise one, and LevelDB's mask.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include "fct.h"
#include "util/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn f)
{
    unsigned char buf[48];
    ck_assert_uint_eq(f(0, "123456789", 9), 0xe3069283u);
    memset(buf, 0, 32);
    ck_assert_uint_eq(f(0, buf, 32), 0x8a9136aau);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(f(0, buf, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    ck_assert_uint_eq(f(0, buf, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(f(0, buf, 32), 0x113fdb5cu);
    /* An iSCSI READ command PDU (RFC 3720, B.4). */
    static const unsigned char iscsi[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    ck_assert_uint_eq(f(0, iscsi, sizeof iscsi), 0xd9963a56u);
    ck_assert_uint_eq(f(0, "", 0), 0);
}

START_TEST(vectors_dispatch)
{
    check_vectors(fci_crc32c_extend);
}
END_TEST

START_TEST(vectors_table)
{
    check_vectors(fci_crc32c_extend_table);
}
END_TEST

START_TEST(vectors_hardware)
{
    /* Without SSE4.2 the hardware entry falls back to the table; the vectors
     * still hold, so this test is meaningful on every machine. */
    check_vectors(fci_crc32c_extend_hw);
}
END_TEST

/* CRC-32C one bit at a time (reflected polynomial 0x82f63b78), written
 * from the definition: slow, but shares no table or instruction with the
 * code under test, so it can tell either implementation wrong. */
static uint32_t crc_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* crc_bitwise with crc_fn's signature, for check_vectors. */
static uint32_t crc_bitwise_fn(uint32_t crc, const void *p, size_t n)
{
    return crc_bitwise(crc, p, n);
}

/* Lengths 0..300 at every alignment 0..15 cover the 8-byte loop, its tail
 * and unaligned starts. Every implementation is compared with the bitwise
 * one, so the test can fail on any machine: with SSE4.2 the hardware path
 * and the table are checked separately; without it the hardware entry is
 * the table (said in the log), and what the dispatcher picks must still
 * agree. */
START_TEST(hardware_equals_table)
{
    unsigned char buf[320];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    check_vectors(crc_bitwise_fn);
    int hw = fci_crc32c_hw_available();
    if (!hw)
        fprintf(stderr, "hardware_equals_table: no SSE4.2 here; the hardware entry is the table\n");
    for (size_t off = 0; off < 16; off++)
        for (size_t len = 0; len + off <= 300; len++) {
            uint32_t want = crc_bitwise(7, buf + off, len);
            ck_assert_uint_eq(fci_crc32c_extend_table(7, buf + off, len), want);
            ck_assert_uint_eq(fci_crc32c_extend_hw(7, buf + off, len), want);
            ck_assert_uint_eq(fci_crc32c_extend(7, buf + off, len), want);
        }
}
END_TEST

START_TEST(extend_equals_whole)
{
    const char *s = "hello world, this is a crc test string";
    size_t n = strlen(s);
    uint32_t whole = fci_crc32c(s, n);
    for (size_t cut = 0; cut <= n; cut++)
        ck_assert_uint_eq(fci_crc32c_extend(fci_crc32c(s, cut), s + cut, n - cut), whole);
}
END_TEST

START_TEST(different_inputs_differ)
{
    ck_assert_uint_ne(fci_crc32c("a", 1), fci_crc32c("foo", 3));
    ck_assert_uint_ne(fci_crc32c("bar", 3), fci_crc32c("foo", 3));
}
END_TEST

START_TEST(mask_round_trip)
{
    uint32_t crc = fci_crc32c("foo", 3);
    ck_assert_uint_ne(crc, fci_crc32c_mask(crc));
    ck_assert_uint_ne(crc, fci_crc32c_mask(fci_crc32c_mask(crc)));
    ck_assert_uint_eq(crc, fci_crc32c_unmask(fci_crc32c_mask(crc)));
    ck_assert_uint_eq(crc, fci_crc32c_unmask(fci_crc32c_unmask(
                               fci_crc32c_mask(fci_crc32c_mask(crc)))));
    for (uint32_t v = 0; v < 100000; v += 7)
        ck_assert_uint_eq(fci_crc32c_unmask(fci_crc32c_mask(v * 2654435761u)),
                          v * 2654435761u);
}
END_TEST

START_TEST(mask_known_value)
{
    /* rotate-right-15 of 0 is 0, so mask(0) is the delta itself. */
    ck_assert_uint_eq(fci_crc32c_mask(0), FCI_CRC_MASK_DELTA);
    ck_assert_uint_eq(fci_crc32c_mask(1), (1u << 17) + FCI_CRC_MASK_DELTA);
}
END_TEST

static Suite *crc_suite(void)
{
    Suite *s = suite_create("util_crc32c");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, vectors_dispatch);
    tcase_add_test(tc, vectors_table);
    tcase_add_test(tc, vectors_hardware);
    tcase_add_test(tc, hardware_equals_table);
    tcase_add_test(tc, extend_equals_whole);
    tcase_add_test(tc, different_inputs_differ);
    suite_add_tcase(s, tc);
    tc = tcase_create("mask");
    tcase_add_test(tc, mask_round_trip);
    tcase_add_test(tc, mask_known_value);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(crc_suite)
