/*
 * forkcache.h - the one public header of forkcache.
 *
 * forkcache is a shared-memory, multi-process key-value cache. A parent
 * process opens a store (a directory in LevelDB's on-disk format) together
 * with a MAP_SHARED arena, forks its workers, and every worker reads values
 * zero-copy: a get returns a pointer into an mmap'd table or into the arena.
 *
 * Conventions (LMDB style):
 *  - Handles are opaque; create them with the library's functions only.
 *  - Every function that can fail returns 0 on success or a negative FC_E*
 *    code; fc_strerror() names a code, and a handle keeps a message with the
 *    detail of its last failure (file, offset, expected versus found).
 *  - Every exported name starts with fc_ (types, functions) or FC_ (macros).
 */
#ifndef FORKCACHE_H
#define FORKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

#define FC_VERSION_MAJOR 0
#define FC_VERSION_MINOR 1
#define FC_VERSION_PATCH 0

/*
 * Returns the library's version as "MAJOR.MINOR.PATCH" and, for each non-NULL
 * pointer, stores the matching number. Compare with FC_VERSION_* to detect a
 * program built against another release than the one it runs with.
 */
const char *fc_version(int *major, int *minor, int *patch);

/* ---- Error codes -------------------------------------------------------- */

/*
 * 0 is success; every failure is one of these negative values. Codes are
 * stable across releases: new ones are only ever appended.
 */
#define FC_OK           0
#define FC_EINVAL      -1   /* invalid argument (NULL handle, bad length, ...) */
#define FC_ENOMEM      -2   /* out of memory, in the process or the arena */
#define FC_EIO         -3   /* a system call on a file failed */
#define FC_ECORRUPT    -4   /* data on disk or in the arena failed a check */
#define FC_ENOTFOUND   -5   /* key (or file) not found */
#define FC_EBUSY       -6   /* another process holds the writer role */
#define FC_EEXIST      -7   /* already exists */
#define FC_ENOSPC      -8   /* no space left on the device */
#define FC_EUNSUPPORTED -9  /* a feature this build or format lacks */
#define FC_EVERSION   -10   /* arena or file of another layout version */
#define FC_ELIMIT     -11   /* a configured limit was reached */
#define FC_ETOOBIG    -12   /* key or value over the documented size limit */
#define FC_ECLOSED    -13   /* handle already closed or transaction ended */
#define FC_EAGAIN     -14   /* temporarily unavailable; try again */
#define FC_ETIMEDOUT  -15   /* a wait ran past its timeout */
#define FC_EMISMATCH  -16   /* compare-and-swap found another value */
#define FC_ENAN       -17   /* value is not a 64-bit integer */
#define FC_EPERM      -18   /* permission or ownership refused */
#define FC_EREADONLY  -19   /* write attempted on a read-only handle */
#define FC_EINTERNAL  -20   /* an internal invariant failed: a bug, please report */
#define FC_EOVERFLOW  -21   /* fc_incr would leave the 64-bit integer range */
#define FC_ESTALE     -22   /* the writer this handle attached to is gone: reopen */

#define FC_ERRNO_LAST  -22  /* the most negative code in this release */

/*
 * Returns a static, human-readable name for an FC_E* code (never NULL).
 * Unknown codes yield "unknown forkcache error".
 */
const char *fc_strerror(int code);

/* ---- Options ------------------------------------------------------------ */

/* Compression of table blocks written by forkcache. */
#define FC_COMPRESSION_NONE   0   /* default: blocks stay zero-copy readable */
#define FC_COMPRESSION_SNAPPY 1
#define FC_COMPRESSION_ZSTD   2

/* Flags for fc_options.flags. */
#define FC_CREATE      0x01u  /* create the store if it does not exist */
#define FC_READONLY    0x02u  /* open without LOCK; write nothing */
#define FC_SYNC        0x04u  /* fdatasync the WAL on every write */
#define FC_PARANOID    0x08u  /* verify every checksum on read */
#define FC_BEST_EFFORT 0x10u  /* recovery skips corrupt regions, reporting them */
#define FC_ATTACH      0x20u  /* if another process is the writer, attach to its
                                 file-backed arena instead of failing with
                                 FC_EBUSY: reads are zero-copy, writes go
                                 through its write queue. Once a new writer
                                 has replaced that one, transactions and
                                 writes fail with FC_ESTALE: close the
                                 handle and open the store again */

/* Where a file-backed arena lives when arena_path is "" (empty string):
 * inside the store directory, so other processes find it with FC_ATTACH. */
#define FC_ARENA_FILE "forkcache.arena"

/*
 * Options for opening a store. Always start from fc_options_init(), which
 * writes every documented default, then change the fields you care about:
 * fields may be added at the end in later releases.
 */
