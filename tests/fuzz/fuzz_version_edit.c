/*
 * fuzz_version_edit.c - the VersionEdit decoder on arbitrary bytes. It
 * must stay inside the input, allocate in proportion to it, and whatever
 * it accepts must encode to bytes that decode to the same edit (encoding
 * twice gives identical bytes).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "forkcache.h"
#include "format/version_edit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fci_version_edit e, d;
    fci_buf enc = FCI_BUF_INIT, enc2 = FCI_BUF_INIT;
    fci_edit_init(&e);
    fci_edit_init(&d);
    if (fci_edit_decode(&e, fci_slice_make(data, size), NULL) != 0) {
        if (e.n_new_files || e.n_deleted || e.n_compact_pointers || e.has_comparator)
            __builtin_trap();   /* a refused edit is left empty */
        goto out;
    }
    /* Each entry took several input bytes: the arrays are bounded. */
    if (e.n_new_files + e.n_deleted + e.n_compact_pointers > size / 3)
        __builtin_trap();
    for (size_t i = 0; i < e.n_new_files; i++)
        if (e.new_files[i].level < 0 || e.new_files[i].level >= FCI_NUM_LEVELS ||
            e.new_files[i].smallest.size < 8 || e.new_files[i].largest.size < 8)
            __builtin_trap();
    if (fci_edit_encode(&e, &enc) != 0)
        goto out;
    if (enc.size > size)   /* canonical varints, duplicates dropped: never longer */
        __builtin_trap();
    if (fci_edit_decode(&d, fci_buf_slice(&enc), NULL) != 0)
        __builtin_trap();
    if (fci_edit_encode(&d, &enc2) != 0)
        goto out;
    if (enc.size != enc2.size || (enc.size && memcmp(enc.data, enc2.data, enc.size) != 0))
        __builtin_trap();
    if (d.has_comparator != e.has_comparator || d.log_number != e.log_number ||
        d.last_sequence != e.last_sequence || d.n_new_files != e.n_new_files)
        __builtin_trap();
out:
    fci_edit_free(&e);
    fci_edit_free(&d);
    fci_buf_free(&enc);
    fci_buf_free(&enc2);
    return 0;
}
