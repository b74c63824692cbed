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

/* How many ended transactions a process keeps (not freed) so that a
 * handle used after fc_txn_end is recognised (FC_ECLOSED) rather than read
 * from freed memory: the last FCI_TXN_GRAVES ends are detected. */
#define FCI_TXN_GRAVES 8

struct fc_txn;

typedef struct fci_reader_state {
    pthread_mutex_t mu;
    int active;          /* open transactions in this process */
    uint64_t pinned;     /* version the slot pins while active > 0 */
    struct fc_txn *graves[FCI_TXN_GRAVES]; /* ended txns, freed in turn */
    unsigned next_grave;
} fci_reader_state;

/* Frees the kept ended transactions (fc_close). */
void fci_reader_graves_free(fci_reader_state *r);

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
    uint64_t vseq;
    uint64_t snapshot;
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
};

#endif