typedef struct fc_options {
    unsigned flags;              /* FC_CREATE | ...; default FC_CREATE */
    size_t write_buffer_size;    /* memtable size before flush; 4 MiB */
    size_t block_size;           /* target data block size; 4 KiB */
    int block_restart_interval;  /* keys between restart points; 4 (LevelDB
                                    uses 16: a point get scans at most this
                                    many entries, for ~2% more space) */
    size_t max_file_size;        /* target table size; 2 MiB */
    int bloom_bits_per_key;      /* bloom filter bits per key; 10 (0 = none) */
    int compression;             /* FC_COMPRESSION_*; FC_COMPRESSION_NONE */
    int max_mappings;            /* Limiter capacity, all processes; 1000.
                                    Tables past it are read with pread: a
                                    store handle keeps at most a quarter of
                                    the soft RLIMIT_NOFILE of their
                                    descriptors open, closing idle ones */
    int reader_slots;            /* reader slots in the arena; 1024 */
    size_t arena_size;           /* arena bytes reserved (not touched); 1 GiB.
                                    A file arena (arena_path) has all its
                                    blocks allocated on disk when built, so
                                    a full disk fails the open (FC_ENOSPC) */
    size_t block_cache_size;     /* shared block cache bytes;
                                    FC_BLOCK_CACHE_AUTO (the default): a
                                    sixteenth of the memory the writer may
                                    use (its cgroup's limit, or physical
                                    memory), at least 8 MiB, at most an
                                    eighth of arena_size. Any size is cut to
                                    a quarter of that memory. Carved from
                                    the arena as one power-of-two block, so
                                    arena_size must exceed the power of two
                                    at or above it; only the frames asked
                                    for are used (and ever touched) */
    const char *arena_path;      /* file-backed arena; NULL = anonymous */
    unsigned file_mode;          /* mode of files the store creates; 0600 */
    int queue_slots;             /* write queue entries in flight; 32 */
    size_t queue_entry_size;     /* largest batch another process may send
                                    through the queue; 256 KiB */
    int write_timeout_ms;        /* how long a write from another process
                                    waits for the writer; 0 = no limit */
    /* Expiry and size bound (see "Expiry and size bound" below). */
    int ttl_framing;             /* 1: every value is framed with its expiry
                                    (FC_TTL_FRAME_SIZE bytes); chosen when the
                                    store is created and kept in the store; 0 */
    uint64_t max_bytes;          /* bound on the tables' total size: the writer
                                    evicts the oldest tables first (FIFO);
                                    0 = no bound, leveled compaction */
    int hash_index;              /* tables carry a "forkcache.hash" meta block
                                    for point gets (about 10 bytes a key;
                                    LevelDB ignores it); 1 (0 = none) */
    int max_snapshot_age_ms;     /* a reader whose snapshot the writer has seen
                                    pinned longer is named in
                                    fc_stats.stale_reader_pid; 0 = off */
    /* Following Redis (see "A near cache in front of Redis" below); read
     * at fc_open, by the writer only. */
    const char *follow;          /* "redis://HOST:PORT" or "unix:///PATH": the
                                    writer keeps the store coherent with that
                                    Redis; NULL = none */
    const char *const *follow_prefixes; /* the keys cached: those starting with
                                    one of these (at most 16, each at most 48
                                    bytes); none = every key */
    int follow_nprefixes;
    int max_stale_ms;            /* nothing followed is served staler than this
                                    while the link is down; 1000 */
    uint64_t max_mapped_bytes;   /* cap on table bytes mapped, summed over
                                    every process of the store (a table
                                    mapped by three processes counts three
                                    times); tables past it are read with
                                    pread through the block cache. 0 (the
                                    default): half the memory the writer may
                                    use (its cgroup's limit, or physical
                                    memory; FORKCACHE_MEMORY_LIMIT overrides
                                    both) */
} fc_options;

/* Documented defaults, also usable on their own. */
#define FC_DEFAULT_WRITE_BUFFER_SIZE   (4u << 20)
#define FC_DEFAULT_BLOCK_SIZE          4096u
#define FC_DEFAULT_RESTART_INTERVAL    4
#define FC_DEFAULT_MAX_FILE_SIZE       (2u << 20)
#define FC_DEFAULT_BLOOM_BITS_PER_KEY  10
#define FC_DEFAULT_MAX_MAPPINGS        1000
#define FC_DEFAULT_READER_SLOTS        1024
#define FC_DEFAULT_ARENA_SIZE          ((size_t)1 << 30)
#define FC_DEFAULT_BLOCK_CACHE_SIZE    ((size_t)8 << 20)  /* the automatic size's floor */
#define FC_BLOCK_CACHE_AUTO            ((size_t)-1)  /* block_cache_size: follow memory */
#define FC_DEFAULT_FILE_MODE           0600u
#define FC_DEFAULT_QUEUE_SLOTS         32
#define FC_DEFAULT_QUEUE_ENTRY_SIZE    ((size_t)256 << 10)
#define FC_DEFAULT_MAX_STALE_MS        1000

/* Size limits enforced by every write: longer keys or values get FC_ETOOBIG. */
#define FC_MAX_KEY_SIZE   (64u * 1024u)          /* 64 KiB */
#define FC_MAX_VALUE_SIZE (64u * 1024u * 1024u)  /* 64 MiB */

/* Fills *opts with the documented defaults above. */
void fc_options_init(fc_options *opts);

/*
 * Checks every field of *opts against its allowed range. Returns 0, or
 * FC_EINVAL naming the first bad field in *why (a static string) when why is
 * not NULL.
 */
int fc_options_validate(const fc_options *opts, const char **why);

/* ---- Stores ------------------------------------------------------------- */

