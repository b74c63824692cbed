/*
 * check_format_hash.c - the forkcache.hash meta block. Every answer a get
 * gives through the hash index must equal the answer of the same table
 * read through its index block: the tests build each entry set twice
 * (with and without the hash index) and compare every lookup, including
 * keys with many versions that run across restart runs and blocks, and
 * indexes with 1- or 2-bit tags so that nearly every probe meets another
 * key's slot. Damaged indexes must never crash a get.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fct.h"
#include "forkcache.h"
#include "format/compress.h"
#include "format/dbformat.h"
#include "format/hash_index.h"
#include "format/table.h"
#include "util/coding.h"
#include "util/crc32c.h"

/* One entry of a generated set, in table order. */
typedef struct entry {
    char user[24];
    size_t ulen;
    uint64_t seq;
    int type;
    char value[40];
    size_t vlen;
} entry;

typedef struct entry_set {
    entry *e;
    size_t n;
} entry_set;

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return n ? (uint32_t)((rng_state >> 33) % n) : 0;
}

static int cmp_user(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t n = x->ulen < y->ulen ? x->ulen : y->ulen;
    int c = memcmp(x->user, y->user, n);
    return c != 0 ? c : (x->ulen > y->ulen) - (x->ulen < y->ulen);
}

/* nkeys distinct user keys (lengths 0..23, few distinct bytes so keys
 * share prefixes), each with 1 or a few versions, and a handful with
 * many versions so that one key spans restart runs and blocks. */
/* Under valgrind (make check-valgrind) a fifth of the work: the same
 * shapes, fewer keys. */
static size_t scaled(size_t n)
{
    return getenv("FC_UNDER_VALGRIND") ? n / 5 : n;
}

static entry_set make_set(size_t nkeys, uint64_t seed)
{
    nkeys = scaled(nkeys);
    rng_state = seed;
    entry *keys = calloc(nkeys, sizeof *keys);
    ck_assert_ptr_nonnull(keys);
    for (size_t i = 0; i < nkeys; i++) {
        keys[i].ulen = rnd(24);
        for (size_t j = 0; j < keys[i].ulen; j++)
            keys[i].user[j] = (char)('a' + rnd(4));
    }
    qsort(keys, nkeys, sizeof *keys, cmp_user);
    size_t uniq = 0;
    for (size_t i = 0; i < nkeys; i++)
        if (uniq == 0 || cmp_user(&keys[uniq - 1], &keys[i]) != 0)
            keys[uniq++] = keys[i];
    entry_set s = { calloc(uniq * 60, sizeof(entry)), 0 };
    ck_assert_ptr_nonnull(s.e);
    for (size_t i = 0; i < uniq; i++) {
        uint32_t versions = rnd(50) == 0 ? 20 + rnd(40) : 1 + rnd(3);
        uint64_t seq = 1000 + rnd(1000);
        for (uint32_t v = 0; v < versions; v++, seq -= 1 + rnd(3)) {
            entry *e = &s.e[s.n++];
            *e = keys[i];
            e->seq = seq;
            e->type = rnd(5) == 0 ? FCI_TYPE_DELETION : FCI_TYPE_VALUE;
            e->vlen = e->type == FCI_TYPE_VALUE ? rnd(40) : 0;
            for (size_t j = 0; j < e->vlen; j++)
                e->value[j] = (char)rnd(256);
        }
    }
    free(keys);
    return s;
}

static void build(const entry_set *s, const fci_table_options *o, fci_buf *out)
{
    fci_table_builder tb;
    ck_assert_int_eq(fci_table_builder_init_buf(&tb, o, out), 0);
    fci_buf k = FCI_BUF_INIT;
    fci_err err;
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        fci_buf_clear(&k);
        ck_assert_int_eq(fci_ikey_append(&k, fci_slice_make(e->user, e->ulen), e->seq, e->type), 0);
        ck_assert_msg(fci_table_builder_add(&tb, fci_buf_slice(&k),
                                            fci_slice_make(e->value, e->vlen), &err) == 0,
                      "add: %s", err.msg);
    }
    ck_assert_msg(fci_table_builder_finish(&tb, &err) == 0, "finish: %s", err.msg);
    fci_table_builder_free(&tb);
    fci_buf_free(&k);
}

