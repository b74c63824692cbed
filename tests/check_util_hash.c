/*
 * check_util_hash.c - the hash functions' values, pinned. fci_hash must
 * equal LevelDB's Hash() (bloom filters are shared with LevelDB) and
 * fci_hash64 is stored in every table's hash index: a change to either
 * breaks files already written. Lengths cover every tail (0 to 7 bytes
 * after whole words) and inputs hold bytes above 0x7f, where signed and
 * unsigned char readings would differ.
 */
#include "config.h"

#include <stdint.h>

#include "fct.h"
#include "util/hash.h"

#define BLOOM_SEED 0xbc9f1d34u   /* the seed LevelDB's bloom filter uses */

typedef struct pinned {
    size_t len;
    uint32_t leveldb_bloom_seed;
    uint32_t leveldb_seed0;
    uint64_t hash64;
    uint64_t fnv1a;
} pinned;

static const pinned PINNED[] = {
    { 0, 0xbc9f1d34u, 0x00000000u, UINT64_C(0x0000000000000000), UINT64_C(0xcbf29ce484222325) },
    { 1, 0x6d1e525bu, 0x0f1c51b5u, UINT64_C(0xab417445cbc6d39f), UINT64_C(0xaf63c64c8601c72a) },
    { 2, 0x55a1a1f2u, 0x74910057u, UINT64_C(0x0c0d072e72d391ef), UINT64_C(0x08510e07b505512e) },
    { 3, 0x7748003fu, 0x9e691e12u, UINT64_C(0x850a000a36668652), UINT64_C(0x270c521898097401) },
    { 4, 0x4db3c48au, 0x32720e87u, UINT64_C(0x61ec755af27040bd), UINT64_C(0x6363faca5810ed01) },
    { 5, 0x288d69f1u, 0x4248a5ceu, UINT64_C(0x29d5dd3b6a0672de), UINT64_C(0xf3d0c3d3a4c3c37a) },
    { 7, 0x4f277cf2u, 0xa11b2b75u, UINT64_C(0x298322a212cae852), UINT64_C(0xfcf25e868166b7a9) },
    { 8, 0x66597a9fu, 0x661843f2u, UINT64_C(0x19613ecc0b69678f), UINT64_C(0x368e458de18a10c5) },
    { 9, 0xbf5a867bu, 0x29259259u, UINT64_C(0xe98a17eb692df752), UINT64_C(0x3dd126163d9ad202) },
    { 13, 0x38fa7ec5u, 0xf621c30cu, UINT64_C(0x57b61f574333d3d4), UINT64_C(0x254bce5ca0450f62) },
    { 100, 0x8e765c8bu, 0xf28121b1u, UINT64_C(0xc37362fd1f085c00), UINT64_C(0xaaee521c6595b2a1) },
};
#define NPINNED (sizeof PINNED / sizeof PINNED[0])

/* Byte i is i * 37 + 11 (mod 256): every length reads a different prefix. */
static void fill_input(char *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        in[i] = (char)(unsigned char)(i * 37 + 11);
}

START_TEST(leveldb_hash_pinned)
{
    char in[100];
    fill_input(in, sizeof in);
    for (size_t i = 0; i < NPINNED; i++) {
        ck_assert_uint_eq(fci_hash(in, PINNED[i].len, BLOOM_SEED), PINNED[i].leveldb_bloom_seed);
        ck_assert_uint_eq(fci_hash(in, PINNED[i].len, 0), PINNED[i].leveldb_seed0);
    }
}
END_TEST

/* Values from LevelDB's own util/hash_test.cc, seed 0xbc9f1d34. */
START_TEST(leveldb_hash_matches_leveldb)
{
    ck_assert_uint_eq(fci_hash(NULL, 0, BLOOM_SEED), 0xbc9f1d34u);
    ck_assert_uint_eq(fci_hash("\x62", 1, BLOOM_SEED), 0xef1345c4u);
    ck_assert_uint_eq(fci_hash("\xc3\x97", 2, BLOOM_SEED), 0x5b663814u);
    ck_assert_uint_eq(fci_hash("\xe2\x99\xa5", 3, BLOOM_SEED), 0x323c078fu);
    ck_assert_uint_eq(fci_hash("\xe1\x80\xb9\x32", 4, BLOOM_SEED), 0xed21633au);
}
END_TEST

START_TEST(hash64_pinned)
{
    char in[100];
    fill_input(in, sizeof in);
    for (size_t i = 0; i < NPINNED; i++)
        ck_assert_uint_eq(fci_hash64(in, PINNED[i].len), PINNED[i].hash64);
    ck_assert_uint_eq(fci_hash64("forkcache", 9), UINT64_C(0x2f052e0fb1e78673));
}
END_TEST

START_TEST(fnv1a_pinned)
{
    char in[100];
    fill_input(in, sizeof in);
    for (size_t i = 0; i < NPINNED; i++)
        ck_assert_uint_eq(fci_hash_fnv1a(in, PINNED[i].len), PINNED[i].fnv1a);
}
END_TEST

START_TEST(mixers_pinned)
{
    ck_assert_uint_eq(fci_hash_mix64(0), 0);
    ck_assert_uint_eq(fci_hash_mix64(1), UINT64_C(0x5692161d100b05e5));
    ck_assert_uint_eq(fci_hash_mix64(2), UINT64_C(0xdbd238973a2b148a));
    ck_assert_uint_eq(fci_hash_mix64(7), UINT64_C(0x12ae30237b17df14));
    ck_assert_uint_eq(fci_hash_mix64(1000), UINT64_C(0xc1936642eba4ead7));
    ck_assert_uint_eq(fci_hash_mix64(UINT64_MAX), UINT64_C(0xb4d055fcf2cbbd7b));
    ck_assert_uint_eq(fci_hash_pair64(0, 0), UINT64_C(0xb1c37fef1d25b31b));
    ck_assert_uint_eq(fci_hash_pair64(1, 0), UINT64_C(0xbcba78ca3d7b2a90));
    ck_assert_uint_eq(fci_hash_pair64(5, 4096), UINT64_C(0x9b186ba951b8fb99));
    ck_assert_uint_eq(fci_hash_pair64(123456, 987654321), UINT64_C(0x114fe7e555c490c5));
}
END_TEST

/* Every length of a 64-byte input hashes apart: no tail byte is dropped. */
START_TEST(every_tail_byte_counts)
{
    char in[64];
    fill_input(in, sizeof in);
    for (size_t n = 1; n <= sizeof in; n++) {
        char flipped[64];
        memcpy(flipped, in, n);
        flipped[n - 1] ^= 0x01;
        ck_assert_uint_ne(fci_hash(in, n, BLOOM_SEED), fci_hash(flipped, n, BLOOM_SEED));
        ck_assert_uint_ne(fci_hash64(in, n), fci_hash64(flipped, n));
        ck_assert_uint_ne(fci_hash_fnv1a(in, n), fci_hash_fnv1a(flipped, n));
    }
}
END_TEST

static Suite *hash_suite(void)
{
    Suite *s = suite_create("util_hash");
    TCase *tc = tcase_create("pinned");
    tcase_add_test(tc, leveldb_hash_pinned);
    tcase_add_test(tc, leveldb_hash_matches_leveldb);
    tcase_add_test(tc, hash64_pinned);
    tcase_add_test(tc, fnv1a_pinned);
    tcase_add_test(tc, mixers_pinned);
    suite_add_tcase(s, tc);
    tc = tcase_create("spread");
    tcase_add_test(tc, every_tail_byte_counts);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(hash_suite)