/*
 * Handles. A store is opened once per process tree, by the parent, before it
 * forks; a child uses the inherited handle after fc_after_fork(). A
 * transaction belongs to one thread; a store may be shared by the threads of
 * a process.
 */
typedef struct fc_store fc_store;
typedef struct fc_txn fc_txn;
typedef struct fc_batch fc_batch;

/* A borrowed run of bytes: a key or a value returned by a read. */
typedef struct fc_val {
    const void *data;
    size_t size;
} fc_val;

/*
 * Opens (and with FC_CREATE creates) the store in directory dir. Without
 * FC_READONLY the calling process becomes the store's writer: it holds the
 * fcntl lock on dir/LOCK, recovers the MANIFEST and WALs, and runs a
 * background thread that flushes and compacts. A second writer gets
 * FC_EBUSY (fc_errmsg names the holder's pid), even when dir/LOCK was
 * removed: the writer also names itself in dir/FORKCACHE-WRITER, and
 * stops writing (FC_EBUSY) if another process holds a LOCK made after
 * its own was removed. A writer refuses (FC_EPERM) a directory that
 * another user could write into: one writable by every user, or owned by
 * neither the caller nor root (group-writable is allowed). Store files
 * are opened with O_NOFOLLOW and must be regular files. With FC_READONLY
 * nothing in dir is created, locked, renamed or written. opts may be NULL
 * (defaults).
 */
int fc_open(const char *dir, const fc_options *opts, fc_store **out);

/*
 * Closes a store: the writer finishes its flush, syncs and releases LOCK; a
 * reader just detaches. In a forked child, closes only the child's share.
 * Returns the first error met while closing; the handle is freed anyway.
 */
int fc_close(fc_store *store);

/* Detail of the last failure on this handle in this process (never NULL).
 * fc_errmsg(NULL) gives the detail of this thread's last failed fc_open. */
const char *fc_errmsg(const fc_store *store);

/*
 * Must be called in the child, for each store it inherited, after
 * fc_fork() (see "Forking" below) and before it uses the store: the child
 * takes a reader slot of its own and gives up the writer's role (the
 * parent stays the writer). Returns 0 or an FC_E* code; FC_EINVAL in a
 * child made by a plain fork() of a process that had a store open.
 */
int fc_after_fork(fc_store *store);

/* ---- Forking ------------------------------------------------------------ */

/*
 * A process that has a store open (or had one) forks through fc_fork(),
 * or brackets its own fork() with fc_prefork() and fc_postfork_*().
 *
 * Why: each process keeps its open tables in a lock-free hash table of
 * liburcu, in its "bp" flavour (urcu-bp: threads register themselves on
 * first use, so any thread of a worker may read without calling into
 * liburcu). An evicted table is unmapped by liburcu's call_rcu thread once
 * no thread can still read it, and the hash table resizes on a worker
 * thread. fork() copies only the calling thread: liburcu's threads and
 * its locks must be put in order around it, or the child's first grace
 * period may wait forever. liburcu's fork hooks free memory, so they are
 * not installed with pthread_atfork(); call them through these functions.
 * In a writer, the fork also waits until the store's own threads (the
 * background flush and compaction, the write queue's drain) stand still
 * between steps, so the child copies no half-done step and no lock they
 * held; a compaction pauses within about a millisecond, and they resume
 * in fc_postfork_parent().
 * A child made by a plain fork() after its parent opened a store gets
 * FC_EINVAL from fc_after_fork() and fc_open() instead of a hang. A child
 * that calls exec() at once (posix_spawn, system) needs nothing.
 *
 * Rules: no transaction may be open in the forking thread (fc_prefork()
 * gives FC_EBUSY); transactions open in other threads stay the parent's,
 * and the fork may wait until they end if an unmap is pending. After the
 * fork the child calls fc_after_fork() for every store it inherited:
 *
 *     pid_t pid = fc_fork();
 *     if (pid == 0) {
 *         if (fc_after_fork(store) != 0) _exit(1);
 *         ... read ...
 *     }
 */

/* fork() with liburcu's hooks around it. Returns as fork() does: the
 * child's pid in the parent, 0 in the child, -1 with errno set (EDEADLK
 * when the calling thread has a transaction open, EINVAL when this process
 * itself came from a plain fork() of a store's process). */
pid_t fc_fork(void);

/* For callers that fork themselves: fc_prefork() right before fork() (0,
 * FC_EBUSY or FC_EINVAL as above; on an error do not fork), then
 * fc_postfork_parent() in the parent (also when fork() failed) or
 * fc_postfork_child() in the child, each right after fork() returns. */
int fc_prefork(void);
void fc_postfork_parent(void);
void fc_postfork_child(void);

/* ---- Writes ------------------------------------------------------------- */

/* Per-write flag: fdatasync the WAL before returning (also FC_SYNC on open). */
#define FC_WRITE_SYNC 0x1u

/*
 * Store key -> value, or delete key. Return once the write is in the WAL
 * and visible to every reader in every process. Keys up to FC_MAX_KEY_SIZE
 * and values up to FC_MAX_VALUE_SIZE bytes; longer ones get FC_ETOOBIG.
 */
