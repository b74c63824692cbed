/*
 * lane.h - writes applied by whichever process holds the write lock: a
 * leader applies every ready entry of the write queue as one group (WAL
 * append, memtable insert, publication, answers), recording each step in
 * the arena's lane (shm/lane.h) so a dead leader's group is finished or
 * undone by the next holder. See docs/SHM_PROTOCOL.md, "The write lane".
 */
#ifndef FC_DB_WRITE_LANE_H
#define FC_DB_WRITE_LANE_H

#include <stdint.h>

#include "db/core/store.h"
#include "format/write_batch.h"
#include "shm/lane.h"
#include "shm/wqueue.h"

/* The lane a writer made in this arena, checked; NULL when none. */
fci_lane *fci_lane_of(fc_store *s);

/* Writer, at open, once recovery is published: lays out the lane and
 * opens it to every process. */
int fci_lane_create(fc_store *s, fci_err *err);

/* Writer process, mu held: takes the write lock (finishing a dead
 * leader's group first) and brings the writer's WAL offset, last sequence
 * and memtable allocation up to what leaders did; leave hands them back,
 * keeps spare chunks in reserve for leaders, and unlocks. */
int fci_lane_enter(fc_store *s);
void fci_lane_leave(fc_store *s);

/* Writer process, mu held, room made: enter, append b to the WAL, insert
 * it and publish it (each step recorded), leave. */
int fci_lane_commit(fc_store *s, fci_write_batch *b, int sync);
/* The same between the caller's own enter and leave; leaves the record
 * PUBLISHED for the caller to answer its tickets. */
int fci_lane_commit_locked(fc_store *s, fci_write_batch *b, int sync);

/* Writer process, mu held, room made: applies the ready entries of the
 * write queue as one group. Returns how many were answered, 0, or
 * FCI_LANE_NO_ROOM when the arena cannot take the group yet (group then
 * holds it, for fci_room_wait). */
#define FCI_LANE_NO_ROOM (-2)
int fci_lane_drain(fc_store *s, fci_wq *q, fci_write_batch *group);

/* Writer process, mu held: answers the ready entries with rc, the
 * failure that keeps them from being applied (room could not be made). */
int fci_lane_refuse(fc_store *s, fci_wq *q, fci_write_batch *group, int rc);

/* Writer process, at close: no leader starts a group from now on. */
void fci_lane_close(fc_store *s);

/* Any process but the writer: queues one entry, leads groups until it is
 * answered (or hands it to the writer when the lane cannot take it), and
 * returns the answer as fci_wq_call does. */
int fci_lane_call(fc_store *s, fci_wq *q, const void *data, uint32_t len, uint32_t flags,
                  fci_wq_alive_fn alive, int *result, void *reply, uint32_t reply_len,
                  fci_err *err);

/* Frees this process's leader state (its WAL descriptor). */
void fci_leader_free(fc_store *s);

#endif
