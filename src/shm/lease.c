/*
 * lease.c - the lease table's protocol (see lease.h for the slot states).
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "shm/lease.h"
#include "util/futex.h"
#include "util/proc.h"

static fci_lease_slot *slot_of(fci_lease_table *t, uint64_t hash)
{
    fci_lease_slot *slots = (fci_lease_slot *)(t + 1);
    return &slots[hash % t->nslots];
}

uint64_t fci_lease_bytes(uint32_t nslots)
{
    return sizeof(fci_lease_table) + (uint64_t)nslots * sizeof(fci_lease_slot);
}

void fci_lease_init(void *mem, uint32_t nslots)
{
    memset(mem, 0, fci_lease_bytes(nslots));
    fci_lease_table *t = mem;
    t->magic = FCI_LEASE_MAGIC;
    t->nslots = nslots;
}

int fci_lease_check(const fci_lease_table *t, uint64_t bytes_available)
{
    if (t->magic != FCI_LEASE_MAGIC || t->nslots == 0 ||
        fci_lease_bytes(t->nslots) > bytes_available)
        return FC_ECORRUPT;
    return 0;
}

/* The slot's word moves from free (or from a dead holder) to us by CAS, so
 * of several contenders exactly one wins; a live holder is never displaced. */
int fci_lease_try(fci_lease_table *t, uint64_t hash, uint64_t *lease_id)
{
    fci_lease_slot *s = slot_of(t, hash);
    uint64_t me = fci_owner_word_self();
    /* acquire: a holder's release (and its put before it) happened before */
    uint64_t cur = atomic_load_explicit(&s->owner, memory_order_acquire);
    int takeover = cur != 0;
    if (cur != 0 && !fci_owner_word_dead(cur))
        return 0;
    /* acq_rel: we see what the previous holder did; our claim is seen whole */
    if (!atomic_compare_exchange_strong_explicit(&s->owner, &cur, me, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return 0;
    /* relaxed: figures and the lease id are read only by the holder and stats */
    *lease_id = atomic_fetch_add_explicit(&t->grants, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&s->lease_id, *lease_id, memory_order_relaxed);
    atomic_store_explicit(&s->key_hash, hash, memory_order_relaxed);
    if (takeover) {
        atomic_fetch_add_explicit(&t->takeovers, 1, memory_order_relaxed);
        fci_futex_bump(&s->wake); /* others waiting on the dead holder look again */
    }
    return 1;
}

/* The lease id guards against releasing a lease that was taken over from
 * us while we were (wrongly) thought dead: then it is no longer ours. */
void fci_lease_release(fci_lease_table *t, uint64_t hash, uint64_t lease_id)
{
    fci_lease_slot *s = slot_of(t, hash);
    if (atomic_load_explicit(&s->lease_id, memory_order_relaxed) != lease_id)
        return;
    uint64_t me = fci_owner_word_self();
    /* release: our put of the value is visible before the slot is free */
    if (atomic_compare_exchange_strong_explicit(&s->owner, &me, 0, memory_order_release,
                                                memory_order_relaxed))
        fci_futex_bump(&s->wake);
}

void fci_lease_wait(fci_lease_table *t, uint64_t hash, int ms)
{
    fci_lease_slot *s = slot_of(t, hash);
    /* acquire: pairs with the release's bump */
    uint32_t seen = atomic_load_explicit(&s->wake, memory_order_acquire);
    uint64_t owner = atomic_load_explicit(&s->owner, memory_order_acquire);
    if (owner == 0 || fci_owner_word_dead(owner))
        return;
    fci_futex_wait(&s->wake, seen, ms);
}
