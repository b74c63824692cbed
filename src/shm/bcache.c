/*
 * bcache.c - the shared block cache in the arena (see bcache.h and
 * docs/SHM_PROTOCOL.md section 10 for the protocol and why it holds).
 *
 * In short: a key lives only in its set of FCI_BCACHE_WAYS frames. A hit
 * scans the set without a lock and pins the frame by writing a record in
 * this process's pin area, then re-checks the frame word (a Dekker
 * handshake with the evictor, which marks the frame EVICTING first and then
 * scans the pin areas). A miss takes the set's lock, looks again, picks a
 * victim with CLOCK, marks it FILLING with its key and the filler's
 * identity, unlocks, fills the frame outside the lock and publishes it
 * READY. Locks and fills carry the holder's slot and claim generation, so
 * anyone can tell a dead holder and take over.
 */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"
#include "shm/bcache.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/proc.h"

#define WAIT_LIMIT_NS   (200ull * 1000000ull)  /* then read the block yourself */
#define SWEEP_EVERY_NS  (100ull * 1000000ull)  /* slot sweeps from a full set */
#define LIVENESS_EVERY  128u                   /* waits between liveness checks */

/* Spin a little, then give the core away: two cores are shared by many
 * processes, and the one we wait for may need ours. */
static void backoff(unsigned i)
{
    if (i < 16) {
        for (volatile int k = 0; k < 32; k++)
            ;
    } else {
        sched_yield();
    }
}

static uint64_t round_up(uint64_t x, uint64_t to)
{
    return (x + to - 1) / to * to;
}

/* ---- creation ------------------------------------------------------------ */

int fci_bcache_create(fci_arena *a, size_t bytes, size_t frame_size, fci_err *err)
{
    if (frame_size < FCI_BCACHE_MIN_FRAME || frame_size > FCI_BCACHE_MAX_FRAME ||
        frame_size % 64 != 0)
        return fci_err_set(err, FC_EINVAL, "block cache: frame size %zu is not 4 KiB .. 16 MiB in 64-byte steps",
                           frame_size);
    if (a->slot_count > 0xffffu)
        return fci_err_set(err, FC_EINVAL, "block cache: %u reader slots, at most 65535",
                           a->slot_count);
    /* The frames get all of bytes (asked 16 short, so a power of two fits
     * its own size class); the tables describing them come on top. */
    uint64_t request = bytes > 4096 ? bytes - 16 : bytes;
    if (bytes == 0 || request < 64 + (uint64_t)FCI_BCACHE_WAYS * frame_size)
        return 0;   /* too small for one set: the store runs without a cache */
    uint64_t doff;
    int rc = fci_arena_alloc(a, request, &doff, err);
    if (rc != 0)
        return rc;
    uint64_t data = round_up(doff, 64);
    /* As many frames as asked for, not as the heap's size class holds:
     * frames spread thinner over more sets fill fewer of their pages,
     * and a part-used page costs a whole one. */
    uint64_t room = fci_arena_block_size(a, doff) - (data - doff);
    uint64_t nsets = (room < request ? room : request) / frame_size / FCI_BCACHE_WAYS;
    if (nsets * FCI_BCACHE_WAYS > 0x7fffffffu)
        nsets = 0x7fffffffu / FCI_BCACHE_WAYS;
    uint64_t nframes = nsets * FCI_BCACHE_WAYS;
    uint64_t meta = 64 + sizeof(fci_bcache_header) + nsets * sizeof(fci_bcache_set) +
                    nframes * sizeof(fci_bcache_frame) + (uint64_t)a->slot_count * sizeof(fci_bcache_area);
    uint64_t moff;
    if ((rc = fci_arena_alloc(a, meta, &moff, err)) != 0) {
        fci_arena_free(a, doff, NULL);
        return rc;
    }
    uint64_t base = round_up(moff, 64);
    fci_bcache_header *h = fci_arena_ptr(a, base, sizeof *h);
    /* The heap may hand back memory that held something else: clear the
     * tables (the frames' bytes are written before they are read). */
    memset(h, 0, meta - (base - moff));
    h->sets_off = base + sizeof *h;
    h->frames_off = h->sets_off + nsets * sizeof(fci_bcache_set);
    h->areas_off = h->frames_off + nframes * sizeof(fci_bcache_frame);
    h->data_off = data;
    h->nframes = (uint32_t)nframes;
    h->frame_size = (uint32_t)frame_size;
    h->nsets = (uint32_t)nsets;
    h->ways = FCI_BCACHE_WAYS;
    h->nareas = a->slot_count;
    h->pins_per_area = FCI_BCACHE_PINS;
    h->magic = FCI_BCACHE_MAGIC;
    /* release: whoever loads the offset with acquire sees the geometry and
     * the zeroed tables above */
    atomic_store_explicit(&a->hdr->bcache_off, base, memory_order_release);
    return 0;
}