/* Looks user@snapshot up in both tables and requires the same answer. */
static void same_answer(const fci_table *hashed, const fci_table *plain, fci_slice user,
                        uint64_t snapshot)
{
    fci_lookup_key lk;
    ck_assert_int_eq(fci_lookup_key_init(&lk, user, snapshot), 0);
    fci_table_get_result a, b;
    fci_table_get_init(&a);
    fci_table_get_init(&b);
    fci_err ea, eb;
    int ra = fci_table_get(hashed, lk.ikey, &a, &ea);
    int rb = fci_table_get(plain, lk.ikey, &b, &eb);
    ck_assert_msg(ra == rb, "key '%.*s' @%llu: hash index says %d, index block says %d",
                  (int)user.size, user.data, (unsigned long long)snapshot, ra, rb);
    if (ra == 0) {
        ck_assert_uint_eq(a.sequence, b.sequence);
        ck_assert_int_eq(a.type, b.type);
        ck_assert_int_eq(fci_bytewise_compare(a.key, b.key), 0);
        ck_assert_int_eq(fci_bytewise_compare(a.value, b.value), 0);
    }
    fci_table_get_free(hashed, &a);
    fci_table_get_free(plain, &b);
    fci_lookup_key_free(&lk);
}

static void open_buf(fci_table *t, const fci_buf *b)
{
    fci_err err;
    ck_assert_msg(fci_table_open(t, b->data, b->size, 0, &err) == 0, "open: %s", err.msg);
}

/* Every version's own sequence, one below it, the newest possible, and a
 * snapshot older than every version, for every key; then absent keys. */
static void compare_all(const entry_set *s, const fci_table *hashed, const fci_table *plain)
{
    for (size_t i = 0; i < s->n; i++) {
        fci_slice u = fci_slice_make(s->e[i].user, s->e[i].ulen);
        same_answer(hashed, plain, u, s->e[i].seq);
        same_answer(hashed, plain, u, s->e[i].seq - 1);
        if (i == 0 || cmp_user(&s->e[i - 1], &s->e[i]) != 0) {
            same_answer(hashed, plain, u, FCI_MAX_SEQUENCE);
            same_answer(hashed, plain, u, 1);
        }
    }
    for (int i = 0; i < (int)scaled(2000); i++) {
        char k[25];
        size_t n = rnd(25);
        for (size_t j = 0; j < n; j++)
            k[j] = (char)('a' + rnd(5));
        same_answer(hashed, plain, fci_slice_make(k, n), FCI_MAX_SEQUENCE);
    }
}

static void check_variant_fill(uint64_t seed, int restart, size_t block_size, int compression,
                               unsigned tag_bits, int reverse)
{
    entry_set s = make_set(3000, seed);
    fci_table_options o;
    fci_table_options_init(&o);
    o.restart_interval = restart;
    o.block_size = block_size;
    o.compression = compression;
    fci_buf with = FCI_BUF_INIT, without = FCI_BUF_INIT;
    build(&s, &o, &without);
    o.hash_index = 1;
    o.hash_tag_bits = tag_bits;
    o.hash_fill_reverse = reverse;
    build(&s, &o, &with);
    fci_table hashed, plain;
    open_buf(&hashed, &with);
    open_buf(&plain, &without);
    ck_assert_int_eq(hashed.has_hash, 1);
    ck_assert_int_eq(plain.has_hash, 0);
    compare_all(&s, &hashed, &plain);
    fci_table_close(&hashed);
    fci_table_close(&plain);
    fci_buf_free(&with);
    fci_buf_free(&without);
    free(s.e);
}