int fc_put(fc_store *store, const void *key, size_t klen, const void *val, size_t vlen);
int fc_del(fc_store *store, const void *key, size_t klen);

/* Atomic batches: every operation of a batch becomes visible at once. */
int fc_batch_new(fc_batch **out);
int fc_batch_put(fc_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
int fc_batch_del(fc_batch *b, const void *key, size_t klen);
void fc_batch_clear(fc_batch *b);
size_t fc_batch_count(const fc_batch *b);
void fc_batch_free(fc_batch *b);
/* Applies b atomically. The batch's header is stamped with the sequence
 * it was given (its operations are unchanged): a batch may be written
 * again, or cleared and reused. */
int fc_write(fc_store *store, fc_batch *b, unsigned flags);

/* Writes the memtable to a level-0 table and waits for it. */
int fc_flush(fc_store *store);

/*
 * Compacts every level over the user-key range [begin, end] (NULL = open
 * end) and waits: afterwards the range lives in one level. fc_compact_range
 * (store, NULL, 0, NULL, 0) compacts the whole store.
 */
int fc_compact_range(fc_store *store, const void *begin, size_t blen, const void *end,
                     size_t elen);

/* ---- Reads -------------------------------------------------------------- */

/*
 * A read transaction pins the current version of the store for this
 * process: every pointer a read returns stays valid until fc_txn_end, and
 * not longer. Cheap enough to open per request. A transaction ends on the
 * thread that began it (elsewhere fc_txn_end gives FC_EINVAL); while it is
 * open, that thread must not fork (fc_fork refuses) nor close the store.
 */
int fc_txn_begin(fc_store *store, fc_txn **out);
int fc_txn_end(fc_txn *txn);

/*
 * Looks key up in the transaction's snapshot. On 0, *value points into a
 * mapped table or the shared arena: zero-copy, valid until fc_txn_end.
 * FC_ENOTFOUND when the key is absent or deleted.
 */
int fc_get(fc_txn *txn, const void *key, size_t klen, fc_val *value);

/*
 * Like fc_get, but copies the value into buf (cap bytes) and sets *vlen to
 * its full length; FC_ELIMIT when cap is too small (nothing is copied).
 */
int fc_get_copy(fc_txn *txn, const void *key, size_t klen, void *buf, size_t cap,
                size_t *vlen);

/* ---- Iterators ---------------------------------------------------------- */

/*
 * Ordered range scans over a transaction's snapshot: user keys in bytewise
 * order, each with its newest value as of fc_txn_begin; deleted keys and
 * later writes are not shown. An iterator belongs to its transaction (same
 * thread) and must be freed before it: fc_txn_end refuses with FC_EBUSY
 * while iterators of the txn are open. Several iterators may share a txn.
 *
 * Moves (first, last, seek, next, prev) return 0 when the iterator stands
 * on an entry, FC_ENOTFOUND when it ran past either end (it is then not
 * valid; first/last/seek make it valid again), or a negative FC_E* code
 * when damage was met: that error sticks, the iterator stays invalid and
 * fc_errmsg(store) has the detail. next and prev need a valid iterator
 * (FC_EINVAL otherwise). Direction may change at any point.
 *
 *     fc_iter *it;
 *     fc_iter_new(txn, &it);
 *     for (int rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it)) {
 *         fc_val k = fc_iter_key(it), v = fc_iter_value(it);
 *         ...
 *     }
 *     fc_iter_free(it);
 *
 * fc_iter_key and fc_iter_value return borrowed bytes (zero-copy into the
 * arena or a mapped table wherever the block is uncompressed), valid until
 * the iterator moves or is freed, whichever comes first; copy what you keep.
 * On an invalid iterator both return an empty run (size 0).
 */
typedef struct fc_iter fc_iter;

/* A new iterator over txn's snapshot, not yet positioned (not valid). */
int fc_iter_new(fc_txn *txn, fc_iter **out);
/* To the smallest / largest key. */
int fc_iter_first(fc_iter *it);
int fc_iter_last(fc_iter *it);
/* To the first key >= key (klen may be 0: same as first). */
int fc_iter_seek(fc_iter *it, const void *key, size_t klen);
/* To the next larger / next smaller key. */
int fc_iter_next(fc_iter *it);
int fc_iter_prev(fc_iter *it);
/* 1 when the iterator stands on an entry, else 0. */
int fc_iter_valid(const fc_iter *it);
fc_val fc_iter_key(const fc_iter *it);
fc_val fc_iter_value(const fc_iter *it);
/* 0, or the error that stopped the iterator. */
int fc_iter_status(const fc_iter *it);
/* Frees the iterator (NULL is fine); always before its txn ends. */
void fc_iter_free(fc_iter *it);

/* ---- Waiting for writes ---------------------------------------------------- */

/*
 * The newest write sequence readers may see now (fc_stats.last_sequence,
 * read with one atomic load): every write, from any process, raises it
 * once it is visible everywhere. 0 for a NULL store.
 */
uint64_t fc_last_sequence(fc_store *store);

/*
 * Sleeps until the store's last sequence is past seen_seq, i.e. until a
 * write published after the caller read seen_seq (with fc_last_sequence)
 * is visible, instead of polling with transactions. Read seen_seq BEFORE
 * looking at the data, then call fc_wait with it: a write that lands in
 * between makes fc_wait return at once, so none is missed. Returns 0 when
 * the sequence passed (at once if it already had), FC_ETIMEDOUT after
 * timeout_ms milliseconds without one (0: just check; negative: no limit),
 * FC_ESTALE in an attached process whose writer was replaced (reopen),
 * FC_EINVAL for a NULL store or a child that did not call fc_after_fork.
 * *now_seq (when not NULL) gets the last sequence it saw. A publication
 * wakes every waiting process, whatever keys it wrote; no system call is
 * made for it while nobody waits. Works in the writer, a forked worker and
 * an attached (FC_ATTACH) process, from any number of threads.
 */
int fc_wait(fc_store *store, uint64_t seen_seq, int timeout_ms, uint64_t *now_seq);

/* ---- Statistics ----------------------------------------------------------- */

#define FC_NUM_LEVELS 7

/* Why writes are waiting, if they are (fc_stats.stall). */
#define FC_STALL_NONE      0  /* not stalled */
#define FC_STALL_MEMTABLE  1  /* the previous memtable is still being flushed */
#define FC_STALL_L0        2  /* level 0 has too many files (12) */
#define FC_STALL_ERROR     3  /* the background thread hit an error */
#define FC_STALL_ARENA     4  /* the arena is full of memory an old snapshot
                                 pins: fc_stats.oldest_pin_pid names the reader */

/*
 * Operation counters (fc_stats.ops for the whole store, fc_reader_stat.ops
 * for one process). Each process counts its own operations where it calls
 * them, in its reader slot's counter lines (no line shared between
 * processes is written per get); a sum is taken when asked, and a
 * process's counts fold into the store's totals when its slot is freed (at
 * fc_close, or by the sweep that reclaims a dead process's slot). Gets are
 * counted when their transaction ends. Totals run from the arena's
 * creation (the writer's open). A successful fc_put, fc_put_ttl or fc_del
 * counts one put or delete; a successful fc_write counts one batch and the
 * puts and deletes in it. A store opened FC_READONLY (its own private
 * arena) counts nothing.
 */
#define FC_LATENCY_BUCKETS 16   /* write latency: bucket i < 2^i us, the last: the rest */
#define FC_ATOMIC_OPS      4    /* atomic[op - 1][outcome]: 1 add, 2 replace, 3 incr, 4 cas */
#define FC_OUTCOME_APPLIED 0    /* the operation wrote */
#define FC_OUTCOME_REFUSED 1    /* its condition failed (EEXIST, ENOTFOUND, EMISMATCH,
                                   ENAN, EOVERFLOW) */
