/*
 * check_format_bloom.c - LevelDB's hash (known vectors), the bloom filter
 * (probes, false-positive rate, reserved encodings) and the filter block
 * (layout, per-2KiB filters, malformed blocks answering "may match").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fct.h"
#include "forkcache.h"
#include "format/bloom.h"
#include "format/filter_block.h"

/* The first five are the vectors of LevelDB's hash test; the others were
 * computed with an independent (Python) implementation of the algorithm. */
START_TEST(hash_vectors)
{
    const uint32_t seed = 0xbc9f1d34;
    ck_assert_uint_eq(fci_hash(NULL, 0, seed), 0xbc9f1d34u);
    ck_assert_uint_eq(fci_hash("\x62", 1, seed), 0xef1345c4u);
    ck_assert_uint_eq(fci_hash("\xc3\x97", 2, seed), 0x5b663814u);
    ck_assert_uint_eq(fci_hash("\xe2\x99\xa5", 3, seed), 0x323c078fu);
    ck_assert_uint_eq(fci_hash("\xe1\x80\xb9\x32", 4, seed), 0xed21633au);
    ck_assert_uint_eq(fci_hash("hello", 5, seed), 0xf795964eu);
    ck_assert_uint_eq(fci_hash("hello world, forkcache!", 23, seed), 0xd1f469d1u);
    ck_assert_uint_eq(fci_hash("abc", 3, 0), 0xac7e1f42u);
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    ck_assert_uint_eq(fci_hash(all, 256, seed), 0xa1ff6be2u);
}
END_TEST

START_TEST(probe_counts)
{
    ck_assert_int_eq(fci_bloom_num_probes(10), 6);
    ck_assert_int_eq(fci_bloom_num_probes(1), 1);
    ck_assert_int_eq(fci_bloom_num_probes(2), 1);
    ck_assert_int_eq(fci_bloom_num_probes(16), 11);
    ck_assert_int_eq(fci_bloom_num_probes(100), 30);
}
END_TEST

START_TEST(empty_and_small_filters)
{
    fci_buf f = FCI_BUF_INIT;
    ck_assert_int_eq(fci_bloom_create(10, NULL, 0, &f), 0);
    ck_assert_uint_eq(f.size, 9);   /* 64 bits + k */
    ck_assert_int_eq(f.data[8], 6);
    ck_assert(!fci_bloom_may_match(fci_buf_slice(&f), fci_slice_str("hello")));
    ck_assert(!fci_bloom_may_match(fci_buf_slice(&f), fci_slice_str("")));
    fci_buf_clear(&f);
    fci_slice keys[2] = { fci_slice_str("hello"), fci_slice_str("world") };
    ck_assert_int_eq(fci_bloom_create(10, keys, 2, &f), 0);
    ck_assert(fci_bloom_may_match(fci_buf_slice(&f), keys[0]));
    ck_assert(fci_bloom_may_match(fci_buf_slice(&f), keys[1]));
    ck_assert(!fci_bloom_may_match(fci_buf_slice(&f), fci_slice_str("x")));
    ck_assert(!fci_bloom_may_match(fci_buf_slice(&f), fci_slice_str("foo")));
    fci_buf_free(&f);
}
END_TEST

START_TEST(reserved_and_short_encodings)
{
    char f[9] = { 0 };
    f[8] = 31;   /* k > 30: reserved for new encodings, matches */
    ck_assert(fci_bloom_may_match(fci_slice_make(f, 9), fci_slice_str("anything")));
    f[8] = 6;    /* all-zero bits with valid k: matches nothing */
    ck_assert(!fci_bloom_may_match(fci_slice_make(f, 9), fci_slice_str("anything")));
    ck_assert(!fci_bloom_may_match(fci_slice_make(f, 1), fci_slice_str("anything")));
    ck_assert(!fci_bloom_may_match(fci_slice_make(f, 0), fci_slice_str("anything")));
}
END_TEST

/* LevelDB's own test style: growing key counts, every key present must
 * match, and about 1% of absent keys may (10 bits per key). */
