/*
 * buf.c - growable byte buffer for builders.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "util/buf.h"
#include "util/coding.h"

void fci_buf_init(fci_buf *b)
{
    b->data = NULL;
    b->size = 0;
    b->cap = 0;
}

void fci_buf_free(fci_buf *b)
{
    free(b->data);
    fci_buf_init(b);
}

void fci_buf_clear(fci_buf *b)
{
    b->size = 0;
}

/* Doubling keeps appends amortised O(1); the overflow checks keep a huge
 * request from wrapping into a small allocation. */
int fci_buf_reserve(fci_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->size)
        return FC_ENOMEM;
    size_t need = b->size + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return FC_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fci_buf_append(fci_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    int rc = fci_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->size, data, n);
    b->size += n;
    return 0;
}

int fci_buf_push(fci_buf *b, char c)
{
    return fci_buf_append(b, &c, 1);
}

int fci_buf_put_fixed32(fci_buf *b, uint32_t v)
{
    char tmp[4];
    fci_put_fixed32(tmp, v);
    return fci_buf_append(b, tmp, sizeof tmp);
}

int fci_buf_put_fixed64(fci_buf *b, uint64_t v)
{
    char tmp[8];
    fci_put_fixed64(tmp, v);
    return fci_buf_append(b, tmp, sizeof tmp);
}

int fci_buf_put_varint32(fci_buf *b, uint32_t v)
{
    char tmp[FCI_MAX_VARINT32_LEN];
    char *end = fci_put_varint32(tmp, v);
    return fci_buf_append(b, tmp, (size_t)(end - tmp));
}

int fci_buf_put_varint64(fci_buf *b, uint64_t v)
{
    char tmp[FCI_MAX_VARINT64_LEN];
    char *end = fci_put_varint64(tmp, v);
    return fci_buf_append(b, tmp, (size_t)(end - tmp));
}

int fci_buf_put_length_prefixed(fci_buf *b, fci_slice s)
{
    if (s.size > UINT32_MAX)
        return FC_ETOOBIG;
    int rc = fci_buf_reserve(b, FCI_MAX_VARINT32_LEN + s.size);
    if (rc != 0)
        return rc;
    fci_buf_put_varint32(b, (uint32_t)s.size);
    return fci_buf_append(b, s.data, s.size);
}

void fci_buf_truncate(fci_buf *b, size_t size)
{
    if (size < b->size)
        b->size = size;
}
