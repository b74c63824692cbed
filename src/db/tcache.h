/*
 * tcache.h - the tables one process has open, by file number.
 *
 * A table is mapped (PROT_READ, MAP_SHARED, fd closed at once) only after
 * the arena's Limiter grants a unit; when it refuses, the table is read
 * with pread through the fd instead. Blocks that cannot be served from a
 * mapping (compressed ones, and all blocks of pread tables) go through the
 * arena's shared block cache (shm/bcache.h). Entries stay until their
 * table leaves every version this process can see.
 */
#ifndef FC_DB_TCACHE_H
#define FC_DB_TCACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "format/table.h"
#include "shm/bcache.h"
#include "util/error.h"

#define FCI_TCACHE_BUCKETS 256

typedef struct fci_tcache_entry {
    uint64_t number;
    void *map;           /* NULL when read through fd */
    size_t size;
    int fd;              /* -1 when mapped */
    int limiter_unit;    /* holds one Limiter unit */
    fci_table table;
    fci_block_fetcher fetcher;       /* through the shared block cache */
    struct fci_tcache *cache;
    struct fci_tcache_entry *next;
} fci_tcache_entry;

typedef struct fci_tcache {
    pthread_mutex_t mu;
    fci_tcache_entry *buckets[FCI_TCACHE_BUCKETS];
    size_t count;
    uint64_t mapped, preads;   /* how tables were opened, for stats */
    struct fci_bcache *bc;     /* handle on the arena's block cache, or NULL */
    int bc_tried;              /* bc was looked for (opened lazily, per process) */
} fci_tcache;

struct fci_arena;
void fci_tcache_init(fci_tcache *c);
/* Finds or opens table `number` of dir. The entry stays valid until evicted,
 * which only happens for tables no version pinned by this process uses. */
int fci_tcache_get(fci_tcache *c, struct fci_arena *a, const char *dir, uint64_t number,
                   const fci_table **out, fci_err *err);
void fci_tcache_evict(fci_tcache *c, struct fci_arena *a, uint64_t number);
/* Evicts every entry for which keep(arg, number) is 0. */
void fci_tcache_retain(fci_tcache *c, struct fci_arena *a, int (*keep)(void *, uint64_t), void *arg);
void fci_tcache_free(fci_tcache *c, struct fci_arena *a);
/* The shared block cache's figures through this process's handle; 0 when
 * the arena has no cache. */
int fci_tcache_bcache_stats(fci_tcache *c, struct fci_arena *a, fci_bcache_stats *st);
/* In a forked child: drops the inherited entries without returning their
 * Limiter units, which belong to the parent. */
void fci_tcache_forget(fci_tcache *c);

#endif
