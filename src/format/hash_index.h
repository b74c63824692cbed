/*
 * hash_index.h - a per-table hash index for point lookups, stored in a
 * meta block named "forkcache.hash" (LevelDB ignores meta blocks it does
 * not know, so a table carrying one stays a valid LevelDB table).
 *
 * A get normally binary-searches the index block and then the data
 * block's restart points: on a table larger than the CPU caches each step
 * is a cache miss. The hash index maps a user key to the restart run of
 * the data block where the key's first (newest) entry lies, so a get
 * costs one probe plus a short scan; an empty slot proves the key absent,
 * which makes the bloom filter unnecessary on this path.
 *
 * Layout (fixed32 little-endian words):
 *   version (1) | flags | nblocks | nblocks x (offset, size, entries end) |
 *   nslots | nslots x slot (two words)
 * flags bit 0: every data block is stored uncompressed; bits 8-15: tag
 * bits (0 means 16; tests use fewer to force collisions). "entries end" is
 * where the block's restart array starts, so a lookup need not read the
 * block's trailer. A slot's first word is the offset in the file (block
 * offset plus the offset in the block's contents) of the restart run
 * where a key's first (newest) entry lies, so a reader can prefetch the
 * run while it loads the block's descriptor; its second
 * word holds, from the low bits up, the block ordinal + 1 (15 bits), a
 * "fresh" bit and a 16-bit tag. A second word of 0 marks an empty slot.
 * "fresh" says the run's first entry starts a new user key rather than
 * continuing the previous entry's.
 *
 * Slots are open-addressed with linear probing; a key's home slot and its
 * tag come from one 64-bit hash of the user key. A tag may match another
 * key's slot: fci_table_get checks the run it lands in and moves on to the
 * next probe when the slot is not the key's (see table.c).
 */
#ifndef FC_FORMAT_HASH_INDEX_H
#define FC_FORMAT_HASH_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/hash.h"
#include "util/slice.h"

#define FCI_HASH_INDEX_META_KEY "forkcache.hash"
#define FCI_HASH_INDEX_VERSION 2u
#define FCI_HASH_INDEX_RAW_BLOCKS 0x1u   /* flags: no data block is compressed */
#define FCI_HASH_INDEX_MAX_BLOCKS 32767u

/* ---- building ------------------------------------------------------------ */

typedef struct fci_hash_index_builder {
    fci_buf keys;      /* per distinct user key: fixed64 hash, fixed32 run offset,
                          fixed32 block ordinal << 1 | fresh */
    fci_buf blocks;    /* per data block: fixed32 offset, size, entries end */
    uint32_t nkeys;
    uint32_t nblocks;
    int compressed;    /* some data block is stored compressed */
    unsigned tag_bits; /* 1..16; 16 unless a test asks for collisions */
    int fill_reverse;  /* tests: place slots from the last key to the first */
    int usable;        /* 0 once the table outgrew the format */
} fci_hash_index_builder;

void fci_hash_index_builder_init(fci_hash_index_builder *b);
void fci_hash_index_builder_free(fci_hash_index_builder *b);
/* A new user key starts in the restart run at run_off of the block being
 * built; fresh says whether that run began with a new user key. */
int fci_hash_index_builder_add_key(fci_hash_index_builder *b, fci_slice user_key,
                                   uint32_t run_off, int fresh);
/* The block being built was written at offset, size bytes (uncompressed
 * contents), its entries ending at entries_end, compressed or not. */
int fci_hash_index_builder_add_block(fci_hash_index_builder *b, uint64_t offset, uint64_t size,
                                     uint32_t entries_end, int compressed);
/* Appends the meta block's contents to dst; FC_ELIMIT when the table
 * cannot have an index (over 4 GiB, too many blocks). */
int fci_hash_index_builder_finish(fci_hash_index_builder *b, fci_buf *dst);

/* ---- reading --------------------------------------------------------------- */

typedef struct fci_hash_index {
    const char *blocks;   /* nblocks x 12 bytes */
    const char *slots;    /* nslots x 8 bytes */
    uint32_t flags;
    uint32_t tag_mask;
    uint32_t nblocks;
    uint32_t nslots;
} fci_hash_index;

/* 0, or FC_ECORRUPT when the contents are not a well-formed index. */
int fci_hash_index_parse(fci_hash_index *ix, fci_slice contents);

/* Where a slot sends a lookup. */
typedef struct fci_hash_loc {
    uint64_t offset, size;   /* the data block (size: its stored contents) */
    uint32_t entries_end;    /* where its restart array begins */
    uint32_t run_off;        /* the restart run inside it */
    int fresh;
} fci_hash_loc;

/* Walks the slots whose tag matches a key, in probe order. */
typedef struct fci_hash_probe {
    const fci_hash_index *ix;
    const char *base;         /* the mapped table, to prefetch runs; or NULL */
    uint32_t tag;
    uint32_t slot;
    uint32_t probes;
} fci_hash_probe;

#define FCI_HASH_ABSENT 1   /* an empty slot: the key is not in the table */
#define FCI_HASH_UNSURE 2   /* the index cannot tell: use the index block */

/* base: the table's mapping when it is mapped (runs are prefetched from
 * it when the table's blocks are uncompressed), else NULL. */
void fci_hash_probe_start(fci_hash_probe *p, const fci_hash_index *ix, fci_slice user_key,
                          const char *base);
/* 0 and the next candidate in *loc, FCI_HASH_ABSENT, or FCI_HASH_UNSURE. */
int fci_hash_probe_next(fci_hash_probe *p, fci_hash_loc *loc);

/* The 64-bit hash the index stores: its values are on disk. */
static inline uint64_t fci_hash_index_hash(fci_slice key)
{
    return fci_hash64(key.data, key.size);
}

#endif
