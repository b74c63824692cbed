/*
 * wqueue.c - the write queue's protocol (see wqueue.h for the states).
 *
 * Waiting uses futexes on words in the shared mapping (util/futex.h), so
 * a wake in one process reaches a waiter in another. Every wait is bounded
 * (100 ms) and followed by a liveness check, so no process waits forever
 * on one that died.
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "shm/arena.h"
#include "shm/wqueue.h"
#include "util/clock.h"
#include "util/futex.h"
#include "util/proc.h"

#define WAIT_SLICE_MS 100

static uint64_t seq_of(uint64_t ticket, uint32_t state)
{
    return ticket << 2 | state;
}

static fci_wq_slot *slot_at(fci_wq *q, uint64_t ticket)
{
    char *slots = (char *)q + q->slots_off;
    return (fci_wq_slot *)(slots + (ticket % q->nslots) * (sizeof(fci_wq_slot) + q->slot_bytes));
}

static char *payload(fci_wq_slot *s)
{
    return (char *)(s + 1);
}

uint64_t fci_wq_bytes(uint32_t nslots, uint32_t slot_bytes)
{
    uint64_t stride = sizeof(fci_wq_slot) + (((uint64_t)slot_bytes + 63) & ~(uint64_t)63);
    return sizeof(fci_wq) + (uint64_t)nslots * stride;
}

void fci_wq_init(void *mem, uint32_t nslots, uint32_t slot_bytes)
{
    fci_wq *q = mem;
    memset(q, 0, sizeof *q);
    q->nslots = nslots;
    q->slot_bytes = (slot_bytes + 63) & ~63u;
    q->slots_off = sizeof *q;
    for (uint64_t t = 0; t < nslots; t++) {
        fci_wq_slot *s = slot_at(q, t);
        memset(s, 0, sizeof *s);
        atomic_init(&s->seq, seq_of(t, FCI_WQ_FREE));
    }
}

int fci_wq_check(const fci_wq *q, uint64_t bytes_available)
{
    if (q->nslots == 0 || q->slot_bytes == 0 || q->slots_off != sizeof *q ||
        fci_wq_bytes(q->nslots, q->slot_bytes) > bytes_available)
        return FC_ECORRUPT;
    return 0;
}

fci_wq *fci_wq_find(fci_arena *a)
{
    /* acquire: pairs with the writer's release of wq_off (db/bg/drain.c) */
    uint64_t off = atomic_load_explicit(&a->hdr->wq_off, memory_order_acquire);
    if (off == 0)
        return NULL;
    fci_wq *q = fci_arena_ptr(a, off, sizeof(fci_wq));
    if (q == NULL || fci_wq_check(q, fci_arena_size(a) - off) != 0)
        return NULL;
    return q;
}

/* ---- waiting ---------------------------------------------------------- */

void fci_wq_wait_work(fci_wq *q, uint32_t seen, int timeout_ms)
{
    fci_futex_wait(&q->work, seen, timeout_ms);
}

/* A slot still holding the previous round's DONE entry whose owner died
 * (or gave up) before freeing it: free it for ticket t. The transition is a
 * CAS on the sequence word from exactly DONE(t - nslots), so of several
 * recoverers one wins, and a slot that has already moved on (freed by its
 * owner, claimed, READY again) is never dragged back. The dead owner word
 * is left for the next claimer to clear (try_claim). */
static void recover_done(fci_wq *q, fci_wq_slot *s, uint64_t t)
{
    uint64_t done = seq_of(t - q->nslots, FCI_WQ_DONE);
    if (atomic_load_explicit(&s->seq, memory_order_acquire) != done)
        return;
    if (!fci_owner_word_dead(atomic_load_explicit(&s->owner, memory_order_acquire)))
        return;
    /* acq_rel: we read nothing more of the entry; the claimer that follows
     * sees the slot free */
    if (atomic_compare_exchange_strong_explicit(&s->seq, &done, seq_of(t, FCI_WQ_FREE),
                                                memory_order_acq_rel, memory_order_relaxed))
        atomic_fetch_add_explicit(&q->recovered, 1, memory_order_relaxed);
}

/* ---- producer ---------------------------------------------------------- */

/* Takes the next ticket: the slot's owner first (so a death right after is
 * recognisable), then the head. Returns the ticket, or -1 to wait. */
