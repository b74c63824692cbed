/*
 * tcache.c - this process's open tables, in a liburcu lock-free hash table.
 *
 * Lookups run under rcu_read_lock and take no lock. Two threads that miss
 * on the same table both open it; cds_lfht_add_unique keeps the first
 * and the loser unmaps its copy at once and gives its Limiter unit back
 * (nobody else ever saw it). A removed entry is freed by call_rcu: its
 * munmap and its Limiter unit wait for the grace period, so the Limiter
 * never counts fewer mappings than exist and a reader that found the entry
 * before its removal keeps reading the mapping to the end of its section.
 *
 * A pread table's descriptor is the one thing of an entry that changes
 * while the entry is in the hash: it is closed when idle and over budget,
 * and reopened by the next read (tcache.h). Reads borrow it under fd_mu,
 * which is never held across a system call other than close and fstat.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "forkcache.h"
#include "db/core/tcache.h"
#include "db/core/fork.h"
#include "db/core/tfile.h"
#include "format/filename.h"
#include "format/compress.h"
#include "shm/arena.h"
#include "shm/bcache.h"
#include "util/hash.h"
#include "util/io.h"
#include "util/proc.h"

/* One open table. Immutable once in the hash, until freed by call_rcu. */
typedef struct fci_tcache_entry {
    struct cds_lfht_node node;
    struct rcu_head rcu;
    uint64_t number;
    void *map;                 /* NULL when read through fd */
    size_t size;
    int fd;                    /* -1 when mapped, or while closed for the budget */
    /* pread tables only; under the cache's fd_mu once the entry is shared */
    unsigned fd_users;         /* reads in flight through fd */
    int fd_counted;            /* fd is counted in the cache's fd_open */
    int fd_listed;             /* on the cache's list of closable descriptors */
    int fd_keep;               /* never close before the entry is freed */
    struct fci_tcache_entry *fd_prev, *fd_next;
    dev_t dev;                 /* the file, so that a reopen finds the same */
    ino_t ino;
    int dirfd;                 /* the store's directory, for reopening */
    const char *dir;           /* ... and its name, for messages */
    struct fci_tcache *cache;
    fci_table_file file;       /* lends fd to the table's reads */
    int limiter_unit;          /* holds one Limiter unit (of owner's slot) */
    uint32_t byte_units;       /* and these units of the byte Limiter */
    pid_t owner;               /* the process that took the unit */
    struct fci_arena *arena;
    struct fci_bcache *bc;     /* the process's block cache handle, or NULL */
    fci_table table;
    fci_block_fetcher fetcher; /* through the shared block cache */
} fci_tcache_entry;

/* A fixed number of buckets, no CDS_LFHT_AUTO_RESIZE: with liburcu 0.13
 * the resize worker's thread, once a process forks, spins at full CPU in
 * the child (seen with `forkcache bench`: half of a reader's CPU). 4096
 * buckets keep chains short up to thousands of tables (8 TB of 2 MiB
 * tables), and the front array answers most lookups before the hash. */
#define TCACHE_INIT_BUCKETS 4096

int fci_tcache_init(fci_tcache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->bc_mu, NULL);
    pthread_mutex_init(&c->fd_mu, NULL);
    pthread_mutex_init(&c->front_mu, NULL);
    fci_urcu_mark();
    c->ht = cds_lfht_new(TCACHE_INIT_BUCKETS, TCACHE_INIT_BUCKETS, TCACHE_INIT_BUCKETS, 0, NULL);
    return c->ht != NULL ? 0 : FC_ENOMEM;
}

void fci_tcache_read_begin(void)
{
    rcu_read_lock();
}

void fci_tcache_read_end(void)
{
    rcu_read_unlock();
}

static fci_tcache_entry *entry_of(struct cds_lfht_node *n)
{
    return caa_container_of(n, fci_tcache_entry, node);
}

static int match_number(struct cds_lfht_node *n, const void *key)
{
    return entry_of(n)->number == *(const uint64_t *)key;
}

/* The table layer knows no paths: a failure while reading names the file. */
static int table_failed(uint64_t number, int rc, fci_err *err)
{
    char name[32];
    fci_filename(name, sizeof name, NULL, FCI_FILE_TABLE, number);
    return fci_err_prefix(err, rc, name);
}

