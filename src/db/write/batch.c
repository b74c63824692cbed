/*
 * batch.c - fc_batch, the public write batch: puts and deletes gathered in
 * LevelDB's WriteBatch format, with the expiry frames to stamp at fc_write.
 */
#include "config.h"

#include <stdlib.h>

#include "forkcache.h"
#include "db/write/expiry.h"
#include "db/write/write.h"
#include "format/dbformat.h"

int fc_batch_new(fc_batch **out)
{
    if (out == NULL)
        return FC_EINVAL;
    fc_batch *b = calloc(1, sizeof *b);
    if (b == NULL || fci_batch_init(&b->wb) != 0) {
        free(b);
        return FC_ENOMEM;
    }
    *out = b;
    return 0;
}

int fci_check_sizes(const void *key, size_t klen, const void *val, size_t vlen)
{
    if ((key == NULL && klen > 0) || (val == NULL && vlen > 0))
        return FC_EINVAL;
    if (klen > FC_MAX_KEY_SIZE || vlen > FC_MAX_VALUE_SIZE)
        return FC_ETOOBIG;
    return 0;
}

int fc_batch_put(fc_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (b == NULL)
        return FC_EINVAL;
    int rc = fci_check_sizes(key, klen, val, vlen);
    if (rc == 0 && b->ttl.framed)
        return fci_ttl_batch_put(&b->wb, &b->ttl, fci_slice_make(key, klen),
                                 fci_slice_make(val, vlen), 0);
    return rc ? rc : fci_batch_put(&b->wb, fci_slice_make(key, klen), fci_slice_make(val, vlen));
}

int fc_batch_del(fc_batch *b, const void *key, size_t klen)
{
    if (b == NULL)
        return FC_EINVAL;
    int rc = fci_check_sizes(key, klen, NULL, 0);
    return rc ? rc : fci_batch_delete(&b->wb, fci_slice_make(key, klen));
}

void fc_batch_clear(fc_batch *b)
{
    if (b != NULL) {
        fci_batch_clear(&b->wb);
        fci_ttl_marks_clear(&b->ttl);
    }
}

size_t fc_batch_count(const fc_batch *b)
{
    return b ? fci_batch_count(&b->wb) : 0;
}

void fc_batch_free(fc_batch *b)
{
    if (b != NULL) {
        fci_batch_free(&b->wb);
        fci_ttl_marks_free(&b->ttl);
        free(b);
    }
}

int fc_batch_put_ttl(fc_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t ttl_ms)
{
    if (b == NULL)
        return FC_EINVAL;
    if (ttl_ms == 0)
        return fc_batch_put(b, key, klen, val, vlen);
    int rc = fci_check_sizes(key, klen, val, vlen);
    return rc ? rc : fci_ttl_batch_put(&b->wb, &b->ttl, fci_slice_make(key, klen),
                                       fci_slice_make(val, vlen), ttl_ms);
}
