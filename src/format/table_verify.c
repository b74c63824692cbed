/*
 * table_verify.c - fci_table_verify: a full walk of a table checking every
 * block, checksum and ordering rule, for `forkcache verify`, for tests, and
 * for whoever suspects a file (see table.h).
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "format/dbformat.h"
#include "format/table.h"
#include "util/coding.h"

/* Blocks are read with the built-in reader and their CRCs always checked,
 * whatever the table's flags or fetcher. */
static int read_checked(const fci_table *t, fci_block_handle h, const char *what,
                        fci_block_ref *ref, fci_block *b, fci_err *err)
{
    fci_table tmp = *t;
    tmp.fetcher = NULL;
    int rc = fci_table_read_block(&tmp, h, 1, ref, err);
    if (rc != 0) {
        fci_err inner = err ? *err : (fci_err){ 0, "" };
        return fci_err_set(err, rc, "%s block: %s", what, inner.msg);
    }
    if (b && (rc = fci_block_init(b, ref->data.data, ref->data.size, err)) != 0) {
        fci_err inner = err ? *err : (fci_err){ 0, "" };
        fci_table_release_block(&tmp, ref);
        return fci_err_set(err, rc, "%s block at offset %llu: %s", what,
                           (unsigned long long)h.offset, inner.msg);
    }
    return 0;
}

/* The filter block's own layout, stricter than the reader needs. */
static int check_filter(fci_slice f, uint64_t off, fci_err *err)
{
    if (f.size < 5)
        return fci_err_set(err, FC_ECORRUPT, "filter block at offset %llu: %zu bytes, too short",
                           (unsigned long long)off, f.size);
    uint32_t array = fci_get_fixed32(f.data + f.size - 5);
    if (array > f.size - 5 || (f.size - 5 - array) % 4 != 0)
        return fci_err_set(err, FC_ECORRUPT, "filter block at offset %llu: bad offset array at %u",
                           (unsigned long long)off, array);
    uint32_t prev = 0;
    for (uint32_t p = array; p < f.size - 5; p += 4) {
        uint32_t start = fci_get_fixed32(f.data + p);
        if (start < prev || start > array)
            return fci_err_set(err, FC_ECORRUPT, "filter block at offset %llu: filter offset %u out of order",
                               (unsigned long long)(off + p), start);
        prev = start;
    }
    return 0;
}

static int verify_metaindex(const fci_table *t, fci_err *err)
{
    fci_block_ref ref;
    fci_block b;
    int rc = read_checked(t, t->metaindex_handle, "metaindex", &ref, &b, err);
    if (rc != 0)
        return rc;
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_bytewise_compare);
    fci_buf prev = FCI_BUF_INIT;
    int first = 1;
    for (fci_block_iter_first(&it); rc == 0 && fci_block_iter_valid(&it); fci_block_iter_next(&it)) {
        uint64_t where = t->metaindex_handle.offset + it.current;
        if (!first && fci_bytewise_compare(it.key, fci_buf_slice(&prev)) <= 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "metaindex: offset %llu: names out of order",
                             (unsigned long long)where);
            break;
        }
        first = 0;
        fci_buf_clear(&prev);
        if (fci_buf_append(&prev, it.key.data, it.key.size) != 0) {
            rc = fci_err_set(err, FC_ENOMEM, "metaindex: no memory");
            break;
        }
        fci_block_handle h;
        const char *p = it.value.data;
        if (fci_block_handle_decode(&p, p + it.value.size, &h) != 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "metaindex: offset %llu: bad block handle",
                             (unsigned long long)where);
            break;
        }
        fci_block_ref mref;
        if ((rc = read_checked(t, h, "meta", &mref, NULL, err)) != 0)
            break;
        if (fci_bytewise_compare(it.key, fci_slice_str(FCI_FILTER_META_KEY)) == 0)
            rc = check_filter(mref.data, h.offset, err);
        fci_table_release_block(t, &mref);
    }
    if (rc == 0 && it.status != 0) {
        fci_err inner;
        fci_block_iter_status(&it, &inner);
        rc = fci_err_set(err, it.status, "metaindex at offset %llu: %s",
                         (unsigned long long)t->metaindex_handle.offset, inner.msg);
    }
    fci_buf_free(&prev);
    fci_block_iter_free(&it);
    fci_table_release_block(t, &ref);
    return rc;
}

typedef struct verify_state {
    const fci_table *t;
    fci_buf last;          /* last key of the table so far */
    int have_last;
    uint64_t next_offset;  /* data blocks are contiguous from 0 */
    uint64_t data_limit;   /* first byte of the meta blocks */
} verify_state;

/* Every entry of one data block: parseable, increasing, at most the index
 * key that covers the block, and known to the filter. */
