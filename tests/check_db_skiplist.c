/*
 * check_db_skiplist.c - the shared-memory skiplist: order, seeks, limits,
 * damaged offsets, and a writer process inserting while reader processes
 * walk the same MAP_SHARED region (the publication-order claim).
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct_internal.h"
#include "forkcache.h"
#include "db/core/skiplist.h"
#include "util/coding.h"

static fct_region *region_new(size_t size)
{
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(base, MAP_FAILED);
    fct_region *r = (fct_region *)base;
    r->base = base;
    r->size = size;
    r->used = 64; /* offset 0 means "none": never hand it out */
    return r;
}

static int cmp_bytes(fci_slice a, fci_slice b)
{
    return fci_bytewise_compare(a, b);
}

/* A fresh region holding an empty list with the byte order. */
static fct_region *list_new(size_t size, fci_skiplist *l)
{
    fct_region *r = region_new(size);
    ck_assert_int_eq(fci_skiplist_create(l, r->base, r->size, cmp_bytes, fct_region_alloc, r), 0);
    return r;
}

/* Entry i: 8-byte big-endian i (so bytewise order = numeric order), then a
 * payload derived from i, so a reader can tell a whole entry from a torn one. */
static size_t make_entry(char *buf, uint64_t i)
{
    for (int b = 0; b < 8; b++)
        buf[b] = (char)(i >> (56 - 8 * b));
    size_t len = 8 + (size_t)(i % 57);
    for (size_t k = 8; k < len; k++)
        buf[k] = (char)(i * 31 + k);
    return len;
}

static int entry_whole(fci_slice e, uint64_t *id)
{
    if (e.size < 8)
        return 0;
    uint64_t i = 0;
    for (int b = 0; b < 8; b++)
        i = (i << 8) | (unsigned char)e.data[b];
    char want[128];
    size_t len = make_entry(want, i);
    *id = i;
    return e.size == len && memcmp(e.data, want, len) == 0;
}

static void insert_id(fci_skiplist *l, uint64_t i)
{
    char buf[128];
    size_t n = make_entry(buf, i);
    ck_assert_int_eq(fci_skiplist_insert(l, fci_slice_make(buf, n)), 0);
}

START_TEST(empty_list)
{
    fci_skiplist l;
    fct_region *r = list_new(1 << 20, &l);
    ck_assert_uint_eq(fci_skiplist_first(&l), 0);
    ck_assert_uint_eq(fci_skiplist_last(&l), 0);
    ck_assert_uint_eq(fci_skiplist_seek(&l, fci_slice_str("a")), 0);
    ck_assert_uint_eq(fci_skiplist_seek_before(&l, fci_slice_str("a")), 0);
    ck_assert_uint_eq(fci_skiplist_count(&l), 0);
    munmap(r->base, r->size);
}
END_TEST

START_TEST(ordered_iteration_and_seeks)
{
    fci_skiplist l;
    fct_region *r = list_new(16 << 20, &l);
    const uint64_t n = 20000;
    /* Insert the even ids in a scrambled order (multiplicative permutation). */
    for (uint64_t k = 0; k < n; k++)
        insert_id(&l, 2 * ((k * 7919) % n));
    ck_assert_uint_eq(fci_skiplist_count(&l), n);
    uint64_t expect = 0, id;
    for (uint64_t x = fci_skiplist_first(&l); x; x = fci_skiplist_next(&l, x)) {
        ck_assert(entry_whole(fci_skiplist_entry(&l, x), &id));
        ck_assert_uint_eq(id, expect);
        expect += 2;
    }
    ck_assert_uint_eq(expect, 2 * n);
    char buf[128];
    for (uint64_t i = 0; i < 2 * n; i += 37) {
        /* seek(i) finds i when even, i+1 when odd; seek_before finds the one below. */
        size_t len = make_entry(buf, i);
        uint64_t x = fci_skiplist_seek(&l, fci_slice_make(buf, len));
        uint64_t want = (i + 1) & ~(uint64_t)1;
        if (want < 2 * n) {
            ck_assert(entry_whole(fci_skiplist_entry(&l, x), &id));
            ck_assert_uint_eq(id, want);
        } else {
            ck_assert_uint_eq(x, 0);
        }
        x = fci_skiplist_seek_before(&l, fci_slice_make(buf, len));
        if (i == 0) {
            ck_assert_uint_eq(x, 0);
        } else {
            ck_assert(entry_whole(fci_skiplist_entry(&l, x), &id));
            ck_assert_uint_eq(id, (i - 1) & ~(uint64_t)1);
        }
    }
    ck_assert(entry_whole(fci_skiplist_entry(&l, fci_skiplist_last(&l)), &id));
    ck_assert_uint_eq(id, 2 * n - 2);
    munmap(r->base, r->size);
}
END_TEST

