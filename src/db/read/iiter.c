/*
 * iiter.c - the internal iterators fc_iter stacks: memtable, table, level
 * (a run of disjoint tables) and the merger over all of them.
 *
 * Everything here walks internal keys in fci_ikey_compare order and shows
 * every entry, tombstones and newer-than-snapshot ones included; iter.c
 * decides what the caller sees. Errors stick: an iterator that met damage
 * stays invalid and reports it through status().
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/read/iter.h"
#include "db/core/store.h"
#include "format/dbformat.h"
#include "format/table.h"

/* ---- memtable ------------------------------------------------------------ */

typedef struct mem_iter {
    fci_iiter base;
    const fci_memtable *mt;
    uint64_t node;          /* 0 = not valid */
    fci_slice key, value;   /* the node's entry, in the arena */
    int status;
    uint64_t bad_node;
} mem_iter;

/* Decodes the node just reached; a damaged entry ends the walk rather than
 * letting a bad length reach the caller. */
static void mem_load(mem_iter *m)
{
    if (m->node == 0 || m->status != 0)
        return;
    if (fci_memtable_entry(m->mt, m->node, &m->key, &m->value) != 0) {
        m->status = FC_ECORRUPT;
        m->bad_node = m->node;
        m->node = 0;
    }
}

static int mem_valid(const fci_iiter *it)
{
    const mem_iter *m = (const mem_iter *)it;
    return m->node != 0 && m->status == 0;
}

static void mem_first(fci_iiter *it)
{
    mem_iter *m = (mem_iter *)it;
    m->node = m->status ? 0 : fci_skiplist_first(&m->mt->list);
    mem_load(m);
}

static void mem_last(fci_iiter *it)
{
    mem_iter *m = (mem_iter *)it;
    m->node = m->status ? 0 : fci_skiplist_last(&m->mt->list);
    mem_load(m);
}

static void mem_seek(fci_iiter *it, fci_slice ikey)
{
    mem_iter *m = (mem_iter *)it;
    m->node = m->status ? 0 : fci_memtable_seek(m->mt, ikey);
    mem_load(m);
}

static void mem_next(fci_iiter *it)
{
    mem_iter *m = (mem_iter *)it;
    if (!mem_valid(it))
        return;
    m->node = fci_skiplist_next(&m->mt->list, m->node);
    mem_load(m);
}

/* The list links one way only: the entry before is found by a search, as
 * LevelDB does. The current key lives in the arena, so it stays put. */
static void mem_prev(fci_iiter *it)
{
    mem_iter *m = (mem_iter *)it;
    if (!mem_valid(it))
        return;
    m->node = fci_memtable_seek_before(m->mt, m->key);
    mem_load(m);
}

static fci_slice mem_key(const fci_iiter *it)
{
    return ((const mem_iter *)it)->key;
}

static fci_slice mem_value(const fci_iiter *it)
{
    return ((const mem_iter *)it)->value;
}

/* Memtable entries are never moved or freed while a version names them. */
static int mem_stable(const fci_iiter *it)
{
    (void)it;
    return 1;
}

static int mem_status(const fci_iiter *it, fci_err *err)
{
    const mem_iter *m = (const mem_iter *)it;
    if (m->status == 0)
        return 0;
    return fci_err_set(err, m->status, "memtable: damaged entry at arena offset %llu",
                       (unsigned long long)m->bad_node);
}

static void mem_free(fci_iiter *it)
{
    free(it);
}

static const fci_iiter_ops mem_ops = {
    mem_valid, mem_first, mem_last, mem_seek, mem_next, mem_prev,
    mem_key, mem_value, mem_stable, mem_status, mem_free,
};

int fci_iiter_memtable(const fci_memtable *mt, fci_iiter **out)
{
    mem_iter *m = calloc(1, sizeof *m);
    if (m == NULL)
        return FC_ENOMEM;
    m->base.ops = &mem_ops;
    m->mt = mt;
    *out = &m->base;
    return 0;
}

/* ---- one table ----------------------------------------------------------- */

typedef struct tab_iter {
    fci_iiter base;
    fci_table_iter it;
} tab_iter;

static int tab_valid(const fci_iiter *it)
{
    return fci_table_iter_valid(&((const tab_iter *)it)->it);
}