static void check_variant(uint64_t seed, int restart, size_t block_size, int compression,
                          unsigned tag_bits)
{
    check_variant_fill(seed, restart, block_size, compression, tag_bits, 0);
}

START_TEST(same_answers_as_the_index_block)
{
    static const int restarts[] = { 1, 4, 16 };
    static const size_t blocks[] = { 256, 1024, 4096 };
    for (int r = 0; r < 3; r++)
        for (int b = 0; b < 3; b++)
            check_variant(1000 + (uint64_t)(r * 3 + b), restarts[r], blocks[b],
                          FC_COMPRESSION_NONE, 0);
}
END_TEST

START_TEST(same_answers_with_colliding_tags)
{
    /* One or two tag bits: most probes land on another key's run first. */
    for (unsigned bits = 1; bits <= 2; bits++) {
        check_variant(77 + bits, 4, 512, FC_COMPRESSION_NONE, bits);
        check_variant(99 + bits, 1, 256, FC_COMPRESSION_NONE, bits);
        check_variant(55 + bits, 16, 2048, FC_COMPRESSION_NONE, bits);
    }
}
END_TEST

/* Slots placed from the last key back: a probe now meets larger keys'
 * slots first, whose runs lie after the key or begin by continuing it. */
START_TEST(same_answers_with_any_slot_order)
{
    for (unsigned bits = 1; bits <= 2; bits++) {
        check_variant_fill(123 + bits, 4, 512, FC_COMPRESSION_NONE, bits, 1);
        check_variant_fill(321 + bits, 1, 256, FC_COMPRESSION_NONE, bits, 1);
        check_variant_fill(213 + bits, 16, 1024, FC_COMPRESSION_NONE, bits, 1);
    }
}
END_TEST

START_TEST(same_answers_compressed)
{
    if (!fci_compression_supported(FC_COMPRESSION_SNAPPY))
        return;
    check_variant(4242, 4, 1024, FC_COMPRESSION_SNAPPY, 0);
    check_variant(4343, 16, 4096, FC_COMPRESSION_SNAPPY, 2);
}
END_TEST

/* The raw-blocks flag lets mapped reads skip the trailer; it must only be
 * set when no block was compressed. */
START_TEST(raw_flag_follows_compression)
{
    entry_set s = make_set(500, 7);
    fci_table_options o;
    fci_table_options_init(&o);
    o.hash_index = 1;
    fci_buf b = FCI_BUF_INIT;
    build(&s, &o, &b);
    fci_table t;
    open_buf(&t, &b);
    ck_assert_uint_eq(t.hash.flags & FCI_HASH_INDEX_RAW_BLOCKS, FCI_HASH_INDEX_RAW_BLOCKS);
    fci_table_close(&t);
    if (fci_compression_supported(FC_COMPRESSION_SNAPPY)) {
        fci_buf_clear(&b);
        o.compression = FC_COMPRESSION_SNAPPY;
        build(&s, &o, &b);
        open_buf(&t, &b);
        ck_assert_int_eq(t.has_hash, 1);
        ck_assert_uint_eq(t.hash.flags & FCI_HASH_INDEX_RAW_BLOCKS, 0);
        fci_table_close(&t);
    }
    fci_buf_free(&b);
    free(s.e);
}
END_TEST

/* Finds the hash block of a built table: its offset and size. */
static fci_block_handle hash_block(const fci_buf *b)
{
    fci_table t;
    open_buf(&t, b);
    fci_block_handle h;
    fci_err err;
    ck_assert_int_eq(fci_table_find_meta(&t, FCI_HASH_INDEX_META_KEY, &h, &err), 0);
    fci_table_close(&t);
    return h;
}

/* Rewrites a block's trailer CRC after its contents were changed, so the
 * damage reaches the parser instead of the checksum. */
static void fix_crc(fci_buf *b, fci_block_handle h)
{
    char *p = b->data + h.offset;
    uint32_t crc = fci_crc32c_extend(fci_crc32c(p, h.size), p + h.size, 1);
    fci_put_fixed32(p + h.size + 1, fci_crc32c_mask(crc));
}

