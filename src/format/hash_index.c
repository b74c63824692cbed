/*
 * hash_index.c - the "forkcache.hash" meta block (see hash_index.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "format/hash_index.h"
#include "util/coding.h"

static inline uint32_t home_slot(uint64_t h, uint32_t nslots)
{
    return (uint32_t)(((h & 0xffffffffu) * (uint64_t)nslots) >> 32);
}

static inline uint32_t tag_of(uint64_t h)
{
    return (uint32_t)(h >> 48);
}

/* ---- building ------------------------------------------------------------ */

void fci_hash_index_builder_init(fci_hash_index_builder *b)
{
    memset(b, 0, sizeof *b);
    fci_buf_init(&b->keys);
    fci_buf_init(&b->blocks);
    b->usable = 1;
    b->tag_bits = 16;
}

void fci_hash_index_builder_free(fci_hash_index_builder *b)
{
    fci_buf_free(&b->keys);
    fci_buf_free(&b->blocks);
}

int fci_hash_index_builder_add_key(fci_hash_index_builder *b, fci_slice user_key,
                                   uint32_t run_off, int fresh)
{
    if (!b->usable)
        return 0;
    if (b->nkeys >= UINT32_MAX / 2 || b->nblocks >= FCI_HASH_INDEX_MAX_BLOCKS) {
        b->usable = 0;   /* too big for the format: the table goes without */
        return 0;
    }
    int rc = fci_buf_put_fixed64(&b->keys, fci_hash_index_hash(user_key));
    if (rc == 0)
        rc = fci_buf_put_fixed32(&b->keys, run_off);
    if (rc == 0)
        rc = fci_buf_put_fixed32(&b->keys, b->nblocks << 1 | (fresh ? 1u : 0u));
    if (rc == 0)
        b->nkeys++;
    return rc;
}

int fci_hash_index_builder_add_block(fci_hash_index_builder *b, uint64_t offset, uint64_t size,
                                     uint32_t entries_end, int compressed)
{
    if (!b->usable)
        return 0;
    if (offset > UINT32_MAX || size > UINT32_MAX - offset) {
        b->usable = 0;
        return 0;
    }
    int rc = fci_buf_put_fixed32(&b->blocks, (uint32_t)offset);
    if (rc == 0)
        rc = fci_buf_put_fixed32(&b->blocks, (uint32_t)size);
    if (rc == 0)
        rc = fci_buf_put_fixed32(&b->blocks, entries_end);
    if (rc != 0)
        return rc;
    b->nblocks++;
    b->compressed |= compressed != 0;
    return 0;
}

/* Linear probing on the second word; a slot equal to the new one already
 * sends a lookup to the same run, so it is not repeated. */
static void place(char *slots, uint32_t nslots, uint32_t home, uint32_t run_off, uint32_t w)
{
    for (uint32_t i = home;; i = i + 1 == nslots ? 0 : i + 1) {
        char *p = slots + 8 * (size_t)i;
        uint32_t cur = fci_get_fixed32(p + 4);
        if (cur == w && fci_get_fixed32(p) == run_off)
            return;
        if (cur == 0) {
            fci_put_fixed32(p, run_off);
            fci_put_fixed32(p + 4, w);
            return;
        }
    }
}

/* Slots name a run by its offset in the file (block offset + offset in
 * the block), so a reader can prefetch the run before it reads the block's
 * descriptor. FC_ELIMIT when that sum passes 32 bits (a compressed table
 * whose blocks grow large when inflated). */
static int fill_slots(const fci_hash_index_builder *b, char *slots, uint32_t nslots)
{
    uint32_t mask = (1u << b->tag_bits) - 1;
    for (uint32_t i = 0; i < b->nkeys; i++) {
        uint32_t k = b->fill_reverse ? b->nkeys - 1 - i : i;
        const char *e = b->keys.data + 16 * (size_t)k;
        uint64_t h = fci_get_fixed64(e);
        uint32_t run_off = fci_get_fixed32(e + 8), of = fci_get_fixed32(e + 12);
        uint64_t at = (uint64_t)fci_get_fixed32(b->blocks.data + 12 * (size_t)(of >> 1)) + run_off;
        if (at > UINT32_MAX)
            return FC_ELIMIT;
        uint32_t w = ((of >> 1) + 1) | (of & 1u) << 15 | (tag_of(h) & mask) << 16;
        place(slots, nslots, home_slot(h, nslots), (uint32_t)at, w);
    }
    return 0;
}

