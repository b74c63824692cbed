/*
 * check_shm_alloc.c - the arena heap: alloc, free, reuse by size class,
 * bounds-checked offsets and exhaustion.
 */
#include "config.h"

#include "fct_internal.h"

START_TEST(alloc_free_reuse)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    fci_err e;
    uint64_t o1, o2, o3;
    ck_assert_int_eq(fci_arena_alloc(a, 100, &o1, &e), 0);
    ck_assert_int_eq(fci_arena_alloc(a, 100, &o2, &e), 0);
    ck_assert_uint_ne(o1, o2);
    ck_assert_uint_eq(o1 % 16, 0);
    ck_assert_uint_ge(fci_arena_block_size(a, o1), 100);
    /* the two blocks do not overlap */
    ck_assert(o2 >= o1 + fci_arena_block_size(a, o1) || o1 >= o2 + fci_arena_block_size(a, o2));
    memset(fci_arena_ptr(a, o1, 100), 0x11, 100);
    memset(fci_arena_ptr(a, o2, 100), 0x22, 100);
    ck_assert_int_eq(((unsigned char *)fci_arena_ptr(a, o1, 100))[99], 0x11);

    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.blocks_in_use, 2);
    ck_assert_uint_eq(st.bytes_in_use, 2 * 128);

    ck_assert_int_eq(fci_arena_free(a, o1, &e), 0);
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.blocks_in_use, 1);
    /* same class comes back from the free list, not the bump pointer */
    ck_assert_int_eq(fci_arena_alloc(a, 90, &o3, &e), 0);
    ck_assert_uint_eq(o3, o1);
    /* another class does not take it */
    uint64_t o4;
    ck_assert_int_eq(fci_arena_free(a, o3, &e), 0);
    ck_assert_int_eq(fci_arena_alloc(a, 1000, &o4, &e), 0);
    ck_assert_uint_ne(o4, o1);
    ck_assert_uint_ge(fci_arena_block_size(a, o4), 1000);
    fci_arena_detach(a);
}
END_TEST

START_TEST(free_rejects_bad_offsets)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    fci_err e;
    uint64_t o;
    ck_assert_int_eq(fci_arena_alloc(a, 10, &o, &e), 0);
    ck_assert_int_eq(fci_arena_free(a, o + 8, &e), FC_EINVAL);
    ck_assert_int_eq(fci_arena_free(a, 0, &e), FC_EINVAL);
    ck_assert_int_eq(fci_arena_free(a, 16, &e), FC_EINVAL);      /* the header */
    ck_assert_int_eq(fci_arena_free(a, UINT64_MAX, &e), FC_EINVAL);
    ck_assert_int_eq(fci_arena_free(a, (1 << 20) - 48, &e), FC_EINVAL); /* past top */
    ck_assert_int_eq(fci_arena_free(a, o, &e), 0);
    ck_assert_int_eq(fci_arena_free(a, o, &e), FC_EINVAL);       /* double free */
    ck_assert_ptr_nonnull(strstr(e.msg, "already free"));
    ck_assert_uint_eq(fci_arena_block_size(a, o), 0);
    fci_arena_detach(a);
}
END_TEST

START_TEST(ptr_bounds)
{
    size_t size = 1 << 20;
    fci_arena *a = fct_shm_anon(size, 4, 10);
    ck_assert_ptr_null(fci_arena_ptr(a, 0, 8));            /* 0 means none */
    ck_assert_ptr_nonnull(fci_arena_ptr(a, 8, 8));
    ck_assert_ptr_nonnull(fci_arena_ptr(a, size - 8, 8));
    ck_assert_ptr_nonnull(fci_arena_ptr(a, size, 0));
    ck_assert_ptr_null(fci_arena_ptr(a, size - 8, 9));
    ck_assert_ptr_null(fci_arena_ptr(a, size, 1));
    ck_assert_ptr_null(fci_arena_ptr(a, size + 1, 0));
    ck_assert_ptr_null(fci_arena_ptr(a, 8, UINT64_MAX));        /* no wrap-around */
    ck_assert_ptr_null(fci_arena_ptr(a, UINT64_MAX, 2));
    ck_assert_ptr_null(fci_arena_ptr(NULL, 8, 8));
    ck_assert_ptr_eq((char *)fci_arena_ptr(a, 4096, 1), (char *)fci_arena_ptr(a, 8, 1) + 4088);
    fci_arena_detach(a);
}
END_TEST

/* Fill a small heap with blocks until FC_ENOMEM, then free one and reuse
 * it: exhaustion is an error, not a crash, and recoverable. */
START_TEST(exhaustion)
{
    size_t size = 256 << 10;
    fci_arena *a = fct_shm_anon(size, 4, 10);
    fci_err e;
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    uint64_t offs[4096];
    int n = 0, rc;
    while ((rc = fci_arena_alloc(a, 1000, &offs[n], &e)) == 0) {
        ck_assert_int_lt(n, 4095);
        memset(fci_arena_ptr(a, offs[n], 1000), n & 0xff, 1000);
        n++;
    }
    ck_assert_int_eq(rc, FC_ENOMEM);
    ck_assert_ptr_nonnull(strstr(e.msg, "exhausted"));
    ck_assert_int_eq(n, (int)(st.heap_size / 1024));
    ck_assert_int_eq(fci_arena_alloc(a, size, &offs[n], &e), FC_ENOMEM);
    ck_assert_int_eq(fci_arena_alloc(a, UINT64_MAX - 4, &offs[n], &e), FC_ENOMEM);
    /* every block kept its own bytes */
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(((unsigned char *)fci_arena_ptr(a, offs[i], 1000))[999], i & 0xff);
    ck_assert_int_eq(fci_arena_free(a, offs[n / 2], &e), 0);
    uint64_t again;
    ck_assert_int_eq(fci_arena_alloc(a, 1000, &again, &e), 0);
    ck_assert_uint_eq(again, offs[n / 2]);
    fci_arena_detach(a);
}
END_TEST

/* A block the writer allocated is seen by a forked reader at the same
 * offset with the same bytes, though addresses are never shared. */
START_TEST(allocation_visible_to_child)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    fci_err e;
    uint64_t o;
    ck_assert_int_eq(fci_arena_alloc(a, 4000, &o, &e), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (fci_arena_after_fork(a, NULL) != 0)
            _exit(2);
        char *p = fci_arena_ptr(a, o, 4000);
        for (int i = 0; i < 1000; i++) {
            if (p[3999] == 'z')
                _exit(0);
            usleep(1000);
        }
        _exit(1);
    }
    memset(fci_arena_ptr(a, o, 4000), 'z', 4000);
    ck_assert_int_eq(fct_reap(pid), 0);
    fci_arena_detach(a);
}
END_TEST

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("shm_alloc");
    TCase *tc = tcase_create("alloc");
    tcase_add_test(tc, alloc_free_reuse);
    tcase_add_test(tc, free_rejects_bad_offsets);
    tcase_add_test(tc, ptr_bounds);
    tcase_add_test(tc, exhaustion);
    tcase_add_test(tc, allocation_visible_to_child);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(alloc_suite)