#define FC_OUTCOME_FAILED  2    /* another error */
#define FC_OUTCOMES        3
typedef struct fc_counters {
    uint64_t gets;                       /* fc_get, fc_get_copy, fc_ttl calls that ran */
    uint64_t hits, misses;               /* gets that found a value, and the others */
    uint64_t expired;                    /* misses that met an expired value */
    uint64_t puts, deletes, batches;
    uint64_t atomic[FC_ATOMIC_OPS][FC_OUTCOMES];
    uint64_t computes;                   /* fc_get_or_compute calls that computed */
    uint64_t compute_waits;              /* ... that waited for another's computation */
    uint64_t write_latency[FC_LATENCY_BUCKETS]; /* puts, deletes, batches by time taken */
    uint64_t write_latency_sum_ns;
} fc_counters;

/* A snapshot of a store, as any process attached to it sees it. */
typedef struct fc_stats {
    uint64_t version;                    /* number of the current version */
    uint64_t last_sequence;              /* newest write visible to readers */
    int writer_pid;                      /* 0 when no writer runs */
    uint32_t files[FC_NUM_LEVELS];       /* tables per level */
    uint64_t level_bytes[FC_NUM_LEVELS]; /* their total size */
    uint64_t mem_bytes, mem_entries;     /* the active memtable */
    uint64_t imm_bytes;                  /* the one being flushed (0 if none) */
    uint64_t arena_size, arena_in_use;   /* bytes reserved, bytes allocated */
    uint32_t reader_slots;               /* capacity of the slot table */
    uint32_t readers;                    /* slots held by processes */
    uint32_t mappings_capacity;          /* the Limiter's capacity */
    uint32_t mappings_in_use;            /* table mappings held, all processes */
    uint64_t flushes, compactions, bytes_compacted;  /* writer's totals */
    uint64_t stalls;                     /* writes that had to wait */
    int stall;                           /* FC_STALL_* now */
    uint64_t tables_mapped;              /* this process: tables it mapped */
    uint64_t tables_pread;               /* this process: tables read by pread */
    uint64_t block_cache_size;           /* bytes of frames (0 = no cache) */
    uint64_t block_cache_hits;           /* blocks found in the shared cache */
    uint64_t block_cache_misses;         /* blocks read and decompressed into it */
    uint64_t queue_writes;               /* batches applied from the write queue */
    /* Expiry and size bound: the writer's totals since the arena was made. */
    uint64_t expired_entries;            /* expired values compaction dropped or
                                            turned into tombstones */
    uint64_t expired_tables;             /* tables dropped whole, unread, because
                                            every entry had expired */
    uint64_t expired_bytes;              /* their size */
    uint64_t evicted_tables;             /* tables evicted by the max_bytes bound */
    uint64_t evicted_bytes;              /* their size */
    int oldest_pin_pid;                  /* reader pinning the oldest version (0: none);
                                            during FC_STALL_ARENA, the one writes wait for */
    uint64_t oldest_pinned_version;      /* that version (0: none) */
    int stale_reader_pid;                /* that reader, once its pin is older than
                                            the writer's max_snapshot_age_ms (0: none) */
    /* Clears and following Redis: totals since the arena was made. */
    uint64_t clears;                     /* fc_clear calls and the link's clears */
    int follow_link;                     /* FC_LINK_* */
    uint64_t follow_invalidations;       /* keys Redis invalidated, deleted here */
    uint64_t follow_fills;               /* fc_fill_put values stored */
    uint64_t follow_fills_stale;         /* fills refused: invalidated meanwhile */
    uint64_t follow_link_losses;         /* times the link was lost and rebuilt */
    uint64_t follow_lag_ms;              /* age of the last proof that every
                                            invalidation had arrived (the bound
                                            on staleness now); 0 without a link */
    uint64_t mapped_bytes_capacity;      /* the cap on mapped table bytes (max_mapped_bytes
                                            as the arena holds it, whole 64 KiB+ units) */
    uint64_t mapped_bytes_in_use;        /* table bytes mapped, summed over processes */
    /* Appended in 0.1 (the library is not yet ABI-stable: a caller built
     * against an older header must be rebuilt). */
    fc_counters ops;                     /* every process's operations, see above */
    uint64_t table_bytes;                /* sum of level_bytes */
} fc_stats;