static int verify_data_block(verify_state *vs, fci_block_handle h, fci_slice index_key,
                             fci_slice prev_index, fci_err *err)
{
    const fci_table *t = vs->t;
    if (h.offset != vs->next_offset)
        return fci_err_set(err, FC_ECORRUPT, "index: data block at offset %llu, expected %llu",
                           (unsigned long long)h.offset, (unsigned long long)vs->next_offset);
    if (h.offset > vs->data_limit || h.size + FCI_BLOCK_TRAILER_SIZE > vs->data_limit - h.offset)
        return fci_err_set(err, FC_ECORRUPT, "index: data block at offset %llu overlaps the meta blocks",
                           (unsigned long long)h.offset);
    vs->next_offset = h.offset + h.size + FCI_BLOCK_TRAILER_SIZE;
    fci_block_ref ref;
    fci_block b;
    int rc = read_checked(t, h, "data", &ref, &b, err);
    if (rc != 0)
        return rc;
    int zero_copy = t->base != NULL && ref.data.data == t->base + h.offset;
    fci_block_iter it;
    fci_block_iter_init(&it, &b, fci_ikey_compare);
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it); fci_block_iter_next(&it)) {
        unsigned long long where = h.offset + it.current;
        const char *at = zero_copy ? "offset" : "compressed block, entry";
        if (!zero_copy)
            where = it.current;
        fci_parsed_ikey pk;
        if (fci_ikey_parse(it.key, &pk) != 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "data block at offset %llu: %s %llu: bad internal key",
                             (unsigned long long)h.offset, at, where);
            break;
        }
        if (vs->have_last && fci_ikey_compare(it.key, fci_buf_slice(&vs->last)) <= 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "data block at offset %llu: %s %llu: key out of order",
                             (unsigned long long)h.offset, at, where);
            break;
        }
        if (prev_index.size && fci_ikey_compare(it.key, prev_index) <= 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "data block at offset %llu: %s %llu: key not past the previous index entry",
                             (unsigned long long)h.offset, at, where);
            break;
        }
        if (fci_ikey_compare(it.key, index_key) > 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "data block at offset %llu: %s %llu: key past its index entry",
                             (unsigned long long)h.offset, at, where);
            break;
        }
        if (t->has_filter && !fci_filter_key_may_match(&t->filter, h.offset, pk.user_key)) {
            rc = fci_err_set(err, FC_ECORRUPT, "data block at offset %llu: %s %llu: filter rejects a key the block holds",
                             (unsigned long long)h.offset, at, where);
            break;
        }
        fci_buf_clear(&vs->last);
        if (fci_buf_append(&vs->last, it.key.data, it.key.size) != 0) {
            rc = fci_err_set(err, FC_ENOMEM, "verify: no memory");
            break;
        }
        vs->have_last = 1;
    }
    if (rc == 0 && it.status != 0) {
        fci_err inner;
        fci_block_iter_status(&it, &inner);
        rc = fci_err_set(err, it.status, "data block at offset %llu: %s", (unsigned long long)h.offset,
                         inner.msg);
    }
    fci_block_iter_free(&it);
    fci_table_release_block(t, &ref);
    return rc;
}

int fci_table_verify(const fci_table *t, fci_err *err)
{
    int rc = verify_metaindex(t, err);
    if (rc != 0)
        return rc;
    verify_state vs;
    memset(&vs, 0, sizeof vs);
    vs.t = t;
    fci_buf_init(&vs.last);
    vs.data_limit = t->metaindex_handle.offset;
    if (t->index_handle.offset < vs.data_limit)
        vs.data_limit = t->index_handle.offset;
    if (t->has_filter && t->filter_handle.offset < vs.data_limit)
        vs.data_limit = t->filter_handle.offset;
    fci_block_iter it;
    fci_block_iter_init(&it, &t->index, fci_ikey_compare);
    fci_buf prev_index = FCI_BUF_INIT;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it); fci_block_iter_next(&it)) {
        uint64_t where = t->index_handle.offset + it.current;
        if (prev_index.size && fci_ikey_compare(it.key, fci_buf_slice(&prev_index)) <= 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "index: entry %llu: keys out of order",
                             (unsigned long long)where);
            break;
        }
        fci_block_handle h;
        const char *p = it.value.data;
        if (fci_block_handle_decode(&p, p + it.value.size, &h) != 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "index: entry %llu: bad block handle",
                             (unsigned long long)where);
            break;
        }
        if ((rc = verify_data_block(&vs, h, it.key, fci_buf_slice(&prev_index), err)) != 0)
            break;
        fci_buf_clear(&prev_index);
        if (fci_buf_append(&prev_index, it.key.data, it.key.size) != 0) {
            rc = fci_err_set(err, FC_ENOMEM, "verify: no memory");
            break;
        }
    }
    if (rc == 0 && it.status != 0) {
        fci_err inner;
        fci_block_iter_status(&it, &inner);
        rc = fci_err_set(err, it.status, "index block at offset %llu: %s",
                         (unsigned long long)t->index_handle.offset, inner.msg);
    }
    fci_buf_free(&prev_index);
    fci_buf_free(&vs.last);
    fci_block_iter_free(&it);
    return rc;
}
