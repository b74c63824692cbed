/*
 * ttl.h - expiry: the value frame of a ttl_framing store, the clock it is
 * judged by, the shared counters of expired and evicted data, and the
 * per-batch marks that let a batch fix its expiries when it is written.
 *
 * Frame (also in forkcache.h): fixed64 absolute expiry in ms since the Unix
 * epoch (0 = never) in front of the caller's value.
 */
#ifndef FC_DB_CORE_TTL_H
#define FC_DB_CORE_TTL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "forkcache.h"
#include "format/write_batch.h"
#include "util/error.h"
#include "util/slice.h"

struct fc_store;

/*
 * One cache line in the arena, found through fci_arena_header.ttl_off.
 * Counters are written only by the writer (relaxed: they are figures); the
 * clock override is written by tests in any process (relaxed: a reader
 * wants some recent value, nothing is published through it).
 */
typedef struct fci_ttl_shared {
    _Atomic uint64_t clock_ms;        /* test clock override; 0 = real time */
    _Atomic uint64_t expired_entries;
    _Atomic uint64_t expired_tables;
    _Atomic uint64_t expired_bytes;
    _Atomic uint64_t evicted_tables;
    _Atomic uint64_t evicted_bytes;
    uint64_t pad[2];
} fci_ttl_shared;

_Static_assert(sizeof(fci_ttl_shared) == 64, "one cache line");

/* The writer (or a read-only open, in its private arena) makes the shared
 * block; an attached reader finds it. A forked child inherits the pointer. */
int fci_ttl_attach(struct fc_store *s, fci_err *err);

/* "Now" for expiry, in ms since the epoch: the test override if set. */
uint64_t fci_ttl_now(const struct fc_store *s);

/*
 * TEST ONLY: makes every process of the store judge expiry by ms (ms since
 * the epoch) instead of the real clock; 0 returns to the real clock. Takes
 * effect for transactions begun afterwards, in every process at once.
 */
int fci_ttl_set_clock(struct fc_store *s, uint64_t ms);

/* The counters (NULL when the store has no shared block). */
fci_ttl_shared *fci_ttl_shared_of(const struct fc_store *s);

/* Absolute expiry for a time to live from now (0 = never; saturates). */
static inline uint64_t fci_ttl_expiry(uint64_t now, uint64_t ttl_ms)
{
    if (ttl_ms == 0)
        return 0;
    return ttl_ms > UINT64_MAX - now ? UINT64_MAX : now + ttl_ms;
}

/* The expiry in a framed value; 0 (never) when it is too short to hold one
 * (only damage does that, and such a value is never dropped for age). */
uint64_t fci_ttl_value_expiry(fci_slice framed);

/* expiry as a frame, then val: in small (cap bytes) when it fits, else in
 * a malloc()ed buffer (free it when it is not small); NULL when out of
 * memory. */
char *fci_ttl_frame(uint64_t expiry, fci_slice val, char *small, size_t cap);

/* 1 when an entry of that expiry has expired at now. */
static inline int fci_ttl_expired(uint64_t expiry, uint64_t now)
{
    return expiry != 0 && expiry <= now;
}

/* A framed value as readers see it: 1 and *v without the frame when live,
 * 0 when expired, FC_ECORRUPT when shorter than a frame. */
int fci_ttl_unframe(fci_slice *v, uint64_t now);

#endif
