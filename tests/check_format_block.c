/*
 * check_format_block.c - table blocks: exact layout, round trips over
 * restart intervals, seeks, both directions, zero-copy values, and damaged
 * blocks that must be reported, never read outside.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fct.h"
#include "forkcache.h"
#include "format/block.h"

/* Keys as "k%06d" so bytewise order is numeric order. */
static void make_key(char *dst, int i)
{
    snprintf(dst, 16, "k%06d", i);
}

/* Builds a block into a malloc'd copy of exactly its size (so any read past
 * it is caught by valgrind/ASan). */
static char *build(fci_block_builder *bb, size_t *size)
{
    fci_slice s;
    ck_assert_int_eq(fci_block_builder_finish(bb, &s), 0);
    char *copy = malloc(s.size ? s.size : 1);
    memcpy(copy, s.data, s.size);
    *size = s.size;
    return copy;
}

START_TEST(layout_matches_format)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, 16);
    ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_str("apple"), fci_slice_str("1")), 0);
    ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_str("apricot"), fci_slice_str("22")), 0);
    size_t n;
    char *b = build(&bb, &n);
    const char expect[] = "\x00\x05\x01" "apple" "1"
                          "\x02\x05\x02" "ricot" "22"
                          "\x00\x00\x00\x00" "\x01\x00\x00\x00";
    ck_assert_uint_eq(n, sizeof expect - 1);
    ck_assert_mem_eq(b, expect, n);
    free(b);
    fci_block_builder_free(&bb);
}
END_TEST

START_TEST(empty_block)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, 16);
    ck_assert(fci_block_builder_empty(&bb));
    size_t n;
    char *data = build(&bb, &n);
    ck_assert_uint_eq(n, 8);   /* one restart (0) and the count */
    fci_block b;
    ck_assert_int_eq(fci_block_init(&b, data, n, NULL), 0);
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    fci_block_iter_first(&it);
    ck_assert(!fci_block_iter_valid(&it));
    fci_block_iter_last(&it);
    ck_assert(!fci_block_iter_valid(&it));
    fci_block_iter_seek(&it, fci_slice_str("x"));
    ck_assert(!fci_block_iter_valid(&it));
    ck_assert_int_eq(fci_block_iter_status(&it, NULL), 0);
    fci_block_iter_free(&it);
    free(data);
    fci_block_builder_free(&bb);
}
END_TEST

START_TEST(single_entry_and_extreme_sizes)
{
    /* A 0-byte key, a 64 KiB key with a 0-byte value, a 1 MiB value. */
    size_t big_key = 64 * 1024, big_val = 1 << 20;
    char *k = malloc(big_key), *v = malloc(big_val);
    memset(k, 'y', big_key);
    for (size_t i = 0; i < big_val; i++)
        v[i] = (char)(i * 7);
    fci_block_builder bb;
    fci_block_builder_init(&bb, 16);
    ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_make("", 0), fci_slice_str("empty-key")), 0);
    ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_make(k, big_key), fci_slice_make("", 0)), 0);
    ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_str("zz"),
                                           fci_slice_make(v, big_val)), 0);
    size_t n;
    char *data = build(&bb, &n);
    fci_block b;
    ck_assert_int_eq(fci_block_init(&b, data, n, NULL), 0);
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    fci_block_iter_first(&it);
    ck_assert(fci_block_iter_valid(&it));
    ck_assert_uint_eq(it.key.size, 0);
    ck_assert_uint_eq(it.value.size, 9);
    fci_block_iter_next(&it);
    ck_assert_uint_eq(it.key.size, big_key);
    ck_assert_int_eq(memcmp(it.key.data, k, big_key), 0);
    ck_assert_uint_eq(it.value.size, 0);
    fci_block_iter_next(&it);
    ck_assert_uint_eq(it.key.size, 2);
    ck_assert_uint_eq(it.value.size, big_val);
    ck_assert_int_eq(memcmp(it.value.data, v, big_val), 0);
    ck_assert(it.value.data > data && it.value.data + it.value.size <= data + n);
    fci_block_iter_next(&it);
    ck_assert(!fci_block_iter_valid(&it));
    /* Seek with the big key lands on it, and prev from the last works. */
    fci_block_iter_seek(&it, fci_slice_make(k, big_key));
    ck_assert(fci_block_iter_valid(&it));
    ck_assert_uint_eq(it.key.size, big_key);
    fci_block_iter_last(&it);
    fci_block_iter_prev(&it);
    ck_assert_uint_eq(it.key.size, big_key);
    fci_block_iter_prev(&it);
    ck_assert_uint_eq(it.key.size, 0);
    fci_block_iter_prev(&it);
    ck_assert(!fci_block_iter_valid(&it));
    fci_block_iter_free(&it);
    free(data);
    free(k);
    free(v);
    fci_block_builder_free(&bb);
}
END_TEST

