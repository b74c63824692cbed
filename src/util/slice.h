/*
 * slice.h - a borrowed run of bytes, and the bytewise comparator.
 *
 * A slice never owns its bytes: it points into a block, a mapping, an arena
 * or a caller's buffer, and is valid only as long as that memory is.
 */
#ifndef FC_UTIL_SLICE_H
#define FC_UTIL_SLICE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct fci_slice {
    const char *data;
    size_t size;
} fci_slice;

static inline fci_slice fci_slice_make(const void *data, size_t size)
{
    fci_slice s = { (const char *)data, size };
    return s;
}

static inline fci_slice fci_slice_str(const char *s)
{
    return fci_slice_make(s, strlen(s));
}

/*
 * LevelDB's "leveldb.BytewiseComparator": memcmp order, and a shorter key
 * sorts first when it is a prefix of the longer one. Returns <0, 0 or >0.
 */
int fci_bytewise_compare(fci_slice a, fci_slice b);

/*
 * The same order, inlined and eight bytes at a time, for the writer's hot
 * loops (memtable inserts, batch sorting) where keys are short and a
 * library memcmp call costs more than the compare itself.
 */
static inline int fci_bytewise_compare_short(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n >= 8) {
        /* Whole words, then the last word again overlapping the one before:
         * the bytes they share are equal, so it decides the rest. */
        for (size_t i = 0;; i += 8) {
            size_t at = i + 8 <= n ? i : n - 8;
            uint64_t x, y;
            memcpy(&x, a + at, 8);
            memcpy(&y, b + at, 8);
            if (x != y)
                return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
            if (at + 8 >= n)
                break;
        }
        n = 0;
    }
#endif
    for (; n > 0; n--, a++, b++)
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
    return an == bn ? 0 : an < bn ? -1 : 1;
}

/* fci_bytewise_compare for the read path (a get compares a dozen keys):
 * inlined for keys up to 64 bytes, a library memcmp past that. */
static inline int fci_slice_compare(fci_slice a, fci_slice b)
{
    if (a.size <= 64 && b.size <= 64)
        return fci_bytewise_compare_short(a.data, a.size, b.data, b.size);
    return fci_bytewise_compare(a, b);
}

/* The comparator's name, as stored in the MANIFEST. */
#define FCI_BYTEWISE_NAME "leveldb.BytewiseComparator"

#endif