START_TEST(duplicate_refused)
{
    fci_skiplist l;
    fct_region *r = list_new(1 << 20, &l);
    ck_assert_int_eq(fci_skiplist_insert(&l, fci_slice_str("k")), 0);
    ck_assert_int_eq(fci_skiplist_insert(&l, fci_slice_str("k")), FC_EEXIST);
    ck_assert_int_eq(fci_skiplist_insert(&l, fci_slice_str("")), 0); /* empty entry is fine */
    ck_assert_uint_eq(fci_skiplist_count(&l), 2);
    ck_assert_uint_eq(fci_skiplist_entry(&l, fci_skiplist_first(&l)).size, 0);
    munmap(r->base, r->size);
}
END_TEST

START_TEST(out_of_memory_leaves_list_intact)
{
    fci_skiplist l;
    fct_region *r = list_new(64 << 10, &l);
    uint64_t i = 0;
    int rc;
    char buf[128];
    while ((rc = fci_skiplist_insert(&l, fci_slice_make(buf, make_entry(buf, i)))) == 0)
        i++;
    ck_assert_int_eq(rc, FC_ENOMEM);
    ck_assert_uint_gt(i, 100);
    ck_assert_uint_eq(fci_skiplist_count(&l), i);
    uint64_t seen = 0, id;
    for (uint64_t x = fci_skiplist_first(&l); x; x = fci_skiplist_next(&l, x)) {
        ck_assert(entry_whole(fci_skiplist_entry(&l, x), &id));
        ck_assert_uint_eq(id, seen++);
    }
    ck_assert_uint_eq(seen, i);
    munmap(r->base, r->size);
}
END_TEST

START_TEST(attach_checks_root)
{
    fct_region *r = region_new(1 << 20);
    fci_skiplist l, m;
    ck_assert_int_eq(fci_skiplist_create(&l, r->base, r->size, cmp_bytes, fct_region_alloc, r), 0);
    insert_id(&l, 5);
    ck_assert_int_eq(fci_skiplist_attach(&m, r->base, r->size, l.root, cmp_bytes), 0);
    uint64_t id;
    ck_assert(entry_whole(fci_skiplist_entry(&m, fci_skiplist_first(&m)), &id));
    ck_assert_uint_eq(id, 5);
    ck_assert_int_eq(fci_skiplist_attach(&m, r->base, r->size, 0, cmp_bytes), FC_ECORRUPT);
    ck_assert_int_eq(fci_skiplist_attach(&m, r->base, r->size, 3, cmp_bytes), FC_ECORRUPT);
    ck_assert_int_eq(fci_skiplist_attach(&m, r->base, r->size, r->size, cmp_bytes), FC_ECORRUPT);
    ck_assert_int_eq(fci_skiplist_attach(&m, r->base, r->size, 64 * 1024 - 8, cmp_bytes), FC_ECORRUPT);
    munmap(r->base, r->size);
}
END_TEST

/* Links that point outside the region, or at garbage, end the walk instead
 * of faulting: the reader trusts no offset it did not check. */
START_TEST(damaged_links_read_as_end)
{
    fci_skiplist l;
    fct_region *r = list_new(1 << 20, &l);
    for (uint64_t i = 0; i < 10; i++)
        insert_id(&l, i);
    uint64_t first = fci_skiplist_first(&l);
    fci_skiplist_node *n = (fci_skiplist_node *)(r->base + first);
    atomic_store(&n->next[0], (uint64_t)r->size + 4096); /* past the region */
    ck_assert_uint_eq(fci_skiplist_next(&l, first), 0);
    atomic_store(&n->next[0], 12345); /* unaligned */
    ck_assert_uint_eq(fci_skiplist_next(&l, first), 0);
    n->height = 200; /* impossible height: the node itself is refused */
    ck_assert_uint_eq(fci_skiplist_entry(&l, first).size, 0);
    ck_assert_ptr_null(fci_skiplist_entry(&l, first).data);
    munmap(r->base, r->size);
}
END_TEST