/* ---- handles ------------------------------------------------------------- */

/* Points the handle at the arena's cache after checking that every table
 * lies inside the arena, so nothing another process wrote can send us out
 * of bounds. */
static int map_tables(fci_bcache *bc, fci_arena *a, uint64_t off, fci_err *err)
{
    fci_bcache_header *h = fci_arena_ptr(a, off, sizeof *h);
    if (h == NULL || h->magic != FCI_BCACHE_MAGIC)
        return fci_err_set(err, FC_ECORRUPT, "block cache at offset %llu: bad magic",
                           (unsigned long long)off);
    if (h->ways != FCI_BCACHE_WAYS || h->nsets == 0 || (uint64_t)h->nsets * h->ways != h->nframes ||
        h->nareas != a->slot_count || h->pins_per_area != FCI_BCACHE_PINS ||
        h->frame_size < FCI_BCACHE_MIN_FRAME || h->frame_size > FCI_BCACHE_MAX_FRAME)
        return fci_err_set(err, FC_ECORRUPT, "block cache at offset %llu: bad geometry (%u sets of %u, %u areas, frame %u)",
                           (unsigned long long)off, h->nsets, h->ways, h->nareas, h->frame_size);
    bc->hdr = h;
    bc->sets = fci_arena_ptr(a, h->sets_off, (uint64_t)h->nsets * sizeof(fci_bcache_set));
    bc->frames = fci_arena_ptr(a, h->frames_off, (uint64_t)h->nframes * sizeof(fci_bcache_frame));
    bc->areas = fci_arena_ptr(a, h->areas_off, (uint64_t)h->nareas * sizeof(fci_bcache_area));
    bc->data = fci_arena_ptr(a, h->data_off, (uint64_t)h->nframes * h->frame_size);
    if (!bc->sets || !bc->frames || !bc->areas || !bc->data)
        return fci_err_set(err, FC_ECORRUPT, "block cache at offset %llu: tables outside the arena",
                           (unsigned long long)off);
    bc->nframes = h->nframes;
    bc->frame_size = h->frame_size;
    bc->nsets = h->nsets;
    bc->ways = h->ways;
    bc->nareas = h->nareas;
    return 0;
}

/* Makes this process's pin area its own: records a previous holder of the
 * slot left behind are void (that holder is gone), so they are cleared
 * before the area is marked ours. */
static void take_area(fci_bcache *bc, uint64_t owner)
{
    fci_bcache_area *ar = &bc->areas[bc->slot];
    bc->mine = ar;
    /* seq_cst: the evictor reads owner with seq_cst, so it never pairs the
     * new owner with an old record (see SHM_PROTOCOL.md 10.4) */
    if (atomic_load_explicit(&ar->owner, memory_order_seq_cst) != owner) {
        for (int k = 0; k < FCI_BCACHE_PINS; k++)
            atomic_store_explicit(&ar->pin[k], 0, memory_order_relaxed); /* ordered by the owner store */
    }
    uint32_t want = (uint32_t)bc->slot + 1;
    uint32_t hi = atomic_load_explicit(&bc->hdr->areas_hi, memory_order_seq_cst);
    /* seq_cst: raised before any pin of ours exists, so a scan that could
     * need our area already covers it */
    while (hi < want &&
           !atomic_compare_exchange_weak_explicit(&bc->hdr->areas_hi, &hi, want,
                                                  memory_order_seq_cst, memory_order_seq_cst))
        ;
    atomic_store_explicit(&ar->owner, owner, memory_order_seq_cst); /* see the load above */
}

