/*
 * fuzz_filter.c - the filter block reader and the bloom probe on arbitrary
 * bytes, plus the builder on keys taken from the input: a filter must
 * always say "may match" for every key it was built with.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/bloom.h"
#include "format/filter_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    fci_slice in = fci_slice_make(copy, size);

    /* the input as a filter block */
    fci_filter_reader fr;
    fci_filter_reader_init(&fr, in);
    for (uint64_t off = 0; off < 64 * 1024; off += 1500)
        (void)fci_filter_key_may_match(&fr, off, fci_slice_make(copy, size < 8 ? size : 8));
    (void)fci_filter_key_may_match(&fr, UINT64_MAX, fci_slice_str("k"));

    /* the input as one bloom filter */
    (void)fci_bloom_may_match(in, fci_slice_str("key"));

    /* keys cut from the input (first byte: bits per key), built into a
     * filter block over a few "data blocks": no false negatives */
    if (size > 0) {
        int bits = 1 + (unsigned char)copy[0] % 24;
        fci_filter_builder fb;
        fci_filter_builder_init(&fb, bits);
        size_t pos = 1, nkeys = 0;
        uint64_t block_off[64];
        size_t key_start[64], key_len[64];
        while (pos < size && nkeys < 64) {
            size_t len = (unsigned char)copy[pos++] % 16;
            if (len > size - pos)
                len = size - pos;
            block_off[nkeys] = (uint64_t)nkeys * 1000;
            if (fci_filter_builder_start_block(&fb, block_off[nkeys]) != 0)
                __builtin_trap();
            key_start[nkeys] = pos;
            key_len[nkeys] = len;
            fci_filter_builder_add_key(&fb, fci_slice_make(copy + pos, len));
            pos += len;
            nkeys++;
        }
        fci_slice out;
        if (fci_filter_builder_finish(&fb, &out) != 0)
            __builtin_trap();
        fci_filter_reader_init(&fr, out);
        for (size_t i = 0; i < nkeys; i++)
            if (!fci_filter_key_may_match(&fr, block_off[i], fci_slice_make(copy + key_start[i], key_len[i])))
                __builtin_trap();
        fci_filter_builder_free(&fb);
    }
    free(copy);
    return 0;
}
