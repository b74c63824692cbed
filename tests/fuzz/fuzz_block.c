/*
 * fuzz_block.c - the block reader on arbitrary bytes: every walk (forward,
 * backward, seeks) must stay inside the block, end, and hand out keys and
 * values that lie in the block or the iterator's own key buffer.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/block.h"
#include "format/dbformat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_slices(const fci_block_iter *it, const char *base, size_t size)
{
    const char *v = it->value.data;
    if (v < base || v + it->value.size > base + size)
        __builtin_trap();
    const char *k = it->key.data;
    int in_block = k >= base && k + it->key.size <= base + size;
    int in_buf = k == it->key_buf.data && it->key.size <= it->key_buf.size;
    if (it->key.size > 0 && !in_block && !in_buf)
        __builtin_trap();
}

/* Both comparators: bytewise (metaindex) and internal keys (data, index). */
static void walk(const fci_block *b, fci_cmp_fn cmp, const char *base, size_t size)
{
    fci_block_iter it;
    fci_block_iter_init(&it, b, cmp);
    size_t n = 0;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it); fci_block_iter_next(&it)) {
        check_slices(&it, base, size);
        if (++n > size)
            __builtin_trap();   /* every entry takes at least 3 bytes */
    }
    size_t m = 0;
    fci_block_iter_reset(&it, b);
    for (fci_block_iter_last(&it); fci_block_iter_valid(&it); fci_block_iter_prev(&it)) {
        check_slices(&it, base, size);
        if (++m > size)
            __builtin_trap();
    }
    /* seek with a few targets, including a prefix of the input */
    const char *targets[] = { "", "a", "\xff\xff\xff\xff\xff\xff\xff\xff\xff" };
    for (int i = 0; i < 3; i++) {
        fci_block_iter_reset(&it, b);
        fci_block_iter_seek(&it, fci_slice_str(targets[i]));
        if (fci_block_iter_valid(&it)) {
            check_slices(&it, base, size);
            fci_block_iter_prev(&it);
            fci_block_iter_next(&it);
        }
    }
    fci_block_iter_reset(&it, b);
    fci_block_iter_seek(&it, fci_slice_make(base, size < 16 ? size : 16));
    fci_block_iter_status(&it, NULL);
    fci_block_iter_free(&it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly size bytes: ASan sees any overread. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    fci_block b;
    if (fci_block_init(&b, copy, size, NULL) == 0) {
        walk(&b, fci_bytewise_compare, copy, size);
        walk(&b, fci_ikey_compare, copy, size);
    }
    free(copy);
    return 0;
}