START_TEST(damaged_index_never_crashes)
{
    entry_set s = make_set(800, 31);
    fci_table_options o;
    fci_table_options_init(&o);
    o.hash_index = 1;
    o.block_size = 512;
    fci_buf good = FCI_BUF_INIT;
    build(&s, &o, &good);
    fci_block_handle h = hash_block(&good);
    int indexed = 0;
    int rounds = (int)scaled(300);
    for (int round = 0; round < rounds; round++) {
        fci_buf bad = FCI_BUF_INIT;
        ck_assert_int_eq(fci_buf_append(&bad, good.data, good.size), 0);
        int flips = 1 + (int)rnd(8);
        for (int f = 0; f < flips; f++)
            bad.data[h.offset + rnd((uint32_t)h.size)] ^= (char)(1 + rnd(255));
        fix_crc(&bad, h);
        fci_table t;
        open_buf(&t, &bad);
        indexed += t.has_hash;
        for (size_t i = 0; i < s.n; i += 7) {
            fci_lookup_key lk;
            ck_assert_int_eq(fci_lookup_key_init(&lk, fci_slice_make(s.e[i].user, s.e[i].ulen),
                                                 FCI_MAX_SEQUENCE), 0);
            fci_table_get_result r;
            fci_table_get_init(&r);
            fci_err err;
            int rc = fci_table_get(&t, lk.ikey, &r, &err);
            ck_assert_msg(rc == 0 || rc == FC_ENOTFOUND || rc == FC_ECORRUPT, "rc %d", rc);
            fci_table_get_free(&t, &r);
            fci_lookup_key_free(&lk);
        }
        fci_table_close(&t);
        fci_buf_free(&bad);
    }
    /* Most damage leaves a parseable index, so the lookups above went
     * through the damaged slots rather than around them. */
    ck_assert_int_gt(indexed, rounds / 3);
    fci_buf_free(&good);
    free(s.e);
}
END_TEST

START_TEST(parse_rejects_malformed)
{
    char c[64];
    memset(c, 0, sizeof c);
    fci_hash_index ix;
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 10)), FC_ECORRUPT);
    fci_put_fixed32(c, FCI_HASH_INDEX_VERSION + 1); /* unknown version */
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 40)), FC_ECORRUPT);
    fci_put_fixed32(c, FCI_HASH_INDEX_VERSION);
    fci_put_fixed32(c + 8, 0); /* no blocks */
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 40)), FC_ECORRUPT);
    fci_put_fixed32(c + 8, 1000); /* more blocks than bytes */
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 40)), FC_ECORRUPT);
    /* One block (12..24), nslots at 24, then 2 slots = 16 bytes: 44 total. */
    fci_put_fixed32(c + 8, 1);
    fci_put_fixed32(c + 24, 2);
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 43)), FC_ECORRUPT);
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 44)), 0);
    fci_put_fixed32(c + 4, 17u << 8); /* 17 tag bits */
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, 44)), FC_ECORRUPT);
}
END_TEST

/* A table whose every slot is taken (no empty one) must end the probe,
 * not loop; a slot naming a block past the list sends the get back to
 * the index block. */
