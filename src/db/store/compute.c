/*
 * compute.c - fc_get_or_compute: fetch, or compute once across the store.
 *
 * On a miss a process takes the key's lease (shm/lease.h), reads again
 * (the value may have landed between its read and its lease), computes,
 * stores the value with fc_put and only then gives the lease back, so a
 * waiter woken by the release finds the value with its next read. Waiters
 * sleep on the slot's futex in short slices; a holder that dies frees the
 * lease to the first waiter that notices, and a waiter past its wait_ms
 * computes without the lease rather than wait longer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"
#include "db/store/compute.h"
#include "db/core/follow.h"
#include "shm/counters.h"
#include "shm/lease.h"
#include "util/clock.h"

#define WAIT_SLICE_MS 20          /* liveness of the holder is checked this often */
#define DEFAULT_WAIT_MS 10000

int fci_compute_create(fc_store *s, fci_err *err)
{
    uint64_t bytes = fci_lease_bytes(FCI_LEASE_SLOTS), off;
    int rc = fci_arena_alloc(s->arena, bytes, &off, err);
    if (rc != 0)
        return rc;
    fci_lease_init(fci_arena_ptr(s->arena, off, bytes), FCI_LEASE_SLOTS);
    /* release: the table is laid out before any process can find it */
    atomic_store_explicit(&s->arena->hdr->lease_off, off, memory_order_release);
    return 0;
}

static fci_lease_table *table_of(fc_store *s)
{
    /* acquire: pairs with fci_compute_create's release */
    uint64_t off = atomic_load_explicit(&s->arena->hdr->lease_off, memory_order_acquire);
    if (off == 0)
        return NULL;
    fci_lease_table *t = fci_arena_ptr(s->arena, off, sizeof *t);
    if (t == NULL || fci_lease_check(t, fci_arena_size(s->arena) - off) != 0)
        return NULL;
    return t;
}

/* A fresh read of key: 0 with a malloc()ed copy, FC_ENOTFOUND, or an error. */
static int read_copy(fc_store *s, const void *key, size_t klen, void **value, size_t *vlen)
{
    fc_txn *t;
    int rc = fc_txn_begin(s, &t);
    if (rc != 0)
        return rc;
    fc_val v;
    rc = fc_get(t, key, klen, &v);
    if (rc == 0) {
        *value = malloc(v.size > 0 ? v.size : 1);
        if (*value == NULL)
            rc = FC_ENOMEM;
        else if (v.size > 0)
            memcpy(*value, v.data, v.size);
        *vlen = v.size;
    }
    fc_txn_end(t);
    return rc;
}

/* What one call needs besides the store and the key. */
typedef struct compute_req {
    uint64_t ttl_ms;
    fc_compute_fn compute;
    void *arg;
    int fill;      /* fc_get_through: compute inside a fill (core/follow.h) */
} compute_req;

/* Computes and stores with its time to live; the caller's copy is the
 * computed buffer itself. */
static int compute_and_put(fc_store *s, const void *key, size_t klen, const compute_req *req,
                           void **value, size_t *vlen)
{
    void *v = NULL;
    size_t n = 0;
    fci_counters_add(s->arena, FCI_C_COMPUTES, 1);
    fc_fill_token fill;
    int rc = req->fill ? fc_fill_begin(s, key, klen, &fill) : 0;
    if (rc == 0)
        rc = req->compute(req->arg, key, klen, &v, &n);
    if (rc == 0 && v == NULL && n > 0)
        rc = FC_EINVAL;
    if (rc == 0 && req->fill) {
        rc = fc_fill_put(s, key, klen, v, n, req->ttl_ms, &fill);
        if (rc == FC_EMISMATCH)
            rc = 0; /* fresh from the source, only not cacheable */
    } else if (rc == 0) {
        rc = fc_put_ttl(s, key, klen, v, n, req->ttl_ms);
    }
    if (rc != 0) {
        free(v);
        return rc;
    }
    *value = v != NULL ? v : malloc(1);
    *vlen = n;
    return *value != NULL ? 0 : FC_ENOMEM;
}

/* The wait loop: read; with the lease, compute; else take the lease
 * (then read again), or wait a slice, or give up waiting and compute. */
static int fetch_or_compute(fc_store *s, fci_lease_table *lt, const void *key, size_t klen,
                            int wait_ms, const compute_req *req, void **value, size_t *vlen)
{
    uint64_t hash = fci_lease_hash(key, klen), lease = 0;
    int held = 0, waited = 0;
    uint64_t start_ms = fci_mono_ms();
    for (;;) {
        int rc = read_copy(s, key, klen, value, vlen);
        if (rc != FC_ENOTFOUND || held) {
            if (rc == FC_ENOTFOUND)
                rc = compute_and_put(s, key, klen, req, value, vlen);
            if (held)
                fci_lease_release(lt, hash, lease);
            return rc;
        }
        if (fci_lease_try(lt, hash, &lease)) {
            held = 1;
            continue;
        }
        long left = wait_ms - (long)(fci_mono_ms() - start_ms);
        if (left <= 0)
            return compute_and_put(s, key, klen, req, value, vlen);
        if (!waited++) /* a call that waited, counted once */
            fci_counters_add(s->arena, FCI_C_COMPUTE_WAITS, 1);
        fci_lease_wait(lt, hash, left < WAIT_SLICE_MS ? (int)left : WAIT_SLICE_MS);
    }
}

static int get_or_compute(fc_store *s, const void *key, size_t klen, const compute_req *req,
                          int wait_ms, void **value, size_t *vlen)
{
    fc_compute_fn compute = req->compute;
    if (s == NULL || compute == NULL || value == NULL || vlen == NULL ||
        (key == NULL && klen > 0))
        return FC_EINVAL;
    if (klen > FC_MAX_KEY_SIZE)
        return fci_store_fail(s, FC_ETOOBIG, NULL);
    *value = NULL;
    *vlen = 0;
    fci_lease_table *lt = table_of(s);
    if (lt == NULL) {
        fci_err e;
        fci_err_set(&e, FC_EREADONLY,
                    "fc_get_or_compute: no writer has a lease table in this arena");
        return fci_store_fail(s, FC_EREADONLY, &e);
    }
    return fetch_or_compute(s, lt, key, klen, wait_ms > 0 ? wait_ms : DEFAULT_WAIT_MS, req, value,
                            vlen);
}

int fc_get_or_compute(fc_store *s, const void *key, size_t klen, uint64_t ttl_ms, int wait_ms,
                      fc_compute_fn compute, void *arg, void **value, size_t *vlen)
{
    compute_req req = { ttl_ms, compute, arg, 0 };
    return get_or_compute(s, key, klen, &req, wait_ms, value, vlen);
}

int fc_get_through(fc_store *s, const void *key, size_t klen, uint64_t ttl_ms, int wait_ms,
                   fc_compute_fn fetch, void *arg, void **value, size_t *vlen)
{
    compute_req req = { ttl_ms, fetch, arg, 1 };
    return get_or_compute(s, key, klen, &req, wait_ms, value, vlen);
}

int fc_fill_begin(fc_store *s, const void *key, size_t klen, fc_fill_token *fill)
{
    if (s == NULL || fill == NULL || (key == NULL && klen > 0))
        return FC_EINVAL;
    fci_fill_token(s, fci_slice_make(key, klen), fill->token);
    return 0;
}
