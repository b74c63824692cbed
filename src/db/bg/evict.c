/*
 * evict.c - TTL drops and FIFO eviction: dropping whole tables without
 * reading their data (evict.h).
 *
 * A table may leave the store only if nothing older for its keys lies
 * under it: else deleting it would bring an older version of a key back
 * (a newer entry, expired or not, hides older ones). "Under" is any table
 * at a deeper level, and at level 0 any table with a smaller file number
 * (level-0 tables are numbered in the order their data was written), as
 * long as its user-key range meets ours. The oldest data satisfies this
 * by construction: the deepest level's tables, or with only level 0 the
 * smallest number. So FIFO eviction takes exactly those, oldest first,
 * and an expired table goes once everything under it has gone.
 *
 * Nothing here waits for readers: a dropped table is retired, and the
 * reader-slot rule (core/publish.c) unlinks it once no pinned version names it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/bg/evict.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "format/dbformat.h"
#include "db/core/publish.h"

int fci_drop_enabled(const fc_store *s)
{
    return s->opts.max_bytes > 0 || s->opts.ttl_framing;
}

static int plan_add(fci_drop_plan *p, const fci_file_meta *f, int level, int expired)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        fci_drop_item *items = realloc(p->items, cap * sizeof *items);
        if (items == NULL)
            return FC_ENOMEM;
        p->items = items;
        p->cap = cap;
    }
    p->items[p->n++] = (fci_drop_item){ f->number, f->size, level, expired };
    return 0;
}

static int planned(const fci_drop_plan *p, uint64_t number)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].number == number)
            return 1;
    return 0;
}

static int ranges_meet(const fci_file_meta *a, const fci_file_meta *b)
{
    fci_slice alo = fci_ikey_user(fci_buf_slice(&a->smallest));
    fci_slice ahi = fci_ikey_user(fci_buf_slice(&a->largest));
    fci_slice blo = fci_ikey_user(fci_buf_slice(&b->smallest));
    fci_slice bhi = fci_ikey_user(fci_buf_slice(&b->largest));
    return fci_bytewise_compare(alo, bhi) <= 0 && fci_bytewise_compare(blo, ahi) <= 0;
}

static fci_slice user_smallest(const fci_file_meta *f)
{
    return fci_ikey_user(fci_buf_slice(&f->smallest));
}

static fci_slice user_largest(const fci_file_meta *f)
{
    return fci_ikey_user(fci_buf_slice(&f->largest));
}

/* Whether a table of sorted level l (>= 1) that is not planned meets f's
 * key range: a binary search for the first table ending at or after f's
 * start, then forwards while tables start within f's range. */
static int sorted_level_meets(const fci_version *v, const fci_drop_plan *p, int l,
                              const fci_file_meta *f)
{
    size_t lo = 0, hi = v->nfiles[l];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fci_bytewise_compare(user_largest(v->files[l][mid]), user_smallest(f)) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < v->nfiles[l]; i++) {
        const fci_file_meta *g = v->files[l][i];
        if (fci_bytewise_compare(user_smallest(g), user_largest(f)) > 0)
            return 0;
        if (!planned(p, g->number))
            return 1;
    }
    return 0;
}

/* Nothing older for f's keys remains (tables already planned are gone):
 * no older overlapping table in level 0 (when f is there), none in a
 * deeper level. */
static int nothing_under(const fci_version *v, const fci_drop_plan *p, int level,
                         const fci_file_meta *f)
{
    for (size_t i = 0; level == 0 && i < v->nfiles[0]; i++) {
        const fci_file_meta *g = v->files[0][i];
        if (g->number < f->number && !planned(p, g->number) && ranges_meet(f, g))
            return 0;
    }
    for (int l = level + 1; l < FCI_NUM_LEVELS; l++)
        if (sorted_level_meets(v, p, l, f))
            return 0;
    return 1;
}

/* The table's latest expiry, from its meta block (only the metaindex and
 * that block are read, never a data block), remembered in its metadata.
 * A table without the block never expires as a whole; one that cannot be
 * opened now is kept this round (reads report its damage). */
static uint64_t table_expiry(fc_store *s, fci_file_meta *f)
{
    if (f->expiry_known)
        return f->max_expiry;
    const fci_table *t;
    fci_err err;
    fci_err_clear(&err);
    uint64_t max_expiry = 0;
    fci_tcache_read_begin(); /* keeps t mapped if a reader evicts it meanwhile */
    int rc = fci_tcache_get(&s->tcache, s->arena, s->dirfd, s->dir, f->number, &t, &err);
    if (rc == 0)
        rc = fci_table_max_expiry(t, &max_expiry, &err);
    fci_tcache_read_end();
    if (rc != 0 && rc != FC_ENOTFOUND)
        return 0;
    f->max_expiry = rc == 0 ? max_expiry : 0;
    f->expiry_known = 1;
    return f->max_expiry;
}

/* Tables in the order their data is oldest: deepest level first, and in a
 * level by file number. */
static const fci_file_meta *oldest_left(const fci_version *v, const fci_drop_plan *p, int *level)
{
    for (int l = FCI_NUM_LEVELS - 1; l >= 0; l--) {
        const fci_file_meta *best = NULL;
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const fci_file_meta *f = v->files[l][i];
            if (!planned(p, f->number) && (best == NULL || f->number < best->number))
                best = f;
        }
        if (best != NULL) {
            *level = l;
            return best;
        }
    }
    return NULL;
}