/* Takes what a mapping of e costs from both Limiters (a unit, and its
 * bytes), or nothing: 0 when the table may be mapped, LIMIT_MAPS or
 * LIMIT_BYTES for the Limiter that refused. */
#define LIMIT_MAPS  1
#define LIMIT_BYTES 2
static int limiter_take(fci_tcache_entry *e, struct fci_arena *a)
{
    if (fci_limiter_acquire(a, NULL) != 0)
        return LIMIT_MAPS;
    uint32_t units = fci_limiter_units(a, e->size);
    if (fci_limiter_acquire_bytes(a, units, NULL) != 0) {
        fci_limiter_release(a, NULL);
        return LIMIT_BYTES;
    }
    e->limiter_unit = 1;
    e->byte_units = units;
    return 0;
}

static void limiter_give(fci_tcache_entry *e, struct fci_arena *a)
{
    fci_limiter_release_bytes(a, e->byte_units, NULL);
    fci_limiter_release(a, NULL);
    e->limiter_unit = 0;
    e->byte_units = 0;
}

/* Past half the cap on mapped bytes the tables are about as big as the
 * memory they may use, and once the cap refused a table they are bigger:
 * mapped pages will then be evicted, and a fault on one should read only
 * its page, not the 128 KiB around it, which under memory pressure evicts
 * pages other gets need (issue 21). Until then readahead stays, for
 * scans. */
static int mapped_bytes_tight(const fci_tcache *c, const struct fci_arena *a)
{
    /* relaxed: advice, a late view costs one table its readahead or not */
    return atomic_load_explicit(&c->past_memory, memory_order_relaxed) ||
           fci_limiter_bytes_in_use(a) > fci_limiter_bytes_cap(a) / 2;
}

/* The first refusal by the byte cap turns readahead off in every table
 * this process has mapped already (once: the flag is taken by exchange). */
static void enter_past_memory(fci_tcache *c)
{
    /* relaxed: only the exchange's atomicity matters, nothing is published */
    if (atomic_exchange_explicit(&c->past_memory, 1, memory_order_relaxed))
        return;
    struct cds_lfht_iter it;
    fci_tcache_entry *e;
    rcu_read_lock();
    cds_lfht_for_each_entry(c->ht, &it, e, node) {
        fci_tfile_advise_random(e->map, e->size);
    }
    rcu_read_unlock();
}

/* Maps when both Limiters allow (mappings and mapped bytes), else keeps
 * the fd for pread through the block cache. */
static int entry_open(fci_tcache *c, fci_tcache_entry *e, struct fci_arena *a, int fd,
                      fci_err *err)
{
    struct stat st;
    e->fd = fd; /* entry_free closes it if this fails */
    if (fci_io_fstat(FCI_IO_SITE_TABLE_STAT, fd, &st) != 0)
        return fci_err_errno(err, FC_EIO, errno, "stat table %llu", (unsigned long long)e->number);
    e->size = (size_t)st.st_size;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->fd = -1;
    int refused = st.st_size > 0 ? limiter_take(e, a) : LIMIT_MAPS;
    if (refused == 0) {
        e->map = fci_tfile_map(fd, e->size, FCI_IO_SITE_TABLE_MMAP);
        if (e->map != NULL) {
            if (mapped_bytes_tight(c, a))
                fci_tfile_advise_random(e->map, e->size);
            close(fd);
            return fci_table_open(&e->table, e->map, e->size, 0, err);
        }
        limiter_give(e, a);
    } else if (refused == LIMIT_BYTES) {
        enter_past_memory(c);
    }
    e->fd = fd;
    return fci_table_open_fd(&e->table, fd, e->size, 0, err);
}

/* ---- descriptors of pread tables ---------------------------------------- */

/* The most a cache keeps open: a quarter of the soft RLIMIT_NOFILE, read
 * at each new descriptor so a limit lowered later is followed. The rest
 * of the process (its sockets, the store's other files) keeps the other
 * three quarters. */
#define FD_BUDGET_MIN 4
#define FD_BUDGET_MAX 65536

