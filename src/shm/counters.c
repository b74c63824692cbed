/*
 * counters.c - the operation counters' block: rows per reader slot, the
 * totals that freed slots fold into, and the sums stats read (counters.h).
 */
#include "config.h"

#include <string.h>

#include "shm/counters.h"
#include "util/clock.h"
#include "util/proc.h"

static uint64_t block_bytes(uint32_t nslots)
{
    return sizeof(fci_counters_block) + (uint64_t)nslots * sizeof(fci_counter_row);
}

/* Once per arena: a writer reopening a store gets a fresh arena, and the
 * block of an arena that already has one is kept. */
int fci_counters_create(fci_arena *a, fci_err *err)
{
    /* relaxed: only the writer stores this word, and it is us */
    if (atomic_load_explicit(&a->hdr->counters_off, memory_order_relaxed) != 0)
        return 0;
    uint64_t bytes = block_bytes(a->slot_count), off;
    /* heap blocks give 16-byte alignment; the rows need whole lines */
    int rc = fci_arena_alloc(a, bytes + FCI_CACHELINE, &off, err);
    if (rc != 0)
        return rc;
    off = (off + FCI_CACHELINE - 1) & ~(uint64_t)(FCI_CACHELINE - 1);
    fci_counters_block *b = fci_arena_ptr(a, off, bytes);
    memset(b, 0, bytes);
    b->magic = FCI_COUNTERS_MAGIC;
    b->nslots = a->slot_count;
    /* release: the zeroed block and its geometry are visible before its offset */
    atomic_store_explicit(&a->hdr->counters_off, off, memory_order_release);
    return 0;
}

/* The block, checked against the arena's bounds and slot count; NULL when
 * there is none (yet) or it does not check. */
static fci_counters_block *block_of(const fci_arena *a)
{
    /* acquire: pairs with fci_counters_create's release */
    uint64_t off = atomic_load_explicit(&a->hdr->counters_off, memory_order_acquire);
    if (off == 0 || off % FCI_CACHELINE != 0)
        return NULL;
    fci_counters_block *b = fci_arena_ptr(a, off, block_bytes(a->slot_count));
    if (b == NULL || b->magic != FCI_COUNTERS_MAGIC || b->nslots != a->slot_count)
        return NULL;
    return b;
}

/* Found once per slot and kept in the process's handle: the block never
 * moves while the arena is mapped, and a claim (after fork) clears it. */
fci_counter_row *fci_counters_mine(fci_arena *a)
{
    /* a forked child before fci_arena_after_fork still names its parent's slot */
    if (a == NULL || a->slot < 0 || a->pid != fci_getpid())
        return NULL;
    /* relaxed: a pointer into the mapping, the same for every thread */
    fci_counter_row *r = atomic_load_explicit(&a->ctr_row, memory_order_relaxed);
    if (r != NULL)
        return r;
    fci_counters_block *b = block_of(a);
    if (b == NULL)
        return NULL;
    r = &b->row[a->slot];
    atomic_store_explicit(&a->ctr_row, r, memory_order_relaxed);
    return r;
}

void fci_counters_add(fci_arena *a, unsigned i, uint64_t n)
{
    fci_counter_row *r = fci_counters_mine(a);
    if (r != NULL && i < FCI_C_USED)
        atomic_fetch_add_explicit(&r->c[i], n, memory_order_relaxed); /* a figure */
}

unsigned fci_counters_bucket(uint64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;
    while (us > 0 && b < FC_LATENCY_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    return b;   /* bucket b holds [2^(b-1), 2^b) us; bucket 0 under 1 us */
}

void fci_counters_write_done(fci_arena *a, unsigned i, uint64_t t0)
{
    fci_counter_row *r = fci_counters_mine(a);
    if (r == NULL)
        return;
    uint64_t ns = fci_mono_ns() - t0;
    /* relaxed: figures, read only as sums */
    atomic_fetch_add_explicit(&r->c[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->c[FCI_C_WLAT_SUM], ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->c[FCI_C_WLAT + fci_counters_bucket(ns)], 1,
                              memory_order_relaxed);
}

void fci_counters_fold(fci_arena *a, uint32_t s)
{
    fci_counters_block *b = block_of(a);
    if (b == NULL || s >= b->nslots)
        return;
    for (unsigned i = 0; i < FCI_C_USED; i++) {
        /* relaxed: the slot is ours alone now (its holder is gone or is
         * us); the slot owner word's release store publishes the zeros */
        uint64_t v = atomic_exchange_explicit(&b->row[s].c[i], 0, memory_order_relaxed);
        if (v != 0)
            atomic_fetch_add_explicit(&b->total.c[i], v, memory_order_relaxed);
    }
}

/* Words to the public struct. */
static void to_public(const uint64_t *w, fc_counters *out)
{
    memset(out, 0, sizeof *out);
    out->hits = w[FCI_C_HITS];
    out->misses = w[FCI_C_MISSES];
    out->gets = out->hits + out->misses;
    out->expired = w[FCI_C_EXPIRED];
    out->puts = w[FCI_C_PUTS];
    out->deletes = w[FCI_C_DELETES];
    out->batches = w[FCI_C_BATCHES];
    out->computes = w[FCI_C_COMPUTES];
    out->compute_waits = w[FCI_C_COMPUTE_WAITS];
    for (unsigned op = 0; op < FC_ATOMIC_OPS; op++)
        for (unsigned o = 0; o < FC_OUTCOMES; o++)
            out->atomic[op][o] = w[FCI_C_ATOMIC + op * FC_OUTCOMES + o];
    for (unsigned k = 0; k < FC_LATENCY_BUCKETS; k++)
        out->write_latency[k] = w[FCI_C_WLAT + k];
    out->write_latency_sum_ns = w[FCI_C_WLAT_SUM];
}

static void add_row(uint64_t *w, const fci_counter_row *r)
{
    for (unsigned i = 0; i < FCI_C_USED; i++)
        w[i] += atomic_load_explicit(&r->c[i], memory_order_relaxed); /* figures */
}

void fci_counters_read(fci_arena *a, int slot, fc_counters *out)
{
    uint64_t w[FCI_C_WORDS] = { 0 };
    fci_counters_block *b = block_of(a);
    if (b != NULL && slot >= 0 && (uint32_t)slot < b->nslots) {
        add_row(w, &b->row[slot]);
    } else if (b != NULL && slot < 0) {
        add_row(w, &b->total);
        for (uint32_t s = 0; s < b->nslots; s++)
            add_row(w, &b->row[s]);
    }
    to_public(w, out);
}