/* fc_stats.follow_link */
#define FC_LINK_NONE 0   /* the writer follows no Redis */
#define FC_LINK_UP   1   /* invalidations arrive */
#define FC_LINK_DOWN 2   /* lost: followed keys read as misses until the
                            link is back and they were cleared */

/* One reader slot, for fc_stats_readers. */
typedef struct fc_reader_stat {
    int pid;
    uint64_t pinned_version;             /* 0 = pins nothing now */
    uint32_t mappings;                   /* Limiter units it holds */
    fc_counters ops;                     /* its operations since it took the slot */
} fc_reader_stat;

/* Fills *st. Works in every process attached to the store. */
int fc_stats_get(fc_store *store, fc_stats *st);

/* Copies up to max live reader slots into out; *n is how many were copied. */
int fc_stats_readers(fc_store *store, fc_reader_stat *out, size_t max, size_t *n);

/*
 * The figures of fc_stats_get in Prometheus's text exposition format
 * (version 0.0.4: names forkcache_*, HELP and TYPE lines, counters ending
 * in _total, units in names, the write latency as a histogram in seconds),
 * written to buf with a terminating NUL. *len is the length of the whole
 * text (without the NUL) even when it did not fit: then the result is
 * FC_ELIMIT and buf holds a truncated text (if cap > 0).
 */
int fc_stats_prometheus(fc_store *store, char *buf, size_t cap, size_t *len);

/* ---- Expiry and size bound ------------------------------------------------- */

/*
 * Expiry. A store created with fc_options.ttl_framing = 1 frames every value
 * it stores: the value LevelDB sees (in the WAL and in tables) is
 *
 *     fixed64 expiry | the caller's value bytes
 *
 * where expiry is the absolute time the entry expires, in milliseconds since
 * the Unix epoch, as an 8-byte little-endian integer, and 0 means never. A
 * plain LevelDB reader of such a store sees these 8 bytes in front of every
 * value. The choice is written at creation in the store directory's
 * FORKCACHE file (LevelDB ignores files it does not know): a later open
 * follows it, and asking for framing on a store created without it fails
 * with FC_EINVAL. In a framed store values may be up to FC_MAX_VALUE_SIZE -
 * FC_TTL_FRAME_SIZE bytes.
 *
 * An entry whose expiry is <= now is gone for every reader in every process:
 * fc_get, fc_get_copy and iterators skip it (and it hides older versions of
 * its key, as a deletion would); "now" is read once, at fc_txn_begin.
 * Values returned never include the frame. Compaction drops expired entries
 * (or turns them into deletions where an older version may lie deeper), and
 * each table carries a "forkcache.ttl" meta block (fixed64: the latest
 * expiry of its values; 0 when one never expires) so that the writer
 * deletes a table whose entries have all expired without reading its data.
 *
 * Size bound. With fc_options.max_bytes > 0 the writer keeps tables in level
 * 0 in age order and, whenever their total size exceeds max_bytes, deletes
 * the oldest ones (never the newest one, so a store is never emptied at
 * once). Readers are never blocked: a transaction that still sees an
 * evicted table keeps reading it until it ends. Without a bound the store
 * uses LevelDB's leveled compaction.
 */
#define FC_TTL_FRAME_SIZE 8
#define FC_TTL_FOREVER UINT64_MAX   /* fc_ttl: the entry never expires */

/*
 * fc_put with a time to live of ttl_ms milliseconds from now (0 = never
 * expires, the same as fc_put). FC_EUNSUPPORTED when ttl_ms > 0 and the
 * store was not created with ttl_framing. fc_put in a framed store stores
 * a value that never expires.
 */
