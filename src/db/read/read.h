/*
 * read.h - per-process reader state shared by the transactions of one
 * process: how many are open and the version the process's slot pins.
 */
#ifndef FC_DB_READ_H
#define FC_DB_READ_H

#include <pthread.h>
#include <stdint.h>

#include "db/core/follow.h"
#include "db/core/memtable.h"
#include "db/core/rstate.h"
#include "db/core/vrec.h"
#include "format/table.h"
#include "util/spin.h"

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
    fci_clear_view clr;         /* the clears it obeys, copied at begin */
    /* gets counted here, plain adds on this thread's memory, and added to
     * the process's counter row once, at fc_txn_end (shm/counters.h) */
    uint64_t n_hits, n_misses, n_expired;
};

/* The newest live value of key in the transaction's snapshot, without its
 * expiry frame, and that frame's expiry in *expiry (0 = never or no
 * framing); an expired value is FC_ENOTFOUND. (fc_get plus the expiry;
 * used by the writer's atomic operations, db/write/condwrite.c.) */
int fci_get_live(struct fc_txn *t, const void *key, size_t klen, fci_slice *v,
                 uint64_t *expiry);

#endif
