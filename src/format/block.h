/*
 * block.h - LevelDB's table blocks: sorted entries with prefix-compressed
 * keys and restart points (doc/table_format.md).
 *
 * Layout of a block:
 *   entry*: varint32 shared | varint32 non_shared | varint32 value_length |
 *           key delta (non_shared bytes) | value (value_length bytes)
 *   restarts: fixed32 offset of every restart entry (shared == 0)
 *   fixed32 num_restarts
 *
 * The reader works over any memory region (a mapping, a cache frame, a heap
 * copy) and never copies a value: fci_block_iter_value() points into the
 * block. Keys are rebuilt from their prefix into a small per-iterator buffer
 * only when they share a prefix with the previous key; a key stored whole
 * (every key at a restart point, every key of an index block) also points
 * into the block. Every offset and length is checked against the block, so
 * a damaged block yields FC_ECORRUPT and never a read outside it.
 */
#ifndef FC_FORMAT_BLOCK_H
#define FC_FORMAT_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/coding.h"
#include "util/error.h"
#include "util/slice.h"

/* A key order: fci_ikey_compare for data and index blocks,
 * fci_bytewise_compare for the metaindex. */
typedef int (*fci_cmp_fn)(fci_slice a, fci_slice b);

/* ---- builder ------------------------------------------------------------- */

typedef struct fci_block_builder {
    fci_buf buf;           /* entries so far, then the restart array */
    fci_buf restarts;      /* fixed32 restart offsets, appended at finish */
    fci_buf last_key;      /* previous key, for prefix compression */
    int restart_interval;  /* keys per restart point (>= 1) */
    int counter;           /* keys since the last restart point */
    size_t num_entries;
    int finished;
} fci_block_builder;

void fci_block_builder_init(fci_block_builder *b, int restart_interval);
void fci_block_builder_free(fci_block_builder *b);
/* Empties the builder for the next block, keeping its memory. */
void fci_block_builder_reset(fci_block_builder *b);
/* Keys must come in increasing order of the block's comparator (the caller
 * checks: the builder does not know the order). 0, FC_ENOMEM, or
 * FC_ETOOBIG when the block would pass 4 GiB (offsets are 32-bit). */
int fci_block_builder_add(fci_block_builder *b, fci_slice key, fci_slice value);
/* Appends the restart array; *out is valid until reset or free. */
int fci_block_builder_finish(fci_block_builder *b, fci_slice *out);
/* Size the block would have if finished now. */
size_t fci_block_builder_size_estimate(const fci_block_builder *b);

static inline int fci_block_builder_empty(const fci_block_builder *b)
{
    return b->num_entries == 0;
}

/* Offset of the restart run the last key added lies in. */
static inline uint32_t fci_block_builder_run_offset(const fci_block_builder *b)
{
    return b->restarts.size >= 4 ? fci_get_fixed32(b->restarts.data + b->restarts.size - 4) : 0;
}

/* Bytes of entries so far (before finish appends the restart array). */
static inline uint32_t fci_block_builder_entries_size(const fci_block_builder *b)
{
    return (uint32_t)b->buf.size;
}

/* Whether the last key added began a restart run. */
static inline int fci_block_builder_run_started(const fci_block_builder *b)
{
    return b->counter == 1;
}

/* ---- reader -------------------------------------------------------------- */

/* A parsed block: the region plus where its restart array starts. */
typedef struct fci_block {
    const char *data;
    uint32_t size;
    uint32_t restarts_off;  /* entries occupy [0, restarts_off) */
    uint32_t num_restarts;
} fci_block;

/* Checks the trailer of [data, data+size): 0 or FC_ECORRUPT with detail.
 * The block keeps pointing at data; nothing is copied. */
int fci_block_init(fci_block *b, const char *data, size_t size, fci_err *err);
/* The same for a block whose entries are known to end at entries_end (the
 * hash index records it), without reading the block's trailer. */
int fci_block_init_known(fci_block *b, const char *data, size_t size, uint32_t entries_end);

typedef struct fci_block_iter {
    fci_block block;
    fci_cmp_fn cmp;
    uint32_t current;        /* offset of the current entry; restarts_off = none */
    uint32_t next;           /* offset just past the current entry */
    uint32_t restart_index;  /* restart block the current entry lies in */
    fci_slice key;           /* into the block or into key_buf */
    fci_slice value;         /* always into the block */
    fci_buf key_buf;         /* rebuilt prefix-compressed keys */
    int status;              /* 0 or FC_ECORRUPT */
    const char *why;         /* what was wrong (static text) */
    uint32_t where;          /* block offset of the problem */
} fci_block_iter;

void fci_block_iter_init(fci_block_iter *it, const fci_block *b, fci_cmp_fn cmp);
/* Points the iterator at another block, keeping its key buffer. */
void fci_block_iter_reset(fci_block_iter *it, const fci_block *b);
void fci_block_iter_free(fci_block_iter *it);

static inline int fci_block_iter_valid(const fci_block_iter *it)
{
    return it->status == 0 && it->current < it->block.restarts_off;
}

static inline fci_slice fci_block_iter_key(const fci_block_iter *it)
{
    return it->key;
}

static inline fci_slice fci_block_iter_value(const fci_block_iter *it)
{
    return it->value;
}

/* 0, or FC_ECORRUPT with the offset and reason in *err. */
int fci_block_iter_status(const fci_block_iter *it, fci_err *err);

void fci_block_iter_first(fci_block_iter *it);
void fci_block_iter_last(fci_block_iter *it);
void fci_block_iter_next(fci_block_iter *it);   /* requires valid */
void fci_block_iter_prev(fci_block_iter *it);   /* requires valid */
/* Positions at the first entry whose key is >= target. */
void fci_block_iter_seek(fci_block_iter *it, fci_slice target);
/* Positions at the entry at offset off, which must be a restart point
 * (its key stored whole); a bad offset makes the iterator invalid or
 * corrupt, never a read outside the block. */
void fci_block_iter_seek_entry(fci_block_iter *it, uint32_t off);

#endif