static void tab_first(fci_iiter *it)
{
    fci_table_iter_first(&((tab_iter *)it)->it);
}

static void tab_last(fci_iiter *it)
{
    fci_table_iter_last(&((tab_iter *)it)->it);
}

static void tab_seek(fci_iiter *it, fci_slice ikey)
{
    fci_table_iter_seek(&((tab_iter *)it)->it, ikey);
}

static void tab_next(fci_iiter *it)
{
    fci_table_iter_next(&((tab_iter *)it)->it);
}

static void tab_prev(fci_iiter *it)
{
    fci_table_iter_prev(&((tab_iter *)it)->it);
}

static fci_slice tab_key(const fci_iiter *it)
{
    return fci_table_iter_key(&((const tab_iter *)it)->it);
}

static fci_slice tab_value(const fci_iiter *it)
{
    return fci_table_iter_value(&((const tab_iter *)it)->it);
}

/* A block served straight from the mapping owns nothing: its bytes live as
 * long as the table stays in this process's cache, i.e. the whole txn.
 * Heap or cache-frame blocks go when the table iterator leaves them. */
static int table_block_stable(const fci_table_iter *t)
{
    return t->has_block && t->ref.owned == NULL && t->ref.pin == NULL;
}

static int tab_stable(const fci_iiter *it)
{
    return table_block_stable(&((const tab_iter *)it)->it);
}

static int tab_status(const fci_iiter *it, fci_err *err)
{
    return fci_table_iter_status(&((const tab_iter *)it)->it, err);
}

static void tab_free(fci_iiter *it)
{
    fci_table_iter_free(&((tab_iter *)it)->it);
    free(it);
}

static const fci_iiter_ops tab_ops = {
    tab_valid, tab_first, tab_last, tab_seek, tab_next, tab_prev,
    tab_key, tab_value, tab_stable, tab_status, tab_free,
};

/* Tables come from the process's cache, which keeps every table of a
 * version this process pins, so the fci_table outlives the iterator. */
static int open_table(fc_store *s, uint64_t number, const fci_table **t, fci_err *err)
{
    return fci_tcache_get(&s->tcache, s->arena, s->dirfd, s->dir, number, t, err);
}

int fci_iiter_table(fc_store *s, uint64_t number, fci_iiter **out, fci_err *err)
{
    const fci_table *t;
    int rc = open_table(s, number, &t, err);
    if (rc != 0)
        return rc;
    tab_iter *ti = calloc(1, sizeof *ti);
    if (ti == NULL)
        return fci_err_set(err, FC_ENOMEM, "out of memory");
    ti->base.ops = &tab_ops;
    fci_table_iter_init(&ti->it, t);
    *out = &ti->base;
    return 0;
}

/* ---- one level (L1+) ----------------------------------------------------- */

typedef struct level_iter {
    fci_iiter base;
    fc_store *s;
    const fci_vrec_view *v;
    const fci_vrec_file *files;
    uint32_t n;
    uint32_t idx;          /* file the table iterator is on, when open */
    int open;
    fci_table_iter it;
    int status;
    fci_err err;
} level_iter;

static void level_close(level_iter *l)
{
    if (l->open)
        fci_table_iter_free(&l->it);
    l->open = 0;
}

/* Makes file i the open one; 0 when that failed (status then says why). */
static int level_open(level_iter *l, uint32_t i)
{
    if (l->open && l->idx == i)
        return 1;
    level_close(l);
    if (l->status != 0)
        return 0;
    const fci_table *t;
    int rc = open_table(l->s, l->files[i].number, &t, &l->err);
    if (rc != 0) {
        l->status = rc;
        return 0;
    }
    fci_table_iter_init(&l->it, t);
    l->open = 1;
    l->idx = i;
    return 1;
}

/* A table iterator that ended on damage ends the level too. */
static int level_table_failed(level_iter *l)
{
    if (!l->open || fci_table_iter_status(&l->it, &l->err) == 0)
        return 0;
    l->status = l->it.status;
    level_close(l);
    return 1;
}

static void level_skip_forward(level_iter *l)
{
    while (l->open && !fci_table_iter_valid(&l->it)) {
        if (level_table_failed(l))
            return;
        uint32_t next = l->idx + 1;
        level_close(l);
        if (next >= l->n || !level_open(l, next))
            return;
        fci_table_iter_first(&l->it);
    }
}

