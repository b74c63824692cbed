/*
 * arena.h - the shared arena: one MAP_SHARED region that every process of a
 * store maps, with a header, a table of reader slots, the cross-process
 * Limiter and a heap for the writer's regions.
 *
 * This layer knows nothing of tables or memtables. It creates or attaches
 * the region, hands out heap blocks (writer only), converts offsets to
 * pointers with a bounds check, keeps one reader slot per process, and
 * counts table mappings across processes. The protocol between processes is
 * written down in docs/SHM_PROTOCOL.md.
 *
 * Every process that uses an arena holds one reader slot: create and attach
 * claim it, fci_arena_detach gives it back. After fork() the child must call
 * fci_arena_after_fork() before using the handle it inherited (no
 * pthread_atfork handler is registered; see that function).
 */
#ifndef FC_SHM_ARENA_H
#define FC_SHM_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"
#include "util/error.h"

/* fci_readers_oldest() when no slot pins anything. */
#define FCI_NO_PIN UINT64_MAX

typedef struct fci_arena_config {
    size_t size;            /* bytes reserved; FC_DEFAULT_ARENA_SIZE */
    uint32_t reader_slots;  /* FC_DEFAULT_READER_SLOTS, at most FCI_MAX_READER_SLOTS */
    uint32_t max_mappings;  /* Limiter capacity; FC_DEFAULT_MAX_MAPPINGS */
    uint64_t max_mapped_bytes; /* byte Limiter capacity (rounded down to its
                                  unit); UINT64_MAX (the default): no cap */
    const char *path;       /* file-backed arena; NULL = anonymous */
    int dirfd;              /* path's directory when that is the store's,
                               else AT_FDCWD (util/io.h; not owned) */
    unsigned file_mode;     /* FC_DEFAULT_FILE_MODE; no group/other write */
    const char *store_dir;  /* recorded in the header; may be NULL */
} fci_arena_config;

/* A process's handle on an arena (process-private memory). */
typedef struct fci_arena {
    char *base;             /* mapping address */
    size_t size;
    fci_arena_header *hdr;
    fci_reader_slot *slots;
    fci_byte_slot *bslots;  /* the byte Limiter's holdings, one per slot */
    uint32_t slot_count;
    int fd;                 /* file-backed: the arena file (O_CLOEXEC), else -1 */
    int slot;               /* this process's slot index, -1 if none */
    int pid;                /* process that claimed `slot` */
    uint64_t start_time;    /* that process's start time */
    int is_owner;           /* created by this process (not inherited by fork) */
    char *path;             /* file-backed: copy of the path, else NULL */
    /* this process's counter row (counters.c), found at its first use and
     * cleared when a slot is claimed; threads that race to set it store the
     * same pointer (relaxed) */
    _Atomic(struct fci_counter_row *) ctr_row;
    int dirfd;              /* the directory path is reached through (not
                               owned: the store's, or AT_FDCWD) */
} fci_arena;

/* Per-slot information returned by fci_arena_stats. */
typedef struct fci_reader_info {
    uint32_t slot;
    int32_t pid;
    uint64_t pinned_seq;
    uint32_t held;          /* Limiter units */
    uint64_t n_pins, n_acquired, n_refused;
} fci_reader_info;

typedef struct fci_arena_stats {
    uint64_t arena_size;
    uint64_t heap_size;        /* bytes the allocator may hand out */
    uint64_t heap_reserved;    /* bytes carved by the bump pointer so far */
    uint64_t bytes_in_use;     /* bytes in allocated blocks */
    uint64_t blocks_in_use;
    uint32_t slots_total;
    uint32_t slots_live;       /* held slots (live or not yet swept) */
    uint32_t readers_reported; /* entries written to the caller's array */
    uint32_t limiter_capacity;
    uint32_t limiter_in_use;   /* capacity - count still allowed */
    uint64_t mapped_bytes_cap; /* byte Limiter capacity, in bytes */
    uint64_t mapped_bytes_in_use; /* counted across processes, whole units */
    uint64_t published_seq;
} fci_arena_stats;

/* ---- creation, attach, fork, detach (arena.c) ---- */

/* Fills *cfg with the defaults of include/forkcache.h (anonymous arena). */
void fci_arena_config_init(fci_arena_config *cfg);

/* Creates a fresh arena and claims a slot for this process. A file-backed
 * arena whose owner is still alive is refused (FC_EBUSY); one whose owner
 * died is replaced by a fresh file. */
int fci_arena_create(const fci_arena_config *cfg, fci_arena **out, fci_err *err);

/* Maps an existing file-backed arena after validating its header, and
 * claims a slot. fci_arena_attach_at reaches path through dirfd (the
 * store's directory, util/io.h), which must outlive the handle. */
int fci_arena_attach(const char *path, fci_arena **out, fci_err *err);
int fci_arena_attach_at(int dirfd, const char *path, fci_arena **out, fci_err *err);

/* In a child after fork(): takes a slot of the child's own (with no Limiter
 * holdings and no pin) and drops ownership. The child's inherited mappings
 * are not accounted: re-account them with fci_limiter_acquire or unmap. */
int fci_arena_after_fork(fci_arena *a, fci_err *err);

/* Releases this process's slot (pin, Limiter holdings) and unmaps. */
void fci_arena_detach(fci_arena *a);