static uint64_t fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur / 4 > FD_BUDGET_MAX)
        return FD_BUDGET_MAX;
    return rl.rlim_cur / 4 > FD_BUDGET_MIN ? (uint64_t)rl.rlim_cur / 4 : FD_BUDGET_MIN;
}

/* Under fd_mu. */
static void fd_unlist(fci_tcache *c, fci_tcache_entry *e)
{
    if (!e->fd_listed)
        return;
    if (e->fd_prev)
        e->fd_prev->fd_next = e->fd_next;
    else
        c->fd_head = e->fd_next;
    if (e->fd_next)
        e->fd_next->fd_prev = e->fd_prev;
    else
        c->fd_tail = e->fd_prev;
    e->fd_prev = e->fd_next = NULL;
    e->fd_listed = 0;
}

/* Under fd_mu: e's descriptor was just used. Counts it if it is new to
 * the cache and moves it to the front of the closable ones; 1 when it
 * was new (the budget may now be exceeded). */
static int fd_touch(fci_tcache *c, fci_tcache_entry *e)
{
    int fresh = 0;
    if (e->fd < 0)
        return 0;
    if (!e->fd_counted) {
        e->fd_counted = 1;
        fresh = 1;
        /* relaxed: written under fd_mu; readers only want a figure */
        atomic_fetch_add_explicit(&c->fd_open, 1, memory_order_relaxed);
    }
    if (e->fd_keep)
        return fresh;
    fd_unlist(c, e);
    e->fd_next = c->fd_head;
    if (c->fd_head)
        c->fd_head->fd_prev = e;
    else
        c->fd_tail = e;
    c->fd_head = e;
    e->fd_listed = 1;
    return fresh;
}

/* Under fd_mu: closes idle descriptors, least recently used first, until
 * at most budget are open; returns how many it closed. A file already
 * unlinked is kept instead (no reopen could find it again). */
static unsigned fd_trim(fci_tcache *c, uint64_t budget)
{
    unsigned closed = 0;
    fci_tcache_entry *e = c->fd_tail;
    while (e != NULL && atomic_load_explicit(&c->fd_open, memory_order_relaxed) > budget) {
        fci_tcache_entry *prev = e->fd_prev;
        if (e->fd_users == 0) {
            struct stat st;
            fd_unlist(c, e);
            if (fci_io_fstat(FCI_IO_SITE_TABLE_STAT, e->fd, &st) == 0 && st.st_nlink == 0) {
                e->fd_keep = 1;
            } else {
                close(e->fd);
                e->fd = -1;
                e->fd_counted = 0;
                closed++;
                /* relaxed: under fd_mu; figures */
                atomic_fetch_sub_explicit(&c->fd_open, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&c->fd_closes, 1, memory_order_relaxed);
            }
        }
        e = prev;
    }
    return closed;
}

/* Opens table number; when the process is out of descriptors, gives back
 * this cache's idle ones and tries once more. */
static int open_table(fci_tcache *c, int dirfd, const char *dir, uint64_t number,
                      fci_err *err)
{
    char path[PATH_MAX];
    int fd = fci_tfile_open(dirfd, dir, number, FCI_IO_SITE_TABLE_OPEN, path, sizeof path, err);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
        pthread_mutex_lock(&c->fd_mu);
        unsigned closed = fd_trim(c, 0);
        pthread_mutex_unlock(&c->fd_mu);
        if (closed > 0)
            fd = fci_tfile_open(dirfd, dir, number, FCI_IO_SITE_TABLE_OPEN, path, sizeof path,
                                err);
    }
    return fd;
}

/* Opens e's file again after its descriptor was closed for the budget:
 * the same inode, or the table is refused (its number now names another
 * file, which the cached index does not describe). */