static void level_skip_backward(level_iter *l)
{
    while (l->open && !fci_table_iter_valid(&l->it)) {
        if (level_table_failed(l))
            return;
        uint32_t idx = l->idx;
        level_close(l);
        if (idx == 0 || !level_open(l, idx - 1))
            return;
        fci_table_iter_last(&l->it);
    }
}

static int level_valid(const fci_iiter *it)
{
    const level_iter *l = (const level_iter *)it;
    return l->status == 0 && l->open && fci_table_iter_valid(&l->it);
}

static void level_first(fci_iiter *it)
{
    level_iter *l = (level_iter *)it;
    if (l->n == 0 || !level_open(l, 0)) {
        level_close(l);
        return;
    }
    fci_table_iter_first(&l->it);
    level_skip_forward(l);
}

static void level_last(fci_iiter *it)
{
    level_iter *l = (level_iter *)it;
    if (l->n == 0 || !level_open(l, l->n - 1)) {
        level_close(l);
        return;
    }
    fci_table_iter_last(&l->it);
    level_skip_backward(l);
}

/* The files are sorted and disjoint: the first whose largest key is >=
 * ikey is the only one that can hold the first entry >= ikey. */
static void level_seek(fci_iiter *it, fci_slice ikey)
{
    level_iter *l = (level_iter *)it;
    uint32_t lo = 0, hi = l->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (fci_ikey_compare(fci_vrec_largest(l->v, &l->files[mid]), ikey) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= l->n || !level_open(l, lo)) {
        level_close(l);
        return;
    }
    fci_table_iter_seek(&l->it, ikey);
    level_skip_forward(l);
}

static void level_next(fci_iiter *it)
{
    level_iter *l = (level_iter *)it;
    if (!level_valid(it))
        return;
    fci_table_iter_next(&l->it);
    level_skip_forward(l);
}

static void level_prev(fci_iiter *it)
{
    level_iter *l = (level_iter *)it;
    if (!level_valid(it))
        return;
    fci_table_iter_prev(&l->it);
    level_skip_backward(l);
}

static fci_slice level_key(const fci_iiter *it)
{
    return fci_table_iter_key(&((const level_iter *)it)->it);
}

static fci_slice level_value(const fci_iiter *it)
{
    return fci_table_iter_value(&((const level_iter *)it)->it);
}

static int level_stable(const fci_iiter *it)
{
    const level_iter *l = (const level_iter *)it;
    return l->open && table_block_stable(&l->it);
}

static int level_status(const fci_iiter *it, fci_err *err)
{
    const level_iter *l = (const level_iter *)it;
    if (l->status != 0)
        return fci_err_set(err, l->status, "%s", l->err.msg);
    return l->open ? fci_table_iter_status(&l->it, err) : 0;
}

static void level_free(fci_iiter *it)
{
    level_close((level_iter *)it);
    free(it);
}

static const fci_iiter_ops level_ops = {
    level_valid, level_first, level_last, level_seek, level_next, level_prev,
    level_key, level_value, level_stable, level_status, level_free,
};

int fci_iiter_level(fc_store *s, const fci_vrec_view *v, int level, fci_iiter **out)
{
    if (level < 1 || level >= FCI_NUM_LEVELS)
        return FC_EINVAL;
    level_iter *l = calloc(1, sizeof *l);
    if (l == NULL)
        return FC_ENOMEM;
    l->base.ops = &level_ops;
    l->s = s;
    l->v = v;
    l->files = v->level[level];
    l->n = v->nfiles[level];
    *out = &l->base;
    return 0;
}

/* ---- the merger ---------------------------------------------------------- */

enum { DIR_FORWARD, DIR_REVERSE };

typedef struct merge_iter {
    fci_iiter base;
    fci_iiter **kids;
    size_t n;
    fci_iiter *cur;        /* the child whose entry is current, or NULL */
    int dir;
} merge_iter;

static void find_smallest(merge_iter *m)
{
    fci_iiter *best = NULL;
    for (size_t i = 0; i < m->n; i++) {
        fci_iiter *k = m->kids[i];
        if (k->ops->valid(k) &&
            (best == NULL || fci_ikey_compare(k->ops->key(k), best->ops->key(best)) < 0))
            best = k;
    }
    m->cur = best;
}

