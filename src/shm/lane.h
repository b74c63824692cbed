/*
 * lane.h - the write lane: the arena block that lets any process apply
 * writes itself (docs/SHM_PROTOCOL.md, "The write lane").
 *
 * One process-shared, robust mutex (the write lock) orders every write to
 * the active memtable, the live WAL and the last sequence, whichever
 * process makes it. The lock's holder (the leader) applies every ready
 * entry of the write queue as one group. Before each step of a group the
 * leader records the step here, so a process that takes the lock from a
 * dead holder (EOWNERDEAD) can finish or undo the group (db/write/lane.c)
 * before anything else.
 *
 * A second robust mutex, the presence lock, is held by the writer
 * process's drain thread for its lifetime: a leader tries it (a failed
 * compare-and-swap when held, no system call) to learn that the writer
 * still runs, since writing a WAL that no writer will ever flush or a
 * later writer has already replayed would lose the write.
 *
 * Every field below the locks is read and written only with the write
 * lock held; the mutex orders them. Figures are relaxed atomics so that
 * stats may read them without the lock.
 */
#ifndef FC_SHM_LANE_H
#define FC_SHM_LANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FCI_LANE_SPARES 4   /* memtable chunks the writer keeps in reserve
                               (db/core/memchunks.h holds them, as many) */

/* The leader's record: what the group in hand has reached. */
enum {
    FCI_LANE_IDLE = 0,      /* no group in hand */
    FCI_LANE_DECIDED = 1,   /* verdicts written; the WAL append may be torn */
    FCI_LANE_LOGGED = 2,    /* the group's WAL record is whole; inserts may be partial */
    FCI_LANE_PUBLISHED = 3  /* the group is visible; answers may be missing */
};

typedef struct fci_lane {
    union { pthread_mutex_t mu; char bytes[64]; } lock;      /* the write lock */
    union { pthread_mutex_t mu; char bytes[64]; } presence;  /* held by the writer */

    /* the lane: where writes go (write lock held) */
    uint64_t open;           /* 1: any process may lead; 0: only the writer applies */
    uint64_t gen;            /* bumped when the memtable or the WAL changes */
    uint64_t mem_root;       /* the active memtable's skiplist root */
    uint64_t mem_limit;      /* memtable bytes past which leaders hand over */
    uint64_t wal_number;     /* the live WAL */
    uint64_t wal_end;        /* where its next record goes */
    uint64_t wal_failed;     /* an append failed: the writer starts a new WAL */
    uint64_t last_seq;       /* the last sequence number spent */
    uint64_t chunk_cur, chunk_end, chunk_size; /* bump allocation in the memtable */
    uint64_t nspare;
    uint64_t spare[FCI_LANE_SPARES];

    /* the leader's record (write lock held) */
    uint64_t rec_state;      /* FCI_LANE_* */
    uint64_t rec_ticket;     /* first queue ticket of the group */
    uint64_t rec_tickets;    /* how many tickets it answers */
    uint64_t rec_first_seq;  /* its first sequence number */
    uint64_t rec_count;      /* entries */
    uint64_t rec_wal_start;  /* WAL offset of its record */
    uint64_t rec_wal_len;    /* bytes the record takes there */

    /* figures, relaxed */
    _Atomic uint64_t groups, entries, repairs, handovers;
    uint64_t pad[5];
} fci_lane;

_Static_assert(sizeof(pthread_mutex_t) <= 64, "a mutex fits its line");
_Static_assert(offsetof(fci_lane, open) == 128, "the lane after the two lock lines");
_Static_assert(offsetof(fci_lane, rec_state) == 256, "the record on a line of its own");
_Static_assert(sizeof(fci_lane) == 384, "lane layout");

/* Writer: lays out a lane in mem (sizeof(fci_lane) bytes, 64-aligned),
 * closed, with both locks initialised process-shared and robust. 0 or an
 * FC_E* code. */
int fci_lane_init(fci_lane *l);

/* Takes the write lock, waiting at most timeout_ms (0: no limit).
 * Returns 0, FCI_LANE_OWNER_DIED (the lock is ours and the record must be
 * repaired, then fci_lane_consistent called), FC_ETIMEDOUT or FC_EIO. */
#define FCI_LANE_OWNER_DIED 1
int fci_lane_lock(fci_lane *l, int timeout_ms);
/* The same without waiting: FC_EAGAIN while another holds the lock. */
int fci_lane_trylock(fci_lane *l);
void fci_lane_consistent(fci_lane *l);
void fci_lane_unlock(fci_lane *l);

/* The writer's drain thread: holds presence for its lifetime. */
int fci_lane_presence_take(fci_lane *l);
void fci_lane_presence_drop(fci_lane *l);
/* Any process: 1 while some writer thread holds presence. */
int fci_lane_writer_present(fci_lane *l);

#endif
