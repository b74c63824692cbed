/*
 * seqwait.c - waiting for the published last sequence to move (fc_wait),
 * on the arena header's two 32-bit words seq_changes and seq_waiters.
 *
 * A publication stores last_sequence, adds one to seq_changes and, only
 * when seq_waiters is not zero, wakes the sleepers with FUTEX_WAKE: a put
 * nobody waits for pays one atomic add on a line it writes anyway. A
 * waiter counts itself in seq_waiters first, then loads seq_changes, then
 * last_sequence, and sleeps on seq_changes with the value it loaded. Why no
 * wake is lost is in docs/SHM_PROTOCOL.md, "Waiting for a change".
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>

#include "shm/arena.h"
#include "util/futex.h"

/* The publisher's half, after its store of last_sequence (or of a writer
 * word a waiter must look at again). */
void fci_arena_seq_changed(fci_arena *a)
{
    fci_arena_header *h = a->hdr;
    /* seq_cst: the add and the load of seq_waiters below take part in one
     * total order with the waiter's seq_cst add and load (the Dekker pair
     * that lets us skip the wake when nobody counted itself in) */
    atomic_fetch_add_explicit(&h->seq_changes, 1, memory_order_seq_cst);
    /* seq_cst: see the add above */
    if (atomic_load_explicit(&h->seq_waiters, memory_order_seq_cst) != 0)
        fci_futex_wake_all(&h->seq_changes);
}

/* The waiter's half: one sleep of at most ms milliseconds unless the last
 * sequence is already past seen. 1 when it is past (*now set), else 0
 * (woken, timed out or interrupted: the caller looks again). */
int fci_arena_seq_wait(fci_arena *a, uint64_t seen, int ms, uint64_t *now)
{
    fci_arena_header *h = a->hdr;
    /* seq_cst: ordered before our load of seq_changes in the total order
     * the publisher's add and load of seq_waiters are in */
    atomic_fetch_add_explicit(&h->seq_waiters, 1, memory_order_seq_cst);
    /* seq_cst: see above; acquire within it: a value bumped after a store
     * of last_sequence makes that store visible to the load below */
    uint32_t c = atomic_load_explicit(&h->seq_changes, memory_order_seq_cst);
    *now = fci_arena_last_seq(a);
    int passed = *now > seen;
    if (!passed && ms > 0)
        fci_futex_wait(&h->seq_changes, c, ms);
    /* relaxed: the count is only a hint for publishers; a late decrement
     * costs them one needless wake */
    atomic_fetch_sub_explicit(&h->seq_waiters, 1, memory_order_relaxed);
    return passed;
}