static int by_number(const void *a, const void *b)
{
    uint64_t x = (*(fci_file_meta *const *)a)->number, y = (*(fci_file_meta *const *)b)->number;
    return x < y ? -1 : x > y;
}

/* Plans f when it has wholly expired and nothing older lies under it;
 * the (remembered) expiry is looked at first, being the cheaper test. */
static int consider_expired(fc_store *s, const fci_version *v, fci_drop_plan *p, int level,
                            fci_file_meta *f, uint64_t now)
{
    if (!fci_ttl_expired(table_expiry(s, f), now) || !nothing_under(v, p, level, f))
        return 0;
    return plan_add(p, f, level, 1);
}

/* Walks tables oldest first - deepest level first, level 0 by number - so
 * a table whose elders were just planned may go in the same round. */
static int plan_expired(fc_store *s, const fci_version *v, fci_drop_plan *p)
{
    uint64_t now = fci_ttl_now(s);
    int rc = 0;
    for (int l = FCI_NUM_LEVELS - 1; l >= 1 && rc == 0; l--)
        for (size_t i = 0; i < v->nfiles[l] && rc == 0; i++)
            rc = consider_expired(s, v, p, l, v->files[l][i], now);
    size_t n = v->nfiles[0];
    if (rc != 0 || n == 0)
        return rc;
    fci_file_meta **l0 = malloc(n * sizeof *l0);
    if (l0 == NULL)
        return FC_ENOMEM;
    memcpy(l0, v->files[0], n * sizeof *l0);
    qsort(l0, n, sizeof *l0, by_number);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = consider_expired(s, v, p, 0, l0[i], now);
    free(l0);
    return rc;
}

static uint64_t total_bytes(const fci_version *v, const fci_version_edit *edit)
{
    uint64_t total = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            total += v->files[l][i]->size;
    for (size_t i = 0; i < edit->n_new_files; i++)
        total += edit->new_files[i].file_size;
    return total;
}

/* Oldest first while over the bound; the newest table always stays (the
 * edit's new tables are never candidates, and one old table is kept when
 * the edit adds none). */
static int plan_evictions(fc_store *s, const fci_version *v, const fci_version_edit *edit,
                          fci_drop_plan *p)
{
    uint64_t total = total_bytes(v, edit);
    size_t left = edit->n_new_files;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        left += v->nfiles[l];
    for (size_t i = 0; i < p->n; i++) {
        total -= p->items[i].size;
        left--;
    }
    while (total > s->opts.max_bytes && left > 1) {
        int level;
        const fci_file_meta *f = oldest_left(v, p, &level);
        if (f == NULL)
            break;
        if (plan_add(p, f, level, 0) != 0)
            return FC_ENOMEM;
        total -= f->size;
        left--;
    }
    return 0;
}

int fci_drop_plan_make(fc_store *s, fci_version_edit *edit, fci_drop_plan *p)
{
    memset(p, 0, sizeof *p);
    const fci_version *v = s->w->vs.current;
    int rc = s->opts.ttl_framing ? plan_expired(s, v, p) : 0;
    if (rc == 0 && s->opts.max_bytes > 0)
        rc = plan_evictions(s, v, edit, p);
    for (size_t i = 0; rc == 0 && i < p->n; i++)
        rc = fci_edit_delete_file(edit, p->items[i].level, p->items[i].number);
    return rc;
}

void fci_drop_plan_done(fc_store *s, fci_drop_plan *p, int applied)
{
    fci_ttl_shared *sh = fci_ttl_shared_of(s);
    for (size_t i = 0; applied && i < p->n; i++) {
        const fci_drop_item *it = &p->items[i];
        fci_store_retire(s, 0, NULL, it->number);
        if (sh == NULL)
            continue;
        /* relaxed: figures for fc_stats, nothing depends on their order */
        atomic_fetch_add_explicit(it->expired ? &sh->expired_tables : &sh->evicted_tables, 1,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(it->expired ? &sh->expired_bytes : &sh->evicted_bytes,
                                  it->size, memory_order_relaxed);
    }
    free(p->items);
    memset(p, 0, sizeof *p);
}

int fci_drop_step(fc_store *s, int *rc)
{
    fci_writer *w = s->w;
    if (!fci_drop_enabled(s) || w->compacting || w->shutting_down)
        return 0;
    fci_version_edit edit;
    fci_edit_init(&edit);
    fci_drop_plan p;
    *rc = fci_drop_plan_make(s, &edit, &p);
    if (*rc == 0 && p.n == 0) {
        fci_drop_plan_done(s, &p, 0);
        fci_edit_free(&edit);
        return 0;
    }
    w->compacting = 1; /* no compaction may pick what this edit deletes */
    fci_err err;
    fci_err_clear(&err);
    if (*rc == 0 && (*rc = fci_vset_log_and_apply(&w->vs, &edit, &err)) != 0)
        fci_store_fail(s, *rc, &err);
    if (*rc == 0)
        *rc = fci_store_publish(s);
    fci_drop_plan_done(s, &p, *rc == 0);
    w->compacting = 0;
    pthread_cond_broadcast(&w->done_cv);
    fci_edit_free(&edit);
    if (*rc == 0)
        fci_delete_obsolete_files(s);
    return 1;
}