START_TEST(false_positive_rate)
{
    int n = 10000;
    fci_slice *keys = malloc(sizeof *keys * (size_t)n);
    char (*store)[16] = malloc(16 * (size_t)n);
    for (int i = 0; i < n; i++) {
        snprintf(store[i], 16, "key%08d", i);
        keys[i] = fci_slice_str(store[i]);
    }
    fci_buf f = FCI_BUF_INIT;
    ck_assert_int_eq(fci_bloom_create(10, keys, (size_t)n, &f), 0);
    ck_assert_uint_eq(f.size, (size_t)n * 10 / 8 + 1);
    for (int i = 0; i < n; i++)
        ck_assert(fci_bloom_may_match(fci_buf_slice(&f), keys[i]));
    int fp = 0;
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "absent%08d", i);
        fp += fci_bloom_may_match(fci_buf_slice(&f), fci_slice_str(k));
    }
    double rate = fp / (double)n;
    fprintf(stderr, "bloom: false-positive rate %.4f over %d absent keys\n", rate, n);
    ck_assert(rate > 0.002 && rate < 0.02);
    fci_buf_free(&f);
    free(keys);
    free(store);
}
END_TEST

START_TEST(varying_lengths)
{
    char (*store)[8] = malloc(8 * 10000);
    fci_slice *keys = malloc(sizeof *keys * 10000);
    int mediocre = 0, good = 0;
    for (int len = 1; len <= 10000; len = len < 10 ? len + 1 : len < 100 ? len + 10 : len + 1000) {
        for (int i = 0; i < len; i++) {
            memcpy(store[i], &i, 4);   /* 4-byte little-endian keys */
            keys[i] = fci_slice_make(store[i], 4);
        }
        fci_buf f = FCI_BUF_INIT;
        fci_bloom_create(10, keys, (size_t)len, &f);
        ck_assert_uint_le(f.size, (size_t)len * 10 / 8 + 40);
        for (int i = 0; i < len; i++)
            ck_assert(fci_bloom_may_match(fci_buf_slice(&f), keys[i]));
        int fp = 0;
        for (int i = 0; i < 10000; i++) {
            int k = i + 1000000000;
            fp += fci_bloom_may_match(fci_buf_slice(&f), fci_slice_make(&k, 4));
        }
        double rate = fp / 10000.0;
        ck_assert(rate <= 0.02);
        if (rate > 0.0125)
            mediocre++;
        else
            good++;
        fci_buf_free(&f);
    }
    ck_assert_int_le(mediocre, good / 5);
    free(store);
    free(keys);
}
END_TEST

START_TEST(filter_block_empty)
{
    fci_filter_builder fb;
    fci_filter_builder_init(&fb, 10);
    fci_slice out;
    ck_assert_int_eq(fci_filter_builder_finish(&fb, &out), 0);
    ck_assert_uint_eq(out.size, 5);
    ck_assert_mem_eq(out.data, "\0\0\0\0\x0b", 5);
    fci_filter_reader fr;
    fci_filter_reader_init(&fr, out);
    ck_assert(fci_filter_key_may_match(&fr, 0, fci_slice_str("foo")));
    ck_assert(fci_filter_key_may_match(&fr, 100000, fci_slice_str("foo")));
    fci_filter_builder_free(&fb);
}
END_TEST

