/*
 * filter_block.c - building and reading the filter meta block (see
 * filter_block.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "format/bloom.h"
#include "format/filter_block.h"
#include "util/coding.h"

void fci_filter_builder_init(fci_filter_builder *fb, int bits_per_key)
{
    memset(fb, 0, sizeof *fb);
    fb->bits_per_key = bits_per_key;
    fci_buf_init(&fb->result);
    fci_buf_init(&fb->offsets);
}

void fci_filter_builder_free(fci_filter_builder *fb)
{
    fci_buf_free(&fb->result);
    fci_buf_free(&fb->offsets);
    free(fb->hashes);
    fb->hashes = NULL;
}

/* Closes the current filter (empty when no key arrived, as LevelDB: the
 * slot then just repeats the offset). */
static int generate_filter(fci_filter_builder *fb)
{
    if (fb->result.size > UINT32_MAX)
        return FC_ETOOBIG;
    int rc = fci_buf_put_fixed32(&fb->offsets, (uint32_t)fb->result.size);
    if (rc != 0 || fb->nhashes == 0)
        return rc;
    rc = fci_bloom_create_hashed(fb->bits_per_key, fb->hashes, fb->nhashes, &fb->result);
    fb->nhashes = 0;
    return rc;
}

int fci_filter_builder_start_block(fci_filter_builder *fb, uint64_t block_offset)
{
    uint64_t index = block_offset >> FCI_FILTER_BASE_LG;
    while (index > fb->offsets.size / 4) {
        int rc = generate_filter(fb);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Keeping hashes rather than keys: the filter needs nothing else. */
int fci_filter_builder_add_key(fci_filter_builder *fb, fci_slice key)
{
    if (fb->nhashes == fb->cap) {
        size_t cap = fb->cap ? fb->cap * 2 : 256;
        uint32_t *h = realloc(fb->hashes, cap * sizeof *h);
        if (h == NULL)
            return FC_ENOMEM;
        fb->hashes = h;
        fb->cap = cap;
    }
    fb->hashes[fb->nhashes++] = fci_bloom_hash(key);
    return 0;
}

int fci_filter_builder_finish(fci_filter_builder *fb, fci_slice *out)
{
    int rc;
    if (!fb->finished) {
        if (fb->nhashes > 0 && (rc = generate_filter(fb)) != 0)
            return rc;
        if (fb->result.size > UINT32_MAX)
            return FC_ETOOBIG;
        uint32_t array_offset = (uint32_t)fb->result.size;
        if ((rc = fci_buf_append(&fb->result, fb->offsets.data, fb->offsets.size)) != 0 ||
            (rc = fci_buf_put_fixed32(&fb->result, array_offset)) != 0 ||
            (rc = fci_buf_push(&fb->result, FCI_FILTER_BASE_LG)) != 0)
            return rc;
        fb->finished = 1;
    }
    *out = fci_buf_slice(&fb->result);
    return 0;
}

void fci_filter_reader_init(fci_filter_reader *fr, fci_slice c)
{
    memset(fr, 0, sizeof *fr);
    if (c.size < 5 || c.size > UINT32_MAX)
        return;
    uint32_t array_offset = fci_get_fixed32(c.data + c.size - 5);
    if (array_offset > c.size - 5)
        return;
    fr->data = c.data;
    fr->base_lg = (unsigned char)c.data[c.size - 1];
    fr->offsets = array_offset;
    fr->num = (uint32_t)((c.size - 5 - array_offset) / 4);
}

/* The end of filter i is the start of filter i + 1; for the last filter
 * that is the array offset word itself, which still lies in the block. */
int fci_filter_key_may_match(const fci_filter_reader *fr, uint64_t block_offset, fci_slice key)
{
    if (fr->data == NULL || fr->base_lg >= 64)
        return 1;
    uint64_t index = block_offset >> fr->base_lg;
    if (index >= fr->num)
        return 1;
    const char *slot = fr->data + fr->offsets + 4 * index;
    uint32_t start = fci_get_fixed32(slot);
    uint32_t limit = fci_get_fixed32(slot + 4);
    if (start <= limit && limit <= fr->offsets) {
        if (start == limit)
            return 0;   /* no key went into this range */
        return fci_bloom_may_match(fci_slice_make(fr->data + start, limit - start), key);
    }
    return 1;
}
