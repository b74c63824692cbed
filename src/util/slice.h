/*
 * slice.h - a borrowed run of bytes, and the bytewise comparator.
 *
 * A slice never owns its bytes: it points into a block, a mapping, an arena
 * or a caller's buffer, and is valid only as long as that memory is.
 */
#ifndef FC_UTIL_SLICE_H
#define FC_UTIL_SLICE_H

#include <stddef.h>
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

/* The comparator's name, as stored in the MANIFEST. */
#define FCI_BYTEWISE_NAME "leveldb.BytewiseComparator"

#endif