int fci_bcache_open(fci_arena *a, fci_bcache **out, fci_err *err)
{
    *out = NULL;
    /* acquire: pairs with the creator's release; the tables are complete */
    uint64_t off = atomic_load_explicit(&a->hdr->bcache_off, memory_order_acquire);
    if (off == 0)
        return fci_err_set(err, FC_ENOTFOUND, "the arena has no block cache");
    if (a->slot < 0 || (uint32_t)a->slot >= a->slot_count)
        return fci_err_set(err, FC_EINVAL, "block cache: this process holds no reader slot");
    fci_bcache *bc = calloc(1, sizeof *bc);
    if (bc == NULL)
        return fci_err_set(err, FC_ENOMEM, "out of memory");
    int rc = map_tables(bc, a, off, err);
    if (rc != 0) {
        free(bc);
        return rc;
    }
    bc->a = a;
    bc->pid = a->pid;
    bc->slot = a->slot;
    /* acquire: our own claim, for the generation */
    uint64_t owner = atomic_load_explicit(&a->slots[a->slot].owner, memory_order_acquire);
    bc->token = FCI_TOKEN_MAKE((uint32_t)a->slot, FCI_OWNER_GEN(owner));
    take_area(bc, owner);
    *out = bc;
    return 0;
}

void fci_bcache_close(fci_bcache *bc)
{
    free(bc);
}

/* ---- liveness and pins --------------------------------------------------- */

/* 1 while the process named by tok (a lock holder or a filler) still holds
 * the slot it had then and is running. A slot freed, swept (negative pid)
 * or claimed again (other generation) means that process is gone. */
static int token_alive(const fci_bcache *bc, uint64_t tok)
{
    uint32_t s1 = FCI_TOKEN_SLOT1(tok);
    if (s1 == 0 || s1 > bc->a->slot_count)
        return 0;
    fci_reader_slot *sl = &bc->a->slots[s1 - 1];
    /* acquire, twice: pairs with the claimer's release stores */
    uint64_t o = atomic_load_explicit(&sl->owner, memory_order_acquire);
    if (FCI_OWNER_GEN(o) != FCI_TOKEN_GEN(tok) || FCI_OWNER_PID(o) <= 0)
        return 0;
    uint64_t start = atomic_load_explicit(&sl->start_time, memory_order_acquire);
    return fci_proc_alive(FCI_OWNER_PID(o), start);
}

/* The evictor's half of the pin handshake: called after the frame was
 * marked EVICTING (seq_cst), it finds any live record of (f, gen). */
static int frame_pinned(const fci_bcache *bc, uint32_t f, uint32_t gen)
{
    uint64_t want = FCI_PIN_MAKE(f, gen);
    /* seq_cst: every load here is in the total order with the readers'
     * record stores and our EVICTING CAS (Dekker) */
    uint32_t hi = atomic_load_explicit(&bc->hdr->areas_hi, memory_order_seq_cst);
    if (hi > bc->nareas)
        hi = bc->nareas;
    for (uint32_t i = 0; i < hi; i++) {
        fci_bcache_area *ar = &bc->areas[i];
        uint64_t ao = atomic_load_explicit(&ar->owner, memory_order_seq_cst);
        if (ao == 0)
            continue;
        /* acquire: the slot's current claim; another claim voids the area */
        uint64_t so = atomic_load_explicit(&bc->a->slots[i].owner, memory_order_acquire);
        if (so != ao)
            continue;
        for (int k = 0; k < FCI_BCACHE_PINS; k++)
            if (atomic_load_explicit(&ar->pin[k], memory_order_seq_cst) == want)
                return 1;
    }
    return 0;
}

/* A free record in our area, marked reserved; NULL when all are in use. */
static _Atomic uint64_t *pin_reserve(fci_bcache *bc)
{
    for (int k = 0; k < FCI_BCACHE_PINS; k++) {
        uint64_t z = 0;
        /* relaxed: a reserved record matches no frame; only our threads race here */
        if (atomic_compare_exchange_strong_explicit(&bc->mine->pin[k], &z, FCI_PIN_RESERVED,
                                                    memory_order_relaxed, memory_order_relaxed))
            return &bc->mine->pin[k];
    }
    return NULL;
}

/* ---- lookups ------------------------------------------------------------- */

enum { FIND_ABSENT, FIND_HIT, FIND_FILLING, FIND_RETRY };

/*
 * Looks for the key in its set without a lock. A READY frame is pinned
 * through *pin (record, then re-check: the reader's half of the handshake);
 * a FILLING one is reported in fi and fw for the caller to wait on.
 */
