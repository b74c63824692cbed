/*
 * write_batch.c - LevelDB's WriteBatch encoding (see write_batch.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "format/dbformat.h"
#include "format/write_batch.h"
#include "util/coding.h"

/* The header exists from the start, so the accessors never check size. */
int fci_batch_init(fci_write_batch *b)
{
    fci_buf_init(&b->rep);
    static const char zero[FCI_BATCH_HEADER_SIZE] = { 0 };
    return fci_buf_append(&b->rep, zero, sizeof zero);
}

void fci_batch_free(fci_write_batch *b)
{
    fci_buf_free(&b->rep);
}

/* Keeps the memory: the writer reuses one batch for every group commit. */
void fci_batch_clear(fci_write_batch *b)
{
    fci_buf_truncate(&b->rep, FCI_BATCH_HEADER_SIZE);
    memset(b->rep.data, 0, FCI_BATCH_HEADER_SIZE);
}

/* Header accessors: the header is always there (see fci_batch_init). */
uint64_t fci_batch_sequence(const fci_write_batch *b)
{
    return fci_get_fixed64(b->rep.data);
}

void fci_batch_set_sequence(fci_write_batch *b, uint64_t seq)
{
    fci_put_fixed64(b->rep.data, seq);
}

uint32_t fci_batch_count(const fci_write_batch *b)
{
    return fci_get_fixed32(b->rep.data + 8);
}

void fci_batch_set_count(fci_write_batch *b, uint32_t count)
{
    fci_put_fixed32(b->rep.data + 8, count);
}

/* Appends one record, encoded in place after a single reserve; on failure
 * the batch is left exactly as it was, so a caller can keep using it after
 * FC_ENOMEM. */
static int add_record(fci_write_batch *b, int type, fci_slice key, const fci_slice *value)
{
    if (key.size > UINT32_MAX || (value && value->size > UINT32_MAX))
        return FC_ETOOBIG;
    size_t need = 1 + (size_t)fci_varint_length(key.size) + key.size;
    if (value)
        need += (size_t)fci_varint_length(value->size) + value->size;
    int rc = fci_buf_reserve(&b->rep, need);
    if (rc != 0)
        return rc;
    char *p = b->rep.data + b->rep.size;
    *p++ = (char)type;
    p = fci_put_varint32(p, (uint32_t)key.size);
    if (key.size > 0)
        memcpy(p, key.data, key.size);
    p += key.size;
    if (value) {
        p = fci_put_varint32(p, (uint32_t)value->size);
        if (value->size > 0)
            memcpy(p, value->data, value->size);
    }
    b->rep.size += need;
    fci_batch_set_count(b, fci_batch_count(b) + 1);
    return 0;
}

/* put and delete differ only in the value part LevelDB omits. */
int fci_batch_put(fci_write_batch *b, fci_slice key, fci_slice value)
{
    return add_record(b, FCI_TYPE_VALUE, key, &value);
}

int fci_batch_delete(fci_write_batch *b, fci_slice key)
{
    return add_record(b, FCI_TYPE_DELETION, key, NULL);
}

