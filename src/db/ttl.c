/*
 * ttl.c - expiry: the clock, the shared counters, framing values, and
 * stamping a batch's expiries when it is written (see ttl.h).
 *
 * Expiries are fixed in the process that calls fc_write / fc_put_ttl, from
 * the store's clock, before the batch goes to the local writer or through
 * the write queue: the queue and the WAL carry finished frames.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"
#include "db/store.h"
#include "db/ttl.h"
#include "format/dbformat.h"
#include "shm/layout.h"
#include "util/clock.h"
#include "util/coding.h"

fci_ttl_shared *fci_ttl_shared_of(const fc_store *s)
{
    return s ? s->ttl_shared : NULL;
}

/* The block is filled (zeroed) before its offset is released, so a reader
 * that acquires the offset never sees a half-made block. */
static int make_shared(fc_store *s, fci_err *err)
{
    uint64_t off;
    int rc = fci_arena_alloc(s->arena, sizeof(fci_ttl_shared), &off, err);
    if (rc != 0)
        return rc;
    fci_ttl_shared *sh = fci_arena_ptr(s->arena, off, sizeof *sh);
    memset(sh, 0, sizeof *sh);
    /* release: the zeroed block is visible before its offset */
    atomic_store_explicit(&s->arena->hdr->ttl_off, off, memory_order_release);
    s->ttl_shared = sh;
    return 0;
}

int fci_ttl_attach(fc_store *s, fci_err *err)
{
    if (s->role == FCI_ROLE_READER) {
        /* acquire: pairs with make_shared's release */
        uint64_t off = atomic_load_explicit(&s->arena->hdr->ttl_off, memory_order_acquire);
        s->ttl_shared = off ? fci_arena_ptr(s->arena, off, sizeof(fci_ttl_shared)) : NULL;
        return 0;
    }
    if (s->w == NULL)
        return make_shared(s, err); /* read-only: its own private arena, no threads */
    pthread_mutex_lock(&s->w->mu); /* only the writer allocates, under mu */
    int rc = make_shared(s, err);
    pthread_mutex_unlock(&s->w->mu);
    return rc;
}

uint64_t fci_ttl_now(const fc_store *s)
{
    const fci_ttl_shared *sh = fci_ttl_shared_of(s);
    /* relaxed: any recent setting will do, nothing else depends on it */
    uint64_t fixed = sh ? atomic_load_explicit(&sh->clock_ms, memory_order_relaxed) : 0;
    if (fixed != 0)
        return fixed;
    return fci_realtime_ms();
}

int fci_ttl_set_clock(fc_store *s, uint64_t ms)
{
    fci_ttl_shared *sh = fci_ttl_shared_of(s);
    if (sh == NULL)
        return FC_EINVAL;
    /* relaxed: see fci_ttl_now */
    atomic_store_explicit(&sh->clock_ms, ms, memory_order_relaxed);
    return 0;
}

uint64_t fci_ttl_value_expiry(fci_slice framed)
{
    return framed.size < FC_TTL_FRAME_SIZE ? 0 : fci_get_fixed64(framed.data);
}

int fci_ttl_unframe(fci_slice *v, uint64_t now)
{
    if (v->size < FC_TTL_FRAME_SIZE)
        return FC_ECORRUPT;
    if (fci_ttl_expired(fci_get_fixed64(v->data), now))
        return 0;
    v->data += FC_TTL_FRAME_SIZE;
    v->size -= FC_TTL_FRAME_SIZE;
    return 1;
}

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

/* Frame + value in one run: in small when it fits, else on the heap
 * (the caller frees it when it is not small); NULL when out of memory. */
char *fci_ttl_frame(uint64_t expiry, fci_slice val, char *small, size_t cap)
{
    size_t n = FC_TTL_FRAME_SIZE + val.size;
    char *buf = n <= cap ? small : malloc(n);
    if (buf == NULL)
        return NULL;
    fci_put_fixed64(buf, expiry);
    if (val.size > 0)
        memcpy(buf + FC_TTL_FRAME_SIZE, val.data, val.size);
    return buf;
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