static int find(fci_bcache *bc, uint32_t set, uint64_t file, uint64_t offset,
                _Atomic uint64_t *pin, uint32_t *fi, uint64_t *fw)
{
    for (uint32_t way = 0; way < bc->ways; way++) {
        uint32_t f = set * bc->ways + way;
        fci_bcache_frame *fr = &bc->frames[f];
        /* acquire: a READY/FILLING word makes its key (and, READY, its bytes) visible */
        uint64_t w = atomic_load_explicit(&fr->word, memory_order_acquire);
        int st = FCI_FW_STATE(w);
        if (st != FCI_FRAME_READY && st != FCI_FRAME_FILLING)
            continue;
        /* relaxed: validated by the re-check of the word below (seqlock) */
        if (atomic_load_explicit(&fr->file, memory_order_relaxed) != file ||
            atomic_load_explicit(&fr->offset, memory_order_relaxed) != offset)
            continue;
        /* acquire fence: the key loads above happen before the re-check */
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&fr->word, memory_order_relaxed) != w)
            return FIND_RETRY;
        if (st == FCI_FRAME_FILLING) {
            *fi = f;
            *fw = w;
            return FIND_FILLING;
        }
        /* seq_cst store then seq_cst load: the Dekker pair with the
         * evictor's EVICTING CAS and its scan of the records */
        atomic_store_explicit(pin, FCI_PIN_MAKE(f, FCI_FW_GEN(w)), memory_order_seq_cst);
        if (atomic_load_explicit(&fr->word, memory_order_seq_cst) != w) {
            atomic_store_explicit(pin, FCI_PIN_RESERVED, memory_order_relaxed); /* we read nothing */
            return FIND_RETRY;
        }
        if (atomic_load_explicit(&fr->ref, memory_order_relaxed) == 0)
            atomic_store_explicit(&fr->ref, 1, memory_order_relaxed); /* a hint for CLOCK */
        *fi = f;
        return FIND_HIT;
    }
    return FIND_ABSENT;
}

/* Waits until frame f leaves the FILLING word w. A filler found dead has
 * its frame emptied (the CAS makes one waiter do it). FCI_BCACHE_BYPASS
 * once deadline passes with the filler alive but slow. */
static int wait_fill(fci_bcache *bc, uint32_t f, uint64_t w, uint64_t deadline)
{
    fci_bcache_frame *fr = &bc->frames[f];
    for (unsigned i = 0;; i++) {
        /* acquire: if READY now, its bytes are visible to our next find */
        if (atomic_load_explicit(&fr->word, memory_order_acquire) != w)
            return 0;
        backoff(i);
        if (i % LIVENESS_EVERY != LIVENESS_EVERY - 1)
            continue;
        /* relaxed: written before w was published, and we loaded w with acquire */
        uint64_t tok = atomic_load_explicit(&fr->filler, memory_order_relaxed);
        if (!token_alive(bc, tok)) {
            uint64_t exp = w;
            /* acq_rel: one process wins the reset; the next claim sees it */
            if (atomic_compare_exchange_strong_explicit(
                    &fr->word, &exp, FCI_FW_MAKE(FCI_FRAME_EMPTY, 0, FCI_FW_GEN(w) + 1),
                    memory_order_acq_rel, memory_order_relaxed))
                atomic_fetch_add_explicit(&bc->hdr->takeovers, 1, memory_order_relaxed);
            return 0;
        }
        if (fci_mono_ns() > deadline)
            return FCI_BCACHE_BYPASS;
    }
}

/* ---- the set lock -------------------------------------------------------- */

/* After taking the lock from a dead holder: an EVICTING frame it left is
 * either undecided (key and bytes intact: READY again) or committed (its
 * key may be half rewritten: EMPTY); a FILLING frame of a dead filler is
 * emptied. */
static void repair_set(fci_bcache *bc, uint32_t set)
{
    for (uint32_t way = 0; way < bc->ways; way++) {
        fci_bcache_frame *fr = &bc->frames[set * bc->ways + way];
        uint64_t w = atomic_load_explicit(&fr->word, memory_order_seq_cst); /* see the dead holder's last stores */
        uint64_t to = w;
        if (FCI_FW_STATE(w) == FCI_FRAME_EVICTING)
            to = FCI_FW_SLOT1(w) == 0 ? FCI_FW_MAKE(FCI_FRAME_READY, 0, FCI_FW_GEN(w))
                                      : FCI_FW_MAKE(FCI_FRAME_EMPTY, 0, FCI_FW_GEN(w) + 1);
        else if (FCI_FW_STATE(w) == FCI_FRAME_FILLING &&
                 !token_alive(bc, atomic_load_explicit(&fr->filler, memory_order_relaxed)))
            to = FCI_FW_MAKE(FCI_FRAME_EMPTY, 0, FCI_FW_GEN(w) + 1);
        if (to != w)
            /* release: publishes the state like any lock holder's change */
            atomic_compare_exchange_strong_explicit(&fr->word, &w, to, memory_order_release,
                                                    memory_order_relaxed);
    }
}