int fc_put_ttl(fc_store *store, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t ttl_ms);

/* A batch operation with a time to live (0 = never). The expiry is fixed
 * from the writing store's clock each time the batch is written by
 * fc_write, which refuses (FC_EUNSUPPORTED) a batch holding a ttl_ms > 0
 * for a store without ttl_framing. */
int fc_batch_put_ttl(fc_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t ttl_ms);

/*
 * The time key has left, as of txn's "now": *ms_left is the milliseconds
 * until it expires (at least 1), or FC_TTL_FOREVER when it never does (also
 * every key of a store without ttl_framing). FC_ENOTFOUND when the key is
 * absent, deleted or expired.
 */
int fc_ttl(fc_txn *txn, const void *key, size_t klen, uint64_t *ms_left);

/* ---- Checking a store ------------------------------------------------------ */

/*
 * fc_verify reads every file a store depends on and reports what it finds,
 * one finding at a time, through a callback. It opens nothing for writing
 * and takes no lock, so it may run beside a live writer (a file the writer
 * is appending to may then show a torn tail, which is only a note).
 *
 * Checked: CURRENT (one line naming an existing MANIFEST); the MANIFEST
 * (every record's checksum, every VersionEdit decodes, the comparator is
 * leveldb.BytewiseComparator, replaying it gives levels whose L1+ files are
 * disjoint); every live table (present as .ldb or .sst, of the size the
 * MANIFEST records, every block's checksum and ordering, its first and last
 * keys equal to the MANIFEST's smallest and largest); every WAL the MANIFEST
 * still needs (every record's checksum, every WriteBatch well-formed,
 * sequences increasing).
 */

/* How serious a finding is. */
#define FC_VERIFY_DAMAGE 1   /* data is lost or unreadable: counts as damage */
#define FC_VERIFY_NOTE   2   /* worth knowing, not damage (a torn WAL tail, an orphan table) */
#define FC_VERIFY_ERROR  3   /* a file could not be checked (I/O error, no memory) */

/* One finding. Every pointer is valid only during the callback. */
typedef struct fc_verify_finding {
    int severity;          /* FC_VERIFY_DAMAGE, FC_VERIFY_NOTE or FC_VERIFY_ERROR */
    int code;              /* FC_ECORRUPT for damage, another FC_E* for errors, 0 for notes */
    const char *file;      /* name inside the store directory ("000012.ldb"), or the
                              directory's path when the finding is about the store itself */
    uint64_t offset;       /* byte offset in file where the problem starts (0 when it
                              concerns the whole file) */
    const char *message;   /* one sentence, without a final newline */
} fc_verify_finding;

/* Receives each finding in the order found. arg is fc_verify's arg. */
typedef void (*fc_verify_report)(void *arg, const fc_verify_finding *finding);

/*
 * Checks the store in directory dir; report may be NULL. Returns 0 when no
 * damage was found (notes do not count), FC_ECORRUPT when any was, or
 * another FC_E* code when the check itself failed and found no damage:
 * FC_ENOTFOUND when dir is not a store (no CURRENT and no MANIFEST), FC_EIO
 * when a file could not be read, FC_ENOMEM.
 */
int fc_verify(const char *dir, fc_verify_report report, void *arg);

/* ---- Atomic operations and fetch-or-compute -------------------------------- */

/*
 * Conditional writes, decided by the store's writer: it reads the key's
 * current value (memtables and tables, as of its newest write) and appends
 * a plain put while it holds its write serialization, so each operation is
 * atomic with respect to every write from every process. From any other
 * process the operation travels through the write queue and the answer
 * comes back with it. What lands on disk is an ordinary WriteBatch put:
 * the store stays readable by LevelDB.
 *
 * A call that returns (0 or one of the codes named below) was decided and,
 * on 0, is in the WAL and visible in every process. A process killed
 * during a call leaves the operation either applied whole or not at all.
 * A timeout (fc_options.write_timeout_ms) means the outcome is unknown.
 */

/*
 * ttl_ms: the time to live of the value written, in milliseconds from now
 * (0 = never expires, as fc_put); a ttl_ms > 0 needs a store created with
 * ttl_framing (FC_EUNSUPPORTED otherwise). An expired entry counts as
 * absent for every operation here.
 */

/* Stores key -> val only when key is absent: FC_EEXIST otherwise. */
int fc_add(fc_store *store, const void *key, size_t klen, const void *val, size_t vlen,
           uint64_t ttl_ms);

/* Stores key -> val only when key is present: FC_ENOTFOUND otherwise. */
int fc_replace(fc_store *store, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t ttl_ms);

/*
 * Replaces key's value with val only when it currently equals expected
 * (elen bytes, compared byte for byte): FC_ENOTFOUND when key is absent,
 * FC_EMISMATCH when its value differs (nothing is written).
 */
int fc_cas(fc_store *store, const void *key, size_t klen, const void *expected, size_t elen,
           const void *val, size_t vlen, uint64_t ttl_ms);

