/*
 * store.h - the fc_store handle and what the db files share about it.
 *
 * One process is the writer (role FCI_ROLE_WRITER): it holds LOCK, owns the
 * WAL, the version set and the background thread. Every process, the writer
 * included, reads through the arena: the published version record, the
 * memtables in the arena, and tables it maps itself.
 */
#ifndef FC_DB_STORE_H
#define FC_DB_STORE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "forkcache.h"
#include "db/memtable.h"
#include "db/read.h"
#include "db/tcache.h"
#include "db/vset.h"
#include "format/log_writer.h"
#include "format/write_batch.h"
#include "shm/arena.h"
#include "util/error.h"

enum { FCI_ROLE_WRITER = 1, FCI_ROLE_READER = 2, FCI_ROLE_READONLY = 3 };

/* Arena memory handed to one memtable: chunks carved by bump allocation,
 * all freed together when the memtable retires. */
typedef struct fci_memchunks {
    fci_arena *arena;
    uint64_t *chunks;
    size_t n, cap;
    uint64_t cur, end;
    uint64_t chunk;             /* bytes per chunk */
    int failed;
} fci_memchunks;

/* Something the writer may free only once no reader can still see it:
 * the version record, memtable memory or a file of versions < vseq. */
typedef struct fci_retired {
    uint64_t vseq;            /* first version that no longer needs it */
    uint64_t vrec_off;        /* a version record, or 0 */
    fci_memchunks *mem;       /* a memtable's chunks, or NULL */
    uint64_t file_number;     /* a table to unlink, or 0 */
    struct fci_retired *next;
} fci_retired;


typedef struct fci_writer {
    int lock_fd;
    fci_vset vs;
    fci_log_writer wal;
    uint64_t wal_number;
    uint64_t mem_wal;           /* first WAL holding mem's entries (a failed
                                   WAL is replaced without a new memtable) */
    fci_memtable mem, imm;
    fci_memchunks *mem_chunks, *imm_chunks;
    int has_imm;
    uint64_t vseq;              /* last version published */
    uint64_t vrec_off;          /* its record */
    fci_retired *retired;
    pthread_mutex_t mu;         /* guards everything above and below */
    pthread_cond_t work_cv;     /* background thread waits here */
    pthread_cond_t done_cv;     /* writers and fc_flush/compact wait here */
    pthread_t bg;
    int bg_started;
    pthread_t bg_self;          /* the background thread, as it sees itself */
    int bg_running;             /* bg_self is set (guarded by mu) */
    int shutting_down;
    /* Background failures are retried, never sticky (bg.c): bg_error is
     * the last attempt's code (0 once one succeeds), bg_err its detail,
     * bg_failures counts failed attempts so waiters see a new one. */
    int bg_error;
    fci_err bg_err;
    uint64_t bg_failures;
    int compacting;             /* a compaction runs (bg or manual) */
    /* Tables numbered >= these are being written (0 = none) by the one
     * flush and the one compaction that may run at once (on different
     * threads): each clears only its own, so neither's obsolete-file sweep
     * deletes the other's unfinished output. */
    uint64_t pending_flush;
    uint64_t pending_compact;
    int stall;
    uint64_t stall_count;
    uint64_t flushes, compactions, bytes_compacted;
    fci_write_batch scratch;    /* a single put/del */
    pthread_t drain;            /* applies the write queue (queue.c) */
    int drain_started;
    int queue_stop;
    /* Compaction (compact.c): set by fci_bg_stop so a running compaction
     * gives up between entries; read without mu. Counters under mu. */
    atomic_int stop_compaction;
    uint64_t compactions_cancelled;
    uint64_t grandparent_splits;    /* outputs ended by the grandparent rule */
    uint64_t trivial_moves;
} fci_writer;

struct fc_store {
    fci_err err;
    fc_options opts;
    char dir[PATH_MAX];
    int role;
    pid_t pid;                  /* process that owns this handle's role */
    fci_arena *arena;
    fci_tcache tcache;          /* this process's mapped tables */
    fci_reader_state rd;        /* this process's transactions */
    fci_writer *w;              /* writer role only */
    pthread_mutex_t err_mu;
    struct fci_ttl_shared *ttl_shared; /* expiry clock and counters (db/ttl.h) */
};

/* Store-wide helpers shared by the db files. */
int fci_store_publish(fc_store *s);                       /* writer, mu held */
void fci_store_retire(fc_store *s, uint64_t vrec_off, fci_memchunks *mem, uint64_t file);
void fci_store_reclaim(fc_store *s);                      /* writer, mu held */
int fci_store_new_memtable(fc_store *s, fci_memtable *mt, fci_memchunks **chunks);
void fci_memchunks_free(fci_memchunks *mc);

