/*
 * read.h - per-process reader state shared by the transactions of one
 * process: how many are open and the version the process's slot pins.
 */
#ifndef FC_DB_READ_H
#define FC_DB_READ_H

#include <pthread.h>
#include <stdint.h>

#include "db/memtable.h"
#include "db/vrec.h"
#include "format/table.h"
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

/* Frees what the reader state keeps between transactions (fc_close). */
void fci_reader_state_free(fci_reader_state *r);

/* A block kept alive until the transaction ends, because a value returned
 * earlier points into it (compressed or pread blocks live on the heap). */
typedef struct fci_held {
    const fci_table *table;
    fci_block_ref ref;
} fci_held;

struct fc_store;

/* A read transaction: its pinned version, snapshot and attached memtables. */
struct fc_txn {
    struct fc_store *store;
    pthread_t thread;           /* began it: owns its RCU read-side section */
    uint64_t vseq;
    uint64_t snapshot;
    uint64_t view_off;          /* view, mem, imm are of the record here (0: none) */
    fci_vrec_view view;
    fci_memtable mem, imm;
    int has_mem, has_imm;
    fci_table_get_result res;   /* the last table hit; released at end */
    const fci_table *res_table;
    fci_held *held;             /* blocks earlier values point into */
    size_t nheld, capheld;
    int res_live;
    int ended;                  /* fc_txn_end ran: every use is FC_ECLOSED */
    int iters;                  /* open fc_iter on this txn (iter.c) */
    int ttl;                    /* values are framed with their expiry */
    uint64_t now_ms;            /* expiry is judged against this (ttl.h) */
};

/* The newest live value of key in the transaction's snapshot, without its
 * expiry frame, and that frame's expiry in *expiry (0 = never or no
 * framing); an expired value is FC_ENOTFOUND. (fc_get plus the expiry;
 * used by the writer's atomic operations, db/atomic.c.) */
int fci_get_live(struct fc_txn *t, const void *key, size_t klen, fci_slice *v,
                 uint64_t *expiry);

#endif
