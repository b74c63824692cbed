/*
 * expiry.c - writes to a store created with TTL on: every value carries an
 * 8-byte expiry frame, stamped when the batch is written, so a batch built
 * before the write still expires relative to its write time.
 *
 * Expiries are fixed in the process that calls fc_write / fc_put_ttl, from
 * the store's clock, before the batch goes to the local writer or through
 * the write queue: the queue and the WAL carry finished frames.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "db/write/expiry.h"
#include "db/write/write.h"
#include "format/dbformat.h"
#include "shm/counters.h"
#include "util/clock.h"
#include "util/coding.h"

void fci_ttl_marks_clear(fci_ttl_marks *mk)
{
    mk->framed = 0;
    mk->n = 0;
}

void fci_ttl_marks_free(fci_ttl_marks *mk)
{
    free(mk->m);
    memset(mk, 0, sizeof *mk);
}

/* Appends one record whose value is a zero frame plus val. */
static int put_framed(fci_write_batch *b, fci_slice key, fci_slice val)
{
    char small[256];
    char *buf = fci_ttl_frame(0, val, small, sizeof small);
    if (buf == NULL)
        return FC_ENOMEM;
    int rc = fci_batch_put(b, key, fci_slice_make(buf, FC_TTL_FRAME_SIZE + val.size));
    if (buf != small)
        free(buf);
    return rc;
}

/* One value of a batch being rebuilt: framed (never expiring) when add,
 * else with the library's never-expiring frame taken off again. A value
 * that its frame would make longer than FC_MAX_VALUE_SIZE is refused here,
 * before any WAL holds it: the memtable would refuse it after, and WAL
 * replay at every later open too. */
static int reframe_value(fci_write_batch *out, fci_slice key, fci_slice val, int add)
{
    if (add && val.size > FC_MAX_VALUE_SIZE - FC_TTL_FRAME_SIZE)
        return FC_ETOOBIG;
    if (add)
        return put_framed(out, key, val);
    if (val.size < FC_TTL_FRAME_SIZE)
        return FC_ECORRUPT;
    val.data += FC_TTL_FRAME_SIZE;
    val.size -= FC_TTL_FRAME_SIZE;
    return fci_batch_put(out, key, val);
}

/* Rebuilds a plain batch with a never-expiring frame on every value, so
 * that plain and ttl'd puts can share a batch; with add 0, takes such
 * frames off again, so a plain batch written to a framed store can then be
 * written to a plain one. */
static int reframe_batch(fci_write_batch *b, int add)
{
    fci_write_batch out;
    int rc = fci_batch_init(&out);
    fci_batch_iter it;
    if (rc == 0)
        rc = fci_batch_iter_init(&it, fci_batch_contents(b), NULL);
    int type;
    fci_slice key, val;
    while (rc == 0 && (rc = fci_batch_iter_next(&it, &type, &key, &val, NULL)) == 1)
        rc = type == FCI_TYPE_VALUE ? reframe_value(&out, key, val, add)
                                    : fci_batch_delete(&out, key);
    if (rc == 0) {
        fci_batch_set_sequence(&out, fci_batch_sequence(b));
        fci_batch_free(b);
        *b = out;
    } else {
        fci_batch_free(&out);
    }
    return rc;
}

int fci_ttl_batch_put(fci_write_batch *b, fci_ttl_marks *mk, fci_slice key, fci_slice val,
                      uint64_t ttl_ms)
{
    if (val.size > FC_MAX_VALUE_SIZE - FC_TTL_FRAME_SIZE)
        return FC_ETOOBIG;
    int rc = 0;
    if (!mk->framed && fci_batch_count(b) > 0)
        rc = reframe_batch(b, 1);
    if (rc != 0)
        return rc;
    mk->framed = 1;
    if (ttl_ms > 0 && mk->n == mk->cap) {
        size_t cap = mk->cap ? mk->cap * 2 : 8;
        fci_ttl_mark *m = realloc(mk->m, cap * sizeof *m);
        if (m == NULL)
            return FC_ENOMEM;
        mk->m = m;
        mk->cap = cap;
    }
    if ((rc = put_framed(b, key, val)) != 0)
        return rc;
    if (ttl_ms > 0) {
        mk->m[mk->n].off = b->rep.size - val.size - FC_TTL_FRAME_SIZE;
        mk->m[mk->n].ttl_ms = ttl_ms;
        mk->n++;
    }
    return 0;
}

int fci_ttl_batch_stamp(fc_store *s, fci_write_batch *b, fci_ttl_marks *mk, fci_err *err)
{
    if (!s->opts.ttl_framing) {
        if (mk->n > 0)
            return fci_err_set(err, FC_EUNSUPPORTED,
                               "batch holds values with a time to live but store %s was "
                               "created without ttl_framing", s->dir);
        /* framed only by an earlier write to a framed store: every frame
         * is a never-expiring one the library added, so it comes off */
        int rc = mk->framed ? reframe_batch(b, 0) : 0;
        if (rc != 0)
            return fci_err_set(err, rc, "taking never-expiring frames off a batch for store %s: %s",
                               s->dir, fc_strerror(rc));
        mk->framed = 0;
        return 0;
    }
    if (!mk->framed) {
        int rc = reframe_batch(b, 1);
        if (rc != 0)
            return fci_err_set(err, rc, "framing a batch for expiry: %s%s", fc_strerror(rc),
                               rc == FC_ETOOBIG ? " (a value plus its 8-byte frame is over "
                                                  "FC_MAX_VALUE_SIZE)" : "");
        mk->framed = 1;
    }
    uint64_t now = fci_ttl_now(s);
    for (size_t i = 0; i < mk->n; i++)
        fci_put_fixed64(b->rep.data + mk->m[i].off, fci_ttl_expiry(now, mk->m[i].ttl_ms));
    return 0;
}

int fc_put_ttl(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t ttl_ms)
{
    uint64_t t0 = fci_mono_ns();
    int rc = fci_put_ttl(s, key, klen, val, vlen, ttl_ms);
    if (rc == 0)
        fci_counters_write_done(s->arena, FCI_C_PUTS, t0);
    return rc;
}

/* fc_put_ttl uncounted: fc_put of a framed store comes here too. */
int fci_put_ttl(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
                uint64_t ttl_ms)
{
    if (s == NULL || (key == NULL && klen > 0) || (val == NULL && vlen > 0))
        return FC_EINVAL;
    if (!s->opts.ttl_framing) {
        if (ttl_ms == 0)
            return fci_write_one(s, FCI_TYPE_VALUE, key, klen, val, vlen);
        fci_err e;
        fci_err_set(&e, FC_EUNSUPPORTED, "fc_put_ttl: store %s was created without ttl_framing",
                    s->dir);
        return fci_store_fail(s, FC_EUNSUPPORTED, &e);
    }
    if (vlen > FC_MAX_VALUE_SIZE - FC_TTL_FRAME_SIZE)
        return fci_store_fail(s, FC_ETOOBIG, NULL);
    char small[256];
    size_t n = FC_TTL_FRAME_SIZE + vlen;
    char *buf = fci_ttl_frame(fci_ttl_expiry(fci_ttl_now(s), ttl_ms), fci_slice_make(val, vlen),
                              small, sizeof small);
    if (buf == NULL)
        return fci_store_fail(s, FC_ENOMEM, NULL);
    int rc = fci_write_one(s, FCI_TYPE_VALUE, key, klen, buf, n);
    if (buf != small)
        free(buf);
    return rc;
}
