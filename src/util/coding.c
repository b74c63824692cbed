/*
 * coding.c - varint encoding and bounds-checked decoding.
 *
 * Every decoder here is fed bytes from disk or from another process, so each
 * one checks the end of its input before every byte it reads.
 */
#include "config.h"

#include "forkcache.h"
#include "util/coding.h"

char *fci_put_varint32(char *dst, uint32_t v)
{
    return fci_put_varint64(dst, v);
}

char *fci_put_varint64(char *dst, uint64_t v)
{
    unsigned char *d = (unsigned char *)dst;
    while (v >= 0x80) {
        *d++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *d++ = (unsigned char)v;
    return (char *)d;
}

int fci_varint_length(uint64_t v)
{
    int len = 1;
    while (v >= 0x80) {
        v >>= 7;
        len++;
    }
    return len;
}

/* Shared by both widths: at most max_bytes bytes, and the last byte may not
 * carry bits above the width (so a 32-bit varint cannot silently wrap). */
static int get_varint(const char **p, const char *end, uint64_t *v,
                      int max_bytes, int width)
{
    const unsigned char *s = (const unsigned char *)*p;
    const unsigned char *e = (const unsigned char *)end;
    uint64_t result = 0;
    for (int i = 0; i < max_bytes; i++) {
        if (s >= e)
            return FC_ECORRUPT;
        uint64_t byte = *s++;
        int shift = 7 * i;
        if (i == max_bytes - 1 && (byte & 0x7f) >> (width - shift) != 0)
            return FC_ECORRUPT;
        result |= (byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *v = result;
            *p = (const char *)s;
            return 0;
        }
    }
    return FC_ECORRUPT;
}

int fci_get_varint32(const char **p, const char *end, uint32_t *v)
{
    uint64_t wide;
    int rc = get_varint(p, end, &wide, FCI_MAX_VARINT32_LEN, 32);
    if (rc == 0)
        *v = (uint32_t)wide;
    return rc;
}

int fci_get_varint64(const char **p, const char *end, uint64_t *v)
{
    return get_varint(p, end, v, FCI_MAX_VARINT64_LEN, 64);
}

int fci_get_length_prefixed(const char **p, const char *end, fci_slice *out)
{
    const char *q = *p;
    uint32_t len;
    if (fci_get_varint32(&q, end, &len) != 0)
        return FC_ECORRUPT;
    if ((size_t)(end - q) < len)
        return FC_ECORRUPT;
    out->data = q;
    out->size = len;
    *p = q + len;
    return 0;
}

int fci_get_fixed32_checked(const char **p, const char *end, uint32_t *v)
{
    if (end - *p < 4)
        return FC_ECORRUPT;
    *v = fci_get_fixed32(*p);
    *p += 4;
    return 0;
}

int fci_get_fixed64_checked(const char **p, const char *end, uint64_t *v)
{
    if (end - *p < 8)
        return FC_ECORRUPT;
    *v = fci_get_fixed64(*p);
    *p += 8;
    return 0;
}
