/*
 * slots.c - reader slots and the cross-process Limiter.
 *
 * Each process holds one slot of the arena's table: it records the version
 * sequence the process pins and the Limiter units (table mappings) it
 * holds. A slot whose holder died, or whose pid now belongs to another
 * process (start time differs), is reclaimed by a sweep, which gives its
 * units back. The Limiter transfer protocol that makes "count changed" and
 * "slot holdings changed" a single step even across a crash is explained in
 * docs/SHM_PROTOCOL.md; the comments here point at its steps.
 */
#include "config.h"

#include <sched.h>
#include <string.h>

#include "forkcache.h"
#include "util/proc.h"
#include "shm/arena.h"
#include "shm/counters.h"

/* ---- the Limiter --------------------------------------------------------- */

/*
 * The protocol runs over two Limiters with one code path: table mappings
 * (the header's `limiter`, holdings in each reader slot) and mapped bytes
 * (`mapped_limiter`, holdings in the byte slots). A channel names one of
 * them: its word, its capacity, and where slot s keeps held (intent is the
 * next word, layout.h asserts it).
 */
typedef struct lim_chan {
    _Atomic uint64_t *word;
    uint32_t capacity;
    char *held0;      /* slot 0's held word */
    size_t stride;    /* bytes from one slot's held to the next */
} lim_chan;

static lim_chan chan_maps(const fci_arena *a)
{
    lim_chan c = { &a->hdr->limiter, a->hdr->max_mappings, (char *)&a->slots[0].held,
                   sizeof(fci_reader_slot) };
    return c;
}

static lim_chan chan_bytes(const fci_arena *a)
{
    lim_chan c = { &a->hdr->mapped_limiter, a->hdr->mapped_units, (char *)&a->bslots[0].held,
                   sizeof(fci_byte_slot) };
    return c;
}

static _Atomic uint64_t *chan_held(const lim_chan *c, uint32_t s)
{
    return (_Atomic uint64_t *)(void *)(c->held0 + (size_t)s * c->stride);
}

static _Atomic uint64_t *chan_intent(const lim_chan *c, uint32_t s)
{
    return chan_held(c, s) + 1;
}

/*
 * Finishes the transfer described by the Limiter word g (step 3 of the
 * protocol): applies the slot's intent to its holdings if not done yet, then
 * clears the descriptor. Any process may call it, any number of times: the
 * tags make every step happen once.
 */
static void limiter_help(const fci_arena *a, const lim_chan *c, uint64_t g)
{
    uint32_t s1 = FCI_LIM_SLOT(g), tag = FCI_LIM_TAG(g);
    if (s1 >= 1 && s1 <= a->slot_count) {
        _Atomic uint64_t *held = chan_held(c, s1 - 1);
        /* acquire: pairs with the release CAS that published g, after the
         * intent was written */
        uint64_t in = atomic_load_explicit(chan_intent(c, s1 - 1), memory_order_acquire);
        if (FCI_INTENT_TAG(in) == tag) {
            uint64_t h = atomic_load_explicit(held, memory_order_acquire);
            if (FCI_HELD_TAG(h) == ((tag - 1) & FCI_TAG_MASK)) {
                uint64_t nh = FCI_HELD_MAKE(FCI_HELD_COUNT(h) + (uint32_t)FCI_INTENT_DELTA(in),
                                            tag);
                /* acq_rel: holdings and descriptor change in this order for
                 * every observer */
                atomic_compare_exchange_strong_explicit(held, &h, nh, memory_order_acq_rel,
                                                        memory_order_acquire);
            }
        }
    }
    /* a descriptor naming no valid slot is corrupt: clearing it keeps the
     * Limiter usable rather than frozen */
    uint64_t clear = FCI_LIM_MAKE(FCI_LIM_COUNT(g), 0, 0);
    atomic_compare_exchange_strong_explicit(c->word, &g, clear, memory_order_acq_rel,
                                            memory_order_acquire);
}

/*
 * Moves units between the Limiter count and slot s: delta > 0 takes delta
 * units (count goes down), delta < 0 gives -delta back. The caller owns the
 * slot's transfer channel (its holder with the busy bit, or its
 * reclaimer). Returns FC_ELIMIT when the count cannot cover delta.
 */
