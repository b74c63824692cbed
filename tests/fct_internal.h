/*
 * fct_internal.h - the part of the suites' fixture that reaches into the
 * library's internals (src/), for the suites that test them:
 *
 *   fct_settle           wait until a writer's background thread is idle
 *   fct_meta             a table file's metadata from its key range
 *   fct_region           a bump-allocated MAP_SHARED region (no arena)
 *   fct_shm_anon         a small anonymous arena (_capped: with a cap on mapped bytes)
 *
 * Every name starts with fct_, like fct.h's.
 */
#ifndef FCT_INTERNAL_H
#define FCT_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fct.h"
#include "db/core/store.h"
#include "db/core/version.h"
#include "format/dbformat.h"
#include "shm/arena.h"

/* ---- a writer's background work ------------------------------------------ */

/* mu held: whether the background thread has nothing left to do: no
 * memtable to flush, no compaction running or due. */
static inline int fct_settled_locked(fc_store *s)
{
    fci_writer *w = s->w;
    return !w->has_imm && !w->compacting && w->vs.current->compaction_score < 1 && !w->bg_error;
}

/* Waits (a bounded number of naps, never a time assertion) until the
 * background thread is idle; fails the test on a background error.
 * fc_close cancels a running compaction (the next open runs it again), so
 * a test that needs a store's shape fixed at reopen settles it first. */
static inline void fct_settle(fc_store *s)
{
    int idle = 0;
    for (int naps = 0; naps < 600000 && !idle; naps++) {
        pthread_mutex_lock(&s->w->mu);
        idle = fct_settled_locked(s);
        int err = s->w->bg_error;
        pthread_mutex_unlock(&s->w->mu);
        ck_assert_msg(err == 0, "background error %d: %s", err, fc_errmsg(s));
        if (!idle)
            usleep(200);
    }
    ck_assert(idle);
}

/* ---- crafted versions ---------------------------------------------------- */

/* A file spanning [lo, hi] (user keys; sequences 100 and 90). */
static inline fci_file_meta *fct_meta(uint64_t number, uint64_t size, const char *lo,
                                      const char *hi)
{
    fci_buf s = FCI_BUF_INIT, l = FCI_BUF_INIT;
    ck_assert_int_eq(fci_ikey_append(&s, fci_slice_str(lo), 100, FCI_TYPE_VALUE), 0);
    ck_assert_int_eq(fci_ikey_append(&l, fci_slice_str(hi), 90, FCI_TYPE_VALUE), 0);
    fci_file_meta *f;
    ck_assert_int_eq(fci_file_meta_new(number, size, fci_buf_slice(&s), fci_buf_slice(&l), &f), 0);
    fci_buf_free(&s);
    fci_buf_free(&l);
    return f;
}

/* ---- memory without an arena --------------------------------------------- */

/* A MAP_SHARED region with a bump allocator, standing in for the arena in
 * the skiplist and memtable suites. */
typedef struct fct_region {
    char *base;
    size_t size;
    uint64_t used;
} fct_region;

/* 8-byte aligned, 0 when full: the contract fci_skiplist_alloc asks for. */
static inline uint64_t fct_region_alloc(void *ctx, size_t n)
{
    fct_region *r = ctx;
    uint64_t off = (r->used + 7) & ~(uint64_t)7;
    if (off + n > r->size)
        return 0;
    r->used = off + n;
    return off;
}

/* ---- arenas -------------------------------------------------------------- */

/* An anonymous arena of size bytes with the given slot and mapping counts. */
static inline fci_arena *fct_shm_anon_capped(size_t size, uint32_t slots, uint32_t mappings,
                                             uint64_t mapped_bytes)
{
    fci_arena_config cfg;
    fci_arena *a = NULL;
    fci_err e;
    fci_arena_config_init(&cfg);
    cfg.size = size;
    cfg.reader_slots = slots;
    cfg.max_mappings = mappings;
    cfg.max_mapped_bytes = mapped_bytes;
    int rc = fci_arena_create(&cfg, &a, &e);
    ck_assert_msg(rc == 0, "create: %s", e.msg);
    return a;
}

/* ... with no cap on mapped bytes. */
static inline fci_arena *fct_shm_anon(size_t size, uint32_t slots, uint32_t mappings)
{
    return fct_shm_anon_capped(size, slots, mappings, UINT64_MAX);
}

#endif