/* Offset -> pointer, or NULL unless [off, off+len) lies inside the arena
 * (off 0 is the header and is refused too: 0 means "none" everywhere). */
void *fci_arena_ptr(const fci_arena *a, uint64_t off, uint64_t len);

/* The store directory recorded at creation ("" if none). */
const char *fci_arena_store_dir(const fci_arena *a);

/* Fills *st; writes up to max_readers entries of held slots to readers. */
void fci_arena_stats_get(const fci_arena *a, fci_arena_stats *st,
                         fci_reader_info *readers, uint32_t max_readers);

/* ---- publication and pins (arena.c) ---- */

/* Writer: makes the version at off current, with sequence seq (offset
 * stored before sequence, see SHM_PROTOCOL.md). */
void fci_arena_publish(fci_arena *a, uint64_t off, uint64_t seq);

/* Reader: pins the published sequence in this process's slot and returns it
 * with the current offset; the writer will not reuse anything that
 * sequence can see until fci_arena_unpin. */
int fci_arena_pin_current(fci_arena *a, uint64_t *seq, uint64_t *off);

/* Reader: the current version's offset (acquire: its record is complete).
 * Under a pin, an offset is never reused for another record. */
uint64_t fci_arena_current_off(const fci_arena *a);

/* Writer: publishes the newest write sequence after its entries are in the
 * memtable; reader: loads it. A reader loads the current offset, then this,
 * then the offset again (see src/db/read.c for why). */
void fci_arena_publish_last_seq(fci_arena *a, uint64_t seq);
uint64_t fci_arena_last_seq(const fci_arena *a);

/* ---- waiting for the last sequence to move (seqwait.c) ---- */

/* Publisher: bumps seq_changes and wakes fc_wait's sleepers when there
 * are any. fci_arena_publish_last_seq calls it; so does whoever changes a
 * word a sleeper must look at again (the writer leaving its arena). */
void fci_arena_seq_changed(fci_arena *a);

/* Waiter: 1 with *now = the last sequence when it is past seen; else one
 * futex sleep of at most ms milliseconds (none when ms <= 0) and 0. */
int fci_arena_seq_wait(fci_arena *a, uint64_t seen, int ms, uint64_t *now);

/* Where the arena is mapped in this process, and its size. */
static inline char *fci_arena_base(const fci_arena *a)
{
    return a->base;
}

static inline size_t fci_arena_size(const fci_arena *a)
{
    return a->size;
}
void fci_arena_unpin(fci_arena *a);

/* ---- allocator (alloc.c): ONLY THE WRITER ALLOCATES OR FREES ---- */

/* Carves a block for len bytes; *off is the first usable byte. FC_ENOMEM
 * when the heap is exhausted. */
int fci_arena_alloc(fci_arena *a, uint64_t len, uint64_t *off, fci_err *err);

/* Puts a block back on its size class's free list; FC_EINVAL on an offset
 * that is not an allocated block. */
int fci_arena_free(fci_arena *a, uint64_t off, fci_err *err);

/* Usable bytes of the block at off (>= what was asked), 0 if not a block. */
uint64_t fci_arena_block_size(const fci_arena *a, uint64_t off);

/* ---- reader slots and the Limiter (slots.c) ---- */

/* Reclaims the slots of dead processes (and of recycled pids), giving their
 * Limiter units back. Returns how many were reclaimed. */
int fci_readers_sweep(fci_arena *a);

/* Oldest pinned sequence over all held slots, FCI_NO_PIN if none. */
uint64_t fci_readers_oldest(const fci_arena *a);

/* Takes one mapping unit for this process: FC_ELIMIT when none left. */
int fci_limiter_acquire(fci_arena *a, fci_err *err);

/* Gives back one unit this process holds: FC_EINVAL if it holds none. */
int fci_limiter_release(fci_arena *a, fci_err *err);

/* Units still allowed, across all processes. */
uint32_t fci_limiter_available(const fci_arena *a);

/* Units held by this process's slot. */
uint32_t fci_limiter_held(const fci_arena *a);

/* The byte Limiter: mapped bytes are counted in units (a power of two of
 * at least 64 KiB). fci_limiter_units says what a mapping of `bytes`
 * costs; acquire takes that many for this process (FC_ELIMIT when the cap
 * would be passed), release gives them back (FC_EINVAL if not held). */
uint32_t fci_limiter_units(const fci_arena *a, uint64_t bytes);
int fci_limiter_acquire_bytes(fci_arena *a, uint32_t units, fci_err *err);
int fci_limiter_release_bytes(fci_arena *a, uint32_t units, fci_err *err);
/* The cap, the bytes counted across processes, and this process's units. */
uint64_t fci_limiter_bytes_cap(const fci_arena *a);
uint64_t fci_limiter_bytes_in_use(const fci_arena *a);
uint32_t fci_limiter_bytes_held(const fci_arena *a);

/* ---- internals shared by arena.c and slots.c ---- */

/* Claims a free slot for the calling process (sweeping once when the table
 * is full): FC_ELIMIT if none. */
int fci_slot_claim(fci_arena *a, fci_err *err);

/* Releases the calling process's slot: unpin, units back, free. */
void fci_slot_release(fci_arena *a);

#endif