/* Takes set's lock; a holder found dead is replaced (and its half-done
 * work repaired). FCI_BCACHE_BYPASS if a live holder keeps it past
 * deadline. */
static int set_lock(fci_bcache *bc, uint32_t set, uint64_t deadline)
{
    fci_bcache_set *s = &bc->sets[set];
    for (unsigned i = 0;; i++) {
        uint64_t cur = 0;
        /* acquire: the previous holder's frame changes happen before ours */
        if (atomic_compare_exchange_weak_explicit(&s->lock, &cur, bc->token, memory_order_acquire,
                                                  memory_order_relaxed))
            return 0;
        backoff(i);
        if (cur == 0 || i % LIVENESS_EVERY != LIVENESS_EVERY - 1)
            continue;
        if (!token_alive(bc, cur)) {
            /* acq_rel: exactly one process replaces that holder */
            if (atomic_compare_exchange_strong_explicit(&s->lock, &cur, bc->token,
                                                        memory_order_acq_rel, memory_order_relaxed)) {
                atomic_fetch_add_explicit(&bc->hdr->takeovers, 1, memory_order_relaxed);
                repair_set(bc, set);
                return 0;
            }
            continue;
        }
        if (fci_mono_ns() > deadline)
            return FCI_BCACHE_BYPASS;
    }
}

static void set_unlock(fci_bcache *bc, uint32_t set)
{
    /* release: our frame changes (keys, FILLING words) before the next holder */
    atomic_store_explicit(&bc->sets[set].lock, 0, memory_order_release);
}

/* A FILLING frame whose filler is gone becomes EMPTY(g+1) and is ours to
 * take (under the set lock). full: also ask the kernel whether the process
 * lives (a syscall and a /proc read); else only notice a slot that was
 * released, swept or claimed again (one load). */
static int reclaim_dead_fill(fci_bcache *bc, uint32_t f, uint64_t w, int full, uint32_t *gen)
{
    fci_bcache_frame *fr = &bc->frames[f];
    /* relaxed: written before w, which the caller loaded with acquire */
    uint64_t tok = atomic_load_explicit(&fr->filler, memory_order_relaxed);
    int dead;
    if (full) {
        dead = !token_alive(bc, tok);
    } else {
        uint32_t s1 = FCI_TOKEN_SLOT1(tok);
        /* acquire: pairs with the slot claim/release stores */
        uint64_t o = s1 >= 1 && s1 <= bc->a->slot_count
                         ? atomic_load_explicit(&bc->a->slots[s1 - 1].owner, memory_order_acquire)
                         : 0;
        dead = FCI_OWNER_GEN(o) != FCI_TOKEN_GEN(tok) || FCI_OWNER_PID(o) <= 0;
    }
    uint64_t empty = FCI_FW_MAKE(FCI_FRAME_EMPTY, 0, FCI_FW_GEN(w) + 1);
    /* acq_rel: against a waiter resetting the same frame; one of us wins */
    if (!dead || !atomic_compare_exchange_strong_explicit(&fr->word, &w, empty, memory_order_acq_rel,
                                                          memory_order_relaxed))
        return 0;
    atomic_fetch_add_explicit(&bc->hdr->takeovers, 1, memory_order_relaxed);
    *gen = FCI_FW_GEN(empty);
    return 1;
}

/*
 * CLOCK over the set's ways, under its lock: an empty frame is taken
 * first; then a ready one with its reference bit set gets a second chance; a
 * ready one without it is marked EVICTING and taken if no pin record names
 * it. Filling frames are skipped unless their filler is gone. Returns the frame, its word's generation
 * in *gen, or -1 when every frame is pinned, filling or recently used.
 */
