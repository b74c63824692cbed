/*
 * fuzz_table.c - arbitrary bytes as a table region: footer, index,
 * metaindex and filter parsing, iteration both ways, gets and verify. No
 * read may leave the region, no walk may run forever, and a value handed
 * out zero-copy must lie inside the region.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/dbformat.h"
#include "format/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const fci_table *t, fci_slice v, const fci_block_ref *ref)
{
    int in_region = v.data >= t->base && v.data + v.size <= t->base + t->size;
    int in_ref = ref->data.data && v.data >= ref->data.data &&
                 v.data + v.size <= ref->data.data + ref->data.size;
    if (v.size > 0 && !in_region && !in_ref)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    for (unsigned flags = 0; flags <= FCI_TABLE_VERIFY_CHECKSUMS; flags++) {
        fci_table t;
        if (fci_table_open(&t, copy, size, flags, NULL) != 0)
            continue;
        (void)fci_table_verify(&t, NULL);
        fci_table_iter it;
        fci_table_iter_init(&it, &t);
        size_t n = 0;
        for (fci_table_iter_first(&it); fci_table_iter_valid(&it); fci_table_iter_next(&it)) {
            check_value(&t, fci_table_iter_value(&it), &it.ref);
            /* index entries may share a block: quadratic, never endless */
            if (++n > (size + 1) * (size + 1))
                __builtin_trap();
        }
        for (fci_table_iter_last(&it); fci_table_iter_valid(&it); fci_table_iter_prev(&it))
            if (++n > 2 * (size + 1) * (size + 1))
                __builtin_trap();
        fci_buf key = FCI_BUF_INIT;
        fci_ikey_append(&key, fci_slice_str("key"), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
        fci_table_iter_seek(&it, fci_buf_slice(&key));
        fci_table_iter_status(&it, NULL);
        fci_table_iter_free(&it);
        fci_table_get_result r;
        fci_table_get_init(&r);
        const char *users[] = { "", "a", "key", "key00000001", "zzzz" };
        for (int i = 0; i < 5; i++) {
            fci_buf_clear(&key);
            fci_ikey_append(&key, fci_slice_str(users[i]), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
            if (fci_table_get(&t, fci_buf_slice(&key), &r, NULL) == 0)
                check_value(&t, r.value, &r.ref);
        }
        fci_table_get_free(&t, &r);
        fci_buf_free(&key);
        fci_table_close(&t);
    }
    free(copy);
    return 0;
}