static int64_t try_claim(fci_wq *q, uint64_t me)
{
    uint64_t t = atomic_load_explicit(&q->head, memory_order_acquire);
    fci_wq_slot *s = slot_at(q, t);
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq != seq_of(t, FCI_WQ_FREE)) {
        if (t >= q->nslots)
            recover_done(q, s, t);
        return -1; /* full (or stale head: retry) */
    }
    uint64_t owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (owner != 0) {
        /* Another claimer of ticket t: wait for it, or clear it if dead
         * (the head check below keeps a taken ticket from being reused). */
        if (fci_owner_word_dead(owner))
            atomic_compare_exchange_strong_explicit(&s->owner, &owner, 0, memory_order_acq_rel,
                                                    memory_order_relaxed);
        return -2;
    }
    if (!atomic_compare_exchange_strong_explicit(&s->owner, &owner, me, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return -2;
    uint64_t expect = t;
    if (atomic_compare_exchange_strong_explicit(&q->head, &expect, t + 1, memory_order_acq_rel,
                                                memory_order_acquire))
        return (int64_t)t;
    atomic_store_explicit(&s->owner, 0, memory_order_release); /* lost the race */
    return -2;
}

/* A producer that finds the ring full counts itself in space_waiters and
 * tries once more before it sleeps; one that frees a slot wakes sleepers
 * only when the count is not 0. Both sides are sequentially consistent
 * (the count's RMW and a fence), so either the freer sees the count or the
 * second try sees the freed slot: no wake is lost, and a put whose ring is
 * not full makes no FUTEX_WAKE call. */
static int claim(fci_wq *q, int timeout_ms, fci_wq_alive_fn alive, void *arg,
                 uint64_t start_ms, uint64_t *ticket)
{
    uint64_t me = fci_owner_word_self();
    for (;;) {
        uint32_t space = atomic_load_explicit(&q->space, memory_order_acquire);
        int64_t t = try_claim(q, me);
        if (t == -1) {
            atomic_fetch_add_explicit(&q->space_waiters, 1, memory_order_seq_cst);
            atomic_thread_fence(memory_order_seq_cst);
            t = try_claim(q, me);
            if (t == -1 && !(alive != NULL && !alive(arg)) &&
                !(timeout_ms > 0 && fci_mono_ms() - start_ms >= (uint64_t)timeout_ms))
                fci_futex_wait(&q->space, space, WAIT_SLICE_MS);
            atomic_fetch_sub_explicit(&q->space_waiters, 1, memory_order_relaxed);
        }
        if (t >= 0) {
            *ticket = (uint64_t)t;
            return 0;
        }
        if (t == -2)
            continue;
        if (alive != NULL && !alive(arg))
            return FC_EAGAIN;
        if (timeout_ms > 0 && fci_mono_ms() - start_ms >= (uint64_t)timeout_ms)
            return FC_ETIMEDOUT;
    }
}

/* After a slot is freed: wakes producers waiting for one, if any. */
static void space_freed(fci_wq *q)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&q->space_waiters, memory_order_relaxed) != 0)
        fci_futex_bump(&q->space);
}

/* Waits for DONE; the slot stays ours until we free it. */
static int await_done(fci_wq *q, fci_wq_slot *s, uint64_t t, int timeout_ms, fci_wq_alive_fn alive,
                      void *arg, uint64_t start_ms)
{
    uint64_t done = seq_of(t, FCI_WQ_DONE);
    for (;;) {
        uint32_t seen = atomic_load_explicit(&s->wake, memory_order_acquire);
        if (atomic_load_explicit(&s->seq, memory_order_acquire) == done)
            return 0;
        if (alive != NULL && !alive(arg))
            return FC_EAGAIN;
        if (timeout_ms > 0 && fci_mono_ms() - start_ms >= (uint64_t)timeout_ms)
            return FC_ETIMEDOUT;
        (void)q;
        fci_futex_wait(&s->wake, seen, WAIT_SLICE_MS);
    }
}

int fci_wq_claim(fci_wq *q, int timeout_ms, fci_wq_alive_fn alive, void *arg, uint64_t *ticket,
                 fci_err *err)
{
    int rc = claim(q, timeout_ms, alive, arg, fci_mono_ms(), ticket);
    if (rc != 0)
        return fci_err_set(err, rc, rc == FC_EAGAIN ? "the store's writer is gone"
                                                    : "write queue full for %d ms", timeout_ms);
    return 0;
}