/* Round trip of n keys at a restart interval: forward, backward, seek to
 * each key, seek between keys, values pointing into the block. */
static void round_trip(int n, int interval)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, interval);
    char key[16], val[32];
    for (int i = 0; i < n; i++) {
        make_key(key, i * 2);
        int vl = snprintf(val, sizeof val, "value-%d", i);
        ck_assert_int_eq(fci_block_builder_add(&bb, fci_slice_str(key), fci_slice_make(val, (size_t)(vl * (i % 3 != 0)))), 0);
    }
    size_t size;
    char *data = build(&bb, &size);
    fci_block b;
    ck_assert_int_eq(fci_block_init(&b, data, size, NULL), 0);
    ck_assert_uint_eq(b.num_restarts, n == 0 ? 1 : (uint32_t)((n + interval - 1) / interval));
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    int i = 0;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it); fci_block_iter_next(&it), i++) {
        make_key(key, i * 2);
        ck_assert_uint_eq(it.key.size, strlen(key));
        ck_assert_int_eq(memcmp(it.key.data, key, it.key.size), 0);
        int vl = snprintf(val, sizeof val, "value-%d", i);
        if (i % 3 == 0)
            vl = 0;
        ck_assert_uint_eq(it.value.size, (size_t)vl);
        ck_assert_int_eq(memcmp(it.value.data, val, (size_t)vl), 0);
        ck_assert(it.value.data >= data && it.value.data + it.value.size <= data + size);
    }
    ck_assert_int_eq(i, n);
    i = n - 1;
    for (fci_block_iter_last(&it); fci_block_iter_valid(&it); fci_block_iter_prev(&it), i--) {
        make_key(key, i * 2);
        ck_assert_int_eq(memcmp(it.key.data, key, it.key.size), 0);
    }
    ck_assert_int_eq(i, -1);
    for (int j = 0; j < 2 * n + 1; j++) {
        make_key(key, j);
        fci_block_iter_seek(&it, fci_slice_str(key));
        int want = (j + 1) / 2;   /* first even key >= j, as index */
        if (want >= n) {
            ck_assert(!fci_block_iter_valid(&it));
            continue;
        }
        ck_assert(fci_block_iter_valid(&it));
        make_key(key, want * 2);
        ck_assert_int_eq(memcmp(it.key.data, key, it.key.size), 0);
        /* prev then next comes back to the same entry */
        if (want > 0) {
            fci_block_iter_prev(&it);
            make_key(key, (want - 1) * 2);
            ck_assert_int_eq(memcmp(it.key.data, key, it.key.size), 0);
            fci_block_iter_next(&it);
            make_key(key, want * 2);
            ck_assert_int_eq(memcmp(it.key.data, key, it.key.size), 0);
        }
    }
    ck_assert_int_eq(fci_block_iter_status(&it, NULL), 0);
    fci_block_iter_free(&it);
    free(data);
    fci_block_builder_free(&bb);
}

START_TEST(round_trips)
{
    int intervals[] = { 1, 2, 3, 16, 1000 };
    int counts[] = { 1, 2, 15, 16, 17, 500 };
    for (size_t a = 0; a < 5; a++)
        for (size_t c = 0; c < 6; c++)
            round_trip(counts[c], intervals[a]);
}
END_TEST

START_TEST(restart_keys_are_zero_copy)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, 1);
    fci_block_builder_add(&bb, fci_slice_str("aaa"), fci_slice_str("1"));
    fci_block_builder_add(&bb, fci_slice_str("aab"), fci_slice_str("2"));
    size_t n;
    char *data = build(&bb, &n);
    fci_block b;
    ck_assert_int_eq(fci_block_init(&b, data, n, NULL), 0);
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    fci_block_iter_seek(&it, fci_slice_str("aab"));
    ck_assert(it.key.data >= data && it.key.data < data + n);
    ck_assert_ptr_null(it.key_buf.data);   /* nothing was copied */
    fci_block_iter_free(&it);
    free(data);
    fci_block_builder_free(&bb);
}
END_TEST

START_TEST(reset_reuses_builder)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, 4);
    fci_block_builder_add(&bb, fci_slice_str("x"), fci_slice_str("1"));
    fci_slice s;
    fci_block_builder_finish(&bb, &s);
    fci_block_builder_reset(&bb);
    ck_assert(fci_block_builder_empty(&bb));
    fci_block_builder_add(&bb, fci_slice_str("a"), fci_slice_str("b"));
    fci_block_builder_finish(&bb, &s);
    ck_assert_uint_eq(s.size, 5 + 8);
    ck_assert_mem_eq(s.data, "\x00\x01\x01" "ab" "\0\0\0\0\x01\0\0\0", 13);
    ck_assert_uint_eq(fci_block_builder_size_estimate(&bb) >= 13, 1);
    fci_block_builder_free(&bb);
}
END_TEST