int fci_hash_index_builder_finish(fci_hash_index_builder *b, fci_buf *dst)
{
    if (!b->usable || b->nblocks == 0)
        return FC_ELIMIT;
    if (b->tag_bits == 0 || b->tag_bits > 16)
        return FC_EINVAL;
    /* At most four fifths full: a hit probes about three slots and a miss
     * about thirteen, 8 bytes each, so one or two cache lines. */
    uint32_t nslots = b->nkeys + b->nkeys / 4 + 1;
    size_t start = dst->size, head = 12 + (size_t)b->blocks.size + 4;
    int rc = fci_buf_reserve(dst, head + 8 * (size_t)nslots);
    if (rc != 0)
        return rc;
    fci_buf_put_fixed32(dst, FCI_HASH_INDEX_VERSION);
    fci_buf_put_fixed32(dst, (b->compressed ? 0 : FCI_HASH_INDEX_RAW_BLOCKS) |
                                 (b->tag_bits == 16 ? 0 : b->tag_bits) << 8);
    fci_buf_put_fixed32(dst, b->nblocks);
    fci_buf_append(dst, b->blocks.data, b->blocks.size);
    fci_buf_put_fixed32(dst, nslots);
    char *slots = dst->data + start + head;
    memset(slots, 0, 8 * (size_t)nslots);
    dst->size = start + head + 8 * (size_t)nslots;
    rc = fill_slots(b, slots, nslots);
    if (rc != 0)
        dst->size = start;
    return rc;
}

/* ---- reading --------------------------------------------------------------- */

int fci_hash_index_parse(fci_hash_index *ix, fci_slice c)
{
    memset(ix, 0, sizeof *ix);
    if (c.size < 16 || fci_get_fixed32(c.data) != FCI_HASH_INDEX_VERSION)
        return FC_ECORRUPT;
    uint32_t nblocks = fci_get_fixed32(c.data + 8);
    if (nblocks == 0 || nblocks > FCI_HASH_INDEX_MAX_BLOCKS || (c.size - 16) / 12 < nblocks)
        return FC_ECORRUPT;
    size_t head = 12 + 12 * (size_t)nblocks + 4;
    uint32_t nslots = fci_get_fixed32(c.data + head - 4);
    if (nslots == 0 || (c.size - head) % 8 != 0 || (c.size - head) / 8 != nslots)
        return FC_ECORRUPT;
    uint32_t flags = fci_get_fixed32(c.data + 4), tag_bits = (flags >> 8) & 0xffu;
    if (tag_bits > 16)
        return FC_ECORRUPT;
    ix->flags = flags;
    ix->tag_mask = (1u << (tag_bits ? tag_bits : 16)) - 1;
    ix->blocks = c.data + 12;
    ix->slots = c.data + head;
    ix->nblocks = nblocks;
    ix->nslots = nslots;
    return 0;
}

void fci_hash_probe_start(fci_hash_probe *p, const fci_hash_index *ix, fci_slice user_key,
                          const char *base)
{
    uint64_t h = fci_hash_index_hash(user_key);
    p->ix = ix;
    p->base = (ix->flags & FCI_HASH_INDEX_RAW_BLOCKS) ? base : NULL;
    p->tag = tag_of(h) & ix->tag_mask;
    p->slot = home_slot(h, ix->nslots);
    p->probes = 0;
}

int fci_hash_probe_next(fci_hash_probe *p, fci_hash_loc *loc)
{
    const fci_hash_index *ix = p->ix;
    while (p->probes < ix->nslots) {
        const char *s = ix->slots + 8 * (size_t)p->slot;
        uint32_t w = fci_get_fixed32(s + 4);
        p->slot = p->slot + 1 == ix->nslots ? 0 : p->slot + 1;
        p->probes++;
        if (w == 0)
            return FCI_HASH_ABSENT;
        if (((w >> 16) & p->ix->tag_mask) != p->tag)
            continue;
        uint32_t ordinal = (w & 0x7fffu) - 1;
        if (ordinal >= ix->nblocks)
            return FCI_HASH_UNSURE;   /* damaged slot: let the index decide */
        uint32_t at = fci_get_fixed32(s);
        if (p->base != NULL) {
            /* The run's first entry and the next line, while the block's
             * descriptor is loaded: two cache misses overlap. */
            __builtin_prefetch(p->base + at);
            __builtin_prefetch(p->base + at + 64);
        }
        const char *b = ix->blocks + 12 * (size_t)ordinal;
        loc->offset = fci_get_fixed32(b);
        loc->size = fci_get_fixed32(b + 4);
        loc->entries_end = fci_get_fixed32(b + 8);
        if (at < loc->offset)
            return FCI_HASH_UNSURE;   /* damaged slot: let the index decide */
        loc->run_off = at - (uint32_t)loc->offset;
        loc->fresh = (w >> 15) & 1u;
        return 0;
    }
    return FCI_HASH_UNSURE;   /* no empty slot at all: malformed, never loop */
}