static int64_t pick_victim(fci_bcache *bc, uint32_t set, uint32_t *gen)
{
    fci_bcache_set *s = &bc->sets[set];
    for (uint32_t way = 0; way < bc->ways; way++) {
        uint32_t f = set * bc->ways + way;
        /* acquire: as below; a free frame is used before anything is evicted */
        uint64_t w = atomic_load_explicit(&bc->frames[f].word, memory_order_acquire);
        if (FCI_FW_STATE(w) == FCI_FRAME_EMPTY) {
            *gen = FCI_FW_GEN(w);
            return f;
        }
    }
    for (uint32_t step = 0; step < 2 * bc->ways + 1; step++) {
        /* relaxed: the hand is only moved under the lock */
        uint32_t way = atomic_fetch_add_explicit(&s->hand, 1, memory_order_relaxed) % bc->ways;
        uint32_t f = set * bc->ways + way;
        fci_bcache_frame *fr = &bc->frames[f];
        uint64_t w = atomic_load_explicit(&fr->word, memory_order_acquire); /* see fills published */
        if (FCI_FW_STATE(w) == FCI_FRAME_EMPTY) {
            *gen = FCI_FW_GEN(w);
            return f;
        }
        if (FCI_FW_STATE(w) == FCI_FRAME_FILLING && reclaim_dead_fill(bc, f, w, 0, gen))
            return f;
        if (FCI_FW_STATE(w) != FCI_FRAME_READY)
            continue;
        if (atomic_load_explicit(&fr->ref, memory_order_relaxed) != 0) {
            atomic_store_explicit(&fr->ref, 0, memory_order_relaxed); /* a hint only */
            continue;
        }
        uint32_t g = FCI_FW_GEN(w);
        uint64_t ev = FCI_FW_MAKE(FCI_FRAME_EVICTING, 0, g);
        /* seq_cst: the evictor's half of the Dekker pair with find() */
        if (!atomic_compare_exchange_strong_explicit(&fr->word, &w, ev, memory_order_seq_cst,
                                                     memory_order_relaxed))
            continue;
        if (frame_pinned(bc, f, g)) {
            /* release: back to READY, key and bytes untouched */
            atomic_store_explicit(&fr->word, w, memory_order_release);
            atomic_fetch_add_explicit(&bc->hdr->pinned_skips, 1, memory_order_relaxed);
            continue;
        }
        /* seq_cst: committed - from here the key may change; a takeover
         * must empty the frame rather than make it READY again */
        atomic_store_explicit(&fr->word, FCI_FW_MAKE(FCI_FRAME_EVICTING, 1, g), memory_order_seq_cst);
        atomic_fetch_add_explicit(&bc->hdr->evictions, 1, memory_order_relaxed);
        *gen = g;
        return f;
    }
    /* Nothing: a fill whose process died unswept may hold a frame that no
     * waiter will ever reset (nobody asks for its key); look properly. */
    for (uint32_t way = 0; way < bc->ways; way++) {
        uint32_t f = set * bc->ways + way;
        uint64_t w = atomic_load_explicit(&bc->frames[f].word, memory_order_acquire); /* as above */
        if (FCI_FW_STATE(w) == FCI_FRAME_FILLING && reclaim_dead_fill(bc, f, w, 1, gen))
            return f;
    }
    return -1;
}

/* Gives dead processes' pins back (their slots swept), at most once per
 * SWEEP_EVERY_NS across all processes. 1 if this call swept. */
static int maybe_sweep(fci_bcache *bc)
{
    uint64_t now = fci_mono_ns();
    /* relaxed: a rate limit; a lost race only delays a sweep */
    uint64_t last = atomic_load_explicit(&bc->hdr->last_sweep_ns, memory_order_relaxed);
    if (now - last < SWEEP_EVERY_NS ||
        !atomic_compare_exchange_strong_explicit(&bc->hdr->last_sweep_ns, &last, now,
                                                 memory_order_relaxed, memory_order_relaxed))
        return 0;
    return fci_readers_sweep(bc->a) > 0;
}

static uint32_t set_of(const fci_bcache *bc, uint64_t file, uint64_t offset)
{
    return (uint32_t)(fci_hash_pair64(file, offset) % bc->nsets);
}

static void hit_ref(fci_bcache *bc, uint32_t f, _Atomic uint64_t *pin, fci_bcache_ref *ref)
{
    ref->data = bc->data + (uint64_t)f * bc->frame_size;
    /* relaxed: written before READY, which we loaded with acquire */
    ref->len = atomic_load_explicit(&bc->frames[f].len, memory_order_relaxed);
    ref->pin = pin;
}