static void find_largest(merge_iter *m)
{
    fci_iiter *best = NULL;
    for (size_t i = m->n; i-- > 0;) {
        fci_iiter *k = m->kids[i];
        if (k->ops->valid(k) &&
            (best == NULL || fci_ikey_compare(k->ops->key(k), best->ops->key(best)) > 0))
            best = k;
    }
    m->cur = best;
}

static int merge_valid(const fci_iiter *it)
{
    return ((const merge_iter *)it)->cur != NULL;
}

static void merge_first(fci_iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->first(m->kids[i]);
    m->dir = DIR_FORWARD;
    find_smallest(m);
}

static void merge_last(fci_iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->last(m->kids[i]);
    m->dir = DIR_REVERSE;
    find_largest(m);
}

static void merge_seek(fci_iiter *it, fci_slice ikey)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        m->kids[i]->ops->seek(m->kids[i], ikey);
    m->dir = DIR_FORWARD;
    find_smallest(m);
}

/* After walking backwards the other children sit before the current key;
 * each is moved to its first entry after it, so all stand past key(). The
 * current child's key stays put meanwhile (only the others move). */
static void merge_next(fci_iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->cur == NULL)
        return;
    if (m->dir != DIR_FORWARD) {
        fci_slice key = m->cur->ops->key(m->cur);
        for (size_t i = 0; i < m->n; i++) {
            fci_iiter *k = m->kids[i];
            if (k == m->cur)
                continue;
            k->ops->seek(k, key);
            if (k->ops->valid(k) && fci_ikey_compare(key, k->ops->key(k)) == 0)
                k->ops->next(k);
        }
        m->dir = DIR_FORWARD;
    }
    m->cur->ops->next(m->cur);
    find_smallest(m);
}

/* Mirror of merge_next: every other child goes to its last entry before
 * key() (seek lands at or after it, so one step back, or the very last
 * entry when seek ran off the end). */
static void merge_prev(fci_iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    if (m->cur == NULL)
        return;
    if (m->dir != DIR_REVERSE) {
        fci_slice key = m->cur->ops->key(m->cur);
        for (size_t i = 0; i < m->n; i++) {
            fci_iiter *k = m->kids[i];
            if (k == m->cur)
                continue;
            k->ops->seek(k, key);
            if (k->ops->valid(k))
                k->ops->prev(k);
            else if (k->ops->status(k, NULL) == 0)
                k->ops->last(k);
        }
        m->dir = DIR_REVERSE;
    }
    m->cur->ops->prev(m->cur);
    find_largest(m);
}

static fci_slice merge_key(const fci_iiter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->cur->ops->key(m->cur);
}

static fci_slice merge_value(const fci_iiter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->cur->ops->value(m->cur);
}

static int merge_stable(const fci_iiter *it)
{
    const merge_iter *m = (const merge_iter *)it;
    return m->cur != NULL && m->cur->ops->value_stable(m->cur);
}

static int merge_status(const fci_iiter *it, fci_err *err)
{
    const merge_iter *m = (const merge_iter *)it;
    for (size_t i = 0; i < m->n; i++) {
        int rc = m->kids[i]->ops->status(m->kids[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void merge_free(fci_iiter *it)
{
    merge_iter *m = (merge_iter *)it;
    for (size_t i = 0; i < m->n; i++)
        fci_iiter_free(m->kids[i]);
    free(m->kids);
    free(m);
}

static const fci_iiter_ops merge_ops = {
    merge_valid, merge_first, merge_last, merge_seek, merge_next, merge_prev,
    merge_key, merge_value, merge_stable, merge_status, merge_free,
};

int fci_iiter_merge(fci_iiter **children, size_t n, fci_iiter **out)
{
    merge_iter *m = calloc(1, sizeof *m);
    fci_iiter **kids = malloc((n ? n : 1) * sizeof *kids);
    if (m == NULL || kids == NULL) {
        free(m);
        free(kids);
        for (size_t i = 0; i < n; i++)
            fci_iiter_free(children[i]);
        return FC_ENOMEM;
    }
    memcpy(kids, children, n * sizeof *kids);
    m->base.ops = &merge_ops;
    m->kids = kids;
    m->n = n;
    *out = &m->base;
    return 0;
}
