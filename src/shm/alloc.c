/*
 * alloc.c - the arena's heap: a bump allocator with one free list per
 * power-of-two size class, for the regions the writer hands out (memtable
 * chunks, version records).
 *
 * ONLY THE WRITER ALLOCATES OR FREES. The free lists and block headers are
 * plain fields with no synchronisation: one process (the one holding the
 * store's LOCK) uses them at a time, and the next writer starts after the
 * previous one is gone. Readers never look at them; they only read the
 * blocks' contents, which the writer publishes with its own release stores.
 * The counters are atomics only so that statistics in other processes read
 * whole values.
 *
 * Blocks are never split or merged: a memtable chunk or version record
 * comes back in the sizes it left, so a class list refills itself. Once
 * the heap is all carved, a request whose class list is empty takes a
 * free block of a larger class whole (it stays of its class).
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "shm/arena.h"

/* Smallest class whose blocks hold len bytes after the block header, or -1
 * when no class is that large. */
static int size_class(uint64_t len)
{
    uint64_t need = len + sizeof(fci_block_header);
    if (need < len)
        return -1;   /* overflow */
    int c = FCI_ALLOC_MIN_SHIFT;
    while (c < FCI_ALLOC_MIN_SHIFT + FCI_ALLOC_CLASSES && ((uint64_t)1 << c) < need)
        c++;
    return c < FCI_ALLOC_MIN_SHIFT + FCI_ALLOC_CLASSES ? c : -1;
}

/* The header of the block whose payload starts at off, or NULL if off
 * cannot be the payload of any block of this heap. */
static fci_block_header *block_at(const fci_arena *a, uint64_t off)
{
    const fci_arena_header *h = a->hdr;
    uint64_t top = atomic_load_explicit(&h->alloc_top, memory_order_relaxed); /* writer only */
    if (off < h->heap_off + sizeof(fci_block_header) || off > top ||
        (off - sizeof(fci_block_header)) % (1u << FCI_ALLOC_MIN_SHIFT) != 0)
        return NULL;
    fci_block_header *b = fci_arena_ptr(a, off - sizeof *b, sizeof *b);
    if (b == NULL || b->size_class < FCI_ALLOC_MIN_SHIFT ||
        b->size_class >= FCI_ALLOC_MIN_SHIFT + FCI_ALLOC_CLASSES)
        return NULL;
    if (off - sizeof *b + ((uint64_t)1 << b->size_class) > top)
        return NULL;
    return b;
}

/* Blocks are aligned to their own size up to a page, so the bump pointer is
 * rounded up first; the gap is lost (small, and only at class changes). */
static int bump_start(const fci_arena *a, int c, uint64_t *start)
{
    const fci_arena_header *h = a->hdr;
    uint64_t bsize = (uint64_t)1 << c;
    uint64_t align = bsize < 4096 ? bsize : 4096;
    uint64_t top = atomic_load_explicit(&h->alloc_top, memory_order_relaxed); /* writer only */
    *start = (top + align - 1) & ~(align - 1);
    if (*start < top || *start > h->arena_size || bsize > h->arena_size - *start)
        return FC_ENOMEM;
    return 0;
}

static int bump(fci_arena *a, int c, uint64_t *boff)
{
    uint64_t start;
    if (bump_start(a, c, &start) != 0)
        return FC_ENOMEM;
    /* relaxed: only the writer reads it for allocation; stats see a number */
    atomic_store_explicit(&a->hdr->alloc_top, start + ((uint64_t)1 << c), memory_order_relaxed);
    *boff = start;
    return 0;
}

/* Whether bump() would refuse a block of class c (it changes nothing). */
static int bump_would_fail(const fci_arena *a, int c)
{
    uint64_t start;
    return bump_start(a, c, &start) != 0;
}

/* A free block of the class first, so steady-state churn (memtables,
 * versions) does not grow the carved part of the heap. */