/* Claims frame f (under the set lock) for the key, as filled by us. */
static void claim(fci_bcache *bc, uint32_t f, uint32_t gen, uint64_t file, uint64_t offset)
{
    fci_bcache_frame *fr = &bc->frames[f];
    /* release fence: a reader that sees any of the new key fields also sees
     * the frame left READY (its re-check fails) */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&fr->file, file, memory_order_relaxed);
    atomic_store_explicit(&fr->offset, offset, memory_order_relaxed);
    atomic_store_explicit(&fr->filler, bc->token, memory_order_relaxed);
    atomic_store_explicit(&fr->len, 0, memory_order_relaxed);
    atomic_store_explicit(&fr->ref, 0, memory_order_relaxed);
    /* release: key and filler identity before anyone sees FILLING */
    atomic_store_explicit(&fr->word, FCI_FW_MAKE(FCI_FRAME_FILLING, (uint32_t)bc->slot + 1, gen + 1),
                          memory_order_release);
}

/* Fills the frame we claimed and publishes it, pinned through pin. */
static int fill_frame(fci_bcache *bc, uint32_t f, uint32_t gen, fci_bcache_fill_fn fill, void *arg,
                      _Atomic uint64_t *pin, fci_bcache_ref *ref, fci_err *err)
{
    fci_bcache_frame *fr = &bc->frames[f];
    char *buf = bc->data + (uint64_t)f * bc->frame_size;
    size_t len = 0;
    /* relaxed: the READY release below publishes it; a FILLING frame is
     * never an eviction candidate */
    atomic_store_explicit(pin, FCI_PIN_MAKE(f, gen), memory_order_relaxed);
    int rc = fill(arg, buf, bc->frame_size, &len, err);
    if (rc == 0 && len > bc->frame_size)
        rc = FCI_BCACHE_BYPASS;
    if (rc != 0) {
        /* release: the next claimer's acquire sees the frame empty */
        atomic_store_explicit(&fr->word, FCI_FW_MAKE(FCI_FRAME_EMPTY, 0, gen), memory_order_release);
        atomic_store_explicit(pin, 0, memory_order_relaxed); /* nothing was pinned READY */
        return rc;
    }
    atomic_store_explicit(&fr->len, (uint32_t)len, memory_order_relaxed); /* published below */
    /* release: the bytes, len and our pin record before READY */
    atomic_store_explicit(&fr->word, FCI_FW_MAKE(FCI_FRAME_READY, 0, gen), memory_order_release);
    atomic_fetch_add_explicit(&bc->hdr->fills, 1, memory_order_relaxed);
    hit_ref(bc, f, pin, ref);
    return 0;
}

/* The lookup loop; *pin is reserved and is ours to fill or clear. */
static int get_pinned(fci_bcache *bc, uint64_t file, uint64_t offset, fci_bcache_fill_fn fill,
                      void *arg, _Atomic uint64_t *pin, fci_bcache_ref *ref, fci_err *err)
{
    uint32_t set = set_of(bc, file, offset), f;
    uint64_t w, deadline = fci_mono_ns() + WAIT_LIMIT_NS;
    int waited = 0, swept = 0;
    for (unsigned round = 0;; round++) {
        int r = find(bc, set, file, offset, pin, &f, &w);
        if (r == FIND_HIT) {
            atomic_fetch_add_explicit(&bc->hdr->hits, 1, memory_order_relaxed); /* statistics */
            hit_ref(bc, f, pin, ref);
            return 0;
        }
        if (r == FIND_RETRY) {
            backoff(round);
            continue;
        }
        if (r == FIND_FILLING) {
            if (!waited++)
                atomic_fetch_add_explicit(&bc->hdr->waits, 1, memory_order_relaxed);
            if (wait_fill(bc, f, w, deadline) != 0)
                return FCI_BCACHE_BYPASS;
            continue;
        }
        if (set_lock(bc, set, deadline) != 0)
            return FCI_BCACHE_BYPASS;
        r = find(bc, set, file, offset, pin, &f, &w);
        if (r != FIND_ABSENT) {
            set_unlock(bc, set);   /* someone filled it meanwhile: go round */
            continue;
        }
        uint32_t gen;
        int64_t v = pick_victim(bc, set, &gen);
        if (v >= 0)
            claim(bc, (uint32_t)v, gen, file, offset);
        set_unlock(bc, set);
        if (v >= 0) {
            atomic_fetch_add_explicit(&bc->hdr->misses, 1, memory_order_relaxed);
            return fill_frame(bc, (uint32_t)v, gen + 1, fill, arg, pin, ref, err);
        }
        if (!swept++ && maybe_sweep(bc))
            continue;
        return FCI_BCACHE_BYPASS;
    }
}