/* Writes the entry and marks it READY; wakes nobody. */
static void enqueue_entry(fci_wq *q, uint64_t ticket, const void *data, uint32_t len,
                          uint32_t flags)
{
    fci_wq_slot *s = slot_at(q, ticket);
    memcpy(payload(s), data, len);
    s->len = len;
    s->flags = flags;
    s->reply = 0;
    /* release: payload, len and flags are complete before READY is seen */
    atomic_store_explicit(&s->seq, seq_of(ticket, FCI_WQ_READY), memory_order_release);
    atomic_fetch_add_explicit(&q->submitted, 1, memory_order_relaxed);
}

void fci_wq_publish(fci_wq *q, uint64_t ticket, const void *data, uint32_t len, uint32_t flags)
{
    enqueue_entry(q, ticket, data, len, flags);
    fci_futex_bump(&q->work);
}

/* Waits for our entry to be DONE, then takes the writer's answer. */
static int wq_await(fci_wq *q, uint64_t ticket, int timeout_ms, fci_wq_alive_fn alive, void *arg,
                    int *result, fci_err *err)
{
    fci_wq_slot *s = slot_at(q, ticket);
    int rc = await_done(q, s, ticket, timeout_ms, alive, arg, fci_mono_ms());
    if (rc != 0)
        return fci_err_set(err, rc, rc == FC_EAGAIN
                                        ? "the store's writer went away before acknowledging"
                                        : "no acknowledgement from the writer in %d ms", timeout_ms);
    /* the acquire load of DONE in await_done makes the result visible */
    *result = atomic_load_explicit(&s->result, memory_order_relaxed);
    return 0;
}

/* The sequence word moves first, by CAS from our DONE (a recoverer may
 * have freed it already, which is fine), and only then is our ownership
 * dropped: owner 0 on a DONE slot would mean "abandoned" to a recoverer. */
static void wq_release(fci_wq *q, uint64_t ticket)
{
    fci_wq_slot *s = slot_at(q, ticket);
    uint64_t done = seq_of(ticket, FCI_WQ_DONE);
    /* release: our reads of the slot are done before it is free again */
    atomic_compare_exchange_strong_explicit(&s->seq, &done, seq_of(ticket + q->nslots, FCI_WQ_FREE),
                                            memory_order_release, memory_order_relaxed);
    uint64_t me = fci_owner_word_self();
    /* relaxed: a claimer that still sees us waits a moment (try_claim) */
    atomic_compare_exchange_strong_explicit(&s->owner, &me, 0, memory_order_relaxed,
                                            memory_order_relaxed);
    space_freed(q);
}

static int too_big(fci_wq *q, uint32_t len, fci_err *err)
{
    return fci_err_set(err, FC_ETOOBIG,
                       "batch of %u bytes exceeds the write queue's entry limit of %u bytes "
                       "(fc_options.queue_entry_size)", len, q->slot_bytes);
}

int fci_wq_enqueue(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                   fci_wq_alive_fn alive, void *arg, uint64_t *ticket, fci_err *err)
{
    if (len > q->slot_bytes)
        return too_big(q, len, err);
    int rc = fci_wq_claim(q, timeout_ms, alive, arg, ticket, err);
    if (rc == 0)
        enqueue_entry(q, *ticket, data, len, flags);
    return rc;
}

int fci_wq_done(fci_wq *q, uint64_t ticket)
{
    /* acquire: pairs with fci_wq_complete's release of DONE */
    return atomic_load_explicit(&slot_at(q, ticket)->seq, memory_order_acquire) ==
           seq_of(ticket, FCI_WQ_DONE);
}

void fci_wq_wake_writer(fci_wq *q)
{
    fci_futex_bump(&q->work);
}

/* A producer that gives up waiting (timeout, writer gone) abandons its
 * slot: with no owner, the next producer of that slot frees it once the
 * entry is answered (it may still be applied: a timed-out write is of
 * unknown outcome, as with any server). Before the slot is freed the
 * reply is copied out: an operation's reply word, or for a plain batch
 * the first reply_len bytes of the payload (a refusal's reason). */
