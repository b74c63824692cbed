/*
 * store.h - the fc_store handle, the writer's state, and the handle's
 * failure state (fail.c). Every layer of src/db includes it; it includes
 * only core headers.
 *
 * One process is the writer (role FCI_ROLE_WRITER): it holds LOCK, owns the
 * WAL, the version set and the background thread. Every process, the writer
 * included, reads through the arena: the published version record, the
 * memtables in the arena, and tables it maps itself.
 */
#ifndef FC_DB_CORE_STORE_H
#define FC_DB_CORE_STORE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "forkcache.h"
#include "db/core/memchunks.h"
#include "db/core/memtable.h"
#include "db/core/rstate.h"
#include "db/core/tcache.h"
#include "db/core/vset.h"
#include "format/log_writer.h"
#include "format/write_batch.h"
#include "shm/arena.h"
#include "util/error.h"

enum { FCI_ROLE_WRITER = 1, FCI_ROLE_READER = 2, FCI_ROLE_READONLY = 3 };

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
    /* LOCK was replaced under us and another process holds the new one or
     * names itself the writer (core/writerid.c): sticky, guarded by mu;
     * lock_err says why every later write fails. */
    int lock_lost;
    fci_err lock_err;
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
    /* Background failures are retried, never sticky (bg/bg.c): bg_error is
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
    pthread_t drain;            /* applies the write queue (bg/drain.c) */
    int drain_started;
    int queue_stop;
    int lane_closed;            /* fc_close began: leaders hand everything over */
    uint64_t drained;           /* queue entries the drain thread answered */
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
    /* The directory itself, opened once by fc_open (close-on-exec; a
     * forked child uses the inherited one): every store file is reached
     * through it (util/io.h), so re-pointing dir's name under a running
     * store changes nothing. dir stays for messages. */
    int dirfd;
    int role;
    pid_t pid;                  /* process that owns this handle's role */
    fci_arena *arena;
    fci_tcache tcache;          /* this process's mapped tables */
    fci_reader_state rd;        /* this process's transactions */
    fci_writer *w;              /* writer role only */
    pthread_mutex_t err_mu;
    struct fci_ttl_shared *ttl_shared; /* expiry clock and counters (core/ttl.h) */
    struct fci_follow_shared *follow;  /* clears and the Redis link (core/follow.h) */
    struct fci_follower *follower;     /* writer: the Redis link's thread (bg/follow.c) */
    struct fci_lane *lane;      /* the arena's write lane, once found (write/lane.c) */
    struct fci_leader *leader;  /* this process's handles for leading (write/lead.c) */
};

/* fail.c: records a failure in the handle's message and returns code. */
int fci_store_fail(fc_store *s, int code, const fci_err *detail);
/* fail.c: keeps err as the message of an open that left no handle, which
 * fc_errmsg(NULL) shows. */
void fci_open_failed(const fci_err *err);
/* fail.c, mu held: the last background failure as the caller's error. */
int fci_bg_failed(fc_store *s);

#endif