int fci_bcache_get(fci_bcache *bc, uint64_t file, uint64_t offset, fci_bcache_fill_fn fill,
                   void *arg, fci_bcache_ref *ref, fci_err *err)
{
    memset(ref, 0, sizeof *ref);
    _Atomic uint64_t *pin = NULL;
    int rc = FCI_BCACHE_BYPASS;
    /* A handle opened before a fork names the parent's slot and pins. */
    if (bc->a->pid == bc->pid && bc->a->slot == bc->slot && (pin = pin_reserve(bc)) != NULL)
        rc = get_pinned(bc, file, offset, fill, arg, pin, ref, err);
    if (rc != 0 && pin != NULL)
        atomic_store_explicit(pin, 0, memory_order_relaxed); /* never pinned anything */
    if (rc == FCI_BCACHE_BYPASS)
        atomic_fetch_add_explicit(&bc->hdr->bypasses, 1, memory_order_relaxed);
    return rc;
}

void fci_bcache_release(fci_bcache *bc, fci_bcache_ref *ref)
{
    (void)bc;
    if (ref->pin != NULL)
        /* release: our reads of the frame happen before an evictor that
         * sees the record gone reuses it */
        atomic_store_explicit(ref->pin, 0, memory_order_release);
    memset(ref, 0, sizeof *ref);
}

/* ---- statistics ---------------------------------------------------------- */

void fci_bcache_stats_get(const fci_bcache *bc, fci_bcache_stats *st)
{
    const fci_bcache_header *h = bc->hdr;
    memset(st, 0, sizeof *st);
    st->nframes = bc->nframes;
    st->frame_size = bc->frame_size;
    /* relaxed throughout: counters for humans, no decision depends on them */
    st->hits = atomic_load_explicit(&h->hits, memory_order_relaxed);
    st->misses = atomic_load_explicit(&h->misses, memory_order_relaxed);
    st->fills = atomic_load_explicit(&h->fills, memory_order_relaxed);
    st->evictions = atomic_load_explicit(&h->evictions, memory_order_relaxed);
    st->waits = atomic_load_explicit(&h->waits, memory_order_relaxed);
    st->bypasses = atomic_load_explicit(&h->bypasses, memory_order_relaxed);
    st->takeovers = atomic_load_explicit(&h->takeovers, memory_order_relaxed);
    st->pinned_skips = atomic_load_explicit(&h->pinned_skips, memory_order_relaxed);
    for (uint32_t f = 0; f < bc->nframes; f++) {
        int s = FCI_FW_STATE(atomic_load_explicit(&bc->frames[f].word, memory_order_relaxed));
        st->ready += s == FCI_FRAME_READY;
        st->filling += s == FCI_FRAME_FILLING;
    }
    for (uint32_t i = 0; i < bc->nareas; i++) {
        const fci_bcache_area *ar = &bc->areas[i];
        uint64_t ao = atomic_load_explicit(&ar->owner, memory_order_relaxed);
        if (ao == 0 || ao != atomic_load_explicit(&bc->a->slots[i].owner, memory_order_relaxed))
            continue;
        for (int k = 0; k < FCI_BCACHE_PINS; k++) {
            uint64_t p = atomic_load_explicit(&ar->pin[k], memory_order_relaxed);
            st->pinned_records += p != 0 && p != FCI_PIN_RESERVED;
        }
    }
}

int fci_bcache_count_key(const fci_bcache *bc, uint64_t file, uint64_t offset)
{
    /* A key only ever lives in its set; reading the other sets' frames
     * while they are re-keyed could pair one key's file with another's
     * offset. Each frame is read like find() does: word, key, word again,
     * retried when a claim changed the frame in between. */
    uint32_t set = set_of(bc, file, offset);
    int n = 0;
    for (uint32_t way = 0; way < bc->ways; way++) {
        const fci_bcache_frame *fr = &bc->frames[set * bc->ways + way];
        for (;;) {
            /* acquire: the key of a READY/FILLING frame is visible */
            uint64_t w = atomic_load_explicit(&fr->word, memory_order_acquire);
            int s = FCI_FW_STATE(w);
            int match = (s == FCI_FRAME_READY || s == FCI_FRAME_FILLING) &&
                        atomic_load_explicit(&fr->file, memory_order_relaxed) == file &&
                        atomic_load_explicit(&fr->offset, memory_order_relaxed) == offset;
            /* acquire fence: the key loads above happen before the re-check */
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&fr->word, memory_order_relaxed) != w)
                continue;
            n += match;
            break;
        }
    }
    return n;
}
