/*
 * stats.c - a store's figures, read from the arena so that every process
 * (not only the writer) sees the same ones.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/follow.h"
#include "util/clock.h"
#include "db/core/store.h"
#include "db/read/read.h"
#include "db/core/ttl.h"
#include "db/core/vrec.h"
#include "shm/bcache.h"
#include "shm/counters.h"
#include "shm/layout.h"
#include "shm/wqueue.h"
#include "db/core/publish.h"
#include "db/core/writerid.h"

static void version_figures(fc_store *s, fc_stats *st)
{
    fc_txn *t;
    if (fc_txn_begin(s, &t) != 0)
        return;
    st->version = t->vseq;
    st->last_sequence = t->snapshot;
    for (int l = 0; l < FC_NUM_LEVELS; l++) {
        st->files[l] = t->view.nfiles[l];
        for (uint32_t i = 0; i < t->view.nfiles[l]; i++)
            st->level_bytes[l] += t->view.level[l][i].size;
        st->table_bytes += st->level_bytes[l];
    }
    if (t->has_mem) {
        st->mem_bytes = fci_memtable_bytes(&t->mem);
        st->mem_entries = fci_skiplist_count(&t->mem.list);
    }
    if (t->has_imm)
        st->imm_bytes = fci_memtable_bytes(&t->imm);
    fc_txn_end(t);
}

/* The block cache and write queue keep their counters in the arena. */
static void cache_figures(fc_store *s, fc_stats *st)
{
    fci_bcache_stats bs;
    if (fci_tcache_bcache_stats(&s->tcache, s->arena, &bs)) {
        st->block_cache_size = (uint64_t)bs.nframes * bs.frame_size;
        st->block_cache_hits = bs.hits;
        st->block_cache_misses = bs.misses;
    }
    uint64_t off = atomic_load_explicit(&s->arena->hdr->wq_off, memory_order_acquire);
    const fci_wq *q = off ? fci_arena_ptr(s->arena, off, sizeof *q) : NULL;
    if (q != NULL)
        st->queue_writes = atomic_load_explicit(&q->applied, memory_order_relaxed);
}

/* Expired and evicted tables: the writer's counters in the arena. */
static void drop_figures(fc_store *s, fc_stats *st)
{
    const fci_ttl_shared *sh = fci_ttl_shared_of(s);
    if (sh == NULL)
        return;
    /* relaxed: figures, nothing is inferred from their order */
    st->expired_entries = atomic_load_explicit(&sh->expired_entries, memory_order_relaxed);
    st->expired_tables = atomic_load_explicit(&sh->expired_tables, memory_order_relaxed);
    st->expired_bytes = atomic_load_explicit(&sh->expired_bytes, memory_order_relaxed);
    st->evicted_tables = atomic_load_explicit(&sh->evicted_tables, memory_order_relaxed);
    st->evicted_bytes = atomic_load_explicit(&sh->evicted_bytes, memory_order_relaxed);
}

/* Clears and the Redis link: the follow block's counters (core/follow.h). */
static void follow_figures(fc_store *s, fc_stats *st)
{
    const fci_follow_shared *f = fci_follow_of(s);
    if (f == NULL)
        return;
    /* relaxed: figures, nothing is inferred from their order */
    st->clears = atomic_load_explicit(&f->clears, memory_order_relaxed);
    st->follow_link = (int)atomic_load_explicit(&f->link, memory_order_relaxed);
    st->follow_invalidations = atomic_load_explicit(&f->invalidations, memory_order_relaxed);
    st->follow_fills = atomic_load_explicit(&f->fills, memory_order_relaxed);
    st->follow_fills_stale = atomic_load_explicit(&f->fills_stale, memory_order_relaxed);
    st->follow_link_losses = atomic_load_explicit(&f->link_losses, memory_order_relaxed);
    uint64_t until = atomic_load_explicit(&f->link_ok_until, memory_order_relaxed);
    uint64_t proved = until > f->max_stale_ms ? until - f->max_stale_ms : 0, now = fci_mono_ms();
    if (st->follow_link != FC_LINK_NONE && proved > 0)
        st->follow_lag_ms = now > proved ? now - proved : 0;
}

int fc_stats_get(fc_store *s, fc_stats *st)
{
    if (s == NULL || st == NULL)
        return FC_EINVAL;
    memset(st, 0, sizeof *st);
    version_figures(s, st);
    fci_arena_stats as;
    fci_arena_stats_get(s->arena, &as, NULL, 0);
    st->arena_size = as.arena_size;
    st->arena_in_use = as.bytes_in_use;
    st->reader_slots = as.slots_total;
    st->readers = as.slots_live;
    st->mappings_capacity = as.limiter_capacity;
    st->mappings_in_use = as.limiter_in_use;
    st->mapped_bytes_capacity = as.mapped_bytes_cap;
    st->mapped_bytes_in_use = as.mapped_bytes_in_use;
    fci_arena_header *h = s->arena->hdr;
    st->writer_pid = fci_store_writer_pid(s); /* 0 once that process is gone */
    st->flushes = atomic_load_explicit(&h->writer_flushes, memory_order_relaxed);
    st->compactions = atomic_load_explicit(&h->writer_compactions, memory_order_relaxed);
    st->bytes_compacted = atomic_load_explicit(&h->writer_bytes_compacted, memory_order_relaxed);
    uint64_t stalls = atomic_load_explicit(&h->writer_stalls, memory_order_relaxed);
    st->stalls = stalls >> 8;
    st->stall = (int)(stalls & 0xff);
    /* relaxed: per-process figures, nothing is read through them */
    st->tables_mapped = atomic_load_explicit(&s->tcache.mapped, memory_order_relaxed);
    st->tables_pread = atomic_load_explicit(&s->tcache.preads, memory_order_relaxed);
    cache_figures(s, st);
    drop_figures(s, st);
    follow_figures(s, st);
    fci_counters_read(s->arena, -1, &st->ops);
    fci_oldest_pin(s->arena, &st->oldest_pin_pid, &st->oldest_pinned_version);
    /* relaxed: figures the writer left; named only while that reader
     * still pins the watched version */
    uint64_t stale = atomic_load_explicit(&h->pin_stale_pid, memory_order_relaxed);
    uint64_t watched = atomic_load_explicit(&h->pin_watch_seq, memory_order_relaxed);
    if (stale != 0 && (int)stale == st->oldest_pin_pid && watched == st->oldest_pinned_version)
        st->stale_reader_pid = (int)stale;
    return 0;
}

int fc_stats_readers(fc_store *s, fc_reader_stat *out, size_t max, size_t *n)
{
    if (s == NULL || n == NULL || (out == NULL && max > 0))
        return FC_EINVAL;
    *n = 0;
    if (max == 0)
        return 0;
    uint32_t cap = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max;
    fci_reader_info *info = calloc(cap, sizeof *info);
    if (info == NULL)
        return FC_ENOMEM;
    fci_arena_stats as;
    fci_arena_stats_get(s->arena, &as, info, cap);
    for (uint32_t i = 0; i < as.readers_reported; i++) {
        out[i].pid = info[i].pid;
        out[i].pinned_version = info[i].pinned_seq == FCI_NO_PIN ? 0 : info[i].pinned_seq; /* 0 = none */
        out[i].mappings = info[i].held;
        fci_counters_read(s->arena, (int)info[i].slot, &out[i].ops);
    }
    *n = as.readers_reported;
    free(info);
    return 0;
}
