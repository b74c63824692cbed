/*
 * lease.h - the lease table: fixed slots in the arena through which the
 * processes of a store agree that exactly one of them computes a missing
 * value (fc_get_or_compute) while the others wait for it.
 *
 * A key maps to slot hash % nslots (direct-mapped: two keys that share a
 * slot share its lease, which only makes one wait for the other's compute).
 * A slot is held when its owner word names a process (pid | low 32 bits of
 * its start time << 32, the write queue's owner word); 0 means free. The
 * holder frees it by CAS from its own word, and so may anyone who finds the
 * named process dead: a lease never outlives its holder. Every release
 * bumps the slot's futex word so waiters in any process wake at once.
 * See docs/SHM_PROTOCOL.md, "Lease table".
 */
#ifndef FC_SHM_LEASE_H
#define FC_SHM_LEASE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"

#define FCI_LEASE_MAGIC 0x31455341454c4346ull  /* "FCLEASE1" */
#define FCI_LEASE_SLOTS 1024u

typedef struct fci_lease_slot {
    _Atomic uint64_t owner;     /* holder's owner word, 0 = free */
    _Atomic uint64_t key_hash;  /* the key its holder computes (for stats) */
    _Atomic uint64_t lease_id;  /* grant number of the current holder */
    _Atomic uint32_t wake;      /* futex word: bumped at every release */
    uint32_t pad;
} fci_lease_slot;

typedef struct fci_lease_table {
    uint64_t magic;             /* FCI_LEASE_MAGIC, written before lease_off */
    uint32_t nslots;
    uint32_t pad0;
    _Atomic uint64_t grants;    /* leases granted (the next lease id) */
    _Atomic uint64_t takeovers; /* leases taken from a dead holder */
    uint64_t pad1[4];
    /* fci_lease_slot slots[nslots] follow */
} fci_lease_table;

_Static_assert(sizeof(fci_lease_slot) == 32, "two slots per cache line");
_Static_assert(offsetof(fci_lease_slot, wake) == 24, "futex word is 4-byte aligned");
_Static_assert(sizeof(fci_lease_table) == 64, "table header is one cache line");

/* Bytes the table needs in the arena. */
uint64_t fci_lease_bytes(uint32_t nslots);

/* Writer: lays out an empty table in mem (fci_lease_bytes bytes). */
void fci_lease_init(void *mem, uint32_t nslots);

/* Checks a table found in the arena against the bytes it may span. */
int fci_lease_check(const fci_lease_table *t, uint64_t bytes_available);

/* Takes the lease of hash's slot for this process, taking it over when its
 * holder is dead. 1 = ours (with *lease_id), 0 = a live process holds it. */
int fci_lease_try(fci_lease_table *t, uint64_t hash, uint64_t *lease_id);

/* Gives back a lease taken by fci_lease_try, if still ours. */
void fci_lease_release(fci_lease_table *t, uint64_t hash, uint64_t lease_id);

/* Waits up to ms for hash's slot to be released (or found abandoned). */
void fci_lease_wait(fci_lease_table *t, uint64_t hash, int ms);

/* The slot of a key must be the same in every process of the store. */
static inline uint64_t fci_lease_hash(const void *key, size_t klen)
{
    return fci_hash_fnv1a(key, klen);
}

#endif
