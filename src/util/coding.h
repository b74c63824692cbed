/*
 * coding.h - LevelDB's integer encodings: little-endian fixed32/fixed64 and
 * base-128 varints.
 *
 * Encoders write into a buffer the caller sized (FCI_MAX_VARINT*_LEN bytes is
 * always enough for one varint) and return the position past what they wrote.
 * Decoders take [*p, end), advance *p past the value on success, and return
 * FC_ECORRUPT on a truncated or over-long encoding without reading past end.
 */
#ifndef FC_UTIL_CODING_H
#define FC_UTIL_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/slice.h"

#define FCI_MAX_VARINT32_LEN 5
#define FCI_MAX_VARINT64_LEN 10

/* Byte-by-byte so the result is the same on any host byte order; compilers
 * turn these into single loads and stores on little-endian machines. */
static inline void fci_put_fixed32(char *dst, uint32_t v)
{
    unsigned char *d = (unsigned char *)dst;
    d[0] = (unsigned char)v;
    d[1] = (unsigned char)(v >> 8);
    d[2] = (unsigned char)(v >> 16);
    d[3] = (unsigned char)(v >> 24);
}

static inline void fci_put_fixed64(char *dst, uint64_t v)
{
    fci_put_fixed32(dst, (uint32_t)v);
    fci_put_fixed32(dst + 4, (uint32_t)(v >> 32));
}

static inline uint32_t fci_get_fixed32(const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    return (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16) |
           ((uint32_t)s[3] << 24);
}

static inline uint64_t fci_get_fixed64(const char *src)
{
    return (uint64_t)fci_get_fixed32(src) | ((uint64_t)fci_get_fixed32(src + 4) << 32);
}

/* Writes v as a varint at dst; returns the position after it. */
char *fci_put_varint32(char *dst, uint32_t v);
char *fci_put_varint64(char *dst, uint64_t v);

/* Number of bytes the varint encoding of v takes (1..10). */
int fci_varint_length(uint64_t v);

/* Bounds-checked decoders over [*p, end); 0 or FC_ECORRUPT. */
int fci_get_varint32(const char **p, const char *end, uint32_t *v);
int fci_get_varint64(const char **p, const char *end, uint64_t *v);

/* Reads a varint32 length and then that many bytes as a slice pointing into
 * the input. 0 or FC_ECORRUPT when either part runs past end. */
int fci_get_length_prefixed(const char **p, const char *end, fci_slice *out);

/* Bounds-checked fixed-width reads; 0 or FC_ECORRUPT. */
int fci_get_fixed32_checked(const char **p, const char *end, uint32_t *v);
int fci_get_fixed64_checked(const char **p, const char *end, uint64_t *v);

#endif