/*
 * Counters. A counter's value is its decimal text in ASCII: an optional
 * '-' and 1 to 19 digits (leading zeros accepted on input), within
 * INT64_MIN..INT64_MAX, no sign '+', no spaces, no terminating NUL; fc_incr
 * writes it back in the shortest form ("-42", "0", "1000"). Any other
 * value is "not a number": FC_ENAN, and nothing is written.
 *
 * fc_incr adds delta (negative to decrement) to key's counter and stores
 * the result in *new_value (may be NULL). An absent (or expired) key
 * counts as initial, so the first call stores initial + delta (initial 0:
 * Redis's INCRBY). FC_EOVERFLOW when the sum leaves the int64 range
 * (nothing is written). ttl_ms applies to a counter the call creates; an
 * existing counter keeps its expiry (as APCu's apcu_inc), so a counter
 * created with a ttl counts over a fixed window.
 */
int fc_incr(fc_store *store, const void *key, size_t klen, int64_t delta, int64_t initial,
            uint64_t ttl_ms, int64_t *new_value);

/*
 * Fills a miss. compute is called with the key and must set *value to a
 * buffer from malloc() (forkcache frees it) of *vlen bytes, returning 0; a
 * negative FC_E* return is handed back to the caller of fc_get_or_compute.
 */
typedef int (*fc_compute_fn)(void *arg, const void *key, size_t klen, void **value,
                             size_t *vlen);

/*
 * Returns key's value in *value (a malloc()ed copy the caller frees) and
 * its length in *vlen. On a miss exactly one process of the store calls
 * compute and stores its result with fc_put, while every other process
 * asking for the same key waits for that value: a lease in the shared
 * arena names the computing process, and its death (SIGKILL included)
 * frees the lease at once, so one of the waiters computes instead. A
 * waiter that has waited wait_ms (> 0) without seeing the value computes
 * it itself (wait_ms <= 0: 10 seconds). The value is stored with
 * fc_put_ttl(ttl_ms).
 *
 * compute must not itself ask fc_get_or_compute for a key that shares the
 * lease (the same key, or one in the same slot): it would wait wait_ms for
 * itself before computing.
 *
 * It takes the store rather than a transaction: the value it returns is
 * usually newer than any snapshot the caller held. Keys of different
 * values may share a lease slot (1024 slots), which makes one wait for the
 * other's computation, never return the wrong value.
 */
int fc_get_or_compute(fc_store *store, const void *key, size_t klen, uint64_t ttl_ms,
                      int wait_ms, fc_compute_fn compute, void *arg, void **value, size_t *vlen);

/* ---- Clearing, and a near cache in front of Redis -------------------------- */

/*
 * Removes every key that starts with prefix (plen 0: every key), as of
 * now: a later write is kept. The cost does not depend on the size of the
 * store: the clear is a record in the arena that readers obey (an entry
 * older than the clear under its prefix reads as absent) and that the
 * store directory keeps (FORKCACHE-CLEARS, so it survives a restart); a
 * transaction sees a clear either whole or not at all. At most 16
 * distinct prefixes of up to 48 bytes (FC_ELIMIT). Only in the writer
 * process (FC_EUNSUPPORTED elsewhere). A LevelDB reader of the directory
 * still sees cleared values.
 */
int fc_clear(fc_store *store, const void *prefix, size_t plen);

/*
 * A near cache in front of Redis. With fc_options.follow, the writer runs
 * a thread that holds two connections to Redis: one subscribed to
 * __redis__:invalidate, one with CLIENT TRACKING ON BCAST (a PREFIX per
 * followed prefix) redirected to the first. Every invalidated key is
 * deleted from the store; a flush of Redis clears the followed prefixes.
 * The invalidation connection is pinged; when a ping goes unanswered, the
 * connection breaks or Redis restarts, the followed prefixes read as
 * misses in every process once max_stale_ms has passed since the last
 * answered ping, and they are cleared before they are served again.
 *
 * Workers fill misses themselves, asking Redis on a connection of their
 * own, through a fill: fc_fill_begin before asking, fc_fill_put after,
 * which stores the value only if no invalidation of the key (or of a key
 * sharing its bucket, 4096 buckets) and no clear came in between, and the
 * link is up (FC_EMISMATCH otherwise: the value may be stale; use it for
 * this request, do not cache it). fc_fill_put is decided by the writer
 * like fc_add.
 */
typedef struct fc_fill_token {
    uint64_t token[2];
} fc_fill_token;

int fc_fill_begin(fc_store *store, const void *key, size_t klen, fc_fill_token *fill);
int fc_fill_put(fc_store *store, const void *key, size_t klen, const void *val, size_t vlen,
                uint64_t ttl_ms, const fc_fill_token *fill);

/*
 * fc_get_or_compute for a followed store: on a miss one process calls
 * fetch (which asks Redis, FC_ENOTFOUND when Redis has no such key) inside
 * a fill, so a value invalidated while it was fetched is returned but not
 * stored. Other processes asking for the key meanwhile wait for it. Use it
 * for followed keys only: a key outside the followed prefixes is cached
 * too, but Redis never invalidates it.
 */
int fc_get_through(fc_store *store, const void *key, size_t klen, uint64_t ttl_ms, int wait_ms,
                   fc_compute_fn fetch, void *arg, void **value, size_t *vlen);

#ifdef __cplusplus
}
#endif

#endif /* FORKCACHE_H */
