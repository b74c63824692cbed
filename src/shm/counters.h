/*
 * counters.h - operation counters shared by every process of an arena.
 *
 * One block, allocated by the writer at open (fci_counters_create) and
 * named by the header's counters_off: the store's totals, then one row of
 * counter lines per reader slot. A process adds to its own slot's row only
 * (relaxed fetch_add: threads of one process share the row, no other
 * process writes it), so a get never writes a line another process writes.
 * A reader of the figures sums the totals and every row; when a slot is
 * freed (its holder's release, or the sweep that reclaims a dead holder's
 * slot: slots.c) its row is folded into the totals, word by word, with an
 * exchange first, so a sum taken meanwhile misses a count for a moment
 * but never sees one twice.
 */
#ifndef FC_SHM_COUNTERS_H
#define FC_SHM_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

#include "forkcache.h"
#include "shm/arena.h"

/* Word indices in a row: reads first (the line a get's transaction end
 * touches), then writes, atomic operations, computations, latency. */
enum {
    FCI_C_HITS, FCI_C_MISSES, FCI_C_EXPIRED, FCI_C_PUTS, FCI_C_DELETES, FCI_C_BATCHES,
    FCI_C_COMPUTES, FCI_C_COMPUTE_WAITS,
    FCI_C_ATOMIC,                                   /* + (op-1)*FC_OUTCOMES + outcome */
    FCI_C_WLAT_SUM = FCI_C_ATOMIC + FC_ATOMIC_OPS * FC_OUTCOMES,
    FCI_C_WLAT,                                     /* + bucket */
    FCI_C_USED = FCI_C_WLAT + FC_LATENCY_BUCKETS,
    FCI_C_WORDS = (FCI_C_USED + 7) / 8 * 8          /* whole cache lines */
};

#define FCI_COUNTERS_MAGIC 0x53525443u   /* "CTRS" */

typedef struct fci_counter_row {
    _Alignas(FCI_CACHELINE) _Atomic uint64_t c[FCI_C_WORDS];
} fci_counter_row;

typedef struct fci_counters_block {
    _Alignas(FCI_CACHELINE) uint32_t magic;   /* written before the offset is released */
    uint32_t nslots;                          /* rows, == the arena's slot count */
    fci_counter_row total;                    /* folded rows of freed slots */
    fci_counter_row row[];                    /* one per reader slot */
} fci_counters_block;

_Static_assert(sizeof(fci_counter_row) % FCI_CACHELINE == 0, "a row is whole lines");
_Static_assert(offsetof(fci_counters_block, total) == FCI_CACHELINE, "totals on line 1");
_Static_assert(sizeof(fci_counters_block) == FCI_CACHELINE + sizeof(fci_counter_row),
               "header line, totals, then the rows");

/* Writer, at open: allocates and zeroes the block, then publishes it. */
int fci_counters_create(fci_arena *a, fci_err *err);

/* This process's row, or NULL (no block in this arena, or no slot). */
fci_counter_row *fci_counters_mine(fci_arena *a);

/* Adds n to word i of this process's row (nothing without a row). */
void fci_counters_add(fci_arena *a, unsigned i, uint64_t n);

/* A write of kind i (FCI_C_PUTS, _DELETES, _BATCHES) that began at
 * t0 (fci_mono_ns) is done: counts it and its latency. */
void fci_counters_write_done(fci_arena *a, unsigned i, uint64_t t0);

/* The latency bucket of ns nanoseconds. */
unsigned fci_counters_bucket(uint64_t ns);

/* Slot s is being freed by its owner or reclaimer: its row goes into the
 * totals and is zeroed for the next holder. */
void fci_counters_fold(fci_arena *a, uint32_t s);

/* Totals plus every row (sum) or one slot's row (slot >= 0) into out. */
void fci_counters_read(fci_arena *a, int slot, fc_counters *out);

#endif