static int fd_reopen(fci_tcache_entry *e, fci_err *err)
{
    int fd = open_table(e->cache, e->dirfd, e->dir, e->number, err);
    if (fd < 0)
        return table_failed(e->number, fd, err);
    struct stat st;
    int rc = 0;
    if (fci_io_fstat(FCI_IO_SITE_TABLE_STAT, fd, &st) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "stat table %llu", (unsigned long long)e->number);
    else if (st.st_dev != e->dev || st.st_ino != e->ino || (uint64_t)st.st_size != e->size)
        rc = fci_err_set(err, FC_ECORRUPT,
                         "table %llu: reopened file is inode %llu of %llu bytes, expected "
                         "inode %llu of %zu bytes (replaced while open)",
                         (unsigned long long)e->number, (unsigned long long)st.st_ino,
                         (unsigned long long)st.st_size, (unsigned long long)e->ino, e->size);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    /* relaxed: a figure */
    atomic_fetch_add_explicit(&e->cache->fd_reopens, 1, memory_order_relaxed);
    return fd;
}

/* The table's pread source (fci_table_file): e's descriptor, reopened if
 * it was closed, held open until fd_release. */
static int fd_acquire(void *arg, fci_err *err)
{
    fci_tcache_entry *e = arg;
    fci_tcache *c = e->cache;
    int spare = -1;
    pthread_mutex_lock(&c->fd_mu);
    if (e->fd < 0) {
        pthread_mutex_unlock(&c->fd_mu);
        int fd = fd_reopen(e, err);
        if (fd < 0)
            return fd;
        pthread_mutex_lock(&c->fd_mu);
        if (e->fd < 0)
            e->fd = fd;
        else
            spare = fd; /* another thread reopened it meanwhile */
    }
    e->fd_users++;
    if (fd_touch(c, e))
        fd_trim(c, fd_budget());
    int fd = e->fd;
    pthread_mutex_unlock(&c->fd_mu);
    if (spare >= 0)
        close(spare);
    return fd;
}

static void fd_release(void *arg)
{
    fci_tcache_entry *e = arg;
    pthread_mutex_lock(&e->cache->fd_mu);
    e->fd_users--;
    pthread_mutex_unlock(&e->cache->fd_mu);
}

/* Under rcu_read_lock, once e is in the hash: its descriptor joins the
 * cache's count (a reader may have done it already). */
static void fd_adopt(fci_tcache *c, fci_tcache_entry *e)
{
    pthread_mutex_lock(&c->fd_mu);
    if (fd_touch(c, e))
        fd_trim(c, fd_budget());
    pthread_mutex_unlock(&c->fd_mu);
}

/* e left the hash: readers that found it before may still read it, and
 * reclamation may unlink its file, so its descriptor stays to the end. */
static void fd_retire(fci_tcache *c, fci_tcache_entry *e)
{
    pthread_mutex_lock(&c->fd_mu);
    fd_unlist(c, e);
    e->fd_keep = 1;
    pthread_mutex_unlock(&c->fd_mu);
}

/* Freeing: no read can be in flight any more; takes e off the list and
 * the count and gives its descriptor back. lock is 0 where no other
 * thread of this process can run (a plain fork's child). */
static void fd_drop(fci_tcache_entry *e, int lock)
{
    fci_tcache *c = e->cache;
    if (lock)
        pthread_mutex_lock(&c->fd_mu);
    fd_unlist(c, e);
    if (e->fd_counted)
        atomic_fetch_sub_explicit(&c->fd_open, 1, memory_order_relaxed); /* a figure */
    e->fd_counted = 0;
    int fd = e->fd;
    e->fd = -1;
    if (lock)
        pthread_mutex_unlock(&c->fd_mu);
    if (fd >= 0)
        close(fd);
}

/* What a cache miss needs to fill a frame with one block. */
typedef struct fill_ctx {
    const fci_table *t;
    fci_block_handle h;
    int verify;
} fill_ctx;

