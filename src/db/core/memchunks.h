/*
 * memchunks.h - arena memory for memtables (memchunks.c).
 */
#ifndef FC_DB_CORE_MEMCHUNKS_H
#define FC_DB_CORE_MEMCHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "db/core/memtable.h"
#include "shm/arena.h"
#include "shm/lane.h"

struct fc_store;

/* the write lane's reserve is these spares, seen from the arena */
#define FCI_MEMCHUNKS_SPARES FCI_LANE_SPARES

/* Arena memory handed to one memtable: chunks carved by bump allocation,
 * all freed together when the memtable retires. */
typedef struct fci_memchunks {
    fci_arena *arena;
    uint64_t *chunks;
    size_t n, cap;
    uint64_t cur, end;
    uint64_t chunk;             /* bytes per chunk */
    int failed;
    /* chunks taken but not carved yet: the write lane's reserve for
     * leaders in other processes (write/lanewriter.c), used here first */
    uint64_t spare[FCI_MEMCHUNKS_SPARES];
    size_t nspare;
} fci_memchunks;

/* A new memtable in s's arena on chunks of its own (*chunks), which
 * fci_memchunks_free gives back once no reader can see the memtable. */
int fci_memchunks_memtable(struct fc_store *s, fci_memtable *mt, fci_memchunks **chunks);
void fci_memchunks_free(fci_memchunks *mc);
/* Takes one more chunk into the spares. 0 or FC_ENOMEM. */
int fci_memchunks_reserve(fci_memchunks *mc);
/* Gives the spares back to the arena (a memtable that takes no more
 * writes). */
void fci_memchunks_unreserve(fci_memchunks *mc);

#endif
