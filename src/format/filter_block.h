/*
 * filter_block.h - the table's filter meta block: one bloom filter per
 * 2 KiB (1 << base_lg) of data-block offsets.
 *
 * Layout: filter 0 | filter 1 | ... | fixed32 offset of each filter |
 *         fixed32 offset of that offset array | 1 byte base_lg
 *
 * The data block starting at offset o is covered by filter o >> base_lg.
 * The reader never reads outside the block; anything malformed answers
 * "may match", so damage costs speed, never a lost key.
 */
#ifndef FC_FORMAT_FILTER_BLOCK_H
#define FC_FORMAT_FILTER_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/slice.h"

#define FCI_FILTER_BASE_LG 11
#define FCI_FILTER_META_KEY "filter." "leveldb.BuiltinBloomFilter2"

typedef struct fci_filter_builder {
    int bits_per_key;
    fci_buf result;     /* filters so far, then the offset array */
    fci_buf offsets;    /* fixed32 start of each filter */
    uint32_t *hashes;   /* bloom hashes of the keys of the pending filter */
    size_t nhashes, cap;
    int finished;
} fci_filter_builder;

void fci_filter_builder_init(fci_filter_builder *fb, int bits_per_key);
void fci_filter_builder_free(fci_filter_builder *fb);
/* A data block starts at block_offset: close the filters before it. */
int fci_filter_builder_start_block(fci_filter_builder *fb, uint64_t block_offset);
/* key is a user key. */
int fci_filter_builder_add_key(fci_filter_builder *fb, fci_slice key);
/* *out valid until free. */
int fci_filter_builder_finish(fci_filter_builder *fb, fci_slice *out);

typedef struct fci_filter_reader {
    const char *data;    /* NULL: no usable filter, everything may match */
    uint32_t offsets;    /* where the offset array starts */
    uint32_t num;        /* filters in the array */
    int base_lg;
} fci_filter_reader;

/* Never fails: a malformed block gives a reader that matches everything. */
void fci_filter_reader_init(fci_filter_reader *fr, fci_slice contents);
/* 0 when key (a user key) is surely absent from the data block at
 * block_offset, 1 when it may be there. */
int fci_filter_key_may_match(const fci_filter_reader *fr, uint64_t block_offset, fci_slice key);

#endif
