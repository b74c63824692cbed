/*
 * tcache.h - the tables one process has open, by file number.
 *
 * A table is mapped (PROT_READ, MAP_SHARED, fd closed at once) only after
 * the arena's Limiter grants a unit; when it refuses, the table is read
 * with pread through the fd instead. Blocks that cannot be served from a
 * mapping (compressed ones, and all blocks of pread tables) go through the
 * arena's shared block cache (shm/bcache.h).
 *
 * The entries sit in a liburcu lock-free hash table (cds_lfht, bp flavour)
 * keyed by file number: the threads of a process look tables up without
 * a lock. Lifetime rule: a table returned by fci_tcache_get stays mapped
 * while the calling thread stays inside the RCU read-side section that
 * fci_tcache_read_begin opened (a read transaction holds one from
 * fc_txn_begin to fc_txn_end). An entry removed from the hash (evict,
 * retain) is unmapped, and its Limiter unit given back, by a call_rcu
 * callback once every such section that could have seen it has ended.
 *
 * Descriptors of pread tables are bounded: once more than a quarter of
 * the soft RLIMIT_NOFILE are open (per cache, i.e. per store handle),
 * the least recently used idle ones are closed, and the table reopens its
 * file at its next read (checking that the inode is the same). A
 * descriptor is closed only while no read is in flight through it (reads
 * borrow it under fd_mu: fci_table_file), and never when the file has
 * been unlinked (nothing could reopen it) or the entry has left the hash
 * (its readers may be reading a file reclamation is about to remove).
 * An open that fails with EMFILE or ENFILE closes every idle descriptor
 * and is tried once more.
 */
#ifndef FC_DB_TCACHE_H
#define FC_DB_TCACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format/table.h"
#include "shm/bcache.h"
#include "util/error.h"

struct cds_lfht;
struct fci_arena;
struct fci_tcache_entry;

/* Slots of the direct-mapped front of the hash (by file number). */
#define FCI_TCACHE_FRONT 4096

typedef struct fci_tcache {
    struct cds_lfht *ht;           /* fci_tcache_entry by file number */
    /* A get looks here first: one load instead of a walk of the hash's
     * split-ordered list. Set only when an entry is added and cleared when
     * it is removed, both under front_mu; read under rcu_read_lock. */
    struct fci_tcache_entry *_Atomic front[FCI_TCACHE_FRONT];
    pthread_mutex_t front_mu;
    _Atomic uint64_t count;        /* entries in ht (for tests and stats) */
    _Atomic uint64_t mapped, preads; /* how tables were opened, for stats */
    _Atomic uint64_t swept_vseq;   /* newest version retain was run against */
    /* Open descriptors of pread tables. The closable ones are listed,
     * most recently used first; list, counts and every entry's fd fields
     * are under fd_mu. fd_open counts listed and kept ones alike. */
    pthread_mutex_t fd_mu;
    struct fci_tcache_entry *fd_head, *fd_tail;
    _Atomic uint64_t fd_open;      /* written under fd_mu; read by tests */
    _Atomic uint64_t fd_closes, fd_reopens; /* figures, for tests */
    pthread_mutex_t bc_mu;         /* only for opening bc, once */
    struct fci_bcache *_Atomic bc; /* handle on the arena's block cache, or NULL */
    _Atomic int bc_tried;          /* bc was looked for (opened lazily, per process) */
    _Atomic int past_memory;       /* the cap on mapped bytes refused this process a
                                      table: its mappings read no pages around a fault */
} fci_tcache;

/* 0, or FC_ENOMEM when the hash table cannot be made. */
int fci_tcache_init(fci_tcache *c);

/* Brackets a stretch of work during which tables fetched with
 * fci_tcache_get stay mapped (an RCU read-side section of the calling
 * thread; nests). read_end must run on the same thread. */
void fci_tcache_read_begin(void);
void fci_tcache_read_end(void);

/* Finds or opens table `number` of the directory of dirfd, named dir
 * (both must outlive the cache: the handle's). The table stays valid while
 * the calling thread is inside fci_tcache_read_begin/end (it may be
 * removed from the cache meanwhile; it is unmapped only after the section
 * ends). */
int fci_tcache_get(fci_tcache *c, struct fci_arena *a, int dirfd, const char *dir,
                   uint64_t number, const fci_table **out, fci_err *err);
/* Removes table `number` (if cached); unmapped after a grace period. */
void fci_tcache_evict(fci_tcache *c, uint64_t number);
/* Removes every entry for which keep(arg, number) is 0. */
void fci_tcache_retain(fci_tcache *c, int (*keep)(void *, uint64_t), void *arg);
/* At close: removes everything and waits for the unmaps (no read section
 * of this process may be open on the store). */
void fci_tcache_free(fci_tcache *c);
/* The shared block cache's figures through this process's handle; 0 when
 * the arena has no cache. */
int fci_tcache_bcache_stats(fci_tcache *c, struct fci_arena *a, fci_bcache_stats *st);
/* In a forked child: drops the inherited entries without returning their
 * Limiter units, which belong to the parent. */
void fci_tcache_forget(fci_tcache *c);

#endif
