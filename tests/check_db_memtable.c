/*
 * check_db_memtable.c - memtable entries: visibility by snapshot, tombstones,
 * size limits, zero-copy values, internal-key order.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "fct_internal.h"
#include "forkcache.h"
#include "db/core/memtable.h"
#include "db/core/skiplist.h"
#include "db/read/read.h"
#include "format/dbformat.h"

static fct_region R;
static fci_memtable MT;

static void setup(void)
{
    R.size = 64 << 20;
    R.base = mmap(NULL, R.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(R.base, MAP_FAILED);
    R.used = 64;
    ck_assert_int_eq(fci_memtable_create(&MT, R.base, R.size, fct_region_alloc, &R), 0);
}

static void teardown(void)
{
    munmap(R.base, R.size);
}

static int get(const char *key, uint64_t snap, fci_slice *v)
{
    return fci_memtable_get(&MT, fci_slice_str(key), snap, v);
}

static void add(uint64_t seq, int type, const char *k, const char *v)
{
    ck_assert_int_eq(fci_memtable_add(&MT, seq, type, fci_slice_str(k), fci_slice_str(v)), 0);
}

START_TEST(put_get)
{
    fci_slice v;
    ck_assert_int_eq(get("a", 100, &v), FC_ENOTFOUND);
    add(1, FCI_TYPE_VALUE, "a", "one");
    ck_assert_int_eq(get("a", 100, &v), 0);
    ck_assert_uint_eq(v.size, 3);
    ck_assert_mem_eq(v.data, "one", 3);
    ck_assert_int_eq(get("b", 100, &v), FC_ENOTFOUND);
    ck_assert_int_eq(get("", 100, &v), FC_ENOTFOUND);
    ck_assert_int_eq(get("aa", 100, &v), FC_ENOTFOUND);
}
END_TEST

START_TEST(snapshots_and_tombstones)
{
    fci_slice v;
    add(1, FCI_TYPE_VALUE, "k", "v1");
    add(5, FCI_TYPE_VALUE, "k", "v5");
    add(9, FCI_TYPE_DELETION, "k", "");
    ck_assert_int_eq(get("k", 0, &v), FC_ENOTFOUND);
    ck_assert_int_eq(get("k", 1, &v), 0);
    ck_assert_mem_eq(v.data, "v1", 2);
    ck_assert_int_eq(get("k", 4, &v), 0);
    ck_assert_mem_eq(v.data, "v1", 2);
    ck_assert_int_eq(get("k", 5, &v), 0);
    ck_assert_mem_eq(v.data, "v5", 2);
    ck_assert_int_eq(get("k", 9, &v), FCI_MEMTABLE_DELETED);
    ck_assert_int_eq(get("k", FCI_MAX_SEQUENCE, &v), FCI_MEMTABLE_DELETED);
}
END_TEST

START_TEST(values_are_zero_copy)
{
    fci_slice v;
    add(1, FCI_TYPE_VALUE, "key", "value");
    ck_assert_int_eq(get("key", 1, &v), 0);
    ck_assert(v.data >= R.base && v.data + v.size <= R.base + R.size);
}
END_TEST

START_TEST(empty_and_large_keys_values)
{
    fci_slice v;
    add(1, FCI_TYPE_VALUE, "", "");
    ck_assert_int_eq(get("", 1, &v), 0);
    ck_assert_uint_eq(v.size, 0);
    static char big[FC_MAX_KEY_SIZE + 1];
    memset(big, 'k', sizeof big);
    ck_assert_int_eq(fci_memtable_add(&MT, 2, FCI_TYPE_VALUE, fci_slice_make(big, FC_MAX_KEY_SIZE),
                                      fci_slice_str("bigkey")), 0);
    ck_assert_int_eq(fci_memtable_get(&MT, fci_slice_make(big, FC_MAX_KEY_SIZE), 2, &v), 0);
    ck_assert_mem_eq(v.data, "bigkey", 6);
    ck_assert_int_eq(fci_memtable_add(&MT, 3, FCI_TYPE_VALUE, fci_slice_make(big, sizeof big),
                                      fci_slice_str("x")), FC_ETOOBIG);
}
END_TEST

START_TEST(internal_key_order)
{
    add(3, FCI_TYPE_VALUE, "b", "b3");
    add(1, FCI_TYPE_VALUE, "a", "a1");
    add(7, FCI_TYPE_VALUE, "b", "b7");
    add(2, FCI_TYPE_DELETION, "c", "");
    const char *want[] = { "a1", "b7", "b3", "" };
    uint64_t seqs[] = { 1, 7, 3, 2 };
    fci_buf target = FCI_BUF_INIT;
    ck_assert_int_eq(fci_ikey_append(&target, fci_slice_str(""), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK), 0);
    uint64_t node = fci_memtable_seek(&MT, fci_buf_slice(&target));
    for (int i = 0; i < 4; i++) {
        fci_slice ikey, val;
        fci_parsed_ikey p;
        ck_assert_uint_ne(node, 0);
        ck_assert_int_eq(fci_memtable_entry(&MT, node, &ikey, &val), 0);
        ck_assert_int_eq(fci_ikey_parse(ikey, &p), 0);
        ck_assert_uint_eq(p.sequence, seqs[i]);
        ck_assert_uint_eq(val.size, strlen(want[i]));
        node = fci_skiplist_next(&MT.list, node);
    }
    ck_assert_uint_eq(node, 0);
    fci_buf_free(&target);
    ck_assert_uint_gt(fci_memtable_bytes(&MT), 0);
}
END_TEST

/* The memtable's own comparator must order entries exactly as
 * fci_ikey_compare orders their internal keys (tables and merges use that
 * one). Keys are drawn from a tiny alphabet with bytes above 0x7f, share
 * long prefixes (past the 8-byte words the comparator steps by), are
 * prefixes of each other, and some pass 128 bytes (a two-byte length). */