START_TEST(probe_ends_on_full_and_bad_slots)
{
    char c[44];
    memset(c, 0, sizeof c);
    fci_put_fixed32(c, FCI_HASH_INDEX_VERSION);
    fci_put_fixed32(c + 4, 1u << 8); /* 1 tag bit */
    fci_put_fixed32(c + 8, 1);
    fci_put_fixed32(c + 24, 2);
    /* Both slots: block ordinal 5 (+1), tags 0 and 1. */
    fci_put_fixed32(c + 28 + 4, 6u);
    fci_put_fixed32(c + 36 + 4, 6u | 1u << 16);
    fci_hash_index ix;
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, sizeof c)), 0);
    for (int i = 0; i < 50; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        fci_hash_probe p;
        fci_hash_loc loc;
        fci_hash_probe_start(&p, &ix, fci_slice_str(k), NULL);
        ck_assert_int_eq(fci_hash_probe_next(&p, &loc), FCI_HASH_UNSURE);
    }
    /* Now tags that never match (bit 17 set): no empty slot, no match. */
    fci_put_fixed32(c + 28 + 4, 6u | 2u << 16);
    fci_put_fixed32(c + 36 + 4, 6u | 2u << 16);
    fci_put_fixed32(c + 4, 16u << 8);
    ck_assert_int_eq(fci_hash_index_parse(&ix, fci_slice_make(c, sizeof c)), 0);
    fci_hash_probe p;
    fci_hash_loc loc;
    fci_hash_probe_start(&p, &ix, fci_slice_str("zz"), NULL);
    int rc;
    while ((rc = fci_hash_probe_next(&p, &loc)) == 0)
        ;
    ck_assert_int_eq(rc, FCI_HASH_UNSURE);
}
END_TEST

/* The hash is stored on disk: its values must never change. */
START_TEST(hash_values_are_stable)
{
    ck_assert_uint_eq(fci_hash_index_hash(fci_slice_str("")), fci_hash_index_hash(fci_slice_str("")));
    uint64_t a = fci_hash_index_hash(fci_slice_str("0000000000000001"));
    uint64_t b = fci_hash_index_hash(fci_slice_str("0000000000000002"));
    ck_assert_uint_ne(a, b);
    ck_assert_uint_ne(a >> 48, b >> 48);
    /* Pinned values, computed once: a change here breaks existing stores.
     * Lengths 0, 1, 3, 4, 7, 8, 9, 13 and 100: no bytes, partial words alone,
     * one whole word, words and a tail, many words; and bytes >= 0x80, so
     * the byte order and sign of the word loads stay fixed too. */
    static const struct {
        const char *key;
        uint64_t hash;
    } pinned[] = {
        { "", UINT64_C(0x0000000000000000) },
        { "a", UINT64_C(0xe466448f10034125) },
        { "key", UINT64_C(0xf768b21c129e5d9d) },
        { "abcd", UINT64_C(0xd1be4d0eea655d39) },
        { "forkcac", UINT64_C(0x81f9ba3cb95dd003) },
        { "forkcach", UINT64_C(0xd8f64dfc429cb266) },
        { "forkcache", UINT64_C(0x2f052e0fb1e78673) },
        { "key0000000042", UINT64_C(0x6f3cfb258d5404ec) },
    };
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++)
        ck_assert_msg(fci_hash_index_hash(fci_slice_str(pinned[i].key)) == pinned[i].hash,
                      "hash of \"%s\" changed", pinned[i].key);
    char hundred[100];
    for (int i = 0; i < 100; i++)
        hundred[i] = (char)('a' + (i * 7) % 26);
    ck_assert_uint_eq(fci_hash_index_hash(fci_slice_make(hundred, sizeof hundred)),
                      UINT64_C(0xa44188c771214134));
    static const unsigned char high[4] = { 0x00, 0xff, 0x80, 0x01 };
    ck_assert_uint_eq(fci_hash_index_hash(fci_slice_make(high, sizeof high)),
                      UINT64_C(0xbfdbde16379d6554));
}
END_TEST

static Suite *hash_suite(void)
{
    Suite *s = suite_create("format_hash");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, same_answers_as_the_index_block);
    tcase_add_test(tc, same_answers_with_colliding_tags);
    tcase_add_test(tc, same_answers_with_any_slot_order);
    tcase_add_test(tc, same_answers_compressed);
    tcase_add_test(tc, raw_flag_follows_compression);
    tcase_add_test(tc, damaged_index_never_crashes);
    tcase_add_test(tc, parse_rejects_malformed);
    tcase_add_test(tc, probe_ends_on_full_and_bad_slots);
    tcase_add_test(tc, hash_values_are_stable);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(hash_suite)
