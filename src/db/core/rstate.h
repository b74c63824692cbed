/*
 * rstate.h - a process's read state, kept in its store handle: the view of
 * the version record it checked last and the transactions it keeps for
 * reuse. The handle (store.h) embeds it; only read/ uses its fields.
 */
#ifndef FC_DB_CORE_RSTATE_H
#define FC_DB_CORE_RSTATE_H

#include <stdint.h>

#include "db/core/memtable.h"
#include "db/core/vrec.h"
#include "util/spin.h"

/* Ended transactions a process keeps for reuse (see fci_reader_state). */
#define FCI_TXN_SPARES 8

/* The checked view of the version record this process opened last. Most
 * transactions begin on the version the previous one saw (versions change
 * on flushes, not on writes), so they reuse it instead of checking the
 * record again: a copy of the record's header, compared whole, tells that
 * the record at that offset is still the one checked. */
typedef struct fci_view_cache {
    int valid;
    uint64_t off;
    fci_vrec header;
    fci_vrec_view view;
    fci_memtable mem, imm;
    int has_mem, has_imm;
} fci_view_cache;

struct fc_txn;

typedef struct fci_reader_state {
    fci_spin lock;       /* guards all below; held for a few dozen instructions */
    int active;          /* open transactions in this process */
    uint64_t pinned;     /* version the slot pins while active > 0 */
    fci_view_cache cache;
    /* Ended transactions, oldest first, kept for later begins: one is
     * reused only once FCI_TXN_SPARES are kept, so a handle used after its
     * fc_txn_end meets its "ended" mark (FC_ECLOSED) until that many later
     * transactions have ended, instead of another live transaction. */
    struct fc_txn *spares[FCI_TXN_SPARES];
    unsigned nspares, oldest_spare;
} fci_reader_state;

#endif