static int limiter_transfer(const fci_arena *a, const lim_chan *c, uint32_t s, int32_t delta,
                            uint64_t busy)
{
    uint64_t h = atomic_load_explicit(chan_held(c, s), memory_order_acquire);
    uint32_t tag = (FCI_HELD_TAG(h) + 1) & FCI_TAG_MASK;
    /* step 1: the intent; relaxed is enough because the release CAS below
     * publishes it together with the descriptor */
    atomic_store_explicit(chan_intent(c, s), FCI_INTENT_MAKE(delta, tag) | busy,
                          memory_order_relaxed);
    uint64_t g = atomic_load_explicit(c->word, memory_order_acquire);
    uint64_t ng;
    for (;;) {
        if (FCI_LIM_SLOT(g) != 0) {
            limiter_help(a, c, g);
            g = atomic_load_explicit(c->word, memory_order_acquire);
            continue;
        }
        int64_t count = (int64_t)FCI_LIM_COUNT(g) - delta;
        if (count < 0)
            return FC_ELIMIT;
        if (count > (int64_t)c->capacity)
            return FC_EINTERNAL;   /* more given back than ever taken */
        ng = FCI_LIM_MAKE((uint64_t)count, s + 1, tag);
        /* step 2: count and descriptor in one CAS; release publishes the
         * intent, acquire sees the previous transfer's completion */
        if (atomic_compare_exchange_weak_explicit(c->word, &g, ng, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    limiter_help(a, c, ng);   /* step 3 */
    return 0;
}

/* Threads of one process share its slot: the busy bit in the intent word
 * gives one of them the transfer channel at a time. */
static void channel_lock(_Atomic uint64_t *intent)
{
    uint64_t in = atomic_load_explicit(intent, memory_order_relaxed);
    for (;;) {
        if (in & FCI_INTENT_BUSY) {
            sched_yield();
            in = atomic_load_explicit(intent, memory_order_relaxed);
            continue;
        }
        /* acquire: see the holdings the previous thread left */
        if (atomic_compare_exchange_weak_explicit(intent, &in, in | FCI_INTENT_BUSY,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
}

static void channel_unlock(_Atomic uint64_t *intent)
{
    uint64_t in = atomic_load_explicit(intent, memory_order_relaxed);
    /* release: the next thread sees our completed transfer */
    atomic_store_explicit(intent, in & ~FCI_INTENT_BUSY, memory_order_release);
}

/* Refuses calls from a process that does not hold the handle's slot (a
 * child that has not called fci_arena_after_fork). */
static int own_slot(const fci_arena *a, fci_err *err)
{
    if (a == NULL || a->slot < 0)
        return fci_err_set(err, FC_EINVAL, "arena: this process holds no reader slot");
    if (a->pid != fci_getpid())
        return fci_err_set(err, FC_EINVAL,
                           "arena: slot %d belongs to pid %d, caller is %d "
                           "(call fci_arena_after_fork in a child)",
                           a->slot, a->pid, (int)fci_getpid());
    return 0;
}

/* Takes n units of channel c for this process's slot, under its busy bit. */
static int chan_take(fci_arena *a, const lim_chan *c, uint32_t n)
{
    _Atomic uint64_t *intent = chan_intent(c, (uint32_t)a->slot);
    channel_lock(intent);
    int rc = limiter_transfer(a, c, (uint32_t)a->slot, (int32_t)n, FCI_INTENT_BUSY);
    channel_unlock(intent);
    return rc;
}

/* Gives n units of channel c back; refusing to release what is not held
 * keeps a buggy caller from inflating the count above its capacity. */
static int chan_give(fci_arena *a, const lim_chan *c, uint32_t n)
{
    _Atomic uint64_t *intent = chan_intent(c, (uint32_t)a->slot);
    channel_lock(intent);
    /* only our own transfers change our holdings, and we hold the channel */
    uint64_t h = atomic_load_explicit(chan_held(c, (uint32_t)a->slot), memory_order_acquire);
    int rc = FCI_HELD_COUNT(h) < n ? FC_EINVAL
             : limiter_transfer(a, c, (uint32_t)a->slot, -(int32_t)n, FCI_INTENT_BUSY);
    channel_unlock(intent);
    return rc;
}

/* One unit per table mapping; the unit is recorded in this process's slot
 * in the same step, so it comes back even if the process dies. */
int fci_limiter_acquire(fci_arena *a, fci_err *err)
{
    int rc = own_slot(a, err);
    if (rc != 0)
        return rc;
    fci_reader_slot *sl = &a->slots[a->slot];
    lim_chan c = chan_maps(a);
    rc = chan_take(a, &c, 1);
    if (rc == FC_ELIMIT) {
        atomic_fetch_add_explicit(&sl->n_refused, 1, memory_order_relaxed); /* stat only */
        return fci_err_set(err, FC_ELIMIT, "arena: all %u table mappings are in use",
                           a->hdr->max_mappings);
    }
    if (rc != 0)
        return fci_err_set(err, rc, "arena: Limiter count is corrupt");
    atomic_fetch_add_explicit(&sl->n_acquired, 1, memory_order_relaxed); /* stat only */
    return 0;
}

/* The inverse of acquire. */
int fci_limiter_release(fci_arena *a, fci_err *err)
{
    int rc = own_slot(a, err);
    if (rc != 0)
        return rc;
    lim_chan c = chan_maps(a);
    rc = chan_give(a, &c, 1);
    if (rc == FC_EINVAL)
        return fci_err_set(err, FC_EINVAL, "arena: release of a mapping unit not held");
    if (rc != 0)
        return fci_err_set(err, rc, "arena: Limiter count is corrupt");
    return 0;
}

/* Units of the byte Limiter a mapping of `bytes` costs: rounded up, so the
 * sum of what is mapped never passes the cap. */
uint32_t fci_limiter_units(const fci_arena *a, uint64_t bytes)
{
    uint32_t shift = a->hdr->mapped_shift;
    uint64_t n = (bytes >> shift) + ((bytes & ((1ull << shift) - 1)) != 0);
    return n > FCI_MAX_MAPPINGS ? FCI_MAX_MAPPINGS + 1u : (uint32_t)n;
}

/* Mapped bytes as units of the byte Limiter, recorded in this process's
 * byte slot in the same step (crash-safe as the mapping units are). */
int fci_limiter_acquire_bytes(fci_arena *a, uint32_t units, fci_err *err)
{
    int rc = own_slot(a, err);
    if (rc != 0)
        return rc;
    lim_chan c = chan_bytes(a);
    rc = units > c.capacity ? FC_ELIMIT : chan_take(a, &c, units);
    if (rc == FC_ELIMIT) {
        /* stat only: a refusal of either Limiter counts */
        atomic_fetch_add_explicit(&a->slots[a->slot].n_refused, 1, memory_order_relaxed);
        return fci_err_set(err, FC_ELIMIT, "arena: mapping %u more units of %llu bytes would "
                           "pass the cap of %llu mapped bytes", units,
                           1ull << a->hdr->mapped_shift,
                           (unsigned long long)fci_limiter_bytes_cap(a));
    }
    if (rc != 0)
        return fci_err_set(err, rc, "arena: byte Limiter count is corrupt");
    return 0;
}

int fci_limiter_release_bytes(fci_arena *a, uint32_t units, fci_err *err)
{
    int rc = own_slot(a, err);
    if (rc != 0)
        return rc;
    lim_chan c = chan_bytes(a);
    rc = chan_give(a, &c, units);
    if (rc == FC_EINVAL)
        return fci_err_set(err, FC_EINVAL, "arena: release of %u byte units not held", units);
    if (rc != 0)
        return fci_err_set(err, rc, "arena: byte Limiter count is corrupt");
    return 0;
}

/* For deciding whether to map at all, and for statistics. */
uint32_t fci_limiter_available(const fci_arena *a)
{
    /* relaxed: a snapshot for decisions and stats, nothing is read through it */
    return FCI_LIM_COUNT(atomic_load_explicit(&a->hdr->limiter, memory_order_relaxed));
}

/* What this process holds: lets a forked child or a test check its share. */
uint32_t fci_limiter_held(const fci_arena *a)
{
    if (a->slot < 0)
        return 0;
    /* relaxed: informational */
    return FCI_HELD_COUNT(atomic_load_explicit(&a->slots[a->slot].held, memory_order_relaxed));
}

uint64_t fci_limiter_bytes_cap(const fci_arena *a)
{
    return (uint64_t)a->hdr->mapped_units << a->hdr->mapped_shift;
}

/* Mapped bytes counted across all processes (a multiple of the unit). */
uint64_t fci_limiter_bytes_in_use(const fci_arena *a)
{
    /* relaxed: a snapshot for statistics and tests */
    uint32_t left = FCI_LIM_COUNT(atomic_load_explicit(&a->hdr->mapped_limiter,
                                                       memory_order_relaxed));
    return (uint64_t)(a->hdr->mapped_units - left) << a->hdr->mapped_shift;
}

/* Units of mapped bytes this process's slot holds. */
uint32_t fci_limiter_bytes_held(const fci_arena *a)
{
    if (a->slot < 0)
        return 0;
    /* relaxed: informational */
    return FCI_HELD_COUNT(atomic_load_explicit(&a->bslots[a->slot].held, memory_order_relaxed));
}

/* ---- slots --------------------------------------------------------------- */

/* Resets a slot we own exclusively and frees it. The release store on the
 * owner word publishes the zeroed fields to the next claimer. */
static void slot_free(fci_reader_slot *sl, fci_byte_slot *bs, uint64_t owner)
{
    atomic_store_explicit(&sl->pinned_seq, 0, memory_order_release);
    atomic_store_explicit(&sl->n_pins, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->n_acquired, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->n_refused, 0, memory_order_relaxed);
    uint64_t in = atomic_load_explicit(&sl->intent, memory_order_relaxed);
    atomic_store_explicit(&sl->intent, in & ~FCI_INTENT_BUSY, memory_order_relaxed);
    /* no transfer of this slot is in flight now; holdings that could not be
     * returned (a corrupt count) are dropped rather than inherited; the tag
     * carries on so stale descriptors still never match */
    uint64_t h = atomic_load_explicit(&sl->held, memory_order_relaxed);
    atomic_store_explicit(&sl->held, FCI_HELD_MAKE(0, FCI_HELD_TAG(h)), memory_order_relaxed);
    in = atomic_load_explicit(&bs->intent, memory_order_relaxed);
    atomic_store_explicit(&bs->intent, in & ~FCI_INTENT_BUSY, memory_order_relaxed);
    h = atomic_load_explicit(&bs->held, memory_order_relaxed);
    atomic_store_explicit(&bs->held, FCI_HELD_MAKE(0, FCI_HELD_TAG(h)), memory_order_relaxed);
    atomic_store_explicit(&sl->start_time, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->owner, FCI_OWNER_MAKE(0, FCI_OWNER_GEN(owner)),
                          memory_order_release);
}

/* Gives a dead holder's units of channel c back, once. We own the slot as
 * its reclaimer; an earlier reclaimer may have died half-way, so first
 * finish any transfer of this slot still in flight, then return what is
 * held. */
static void chan_reclaim(fci_arena *a, const lim_chan *c, uint32_t s)
{
    for (;;) {
        uint64_t g = atomic_load_explicit(c->word, memory_order_acquire);
        if (FCI_LIM_SLOT(g) != s + 1)
            break;
        limiter_help(a, c, g);
    }
    uint64_t h = atomic_load_explicit(chan_held(c, s), memory_order_acquire);
    uint32_t n = FCI_HELD_COUNT(h);
    if (n > 0 && n <= c->capacity)
        limiter_transfer(a, c, s, -(int32_t)n, 0);
}

/* Both Limiters' units come back before the slot is free again. */
static void slot_reclaim(fci_arena *a, uint32_t s, uint64_t owner)
{
    lim_chan maps = chan_maps(a), bytes = chan_bytes(a);
    chan_reclaim(a, &maps, s);
    chan_reclaim(a, &bytes, s);
    fci_counters_fold(a, s);   /* the dead holder's operations stay counted */
    slot_free(&a->slots[s], &a->bslots[s], owner);
}

/* A held slot is stale when its holder is gone: dead (kill says ESRCH), or
 * its pid now names a process with another start time. A start time of 0
 * means the holder is still between its claim and its start store. A dead
 * reclaimer (negative pid) leaves the slot to be taken over. */
static int slot_stale(const fci_arena *a, uint32_t s, uint64_t owner)
{
    int32_t pid = FCI_OWNER_PID(owner);
    if (pid < 0)
        return !fci_proc_alive(-pid, 0);
    if ((int)s == a->slot && pid == a->pid)
        return 0;
    /* acquire: pairs with the claimer's release store of its start time */
    uint64_t st = atomic_load_explicit(&a->slots[s].start_time, memory_order_acquire);
    return !fci_proc_alive(pid, st);
}

/* Dead readers must not pin versions or hold mapping units forever; the
 * writer calls this periodically, a claimer when the table is full. */
int fci_readers_sweep(fci_arena *a)
{
    int me = fci_getpid(), n = 0;
    for (uint32_t s = 0; s < a->slot_count; s++) {
        fci_reader_slot *sl = &a->slots[s];
        /* acquire: we read the slot's other fields after this */
        uint64_t o = atomic_load_explicit(&sl->owner, memory_order_acquire);
        if (FCI_OWNER_PID(o) == 0 || !slot_stale(a, s, o))
            continue;
        /* the whole word, generation included, so a slot freed and claimed
         * again since we looked is never taken */
        uint64_t mine = FCI_OWNER_MAKE(-me, FCI_OWNER_GEN(o));
        if (!atomic_compare_exchange_strong_explicit(&sl->owner, &o, mine,
                                                     memory_order_acq_rel,
                                                     memory_order_relaxed))
            continue;
        slot_reclaim(a, s, mine);
        n++;
    }
    return n;
}

/* The writer may reuse version v only if v < this (and v is not current);
 * FCI_NO_PIN when nothing is pinned makes min() work unchanged. */
uint64_t fci_readers_oldest(const fci_arena *a)
{
    uint64_t oldest = FCI_NO_PIN;
    for (uint32_t s = 0; s < a->slot_count; s++) {
        /* seq_cst: the writer's side of the pin handshake (SHM_PROTOCOL.md,
         * "Pins"): after its seq_cst publish it must see every pin made
         * before a reader's recheck */
        uint64_t p = atomic_load_explicit(&a->slots[s].pinned_seq, memory_order_seq_cst);
        if (p != 0 && p < oldest)
            oldest = p;
    }
    return oldest;
}

/* Tries each free slot; a full table is swept once before giving up. */
int fci_slot_claim(fci_arena *a, fci_err *err)
{
    int me = fci_getpid();
    uint64_t start = fci_proc_start_time(me);
    if (start == 0)
        return fci_err_set(err, FC_EIO, "arena: cannot read /proc/%d/stat for the start time",
                           me);
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t s = 0; s < a->slot_count; s++) {
            fci_reader_slot *sl = &a->slots[s];
            uint64_t o = atomic_load_explicit(&sl->owner, memory_order_relaxed);
            if (FCI_OWNER_PID(o) != 0)
                continue;
            uint64_t mine = FCI_OWNER_MAKE(me, FCI_OWNER_GEN(o) + 1);
            /* acquire: see the zeroed fields the previous holder released */
            if (!atomic_compare_exchange_strong_explicit(&sl->owner, &o, mine,
                                                         memory_order_acq_rel,
                                                         memory_order_relaxed))
                continue;
            /* release: a sweeper that reads this start time sees our claim */
            atomic_store_explicit(&sl->start_time, start, memory_order_release);
            a->slot = (int)s;
            /* relaxed: one thread claims (attach, or a child after fork) */
            atomic_store_explicit(&a->ctr_row, NULL, memory_order_relaxed);
            a->pid = me;
            a->start_time = start;
            return 0;
        }
        if (pass == 0)
            fci_readers_sweep(a);
    }
    return fci_err_set(err, FC_ELIMIT,
                       "arena: all %u reader slots are held by live processes",
                       a->slot_count);
}

/* Normal exit path: leave the slot free and clean for the next process. */
void fci_slot_release(fci_arena *a)
{
    if (a->slot < 0 || a->pid != fci_getpid())
        return;   /* not ours: a child that skipped after_fork keeps its hands off */
    fci_reader_slot *sl = &a->slots[a->slot];
    uint64_t o = atomic_load_explicit(&sl->owner, memory_order_acquire);
    if (FCI_OWNER_PID(o) != a->pid) {
        a->slot = -1;   /* swept from under us (should not happen while alive) */
        return;
    }
    atomic_store_explicit(&sl->pinned_seq, 0, memory_order_release);
    lim_chan chans[2] = { chan_maps(a), chan_bytes(a) };
    for (int i = 0; i < 2; i++) {
        _Atomic uint64_t *intent = chan_intent(&chans[i], (uint32_t)a->slot);
        channel_lock(intent);
        uint64_t h = atomic_load_explicit(chan_held(&chans[i], (uint32_t)a->slot),
                                          memory_order_acquire);
        if (FCI_HELD_COUNT(h) > 0)
            limiter_transfer(a, &chans[i], (uint32_t)a->slot, -(int32_t)FCI_HELD_COUNT(h),
                             FCI_INTENT_BUSY);
    }
    fci_counters_fold(a, (uint32_t)a->slot);   /* our operations stay counted */
    slot_free(sl, &a->bslots[a->slot], o);   /* also clears the busy bits */
    a->slot = -1;
}