START_TEST(filter_block_chunks)
{
    fci_filter_builder fb;
    fci_filter_builder_init(&fb, 10);
    /* first filter: blocks at 0..2047 */
    fci_filter_builder_start_block(&fb, 0);
    fci_filter_builder_add_key(&fb, fci_slice_str("foo"));
    fci_filter_builder_start_block(&fb, 2000);
    fci_filter_builder_add_key(&fb, fci_slice_str("bar"));
    /* second filter: 3100 */
    fci_filter_builder_start_block(&fb, 3100);
    fci_filter_builder_add_key(&fb, fci_slice_str("box"));
    /* third filter empty; last filter at 9000 */
    fci_filter_builder_start_block(&fb, 9000);
    fci_filter_builder_add_key(&fb, fci_slice_str("box"));
    fci_filter_builder_add_key(&fb, fci_slice_str("hello"));
    fci_slice out;
    ck_assert_int_eq(fci_filter_builder_finish(&fb, &out), 0);
    ck_assert_int_eq(out.data[out.size - 1], FCI_FILTER_BASE_LG);
    fci_filter_reader fr;
    fci_filter_reader_init(&fr, out);
    ck_assert_uint_eq(fr.num, 5);   /* 0, 2048, 4096, 6144, 8192 */
    ck_assert(fci_filter_key_may_match(&fr, 0, fci_slice_str("foo")));
    ck_assert(fci_filter_key_may_match(&fr, 2000, fci_slice_str("bar")));
    ck_assert(!fci_filter_key_may_match(&fr, 0, fci_slice_str("box")));
    ck_assert(!fci_filter_key_may_match(&fr, 0, fci_slice_str("hello")));
    ck_assert(fci_filter_key_may_match(&fr, 3100, fci_slice_str("box")));
    ck_assert(!fci_filter_key_may_match(&fr, 3100, fci_slice_str("foo")));
    ck_assert(!fci_filter_key_may_match(&fr, 4100, fci_slice_str("foo")));   /* empty filter */
    ck_assert(!fci_filter_key_may_match(&fr, 4100, fci_slice_str("box")));
    ck_assert(fci_filter_key_may_match(&fr, 9000, fci_slice_str("box")));
    ck_assert(fci_filter_key_may_match(&fr, 9000, fci_slice_str("hello")));
    ck_assert(!fci_filter_key_may_match(&fr, 9000, fci_slice_str("foo")));
    /* offsets past the last filter: no filter covers them, may match */
    ck_assert(fci_filter_key_may_match(&fr, 1u << 20, fci_slice_str("foo")));
    fci_filter_builder_free(&fb);
}
END_TEST

START_TEST(filter_block_malformed_matches)
{
    fci_filter_reader fr;
    fci_filter_reader_init(&fr, fci_slice_make("\0\0\0", 3));   /* too short */
    ck_assert(fci_filter_key_may_match(&fr, 0, fci_slice_str("x")));
    fci_filter_reader_init(&fr, fci_slice_make("\x09\0\0\0\x0b", 5));   /* array past end */
    ck_assert(fci_filter_key_may_match(&fr, 0, fci_slice_str("x")));
    /* base_lg 200: would be an undefined shift */
    fci_filter_reader_init(&fr, fci_slice_make("\0\0\0\0\0\0\0\0\0\xc8", 10));
    ck_assert(fci_filter_key_may_match(&fr, 5, fci_slice_str("x")));
    /* a filter offset past the array: treated as a match */
    fci_filter_reader_init(&fr, fci_slice_make("abcd\x30\0\0\0\x04\0\0\0\x0b", 13));
    ck_assert(fci_filter_key_may_match(&fr, 0, fci_slice_str("x")));
    /* flip every byte of a real block: answers, never crashes */
    fci_filter_builder fb;
    fci_filter_builder_init(&fb, 10);
    fci_filter_builder_start_block(&fb, 0);
    fci_filter_builder_add_key(&fb, fci_slice_str("foo"));
    fci_filter_builder_start_block(&fb, 5000);
    fci_filter_builder_add_key(&fb, fci_slice_str("bar"));
    fci_slice out;
    fci_filter_builder_finish(&fb, &out);
    for (size_t i = 0; i < out.size; i++) {
        char *copy = malloc(out.size);
        memcpy(copy, out.data, out.size);
        copy[i] ^= 0x5a;
        fci_filter_reader_init(&fr, fci_slice_make(copy, out.size));
        for (uint64_t off = 0; off < 8000; off += 1000)
            (void)fci_filter_key_may_match(&fr, off, fci_slice_str("foo"));
        free(copy);
    }
    fci_filter_builder_free(&fb);
}
END_TEST

static Suite *bloom_suite(void)
{
    Suite *s = suite_create("format_bloom");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hash_vectors);
    tcase_add_test(tc, probe_counts);
    tcase_add_test(tc, empty_and_small_filters);
    tcase_add_test(tc, reserved_and_short_encodings);
    tcase_add_test(tc, false_positive_rate);
    tcase_add_test(tc, varying_lengths);
    tcase_add_test(tc, filter_block_empty);
    tcase_add_test(tc, filter_block_chunks);
    tcase_add_test(tc, filter_block_malformed_matches);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(bloom_suite)