int fci_batch_append(fci_write_batch *dst, const fci_write_batch *src)
{
    if (src->rep.size < FCI_BATCH_HEADER_SIZE)
        return FC_EINVAL;
    size_t n = src->rep.size - FCI_BATCH_HEADER_SIZE;
    uint32_t count = fci_batch_count(src);
    /* Reserve first: when dst is src, growing moves the bytes we copy. */
    int rc = fci_buf_reserve(&dst->rep, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(dst->rep.data + dst->rep.size, src->rep.data + FCI_BATCH_HEADER_SIZE, n);
    dst->rep.size += n;
    fci_batch_set_count(dst, fci_batch_count(dst) + count);
    return 0;
}

/* Only the header is checked: the records are checked when walked,
 * once, rather than on every copy. */
int fci_batch_set_contents(fci_write_batch *b, fci_slice rep, fci_err *err)
{
    if (rep.size < FCI_BATCH_HEADER_SIZE)
        return fci_err_set(err, FC_ECORRUPT, "write batch: %zu bytes, shorter than its header",
                           rep.size);
    fci_buf_clear(&b->rep);
    return fci_buf_append(&b->rep, rep.data, rep.size);
}

/* Recovery needs the sequence of a WAL record before walking it. */
int fci_batch_header(fci_slice rep, uint64_t *sequence, uint32_t *count, fci_err *err)
{
    if (rep.size < FCI_BATCH_HEADER_SIZE)
        return fci_err_set(err, FC_ECORRUPT, "write batch: %zu bytes, shorter than its header",
                           rep.size);
    if (sequence)
        *sequence = fci_get_fixed64(rep.data);
    if (count)
        *count = fci_get_fixed32(rep.data + 8);
    return 0;
}

/* The iterator keeps only pointers into rep: no allocation at all. */
int fci_batch_iter_init(fci_batch_iter *it, fci_slice rep, fci_err *err)
{
    int rc = fci_batch_header(rep, NULL, &it->count, err);
    if (rc != 0)
        return rc;
    it->start = rep.data;
    it->p = rep.data + FCI_BATCH_HEADER_SIZE;
    it->end = rep.data + rep.size;
    it->seen = 0;
    return 0;
}

/* Nothing is trusted: each length is checked against the end before use,
 * and the count is compared with what is really there at the end, so a
 * header claiming billions of records costs nothing. */
int fci_batch_iter_next(fci_batch_iter *it, int *type, fci_slice *key, fci_slice *value,
                        fci_err *err)
{
    if (it->p >= it->end) {
        if (it->seen != it->count)
            return fci_err_set(err, FC_ECORRUPT,
                               "write batch: header counts %lu records, found %lu",
                               (unsigned long)it->count, (unsigned long)it->seen);
        return 0;
    }
    unsigned long long at = (unsigned long long)(it->p - it->start);
    int t = (unsigned char)*it->p++;
    if (t != FCI_TYPE_VALUE && t != FCI_TYPE_DELETION)
        return fci_err_set(err, FC_ECORRUPT, "write batch: offset %llu: unknown record tag %d",
                           at, t);
    if (fci_get_length_prefixed(&it->p, it->end, key) != 0)
        return fci_err_set(err, FC_ECORRUPT, "write batch: offset %llu: bad key", at);
    *value = fci_slice_make(key->data + key->size, 0);
    if (t == FCI_TYPE_VALUE && fci_get_length_prefixed(&it->p, it->end, value) != 0)
        return fci_err_set(err, FC_ECORRUPT, "write batch: offset %llu: bad value", at);
    if (it->seen == UINT32_MAX || it->seen >= it->count)
        return fci_err_set(err, FC_ECORRUPT,
                           "write batch: offset %llu: more records than the count %lu", at,
                           (unsigned long)it->count);
    it->seen++;
    *type = t;
    return 1;
}

/* A callback walk for code that does not need to pause between records. */
int fci_batch_iterate(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err)
{
    fci_batch_iter it;
    int rc = fci_batch_iter_init(&it, rep, err);
    if (rc != 0)
        return rc;
    uint64_t seq = fci_get_fixed64(rep.data);
    int type;
    fci_slice key, value;
    while ((rc = fci_batch_iter_next(&it, &type, &key, &value, err)) == 1) {
        rc = fn(arg, seq, type, key, value);
        if (rc != 0)
            return rc;
        seq++;
    }
    return rc;
}

/* A dry walk, so damage is found before anything is applied. */
int fci_batch_validate(fci_slice rep, fci_err *err)
{
    fci_batch_iter it;
    int rc = fci_batch_iter_init(&it, rep, err);
    if (rc != 0)
        return rc;
    int type;
    fci_slice key, value;
    while ((rc = fci_batch_iter_next(&it, &type, &key, &value, err)) == 1)
        ;
    return rc;
}

/* No sequence may wrap past what an internal key can carry. */
static int check_sequences(fci_slice rep, fci_err *err)
{
    uint64_t seq = fci_get_fixed64(rep.data);
    uint32_t count = fci_get_fixed32(rep.data + 8);
    if (count > 0 && (seq > FCI_MAX_SEQUENCE || count - 1 > FCI_MAX_SEQUENCE - seq))
        return fci_err_set(err, FC_ECORRUPT,
                           "write batch: sequences %llu + %lu records pass the maximum",
                           (unsigned long long)seq, (unsigned long)count);
    return 0;
}

/* Validate first, then apply: a memtable must never hold half a batch. */
int fci_batch_insert(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err)
{
    int rc = fci_batch_validate(rep, err);
    if (rc == 0)
        rc = check_sequences(rep, err);
    return rc != 0 ? rc : fci_batch_iterate(rep, fn, arg, err);
}

/* One record of a batch being applied in key order. */
typedef struct batch_rec {
    fci_slice key, value;
    int type;
} batch_rec;

/* What the sort moves: the first 16 bytes of the user key, big-endian and
 * zero-padded, so most comparisons need neither the key nor the record,
 * and the record's position in the batch (its sequence is first + index). */
typedef struct sort_key {
    uint64_t p0, p1;
    uint32_t index;
} sort_key;

static uint64_t prefix_word(const char *p, size_t n)
{
    unsigned char b[8] = { 0 };
    if (n >= 8)
        memcpy(b, p, 8);
    else if (n > 0)
        memcpy(b, p, n);
    return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 |
           (uint64_t)b[3] << 32 | (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
           (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

/* Internal-key order: user keys ascending, and for one key the later
 * record (the higher sequence) first. Equal prefixes (a zero-padded short
 * key among them) fall back to the whole keys. Records never compare
 * equal. */
static int key_compare(const batch_rec *r, const sort_key *a, const sort_key *b)
{
    if (a->p0 != b->p0)
        return a->p0 < b->p0 ? -1 : 1;
    if (a->p1 != b->p1)
        return a->p1 < b->p1 ? -1 : 1;
    const batch_rec *x = &r[a->index], *y = &r[b->index];
    int c = fci_bytewise_compare_short(x->key.data, x->key.size, y->key.data, y->key.size);
    if (c != 0)
        return c;
    return a->index > b->index ? -1 : 1;
}

/* Bottom-up merge sort of k (tmp is scratch of the same size); returns
 * whichever of the two holds the result. An already sorted batch (a
 * sequential load) costs one pass. */
static sort_key *sort_keys(const batch_rec *r, sort_key *k, sort_key *tmp, uint32_t n)
{
    uint32_t i = 1;
    while (i < n && key_compare(r, &k[i - 1], &k[i]) < 0)
        i++;
    if (i >= n)
        return k;
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t a = lo, b = mid, out = lo;
            while (a < mid && b < hi)
                tmp[out++] = key_compare(r, &k[a], &k[b]) < 0 ? k[a++] : k[b++];
            while (a < mid)
                tmp[out++] = k[a++];
            while (b < hi)
                tmp[out++] = k[b++];
        }
        sort_key *t = k;
        k = tmp;
        tmp = t;
    }
    return k;
}

/* Collects the records of rep into recs and their sort keys into k,
 * checking each record as the iterator does. */
static int collect_recs(fci_slice rep, batch_rec *recs, sort_key *k, fci_err *err)
{
    fci_batch_iter it;
    int rc = fci_batch_iter_init(&it, rep, err);
    if (rc != 0)
        return rc;
    batch_rec r;
    uint32_t n = 0;
    while ((rc = fci_batch_iter_next(&it, &r.type, &r.key, &r.value, err)) == 1) {
        k[n].p0 = prefix_word(r.key.data, r.key.size);
        k[n].p1 = r.key.size > 8 ? prefix_word(r.key.data + 8, r.key.size - 8) : 0;
        k[n].index = n;
        recs[n++] = r;
    }
    return rc;
}

/* The batch's records in internal-key order, so the memtable inserts them
 * as an ascending run: each insert then starts its search at the one
 * before (a finger search) instead of at the head. The records are checked
 * before any is applied. 1 when done, 0 when there was no memory for the
 * sort (the caller then applies in batch order). */
static int apply_sorted(fci_slice rep, uint32_t count, fci_batch_fn fn, void *arg, fci_err *err)
{
    char *mem = malloc((size_t)count * (sizeof(batch_rec) + 2 * sizeof(sort_key)));
    if (mem == NULL)
        return 0;
    sort_key *k = (sort_key *)mem, *tmp = k + count;
    batch_rec *recs = (batch_rec *)(tmp + count);
    int rc = collect_recs(rep, recs, k, err);
    if (rc == 0) {
        uint64_t seq = fci_get_fixed64(rep.data);
        k = sort_keys(recs, k, tmp, count);
        for (uint32_t i = 0; i < count && rc == 0; i++) {
            const batch_rec *r = &recs[k[i].index];
            rc = fn(arg, seq + k[i].index, r->type, r->key, r->value);
        }
    }
    free(mem);
    return rc != 0 ? rc : 1;
}

/* Below this many records the order of inserts hardly matters. */
#define SORT_MIN_RECORDS 8

/* One pass over the bytes instead of two: the batch was encoded by this
 * process or validated when it arrived. */
int fci_batch_apply(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err)
{
    int rc = fci_batch_header(rep, NULL, NULL, err);
    if (rc == 0)
        rc = check_sequences(rep, err);
    if (rc != 0)
        return rc;
    uint32_t count = fci_get_fixed32(rep.data + 8);
    /* A count the bytes cannot hold (records take at least two bytes) is
     * left to the plain walk, which reports it, rather than sized for. */
    if (count >= SORT_MIN_RECORDS && count <= (rep.size - FCI_BATCH_HEADER_SIZE) / 2) {
        rc = apply_sorted(rep, count, fn, arg, err);
        if (rc != 0)
            return rc == 1 ? 0 : rc;
    }
    return fci_batch_iterate(rep, fn, arg, err);
}