/* Reads the block and writes its uncompressed contents into the frame. */
static int fill_block(void *arg, char *buf, size_t cap, size_t *len, fci_err *err)
{
    fill_ctx *x = arg;
    char *scratch = NULL;
    if (x->t->base == NULL && (scratch = malloc((size_t)x->h.size + FCI_BLOCK_TRAILER_SIZE)) == NULL)
        return fci_err_set(err, FC_ENOMEM, "table: no memory for a %llu-byte block",
                           (unsigned long long)x->h.size);
    fci_slice raw, contents;
    int type;
    int rc = fci_table_read_raw(x->t, x->h, scratch, &raw, err);
    if (rc == 0)
        rc = fci_block_unwrap(raw, x->h.offset, x->verify, &type, &contents, err);
    if (rc == 0 && type == FC_COMPRESSION_NONE) {
        *len = contents.size;
        if (contents.size <= cap)
            memcpy(buf, contents.data, contents.size);
        else
            rc = FCI_BCACHE_BYPASS;
    } else if (rc == 0 && (rc = fci_uncompressed_length(type, contents, len, err)) == 0) {
        rc = *len <= cap ? fci_uncompress(type, contents, buf, *len, err) : FCI_BCACHE_BYPASS;
    }
    free(scratch);
    return rc;
}

/* The tables' fetcher: uncompressed blocks of a mapped table stay
 * zero-copy in the mapping; every other block comes pinned from the shared
 * cache, or from the heap when the cache cannot take it. */
static int cached_fetch(void *arg, const fci_table *t, fci_block_handle h, fci_block_ref *ref,
                        fci_err *err)
{
    fci_tcache_entry *e = arg;
    int verify = (t->flags & FCI_TABLE_VERIFY_CHECKSUMS) != 0;
    fci_slice raw;
    if (t->base != NULL) {
        int rc = fci_table_read_raw(t, h, NULL, &raw, err);
        if (rc != 0)
            return rc;
        if ((unsigned char)raw.data[h.size] == FC_COMPRESSION_NONE)
            return fci_table_read_block(t, h, verify, ref, err);
    }
    fill_ctx x = { t, h, verify };
    fci_bcache_ref br;
    int rc = fci_bcache_get(e->bc, e->number, h.offset, fill_block, &x, &br, err);
    if (rc == FCI_BCACHE_BYPASS)
        return fci_table_read_block(t, h, verify, ref, err);
    if (rc != 0)
        return table_failed(e->number, rc, err);
    memset(ref, 0, sizeof *ref);
    ref->data = fci_slice_make(br.data, br.len);
    ref->pin = (void *)br.pin;
    return 0;
}

static void cached_release(void *arg, const fci_table *t, fci_block_ref *ref)
{
    fci_tcache_entry *e = arg;
    (void)t;
    fci_bcache_ref br = { .pin = ref->pin };
    fci_bcache_release(e->bc, &br);
}

/* Unmaps (or closes) and gives the Limiter unit back when release says
 * this process owns it. lock: as for fd_drop. */
static void entry_free_locked(fci_tcache_entry *e, int release, int lock)
{
    fci_table_close(&e->table);
    if (e->map)
        munmap(e->map, e->size);
    if (e->cache != NULL)
        fd_drop(e, lock);
    else if (e->fd >= 0)
        close(e->fd);
    if (e->limiter_unit && release)
        limiter_give(e, e->arena);
    free(e);
}

static void entry_free(fci_tcache_entry *e, int release)
{
    entry_free_locked(e, release, 1);
}

/* call_rcu callback: no thread can still read the table. A callback the
 * parent queued may run in a child made by fc_fork (liburcu hands pending
 * callbacks over): the child unmaps its copy but the unit stays the
 * parent's, whose own callback gives it back. */
static void entry_free_rcu(struct rcu_head *head)
{
    fci_tcache_entry *e = caa_container_of(head, fci_tcache_entry, rcu);
    entry_free(e, e->owner == fci_getpid());
}

/* This process's handle on the shared block cache, opened once (opening
 * resets the slot's pin records, so never twice). Double-checked: after
 * the first table, no lock. */
static struct fci_bcache *tcache_bcache(fci_tcache *c, struct fci_arena *a)
{
    /* acquire: pairs with the release below, so bc is the opened handle */
    if (atomic_load_explicit(&c->bc_tried, memory_order_acquire))
        return atomic_load_explicit(&c->bc, memory_order_relaxed);
    pthread_mutex_lock(&c->bc_mu);
    if (!atomic_load_explicit(&c->bc_tried, memory_order_relaxed)) {
        struct fci_bcache *bc = NULL;
        if (fci_bcache_open(a, &bc, NULL) != 0)
            bc = NULL; /* no cache in this arena: heap reads */
        atomic_store_explicit(&c->bc, bc, memory_order_relaxed);
        /* release: publishes bc before the flag */
        atomic_store_explicit(&c->bc_tried, 1, memory_order_release);
    }
    pthread_mutex_unlock(&c->bc_mu);
    return atomic_load_explicit(&c->bc, memory_order_relaxed);
}