typedef struct ikey_item {
    fci_buf ikey;
} ikey_item;

static int item_cmp(const void *a, const void *b)
{
    return fci_ikey_compare(fci_buf_slice(&((const ikey_item *)a)->ikey),
                            fci_buf_slice(&((const ikey_item *)b)->ikey));
}

START_TEST(order_matches_ikey_compare)
{
    static const char alphabet[] = { 'a', 'b', 0, (char)0x80, (char)0xff };
    enum { N = 3000 };
    ikey_item *items = calloc(N, sizeof *items);
    ck_assert_ptr_nonnull(items);
    uint64_t s = 99;
    for (int i = 0; i < N; i++) {
        char key[200];
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (s >> 33) % 24;
        if ((s >> 20) % 17 == 0)
            len += 120;
        for (size_t k = 0; k < len; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            /* mostly one letter, so keys share long prefixes */
            key[k] = (s >> 40) % 4 ? 'a' : alphabet[(s >> 33) % sizeof alphabet];
        }
        uint64_t seq = (uint64_t)i + 1;
        int type = (s >> 50) & 1 ? FCI_TYPE_VALUE : FCI_TYPE_DELETION;
        ck_assert_int_eq(fci_memtable_add(&MT, seq, type, fci_slice_make(key, len),
                                          fci_slice_str("v")), 0);
        ck_assert_int_eq(fci_ikey_append(&items[i].ikey, fci_slice_make(key, len), seq, type), 0);
    }
    qsort(items, N, sizeof *items, item_cmp);
    uint64_t node = fci_skiplist_first(&MT.list);
    for (int i = 0; i < N; i++) {
        fci_slice ikey, val;
        ck_assert_uint_ne(node, 0);
        ck_assert_int_eq(fci_memtable_entry(&MT, node, &ikey, &val), 0);
        ck_assert_uint_eq(ikey.size, items[i].ikey.size);
        ck_assert_mem_eq(ikey.data, items[i].ikey.data, ikey.size);
        node = fci_skiplist_next(&MT.list, node);
        fci_buf_free(&items[i].ikey);
    }
    ck_assert_uint_eq(node, 0);
    free(items);
}
END_TEST

/* The entry of key as the writer laid it out: varint32 ikey length, ikey,
 * varint32 value length, value. Writable: the region is ours. */