/* Every level, not just level 0, must be sorted and reachable only through
 * nodes tall enough for it: a wrong splice would link a node out of order
 * at some upper level while level 0 still looked right. Returns the number
 * of level-0 entries. */
static uint64_t check_levels(fci_skiplist *l)
{
    const fci_skiplist_root *root = (const fci_skiplist_root *)(l->base + l->root);
    const fci_skiplist_node *head = (const fci_skiplist_node *)(l->base + root->head);
    uint64_t level0 = 0;
    for (int level = 0; level < FCI_SKIPLIST_MAX_HEIGHT; level++) {
        uint64_t prev = 0, n = 0;
        for (uint64_t x = atomic_load(&head->next[level]); x; n++) {
            const fci_skiplist_node *node = (const fci_skiplist_node *)(l->base + x);
            ck_assert_uint_gt(node->height, (uint32_t)level);
            if (prev != 0)
                ck_assert_int_lt(cmp_bytes(fci_skiplist_entry(l, prev), fci_skiplist_entry(l, x)), 0);
            prev = x;
            x = atomic_load(&node->next[level]);
        }
        if (level == 0)
            level0 = n;
        else
            ck_assert_uint_le(n, level0);
    }
    return level0;
}

/* Ascending inserts take the splice after the last node; descending ones
 * and a jump back in the middle must fall back to a search. */