int fci_tcache_bcache_stats(fci_tcache *c, struct fci_arena *a, fci_bcache_stats *st)
{
    struct fci_bcache *bc = tcache_bcache(c, a);
    if (bc != NULL)
        fci_bcache_stats_get(bc, st);
    return bc != NULL;
}

/* Opens a table into a fresh entry, not yet in the hash. */
static int entry_new(fci_tcache *c, struct fci_arena *a, int dirfd, const char *dir,
                     uint64_t number, fci_tcache_entry **out, fci_err *err)
{
    fci_tcache_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return fci_err_set(err, FC_ENOMEM, "out of memory");
    int fd = open_table(c, dirfd, dir, number, err);
    if (fd < 0) {
        free(e);
        return fd;
    }
    cds_lfht_node_init(&e->node);
    e->number = number;
    e->arena = a;
    e->owner = fci_getpid();
    int rc = entry_open(c, e, a, fd, err);
    if (rc != 0) {
        table_failed(number, rc, err);
        entry_free(e, 1);
        return rc;
    }
    if (e->map == NULL) {
        /* from now on reads borrow the descriptor, which may be closed */
        e->cache = c;
        e->dirfd = dirfd;
        e->dir = dir;
        e->file = (fci_table_file){ fd_acquire, fd_release, e };
        e->table.fd = -1;
        fci_table_set_file(&e->table, &e->file);
    }
    e->bc = tcache_bcache(c, a);
    if (e->bc != NULL) {
        e->fetcher = (fci_block_fetcher){ cached_fetch, cached_release, e };
        fci_table_set_fetcher(&e->table, &e->fetcher);
    }
    *out = e;
    return 0;
}

/* Under rcu_read_lock; NULL when not cached. */
static fci_tcache_entry *lookup(fci_tcache *c, uint64_t number)
{
    /* acquire: pairs with front_set's release, so the entry is seen whole */
    fci_tcache_entry *e = atomic_load_explicit(&c->front[number % FCI_TCACHE_FRONT],
                                               memory_order_acquire);
    if (e != NULL && e->number == number)
        return e;
    struct cds_lfht_iter it;
    cds_lfht_lookup(c->ht, fci_hash_mix64(number), match_number, &number, &it);
    struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
    return n != NULL ? entry_of(n) : NULL;
}

/* Under rcu_read_lock, after e went into the hash. An entry removed
 * meanwhile is not put in front: removal marks it deleted before it
 * clears its front slot, both ordered by front_mu. */
static void front_set(fci_tcache *c, fci_tcache_entry *e)
{
    pthread_mutex_lock(&c->front_mu);
    if (!cds_lfht_is_node_deleted(&e->node))
        atomic_store_explicit(&c->front[e->number % FCI_TCACHE_FRONT], e, memory_order_release);
    pthread_mutex_unlock(&c->front_mu);
}

/* After e left the hash and before call_rcu: once the grace period ends no
 * reader can hold e, and none can find it in front any more. */
static void front_clear(fci_tcache *c, fci_tcache_entry *e)
{
    pthread_mutex_lock(&c->front_mu);
    fci_tcache_entry *_Atomic *slot = &c->front[e->number % FCI_TCACHE_FRONT];
    /* relaxed: front_mu orders it against front_set; the grace period
     * before the entry is freed orders it against readers */
    if (atomic_load_explicit(slot, memory_order_relaxed) == e)
        atomic_store_explicit(slot, NULL, memory_order_relaxed);
    pthread_mutex_unlock(&c->front_mu);
}

