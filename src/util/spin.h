/*
 * spin.h - a lock for critical sections of a few dozen instructions that
 * run on every read transaction (read.c: its begin and its end).
 *
 * A pthread mutex costs a locked instruction and a library call both to
 * take and to give back; this lock takes one exchange and gives back with
 * a plain store, which at four uses per transaction is about a third of
 * an empty transaction's time. A waiter spins a little, then yields, so a
 * holder that was preempted (two cores shared by many processes) gets the
 * core back. Not for anything that sleeps or does I/O while held.
 */
#ifndef FC_UTIL_SPIN_H
#define FC_UTIL_SPIN_H

#include <sched.h>
#include <stdatomic.h>

typedef struct fci_spin {
    atomic_int held;
} fci_spin;

#define FCI_SPIN_TRIES 64   /* polls before a waiter yields its core */

/* Also what a child does after fork: a parent thread may have held it. */
static inline void fci_spin_init(fci_spin *l)
{
    /* relaxed: nobody else can use the lock yet (it is new, or we are a
     * child whose other threads did not survive the fork) */
    atomic_store_explicit(&l->held, 0, memory_order_relaxed);
}

static inline void fci_spin_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline void fci_spin_lock(fci_spin *l)
{
    for (;;) {
        /* acquire: what the previous holder wrote is visible to us */
        if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
            return;
        /* relaxed polls: only a hint that it is worth exchanging again */
        for (int n = 0; atomic_load_explicit(&l->held, memory_order_relaxed); n++) {
            if (n < FCI_SPIN_TRIES) {
                fci_spin_relax();
            } else {
                sched_yield();
                n = 0;
            }
        }
    }
}

static inline void fci_spin_unlock(fci_spin *l)
{
    /* release: our writes under the lock are visible to the next holder */
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
