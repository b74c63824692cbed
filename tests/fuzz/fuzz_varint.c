/*
 * fuzz_varint.c - the varint and length-prefixed decoders on arbitrary
 * bytes: they must never read outside [data, data+size) and every value
 * they accept must re-encode to the bytes it came from.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "util/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *start = p;
        uint64_t v;
        if (fci_get_varint64(&p, end, &v) != 0)
            break;
        char tmp[FCI_MAX_VARINT64_LEN];
        char *e = fci_put_varint64(tmp, v);
        /* Canonical input re-encodes exactly; padded input (0x80 ... 0x00)
         * decodes to the same value with a shorter encoding. */
        if ((size_t)(e - tmp) == (size_t)(p - start) && memcmp(tmp, start, (size_t)(e - tmp)) != 0)
            __builtin_trap();
    }
    p = (const char *)data;
    fci_slice s;
    while (fci_get_length_prefixed(&p, end, &s) == 0)
        if (s.data < (const char *)data || s.data + s.size > end)
            __builtin_trap();
    return 0;
}
