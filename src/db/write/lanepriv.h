/*
 * lanepriv.h - what lane.c (a group's commit and repair) and lead.c (who
 * leads, and the writer's side of the lane) share.
 */
#ifndef FC_DB_WRITE_LANEPRIV_H
#define FC_DB_WRITE_LANEPRIV_H

#include "db/core/memtable.h"
#include "db/core/store.h"
#include "format/log_writer.h"
#include "format/write_batch.h"
#include "db/write/lane.h"
#include "shm/lane.h"

/* A process's handles on the lane's WAL and memtable, for leading from a
 * process that is not the writer; reopened when the lane's gen moves. */
struct fci_leader {
    uint64_t gen;          /* the lane gen the handles match; 0 = none */
    fci_log_writer wal;    /* own descriptor on the live WAL */
    int wal_open;
    fci_memtable mem;      /* allocating from the lane's chunks */
    fci_write_batch group;
};

/* Calls the test hook, if any, at a step of a group. */
static inline void fci_lane_step(int step, const fci_lane *l)
{
    if (fci_lane_test_hook != NULL)
        fci_lane_test_hook(step, l);
}

int fci_lane_commit_group(fc_store *s, fci_lane *l, fci_log_writer *wal, fci_memtable *mem,
                          fci_write_batch *b, int sync, fci_err *err);
int fci_lane_repair(fc_store *s, fci_lane *l, int wal_fd, fci_memtable *mem, fci_err *err);

#endif
