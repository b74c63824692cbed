/*
 * write.h - the write path: batches (batch.c), applying them in the writer
 * (write.c), the WAL (wal.c), waiting for arena room (room.c), and handing
 * them to the writer from other processes (submit.c).
 */
#ifndef FC_DB_WRITE_WRITE_H
#define FC_DB_WRITE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "db/core/store.h"
#include "db/write/expiry.h"
#include "format/write_batch.h"
#include "shm/wqueue.h"
#include "util/error.h"
#include "util/slice.h"

/* A public batch: LevelDB's WriteBatch plus the expiry frames to stamp at
 * fc_write (expiry.c). */
struct fc_batch {
    fci_write_batch wb;
    fci_ttl_marks ttl;
};

/* batch.c: FC_EINVAL (NULL with a length), FC_ETOOBIG (over the size
 * limits) or 0. */
int fci_check_sizes(const void *key, size_t klen, const void *val, size_t vlen);

/* write.c. Where a write from this handle goes: FCI_WRITE_HERE (this
 * process is the writer), FCI_WRITE_QUEUE, or a negative FC_E* code
 * (recorded). */
enum { FCI_WRITE_HERE = 0, FCI_WRITE_QUEUE = 1 };
int fci_write_route(fc_store *s);
/* write.c, mu held: the full memtable becomes immutable, a new one and a
 * new WAL start. */
int fci_switch_memtable(fc_store *s);
/* write.c, mu held: makes room, then writes b. */
int fci_write_batch_locked(fc_store *s, fci_write_batch *b, int sync);
/* The two halves of fci_write_batch_locked, for a caller that decides what
 * to write from the current state (condwrite.c): make room first (this may
 * release mu while it waits), decide, then write without releasing mu. */
int fci_make_room(fc_store *s);
int fci_write_batch_room_made(fc_store *s, fci_write_batch *b, int sync);
/* write.c: one put or delete through the usual route (this process's
 * writer or the write queue). */
int fci_write_one(fc_store *s, int type, const void *key, size_t klen, const void *val,
                  size_t vlen);

/* wal.c, mu held: opens a fresh WAL under a new number; the old one stays
 * until a flush makes it obsolete. */
int fci_wal_new(fc_store *s, fci_err *err);
/* wal.c, mu held. Before a synced write: preallocates the live WAL if it
 * is not yet (its first fill is synced now, so the writes after it are
 * cheap). */
int fci_wal_for_sync(fc_store *s, fci_err *err);

/* room.c, mu held: 1 when the arena has room for b now (no wait). */
int fci_room_fits(fc_store *s, fci_write_batch *b);
/* room.c: before a write (b) or a memtable switch (b NULL) takes arena
 * memory, waits while the arena is full of what old snapshots pin.
 * mu held (released while waiting). 0 when there is room at once,
 * FCI_ROOM_WAITED after a wait (the caller looks at the state again), or
 * FC_ENOMEM when waiting cannot help. */
#define FCI_ROOM_WAITED 1
int fci_room_wait(fc_store *s, fci_write_batch *b);

/* submit.c: the write queue a writer made in this arena, checked; NULL
 * when there is none. */
fci_wq *fci_queue_of(fc_store *s);
/* submit.c: sends one entry and waits for the writer: 0 with its verdict
 * in *result (0 or FC_E*) and reply_len bytes of its reply in reply, or
 * the failure to get an answer at all (recorded in the handle). */
int fci_submit_call(fc_store *s, const void *data, size_t len, unsigned flags, int *result,
                    void *reply, uint32_t reply_len);
/* submit.c: a batch (its WriteBatch rep) through the writer. */
int fci_submit_batch(fc_store *s, fci_slice rep, int sync);

#endif