int fci_arena_alloc(fci_arena *a, uint64_t len, uint64_t *off, fci_err *err)
{
    fci_arena_header *h = a->hdr;
    int c = size_class(len == 0 ? 1 : len);
    if (c < 0)
        return fci_err_set(err, FC_ENOMEM, "arena: no block class holds %llu bytes",
                           (unsigned long long)len);
    int k = c - FCI_ALLOC_MIN_SHIFT;
    uint64_t boff = h->free_head[k];
    fci_block_header *b;
    if (boff == 0 && bump_would_fail(a, c)) {
        /* The heap is all carved: a free block of a larger class serves
         * whole (it keeps its class), rather than failing while blocks of
         * other sizes sit free. */
        for (int j = k + 1; j < FCI_ALLOC_CLASSES && boff == 0; j++)
            if (h->free_head[j] != 0) {
                k = j;
                c = j + FCI_ALLOC_MIN_SHIFT;
                boff = h->free_head[j];
            }
    }
    if (boff != 0) {
        b = fci_arena_ptr(a, boff, sizeof *b);
        if (b == NULL || b->state != FCI_BLOCK_FREE || b->size_class != (uint32_t)c)
            return fci_err_set(err, FC_ECORRUPT, "arena: free list %d: bad block at %llu",
                               c, (unsigned long long)boff);
        h->free_head[k] = b->next;
    } else {
        if (bump(a, c, &boff) != 0) {
            uint64_t top = atomic_load_explicit(&h->alloc_top, memory_order_relaxed);
            return fci_err_set(err, FC_ENOMEM,
                               "arena: heap exhausted: %llu bytes asked (block of %llu), "
                               "%llu of %llu heap bytes carved",
                               (unsigned long long)len, (unsigned long long)1 << c,
                               (unsigned long long)(top - h->heap_off),
                               (unsigned long long)(h->arena_size - h->heap_off));
        }
        b = fci_arena_ptr(a, boff, sizeof *b);
    }
    b->state = FCI_BLOCK_USED;
    b->size_class = (uint32_t)c;
    b->next = 0;
    /* relaxed: statistics counters */
    atomic_fetch_add_explicit(&h->alloc_in_use, (uint64_t)1 << c, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->alloc_blocks, 1, memory_order_relaxed);
    *off = boff + sizeof *b;
    return 0;
}

/* Validates the offset and the block header first: a bad free must be an
 * error, never a corrupted free list. */
int fci_arena_free(fci_arena *a, uint64_t off, fci_err *err)
{
    fci_block_header *b = block_at(a, off);
    if (b == NULL)
        return fci_err_set(err, FC_EINVAL, "arena: free of %llu: not a heap block",
                           (unsigned long long)off);
    if (b->state == FCI_BLOCK_FREE)
        return fci_err_set(err, FC_EINVAL, "arena: free of %llu: block already free",
                           (unsigned long long)off);
    if (b->state != FCI_BLOCK_USED)
        return fci_err_set(err, FC_EINVAL, "arena: free of %llu: no block header there",
                           (unsigned long long)off);
    fci_arena_header *h = a->hdr;
    int k = (int)b->size_class - FCI_ALLOC_MIN_SHIFT;
    b->state = FCI_BLOCK_FREE;
    b->next = h->free_head[k];
    h->free_head[k] = off - sizeof *b;
    /* relaxed: statistics counters */
    atomic_fetch_sub_explicit(&h->alloc_in_use, (uint64_t)1 << b->size_class,
                              memory_order_relaxed);
    atomic_fetch_sub_explicit(&h->alloc_blocks, 1, memory_order_relaxed);
    return 0;
}

/* Callers may use the whole block (a memtable chunk grows into it). */
uint64_t fci_arena_block_size(const fci_arena *a, uint64_t off)
{
    fci_block_header *b = block_at(a, off);
    if (b == NULL || b->state != FCI_BLOCK_USED)
        return 0;
    return ((uint64_t)1 << b->size_class) - sizeof *b;
}