static char *entry_of(const char *key)
{
    fci_lookup_key lk;
    ck_assert_int_eq(fci_lookup_key_init(&lk, fci_slice_str(key), 100), 0);
    uint64_t node = fci_memtable_seek(&MT, lk.ikey);
    fci_lookup_key_free(&lk);
    ck_assert_uint_ne(node, 0);
    return (char *)fci_skiplist_entry(&MT.list, node).data;
}

/* A damaged entry is damage, never a miss that would let a get fall
 * through to an older value in a table. */
START_TEST(damaged_entry_is_corrupt_not_missing)
{
    fci_slice v;
    add(1, FCI_TYPE_VALUE, "k", "value");
    add(1, FCI_TYPE_VALUE, "t", "x");
    add(1, FCI_TYPE_VALUE, "u", "fine");
    /* "k": a value length past the entry's end (ikey is 1 + 8 bytes) */
    char *e = entry_of("k");
    ck_assert_int_eq(e[0], 9);
    e[1 + 9] = 0x7f;
    ck_assert_int_eq(get("k", 100, &v), FC_ECORRUPT);
    /* "t": an unknown type in the tag (sorts the entry no earlier) */
    e = entry_of("t");
    e[1 + 1] = 0x42;
    ck_assert_int_eq(get("t", 100, &v), FC_ECORRUPT);
    /* keys around them still read */
    ck_assert_int_eq(get("u", 100, &v), 0);
    ck_assert_mem_eq(v.data, "fine", 4);
    ck_assert_int_eq(get("v", 100, &v), FC_ENOTFOUND);
}
END_TEST

/* Through the store: fc_get answers FC_ECORRUPT for a damaged entry of
 * the arena's memtable, and the handle's message says where. */
START_TEST(store_get_of_damaged_entry_names_the_memtable)
{
    const char *dir = fct_tmpdir();
    ck_assert_ptr_nonnull(dir);
    fc_options o;
    fc_options_init(&o);
    fc_store *s;
    ck_assert_int_eq(fc_open(dir, &o, &s), 0);
    ck_assert_int_eq(fc_put(s, "k", 1, "value", 5), 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert(t->has_mem);
    fci_lookup_key lk;
    ck_assert_int_eq(fci_lookup_key_init(&lk, fci_slice_str("k"), t->snapshot), 0);
    uint64_t node = fci_memtable_seek(&t->mem, lk.ikey);
    fci_lookup_key_free(&lk);
    char *e = (char *)fci_skiplist_entry(&t->mem.list, node).data;
    ck_assert_ptr_nonnull(e);
    e[1 + 9] = 0x7f; /* value length past the entry's end */
    fc_val v;
    ck_assert_int_eq(fc_get(t, "k", 1, &v), FC_ECORRUPT);
    ck_assert_msg(strstr(fc_errmsg(s), "memtable") != NULL, "%s", fc_errmsg(s));
    fc_txn_end(t);
    fc_close(s);
    fct_rmtree(dir);
}
END_TEST

START_TEST(attach_sees_same_data)
{
    add(1, FCI_TYPE_VALUE, "x", "y");
    fci_memtable other;
    ck_assert_int_eq(fci_memtable_attach(&other, R.base, R.size, fci_memtable_root(&MT)), 0);
    fci_slice v;
    ck_assert_int_eq(fci_memtable_get(&other, fci_slice_str("x"), 1, &v), 0);
    ck_assert_mem_eq(v.data, "y", 1);
}
END_TEST

static Suite *memtable_suite(void)
{
    Suite *s = suite_create("db_memtable");
    TCase *tc = tcase_create("memtable");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, put_get);
    tcase_add_test(tc, snapshots_and_tombstones);
    tcase_add_test(tc, values_are_zero_copy);
    tcase_add_test(tc, empty_and_large_keys_values);
    tcase_add_test(tc, internal_key_order);
    tcase_add_test(tc, attach_sees_same_data);
    tcase_add_test(tc, order_matches_ikey_compare);
    tcase_add_test(tc, damaged_entry_is_corrupt_not_missing);
    tcase_add_test(tc, store_get_of_damaged_entry_names_the_memtable);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(memtable_suite)