int fci_wq_finish(fci_wq *q, uint64_t t, int timeout_ms, fci_wq_alive_fn alive, void *arg,
                  int *result, void *reply, uint32_t reply_len, fci_err *err)
{
    int rc = wq_await(q, t, timeout_ms, alive, arg, result, err);
    fci_wq_slot *s = slot_at(q, t);
    if (rc == 0) {
        /* DONE was loaded with acquire in await: the reply is complete */
        if (reply_len > 0 && FCI_WQ_OP(s->flags) != 0)
            memcpy(reply, &s->reply, reply_len < sizeof s->reply ? reply_len : sizeof s->reply);
        else if (reply_len > 0)
            memcpy(reply, payload(s), reply_len < q->slot_bytes ? reply_len : q->slot_bytes);
        wq_release(q, t);
    } else { /* release: pairs with recover_done's acquire of the owner */
        atomic_store_explicit(&s->owner, 0, memory_order_release);
    }
    return rc;
}

int fci_wq_call(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                fci_wq_alive_fn alive, void *arg, int *result, void *reply, uint32_t reply_len,
                fci_err *err)
{
    if (reply_len > q->slot_bytes)
        return too_big(q, reply_len, err);
    uint64_t t;
    int rc = fci_wq_enqueue(q, data, len, flags, timeout_ms, alive, arg, &t, err);
    if (rc != 0)
        return rc;
    fci_futex_bump(&q->work);
    return fci_wq_finish(q, t, timeout_ms, alive, arg, result, reply, reply_len, err);
}

int fci_wq_submit(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                  fci_wq_alive_fn alive, void *arg, int *result, fci_err *err)
{
    return fci_wq_call(q, data, len, flags, timeout_ms, alive, arg, result, NULL, 0, err);
}

/* ---- consumer (the writer) --------------------------------------------- */

/* The entry at the tail was claimed and its producer died before READY:
 * free the slot for the next round and move past it. */
static int recover_claimed(fci_wq *q, fci_wq_slot *s, uint64_t t)
{
    uint64_t owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (!fci_owner_word_dead(owner))
        return 0;
    uint64_t claimed = seq_of(t, FCI_WQ_FREE);
    /* release: the slot is free for the next round only after we are done
     * with it; a CAS, so a slot that became READY meanwhile is kept */
    if (!atomic_compare_exchange_strong_explicit(&s->seq, &claimed, seq_of(t + q->nslots, FCI_WQ_FREE),
                                                 memory_order_release, memory_order_relaxed))
        return 0;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    atomic_fetch_add_explicit(&q->recovered, 1, memory_order_relaxed);
    space_freed(q);
    return 1;
}

int fci_wq_peek(fci_wq *q, uint64_t skip, fci_wq_slot **slot, const char **data)
{
    for (;;) {
        uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed) + skip;
        if (t >= atomic_load_explicit(&q->head, memory_order_acquire))
            return 0;
        fci_wq_slot *s = slot_at(q, t);
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == seq_of(t, FCI_WQ_READY)) {
            if (s->len > q->slot_bytes)
                s->len = 0; /* damaged: answered as an empty, invalid batch */
            *slot = s;
            *data = payload(s);
            return 1;
        }
        /* Answered already: a leader died between DONE and moving the
         * tail (fci_wq_complete), and the slot may since have been freed
         * and claimed again (a later ticket). The tail moves past it. */
        if (skip == 0 && (seq == seq_of(t, FCI_WQ_DONE) || seq >> 2 > t)) {
            /* release: as fci_wq_complete's store of the tail */
            atomic_store_explicit(&q->tail, t + 1, memory_order_release);
            continue;
        }
        /* Claimed, not yet READY: wait, unless its producer is dead. */
        if (skip != 0 || !recover_claimed(q, s, t))
            return 0;
    }
}

void fci_wq_complete(fci_wq *q, fci_wq_slot *s, int result)
{
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    atomic_store_explicit(&s->result, result, memory_order_relaxed);
    /* release: the result is written before DONE is seen */
    atomic_store_explicit(&s->seq, seq_of(t, FCI_WQ_DONE), memory_order_release);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    atomic_fetch_add_explicit(&q->applied, 1, memory_order_relaxed);
    /* relaxed: only whether the owner is us matters, and it set it itself */
    if (atomic_load_explicit(&s->owner, memory_order_relaxed) != fci_owner_word_self())
        fci_futex_bump(&s->wake);
}