/* recover.c: replays live WALs into the memtable, flushing when full. */
int fci_store_recover_wals(fc_store *s, fci_version_edit *edit);

/* Replays every live WAL of dir in order (as the MANIFEST in vs says),
 * inserting each record's batch through insert and then calling after
 * (may be NULL). Shared by the writer's recovery and read-only opens. */
typedef int (*fci_replay_after)(void *arg, fci_err *err);
int fci_replay_wals(const char *dir, fci_vset *vs, int best_effort, fci_batch_fn insert,
                    fci_replay_after after, void *arg, fci_err *err);

/* bg.c */
int fci_bg_start(fc_store *s);
void fci_bg_stop(fc_store *s);
int fci_flush_memtable(fc_store *s, fci_memtable *mt, fci_version_edit *edit, int unlock);
/* Called by a compaction between entries, without mu: on the background
 * thread, flushes a waiting immutable memtable at once, so writers are not
 * stalled for the length of a compaction. 0 or the flush's error. */
int fci_bg_flush_if_waiting(fc_store *s);
/* mu held: the last background failure as the caller's error. */
int fci_bg_failed(fc_store *s);
void fci_delete_obsolete_files(fc_store *s);

/* compact.c: the compaction's I/O, run without the mutex; fills edit. */
int fci_compaction_run(fc_store *s, fci_compaction *c, fci_version_edit *edit,
                       uint64_t smallest_snapshot, uint64_t *bytes_out, fci_err *err);

/* readonly.c: FC_READONLY - recover into a private arena, write nothing. */
int fci_open_readonly(fc_store *s, fci_err *err);

/* stats.c: mirrors the writer's counters into the arena (mu held). */
void fci_store_count(fc_store *s);

/* store.c */
int fci_store_new_wal(fc_store *s, fci_err *err);
/* mu held. Before a synced write: preallocates the live WAL if it is not
 * yet (its first fill is synced now, so the writes after it are cheap). */
int fci_store_wal_for_sync(fc_store *s, fci_err *err);

/* queue.c: the write queue, created and drained by the writer */
int fci_queue_create(fc_store *s, fci_err *err);
int fci_queue_start(fc_store *s);
void fci_queue_stop(fc_store *s);
int fci_queue_submit(fc_store *s, fci_slice rep, int sync);
int fci_queue_call(fc_store *s, const void *data, size_t len, unsigned flags, int *result,
                   void *reply, uint32_t reply_len);

/* write.c */
int fci_switch_memtable(fc_store *s);                   /* mu held */
/* Where a write from this handle goes: FCI_WRITE_HERE (this process is the
 * writer), FCI_WRITE_QUEUE, or a negative FC_E* code (recorded). */
enum { FCI_WRITE_HERE = 0, FCI_WRITE_QUEUE = 1 };
int fci_write_route(fc_store *s);
/* FC_EINVAL (NULL with a length), FC_ETOOBIG (over the size limits) or 0. */
int fci_check_sizes(const void *key, size_t klen, const void *val, size_t vlen);
int fci_write_batch_locked(fc_store *s, fci_write_batch *b, int sync);
/* The two halves of fci_write_batch_locked, for a caller that decides what
 * to write from the current state (atomic.c): make room first (this may
 * release mu while it waits), decide, then write without releasing mu. */
int fci_make_room(fc_store *s);
int fci_write_batch_room_made(fc_store *s, fci_write_batch *b, int sync);

/* stall.c: before a write (b) or a memtable switch (b NULL) takes arena
 * memory, waits while the arena is full of what old snapshots pin.
 * mu held (released while waiting). 0 when there is room at once,
 * FCI_ROOM_WAITED after a wait (the caller looks at the state again), or
 * FC_ENOMEM when waiting cannot help. */
#define FCI_ROOM_WAITED 1
int fci_arena_room(fc_store *s, fci_write_batch *b);
/* The live reader slot pinning the oldest version: its pid and version
 * (0, 0 when nothing is pinned). A figure, read without synchronisation. */
void fci_oldest_pin(const fci_arena *a, int *pid, uint64_t *version);
/* Ages the oldest pin for max_snapshot_age_ms (writer, mu held). */
void fci_pin_watch(fc_store *s);

/* Records a failure in the handle's message and returns code. */
int fci_store_fail(fc_store *s, int code, const fci_err *detail);

#endif