START_TEST(bad_restart_count)
{
    fci_err err;
    fci_block b;
    ck_assert_int_eq(fci_block_init(&b, "abc", 3, &err), FC_ECORRUPT);
    /* 8 bytes claiming 2 restarts: only 1 fits */
    ck_assert_int_eq(fci_block_init(&b, "\0\0\0\0\x02\0\0\0", 8, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "restart"));
    ck_assert_int_eq(fci_block_init(&b, "\0\0\0\0\xff\xff\xff\xff", 8, &err), FC_ECORRUPT);
    /* zero restarts is an empty block, as LevelDB reads it */
    ck_assert_int_eq(fci_block_init(&b, "\0\0\0\0", 4, &err), 0);
    ck_assert_uint_eq(b.num_restarts, 0);
}
END_TEST

START_TEST(bad_entries_are_reported)
{
    /* shared=3 on the first entry: more than the (empty) previous key */
    const char b1[] = "\x03\x01\x01" "ab" "\0\0\0\0" "\x01\0\0\0";
    /* value length runs past the entries */
    const char b2[] = "\x00\x01\x09" "ab" "\0\0\0\0" "\x01\0\0\0";
    /* restart point past the entries */
    const char b3[] = "\x00\x01\x01" "ab" "\x40\0\0\0" "\x01\0\0\0";
    /* truncated varint */
    const char b4[] = "\x80\x80" "\0\0\0\0" "\x01\0\0\0";
    const char *blocks[] = { b1, b2, b3, b4 };
    size_t sizes[] = { sizeof b1 - 1, sizeof b2 - 1, sizeof b3 - 1, sizeof b4 - 1 };
    for (int i = 0; i < 4; i++) {
        char *copy = malloc(sizes[i]);
        memcpy(copy, blocks[i], sizes[i]);
        fci_block b;
        ck_assert_int_eq(fci_block_init(&b, copy, sizes[i], NULL), 0);
        fci_block_iter it;
        fci_block_iter_init(&it, &b, fci_bytewise_compare);
        fci_block_iter_first(&it);
        ck_assert(!fci_block_iter_valid(&it));
        fci_err err;
        ck_assert_int_eq(fci_block_iter_status(&it, &err), FC_ECORRUPT);
        ck_assert_ptr_nonnull(strstr(err.msg, "offset"));
        fci_block_iter_free(&it);
        free(copy);
    }
}
END_TEST

/* Walks a block every way; must terminate and never read outside. */
static void exercise(const char *data, size_t n)
{
    fci_block b;
    if (fci_block_init(&b, data, n, NULL) != 0)
        return;
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    int steps = 0;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it) && steps < 100000; fci_block_iter_next(&it))
        steps++;
    for (fci_block_iter_last(&it); fci_block_iter_valid(&it) && steps < 200000; fci_block_iter_prev(&it))
        steps++;
    ck_assert_int_lt(steps, 200000);
    fci_block_iter_seek(&it, fci_slice_str("k000050"));
    if (fci_block_iter_valid(&it))
        ck_assert(it.value.data >= data && it.value.data + it.value.size <= data + n);
    fci_block_iter_free(&it);
}

START_TEST(flipped_and_truncated_blocks_never_crash)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, 4);
    char key[16];
    for (int i = 0; i < 40; i++) {
        make_key(key, i * 3);
        fci_block_builder_add(&bb, fci_slice_str(key), fci_slice_str("v"));
    }
    size_t n;
    char *good = build(&bb, &n);
    for (size_t pos = 0; pos < n; pos++)
        for (int bit = 0; bit < 8; bit += 3) {
            char *copy = malloc(n);
            memcpy(copy, good, n);
            copy[pos] ^= (char)(1 << bit);
            exercise(copy, n);
            free(copy);
        }
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1);
        memcpy(copy, good, len);
        exercise(copy, len);
        free(copy);
    }
    free(good);
    fci_block_builder_free(&bb);
}
END_TEST

static Suite *block_suite(void)
{
    Suite *s = suite_create("format_block");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, layout_matches_format);
    tcase_add_test(tc, empty_block);
    tcase_add_test(tc, single_entry_and_extreme_sizes);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, restart_keys_are_zero_copy);
    tcase_add_test(tc, reset_reuses_builder);
    tcase_add_test(tc, bad_restart_count);
    tcase_add_test(tc, bad_entries_are_reported);
    tcase_add_test(tc, flipped_and_truncated_blocks_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(block_suite)
