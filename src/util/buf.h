/*
 * buf.h - a growable byte buffer owned by one process (heap, never arena).
 *
 * Builders (blocks, tables, batches, edits) append to one of these. Appends
 * return 0 or FC_ENOMEM; after a failure the buffer keeps its old contents.
 */
#ifndef FC_UTIL_BUF_H
#define FC_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/slice.h"

typedef struct fci_buf {
    char *data;
    size_t size;
    size_t cap;
} fci_buf;

#define FCI_BUF_INIT { NULL, 0, 0 }

void fci_buf_init(fci_buf *b);
void fci_buf_free(fci_buf *b);
void fci_buf_clear(fci_buf *b);              /* size 0, keeps the memory */
int fci_buf_reserve(fci_buf *b, size_t extra);  /* room for extra more bytes */
int fci_buf_append(fci_buf *b, const void *data, size_t n);
int fci_buf_push(fci_buf *b, char c);
int fci_buf_put_fixed32(fci_buf *b, uint32_t v);
int fci_buf_put_fixed64(fci_buf *b, uint64_t v);
int fci_buf_put_varint32(fci_buf *b, uint32_t v);
int fci_buf_put_varint64(fci_buf *b, uint64_t v);
/* varint32 length followed by the bytes: LevelDB's length-prefixed slice. */
int fci_buf_put_length_prefixed(fci_buf *b, fci_slice s);
void fci_buf_truncate(fci_buf *b, size_t size);  /* size <= b->size */

static inline fci_slice fci_buf_slice(const fci_buf *b)
{
    return fci_slice_make(b->data, b->size);
}

#endif
