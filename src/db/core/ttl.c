/*
 * ttl.c - expiry as every layer sees it: the clock, the shared counters,
 * and the frame a value carries (see ttl.h). Stamping a batch's expiries
 * when it is written is write/expiry.c's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
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
