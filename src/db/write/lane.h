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

/*
 * Test hook: when set, called at each step of a group this process leads
 * (FCI_LANE_STEP_*), so a crash test can kill the leader there. The one
 * global of this module; process-local, inherited by a fork, documented
 * as for tests only, and NULL (no cost but a load) otherwise.
 */
enum {
    FCI_LANE_STEP_DECIDED = 1,   /* recorded, before the WAL append */
    FCI_LANE_STEP_APPENDED,      /* the record is written, not yet recorded LOGGED */
    FCI_LANE_STEP_LOGGED,        /* recorded LOGGED, before the first insert */
    FCI_LANE_STEP_INSERTING,     /* after each insert */
    FCI_LANE_STEP_INSERTED,      /* every insert done, before publication */
    FCI_LANE_STEP_PUBLISHED,     /* published, before the first answer */
    FCI_LANE_STEP_ANSWERING,     /* after each answer */
    FCI_LANE_STEP_COUNT
};
typedef void (*fci_lane_step_fn)(int step, const fci_lane *l);
extern fci_lane_step_fn fci_lane_test_hook;

/* Frees this process's leader state (its WAL descriptor). */
void fci_leader_free(fc_store *s);

#endif