START_TEST(sequential_inserts_use_splice)
{
    fci_skiplist l;
    fct_region *r = list_new(32 << 20, &l);
    const uint64_t n = 30000;
    for (uint64_t i = 0; i < n; i++)
        insert_id(&l, 4 * i + 2);            /* ascending */
    for (uint64_t i = n; i-- > 0;)
        insert_id(&l, 4 * i + 1);            /* descending */
    for (uint64_t i = 0; i < n; i++)
        insert_id(&l, 4 * ((i * 7919) % n)); /* scrambled */
    for (uint64_t i = 0; i < n; i += 2)
        insert_id(&l, 4 * i + 3);            /* ascending with gaps */
    for (uint64_t i = 1; i < n; i += 2)
        insert_id(&l, 4 * i + 3);            /* second pass fills them */
    ck_assert_uint_eq(check_levels(&l), 4 * n);
    ck_assert_uint_eq(fci_skiplist_count(&l), 4 * n);
    uint64_t want = 0, id;
    for (uint64_t x = fci_skiplist_first(&l); x; x = fci_skiplist_next(&l, x)) {
        ck_assert(entry_whole(fci_skiplist_entry(&l, x), &id));
        ck_assert_uint_eq(id, want++);
    }
    ck_assert_uint_eq(want, 4 * n);
    munmap(r->base, r->size);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted runs of random ids, as a sorted batch arrives: inside a run each
 * insert is a finger search from the one before, near or far (more levels
 * to climb than the finger tries), and each run starts anywhere. Repeats
 * across runs are refused. */
START_TEST(sorted_runs_use_finger_search)
{
    fci_skiplist l;
    fct_region *r = list_new(64 << 20, &l);
    uint64_t run[500], s = 77, linked = 0;
    for (int k = 0; k < 120; k++) {
        int n = 1 + k * 4;
        for (int i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            run[i] = (s >> 33) % (k % 3 == 0 ? 1000000 : 60000);
        }
        qsort(run, (size_t)n, sizeof run[0], cmp_u64);
        for (int i = 0; i < n; i++) {
            char buf[128];
            int rc = fci_skiplist_insert(&l, fci_slice_make(buf, make_entry(buf, run[i])));
            ck_assert(rc == 0 || rc == FC_EEXIST);
            linked += rc == 0;
        }
    }
    ck_assert_uint_eq(fci_skiplist_count(&l), linked);
    ck_assert_uint_eq(check_levels(&l), linked);
    munmap(r->base, r->size);
}
END_TEST

/* A duplicate is refused whether it equals the last node (no splice) or
 * the node right after it (found through the splice). */
START_TEST(duplicates_refused_next_to_the_splice)
{
    fci_skiplist l;
    char buf[128];
    fct_region *r = list_new(1 << 20, &l);
    insert_id(&l, 10);
    ck_assert_int_eq(fci_skiplist_insert(&l, fci_slice_make(buf, make_entry(buf, 10))), FC_EEXIST);
    insert_id(&l, 5);   /* last = 5, and 10 follows it */
    ck_assert_int_eq(fci_skiplist_insert(&l, fci_slice_make(buf, make_entry(buf, 10))), FC_EEXIST);
    insert_id(&l, 7);   /* between 5 and 10: through the splice */
    insert_id(&l, 11);  /* past the end: search, the splice is after 7 */
    ck_assert_uint_eq(fci_skiplist_count(&l), 4);
    ck_assert_uint_eq(check_levels(&l), 4);
    munmap(r->base, r->size);
}
END_TEST

/* Two copies of one handle: when one inserts, the other's splice goes
 * stale and must not be used. Here a fills in below b's last node (tall
 * nodes among them land between b's splice and its last node at upper
 * levels), then b goes on ascending past its last node, where a stale
 * splice would link its tall nodes out of order. */
START_TEST(stale_splice_of_a_copied_handle_is_not_used)
{
    fci_skiplist a;
    fct_region *r = list_new(32 << 20, &a);
    for (uint64_t i = 0; i < 1000; i++)
        insert_id(&a, 8 * i);
    fci_skiplist b = a;   /* same list, same splice, as a struct copy makes */
    for (uint64_t id = 7991; id > 4000; id--)
        if (id % 8 != 0)
            insert_id(&a, id);
    for (uint64_t id = 8000; id < 12000; id++)
        insert_id(&b, id);
    uint64_t n = 1000 + (7991 - 4000) - (7991 - 4000) / 8 + 4000;
    ck_assert_uint_eq(fci_skiplist_count(&a), n);
    ck_assert_uint_eq(check_levels(&a), n);
    munmap(r->base, r->size);
}
END_TEST

/* One writer inserts 150k entries in scrambled order while two reader
 * processes walk and seek continuously. Each reader checks that every entry
 * it reaches is whole and in order: a link published before its node was
 * written would show up as a torn entry or a broken order. */
static int reader_loop(fci_skiplist *l, volatile uint64_t *done)
{
    uint64_t walks = 0;
    while (!*done || walks < 3) {
        uint64_t prev = 0, id, count = 0;
        int have_prev = 0;
        for (uint64_t x = fci_skiplist_first(l); x; x = fci_skiplist_next(l, x)) {
            if (!entry_whole(fci_skiplist_entry(l, x), &id))
                return 1;
            if (have_prev && id <= prev)
                return 2;
            prev = id;
            have_prev = 1;
            count++;
        }
        char buf[128];
        uint64_t probe = (walks * 104729) % 300000;
        uint64_t x = fci_skiplist_seek(l, fci_slice_make(buf, make_entry(buf, probe)));
        if (x && (!entry_whole(fci_skiplist_entry(l, x), &id) || id < probe))
            return 3;
        walks++;
    }
    return walks > 0 ? 0 : 4;
}

START_TEST(concurrent_readers_in_other_processes)
{
    fci_skiplist l;
    fct_region *r = list_new(64 << 20, &l);
    volatile uint64_t *done = (volatile uint64_t *)(r->base + 32); /* after the region header */
    *done = 0;
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            fci_skiplist mine;
            if (fci_skiplist_attach(&mine, r->base, r->size, l.root, cmp_bytes) != 0)
                _exit(9);
            _exit(reader_loop(&mine, done));
        }
    }
    const uint64_t n = 150000;
    for (uint64_t k = 0; k < n; k++)
        insert_id(&l, 2 * ((k * 7919) % n));
    __atomic_store_n(done, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "reader %d failed with status %d", k, status);
    }
    munmap(r->base, r->size);
}
END_TEST

static Suite *skiplist_suite(void)
{
    Suite *s = suite_create("db_skiplist");
    TCase *tc = tcase_create("single");
    tcase_add_test(tc, empty_list);
    tcase_add_test(tc, ordered_iteration_and_seeks);
    tcase_add_test(tc, duplicate_refused);
    tcase_add_test(tc, out_of_memory_leaves_list_intact);
    tcase_add_test(tc, attach_checks_root);
    tcase_add_test(tc, damaged_links_read_as_end);
    tcase_add_test(tc, sequential_inserts_use_splice);
    tcase_add_test(tc, duplicates_refused_next_to_the_splice);
    tcase_add_test(tc, sorted_runs_use_finger_search);
    tcase_add_test(tc, stale_splice_of_a_copied_handle_is_not_used);
    suite_add_tcase(s, tc);
    tc = tcase_create("processes");
    tcase_add_test(tc, concurrent_readers_in_other_processes);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(skiplist_suite)
