/*
 * memchunks.c - arena memory for memtables: chunks (up to 1 MiB) carved by bump
 * allocation, so a memtable costs one arena allocation per chunk rather
 * than one per entry, and retires with a handful of frees.
 */
#include "config.h"

#include <stdlib.h>

#include "forkcache.h"
#include "db/core/store.h"

#define CHUNK_MAX ((uint64_t)1 << 20)
#define CHUNK_MIN ((uint64_t)64 << 10)

static int chunk_add(fci_memchunks *mc, uint64_t bytes)
{
    if (mc->n == mc->cap) {
        size_t cap = mc->cap ? mc->cap * 2 : 8;
        uint64_t *p = realloc(mc->chunks, cap * sizeof *p);
        if (p == NULL)
            return FC_ENOMEM;
        mc->chunks = p;
        mc->cap = cap;
    }
    uint64_t off;
    int rc = fci_arena_alloc(mc->arena, bytes, &off, NULL);
    if (rc != 0)
        return rc;
    mc->chunks[mc->n++] = off;
    mc->cur = off;
    mc->end = off + bytes;
    return 0;
}

/* The skiplist's allocator: 8-byte aligned offsets, 0 when the arena is
 * full (the write then fails with FC_ENOMEM and nothing is linked). Entries
 * larger than a quarter chunk get a chunk of their own so they do not
 * waste the rest of the current one. Chunks are an eighth of the write
 * buffer (64 KiB to 1 MiB), so a small memtable does not hold a large
 * chunk while it waits to be reclaimed. */
static uint64_t memchunks_alloc(void *ctx, size_t n)
{
    fci_memchunks *mc = ctx;
    uint64_t need = ((uint64_t)n + 7) & ~(uint64_t)7;
    if (need > mc->chunk / 4) {
        uint64_t keep_cur = mc->cur, keep_end = mc->end;
        if (chunk_add(mc, need) != 0)
            return 0;
        uint64_t off = mc->cur;
        mc->cur = keep_cur;
        mc->end = keep_end;
        return off;
    }
    if (mc->cur == 0 || mc->end - mc->cur < need) {
        if (mc->nspare > 0) { /* a spare is in chunks already */
            mc->cur = mc->spare[--mc->nspare];
            mc->end = mc->cur + mc->chunk;
        } else if (chunk_add(mc, mc->chunk) != 0) {
            return 0;
        }
    }
    uint64_t off = mc->cur;
    mc->cur += need;
    return off;
}

/* A spare belongs to this memtable (it is in chunks), so it is freed with
 * it, used or not; unreserve frees the unused ones sooner. */
int fci_memchunks_reserve(fci_memchunks *mc)
{
    if (mc->nspare == FCI_MEMCHUNKS_SPARES)
        return 0;
    uint64_t cur = mc->cur, end = mc->end;
    int rc = chunk_add(mc, mc->chunk);
    if (rc == 0)
        mc->spare[mc->nspare++] = mc->cur;
    mc->cur = cur;
    mc->end = end;
    return rc;
}

void fci_memchunks_unreserve(fci_memchunks *mc)
{
    while (mc->nspare > 0) {
        uint64_t off = mc->spare[--mc->nspare];
        for (size_t i = 0; i < mc->n; i++) {
            if (mc->chunks[i] == off) {
                mc->chunks[i] = mc->chunks[--mc->n];
                fci_arena_free(mc->arena, off, NULL);
                break;
            }
        }
    }
}

void fci_memchunks_free(fci_memchunks *mc)
{
    if (mc == NULL)
        return;
    for (size_t i = 0; i < mc->n; i++)
        fci_arena_free(mc->arena, mc->chunks[i], NULL);
    free(mc->chunks);
    free(mc);
}

int fci_memchunks_memtable(fc_store *s, fci_memtable *mt, fci_memchunks **chunks)
{
    fci_memchunks *mc = calloc(1, sizeof *mc);
    if (mc == NULL)
        return FC_ENOMEM;
    mc->arena = s->arena;
    uint64_t chunk = s->opts.write_buffer_size / 8;
    mc->chunk = chunk < CHUNK_MIN ? CHUNK_MIN : chunk > CHUNK_MAX ? CHUNK_MAX : chunk;
    int rc = fci_memtable_create(mt, fci_arena_base(s->arena), fci_arena_size(s->arena),
                                 memchunks_alloc, mc);
    if (rc != 0) {
        fci_memchunks_free(mc);
        return rc;
    }
    *chunks = mc;
    return 0;
}