int fci_tcache_get(fci_tcache *c, struct fci_arena *a, int dirfd, const char *dir,
                   uint64_t number, const fci_table **out, fci_err *err)
{
    rcu_read_lock();
    fci_tcache_entry *hit = lookup(c, number);
    if (hit != NULL)
        *out = &hit->table;
    rcu_read_unlock();
    if (hit != NULL)
        return 0;
    fci_tcache_entry *e = NULL;
    int rc = entry_new(c, a, dirfd, dir, number, &e, err);
    if (rc != 0)
        return rc;
    rcu_read_lock();
    struct cds_lfht_node *n = cds_lfht_add_unique(c->ht, fci_hash_mix64(number), match_number,
                                                  &number, &e->node);
    *out = &entry_of(n)->table;
    if (n == &e->node) {
        front_set(c, e);
        if (e->cache != NULL)
            fd_adopt(c, e);
    }
    rcu_read_unlock();
    if (n != &e->node) {
        entry_free(e, 1); /* lost the race: never seen by anyone */
        return 0;
    }
    /* relaxed: counters for stats and tests, nothing is read through them */
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(e->map ? &c->mapped : &c->preads, 1, memory_order_relaxed);
    return 0;
}

/* Under rcu_read_lock. Whoever wins cds_lfht_del frees the entry, once. */
static void remove_entry(fci_tcache *c, fci_tcache_entry *e)
{
    if (cds_lfht_del(c->ht, &e->node) != 0)
        return; /* another thread removed it first */
    front_clear(c, e);
    if (e->cache != NULL)
        fd_retire(c, e);
    atomic_fetch_sub_explicit(&c->count, 1, memory_order_relaxed); /* a figure */
    call_rcu(&e->rcu, entry_free_rcu);
}

void fci_tcache_evict(fci_tcache *c, uint64_t number)
{
    rcu_read_lock();
    fci_tcache_entry *e = lookup(c, number);
    if (e != NULL)
        remove_entry(c, e);
    rcu_read_unlock();
}

void fci_tcache_retain(fci_tcache *c, int (*keep)(void *, uint64_t), void *arg)
{
    struct cds_lfht_iter it;
    fci_tcache_entry *e;
    rcu_read_lock();
    cds_lfht_for_each_entry(c->ht, &it, e, node) {
        if (!keep(arg, e->number))
            remove_entry(c, e);
    }
    rcu_read_unlock();
}

static int keep_none(void *arg, uint64_t number)
{
    (void)arg;
    (void)number;
    return 0;
}

/* In a child of a plain fork(), liburcu cannot run a grace period: no
 * thread of this process may read the tables now (fc_close), so they are
 * freed at once, and the hash table (whose resize worker is gone) is left
 * to the process's exit. */
static void free_without_rcu(fci_tcache *c)
{
    struct cds_lfht_iter it;
    fci_tcache_entry *e;
    memset(c->front, 0, sizeof c->front);
    cds_lfht_for_each_entry(c->ht, &it, e, node) {
        entry_free_locked(e, e->owner == fci_getpid(), 0); /* fd_mu may be a dead thread's */
    }
}

void fci_tcache_free(fci_tcache *c)
{
    if (c->ht != NULL && !fci_urcu_usable()) {
        free_without_rcu(c);
    } else if (c->ht != NULL) {
        fci_tcache_retain(c, keep_none, NULL);
        rcu_barrier(); /* every entry_free_rcu has run: units are back */
        cds_lfht_destroy(c->ht, NULL);
    }
    c->ht = NULL;
    fci_bcache_close(c->bc);
    c->bc = NULL;
    pthread_mutex_destroy(&c->bc_mu);
    pthread_mutex_destroy(&c->front_mu);
    pthread_mutex_destroy(&c->fd_mu);
}

void fci_tcache_forget(fci_tcache *c)
{
    pthread_mutex_init(&c->bc_mu, NULL); /* a parent thread may have held it */
    pthread_mutex_init(&c->front_mu, NULL);
    pthread_mutex_init(&c->fd_mu, NULL);
    fci_tcache_retain(c, keep_none, NULL); /* the callbacks keep the parent's units */
    fci_bcache_close(c->bc); /* names the parent's slot; reopened lazily */
    c->bc = NULL;
    c->bc_tried = 0;
    c->mapped = c->preads = 0;         /* figures are per process */
    c->swept_vseq = 0;
}
