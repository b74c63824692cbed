/*
 * region_test.h - a MAP_SHARED region with a bump allocator, standing in
 * for the arena in the skiplist and memtable suites.
 */
#ifndef FC_REGION_TEST_H
#define FC_REGION_TEST_H

#include <stdint.h>
#include <sys/mman.h>

typedef struct region {
    char *base;
    size_t size;
    uint64_t used;
} region;

/* 8-byte aligned, 0 when full: the contract fci_skiplist_alloc asks for. */
static inline uint64_t region_alloc(void *ctx, size_t n)
{
    region *r = ctx;
    uint64_t off = (r->used + 7) & ~(uint64_t)7;
    if (off + n > r->size)
        return 0;
    r->used = off + n;
    return off;
}

#endif
