/*
 * read.c - read transactions and point lookups, in any process.
 *
 * Publication order (the writer, in write/write.c and core/publish.c):
 *   a new memtable is published in a new version before any entry goes into
 *   it, and the last sequence is published after its entries are inserted.
 * So a reader loads the current version V, then the last sequence S, then
 * checks that V is still current. If it is, every entry with sequence <= S
 * lives in V's memtables or tables; if not, it retries. The process's slot
 * pin (taken before the first transaction) is the oldest version any of
 * its transactions uses, so the writer keeps everything they can reach.
 *
 * Tables: a transaction is one RCU read-side section of its thread
 * (fci_tcache_read_begin in fc_txn_begin, read_end in fc_txn_end), so a
 * table it got from the process's cache stays mapped until it ends even if
 * another thread evicts it meanwhile. When a transaction sees a newer
 * version than the cache was last swept against, it drops the tables that
 * version no longer names; a thread still on an older version that needs
 * one again reopens it (our slot's pin keeps the file on disk).
 */
#include "config.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/proc.h"
#include "db/read/read.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "db/core/writerid.h"
#include "format/dbformat.h"
#include "shm/counters.h"

/* Loads (V, S) in the order the header comment explains. The version is
 * named by its record's offset: under our pin no record we could load is
 * freed, so an offset cannot be reused between the two loads. */
static int load_version(fc_store *s, uint64_t *off, uint64_t *snapshot)
{
    for (int tries = 0; tries < 1000000; tries++) {
        *off = fci_arena_current_off(s->arena);
        *snapshot = fci_arena_last_seq(s->arena);
        if (fci_arena_current_off(s->arena) == *off)
            return 0;
    }
    return FC_EAGAIN;
}

static int attach_memtables(char *base, size_t size, fci_view_cache *c)
{
    const fci_vrec *rec = c->view.rec;
    c->has_mem = c->has_imm = 0;
    if (rec->mem_root != 0) {
        if (fci_memtable_attach(&c->mem, base, size, rec->mem_root) != 0)
            return FC_ECORRUPT;
        c->has_mem = 1;
    }
    if (rec->imm_root != 0) {
        if (fci_memtable_attach(&c->imm, base, size, rec->imm_root) != 0)
            return FC_ECORRUPT;
        c->has_imm = 1;
    }
    return 0;
}

/* Gives t the checked view of the record at off, checking it only when
 * the cache holds another record (the cached offset was checked to lie in
 * the arena, so comparing the header there is safe). Called with rd.lock. */
static int open_view(fc_store *s, uint64_t off, fc_txn *t)
{
    fci_view_cache *c = &s->rd.cache;
    char *base = fci_arena_base(s->arena);
    size_t size = fci_arena_size(s->arena);
    if (!c->valid || c->off != off || memcmp(base + off, &c->header, sizeof c->header) != 0) {
        c->valid = 0;
        int rc = fci_vrec_open(base, size, off, &c->view);
        if (rc == 0)
            rc = attach_memtables(base, size, c);
        if (rc != 0)
            return rc;
        memcpy(&c->header, base + off, sizeof c->header);
        c->off = off;
        c->valid = 1;
    }
    /* A reused handle may hold this very view already (a record's offset
     * and version number name it): copying it again was a fifth of an
     * empty transaction. */
    if (t->view_off == off && t->vseq == c->header.vseq)
        return 0;
    t->view = c->view;
    t->vseq = c->header.vseq;
    t->view_off = off;
    t->mem = c->mem;
    t->imm = c->imm;
    t->has_mem = c->has_mem;
    t->has_imm = c->has_imm;
    return 0;
}

static void txn_free(fc_txn *t)
{
    fci_table_get_free(NULL, &t->res);
    free(t->held);
    free(t);
}

/* Takes the oldest kept spare, once FCI_TXN_SPARES are kept. */
static fc_txn *spare_take(fci_reader_state *r)
{
    if (r->nspares < FCI_TXN_SPARES)
        return NULL;
    fc_txn *t = r->spares[r->oldest_spare];
    r->spares[r->oldest_spare] = NULL;
    r->oldest_spare = (r->oldest_spare + 1) % FCI_TXN_SPARES;
    r->nspares--;
    return t;
}

/* A transaction's memory comes from a spare an earlier one left, when
 * enough are kept (a web worker begins one per request); until then it is
 * new, so a recently ended handle is never handed out again. */
static fc_txn *txn_alloc(fci_reader_state *r)
{
    fc_txn *t = spare_take(r);
    if (t == NULL) {
        t = calloc(1, sizeof *t);
        if (t != NULL)
            fci_table_get_init(&t->res);
    }
    return t;
}

/* Resets an ended transaction (marked ended) for reuse; its key buffer and
 * held-block array keep their memory. With the ring full (several
 * transactions ended at once) the oldest spare is freed for it. */
static void txn_recycle(fci_reader_state *r, fc_txn *t)
{
    t->nheld = 0;
    t->res_live = 0;
    t->res_table = NULL;
    t->iters = 0;
    if (r->nspares == FCI_TXN_SPARES)
        txn_free(spare_take(r));
    r->spares[(r->oldest_spare + r->nspares) % FCI_TXN_SPARES] = t;
    r->nspares++;
}

void fci_reader_state_free(fci_reader_state *r)
{
    while (r->nspares > 0) {
        r->nspares--;
        txn_free(r->spares[(r->oldest_spare + r->nspares) % FCI_TXN_SPARES]);
    }
    r->oldest_spare = 0;
    r->cache.valid = 0;
}

/* Pins (the process's first transaction), loads the version and fills t,
 * all under rd.lock, which also guards the view cache and the spares. Only
 * the first transactions (before FCI_TXN_SPARES are kept) allocate under it. */
static int begin_locked(fc_store *s, fc_txn **out)
{
    fci_reader_state *r = &s->rd;
    uint64_t off = 0, snapshot;
    int rc = 0;
    if (r->active == 0) {
        uint64_t pinned, poff;
        rc = fci_arena_pin_current(s->arena, &pinned, &poff);
        if (rc == 0)
            r->pinned = pinned;
    }
    if (rc == 0)
        rc = load_version(s, &off, &snapshot);
    fc_txn *t = rc == 0 ? txn_alloc(r) : NULL;
    if (rc == 0 && t == NULL)
        rc = FC_ENOMEM;
    if (rc == 0 && (rc = open_view(s, off, t)) != 0) {
        txn_recycle(r, t);
        fci_err e;
        fci_err_set(&e, rc, "arena: version record at offset %llu is damaged",
                    (unsigned long long)off);
        if (r->active == 0)
            fci_arena_unpin(s->arena);
        return fci_store_fail(s, rc, &e);
    }
    if (rc != 0) {
        if (r->active == 0)
            fci_arena_unpin(s->arena);
        return fci_store_fail(s, rc, NULL);
    }
    r->active++;
    t->store = s;
    t->snapshot = snapshot;
    t->ended = 0;
    t->ttl = s->opts.ttl_framing;
    if (t->ttl)
        t->now_ms = fci_ttl_now(s); /* one "now" for the whole transaction */
    *out = t;
    return 0;
}

static int cmp_number(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The tables of one version, sorted, and the first file number it had not
 * handed out yet. */
typedef struct live_tables {
    uint64_t *numbers;
    size_t n;
    uint64_t next_file;
} live_tables;

/* Numbers at or above next_file belong to versions newer than this one:
 * another thread put them in the cache, keep them. */
static int table_is_live(void *arg, uint64_t number)
{
    const live_tables *lt = arg;
    if (lt->next_file == 0 || number >= lt->next_file)
        return 1;
    /* a version without tables has no array (bsearch wants one) */
    return lt->n > 0 &&
           bsearch(&number, lt->numbers, lt->n, sizeof *lt->numbers, cmp_number) != NULL;
}

/* Once per new version (one thread wins the CAS), evicts the cached
 * tables the version does not name. Skipped when out of memory: keeping
 * a table is always safe. */
static void sweep_tables(fc_store *s, const fc_txn *t)
{
    /* relaxed: only picks which thread sweeps; the tables themselves are
     * protected by RCU, not by this word */
    uint64_t seen = atomic_load_explicit(&s->tcache.swept_vseq, memory_order_relaxed);
    if (t->vseq <= seen || !atomic_compare_exchange_strong_explicit(
                               &s->tcache.swept_vseq, &seen, t->vseq,
                               memory_order_relaxed, memory_order_relaxed))
        return;
    const fci_vrec_view *v = &t->view;
    live_tables lt = { NULL, 0, v->rec->next_file };
    size_t total = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        total += v->nfiles[l];
    if (total > 0 && (lt.numbers = malloc(total * sizeof *lt.numbers)) == NULL)
        return;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (uint32_t i = 0; i < v->nfiles[l]; i++)
            lt.numbers[lt.n++] = v->level[l][i].number;
    if (lt.n > 0)
        qsort(lt.numbers, lt.n, sizeof *lt.numbers, cmp_number);
    fci_tcache_retain(&s->tcache, table_is_live, &lt);
    free(lt.numbers);
}

/* An attached process whose writer was replaced must not go on serving
 * the old writer's last version: it is told to reopen (core/writerid.c). */
static int check_stale(fc_store *s)
{
    fci_err e;
    fci_err_clear(&e);
    int rc = fci_store_stale(s, &e);
    return rc != 0 ? fci_store_fail(s, rc, &e) : 0;
}

int fc_txn_begin(fc_store *s, fc_txn **out)
{
    if (s == NULL || out == NULL)
        return FC_EINVAL;
    *out = NULL;
    if (s->pid != fci_getpid())
        return fci_store_fail(s, FC_EINVAL, NULL); /* fc_after_fork not called */
    int stale = fci_store_writer_left(s) ? check_stale(s) : 0;
    if (stale != 0)
        return stale;
    fci_tcache_read_begin(); /* before the pin: see the header comment */
    fci_spin_lock(&s->rd.lock);
    int rc = begin_locked(s, out);
    fci_spin_unlock(&s->rd.lock);
    if (rc != 0) {
        fci_tcache_read_end();
        return rc;
    }
    (*out)->thread = pthread_self();
    fci_clear_view_load(s, &(*out)->clr, 1); /* after the snapshot: follow.h */
    sweep_tables(s, *out);
    return 0;
}

/* Lets go of the previous table result; a value pointing into a heap block
 * must stay valid, so such a block is kept until the transaction ends. */
static int retire_result(fc_txn *t)
{
    if (!t->res_live)
        return 0;
    t->res_live = 0;
    if (t->res.ref.owned == NULL && t->res.ref.pin == NULL) {
        fci_table_get_done(t->res_table, &t->res);
        return 0;
    }
    if (t->nheld == t->capheld) {
        size_t cap = t->capheld ? t->capheld * 2 : 4;
        fci_held *p = realloc(t->held, cap * sizeof *p);
        if (p == NULL) {
            t->res_live = 1;
            return FC_ENOMEM;
        }
        t->held = p;
        t->capheld = cap;
    }
    t->held[t->nheld].table = t->res_table;
    t->held[t->nheld].ref = t->res.ref;
    t->nheld++;
    memset(&t->res.ref, 0, sizeof t->res.ref);
    fci_table_get_done(t->res_table, &t->res);
    return 0;
}

/* The transaction's gets go to the process's counter row in one add per
 * kind, so a get itself writes only this thread's memory. */
static void flush_counts(fc_txn *t)
{
    if ((t->n_hits | t->n_misses) == 0)
        return;
    fci_counter_row *r = fci_counters_mine(t->store->arena);
    if (r != NULL) {
        /* relaxed: figures, read only as sums */
        if (t->n_hits)
            atomic_fetch_add_explicit(&r->c[FCI_C_HITS], t->n_hits, memory_order_relaxed);
        if (t->n_misses)
            atomic_fetch_add_explicit(&r->c[FCI_C_MISSES], t->n_misses, memory_order_relaxed);
        if (t->n_expired)
            atomic_fetch_add_explicit(&r->c[FCI_C_EXPIRED], t->n_expired,
                                      memory_order_relaxed);
    }
    t->n_hits = t->n_misses = t->n_expired = 0;
}

int fc_txn_end(fc_txn *t)
{
    if (t == NULL)
        return FC_EINVAL;
    if (t->ended)
        return FC_ECLOSED;
    fc_store *s = t->store;
    if (t->iters > 0) {
        /* An iterator points into what this txn pins: refuse, keep both. */
        fci_err e;
        fci_err_set(&e, FC_EBUSY, "fc_txn_end: %d iterator(s) still open on this txn", t->iters);
        return fci_store_fail(s, FC_EBUSY, &e);
    }
    if (!pthread_equal(t->thread, pthread_self())) {
        /* Its RCU read-side section belongs to the thread that began it. */
        fci_err e;
        fci_err_set(&e, FC_EINVAL, "fc_txn_end: a transaction ends on the thread that began it");
        return fci_store_fail(s, FC_EINVAL, &e);
    }
    flush_counts(t);
    if (t->res_live)
        fci_table_get_done(t->res_table, &t->res);
    for (size_t i = 0; i < t->nheld; i++)
        fci_table_release_block(t->held[i].table, &t->held[i].ref);
    fci_reader_state *r = &s->rd;
    fci_spin_lock(&r->lock);
    t->ended = 1;
    txn_recycle(r, t);
    if (--r->active == 0)
        fci_arena_unpin(s->arena);
    fci_spin_unlock(&r->lock);
    fci_tcache_read_end(); /* after the last block release above */
    return 0;
}

/* 0 found (value set), FC_ENOTFOUND deleted or absent in this table, 1 not
 * in this table at all (keep looking), or an error. */
static int table_lookup(fc_txn *t, uint64_t number, fci_slice ikey, fci_slice ukey,
                        fci_slice *value, uint64_t *seq)
{
    fc_store *s = t->store;
    const fci_table *table;
    fci_err err;
    fci_err_clear(&err);
    int rc = fci_tcache_get(&s->tcache, s->arena, s->dirfd, s->dir, number, &table, &err);
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    rc = retire_result(t);
    if (rc != 0)
        return fci_store_fail(s, rc, NULL);
    rc = fci_table_get(table, ikey, &t->res, &err);
    if (rc == FC_ENOTFOUND)
        return 1;
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    t->res_live = 1;
    t->res_table = table;
    if (fci_slice_compare(fci_ikey_user(t->res.key), ukey) != 0)
        return 1;
    if (t->res.type == FCI_TYPE_DELETION)
        return FC_ENOTFOUND;
    *value = t->res.value;
    *seq = t->res.sequence;
    return 0;
}

static int key_in_file(const fci_vrec_view *v, const fci_vrec_file *f, fci_slice ukey)
{
    return fci_slice_compare(ukey, fci_ikey_user(fci_vrec_smallest(v, f))) >= 0 &&
           fci_slice_compare(ukey, fci_ikey_user(fci_vrec_largest(v, f))) <= 0;
}

static int lookup_tables(fc_txn *t, fci_slice ikey, fci_slice ukey, fci_slice *value,
                         uint64_t *seq)
{
    const fci_vrec_view *v = &t->view;
    for (uint32_t i = 0; i < v->nfiles[0]; i++) {
        const fci_vrec_file *f = &v->level[0][i];
        if (!key_in_file(v, f, ukey))
            continue;
        int rc = table_lookup(t, f->number, ikey, ukey, value, seq);
        if (rc != 1)
            return rc;
    }
    for (int level = 1; level < FCI_NUM_LEVELS; level++) {
        const fci_vrec_file *f = fci_vrec_find(v, level, ukey);
        if (f == NULL)
            continue;
        int rc = table_lookup(t, f->number, ikey, ukey, value, seq);
        if (rc != 1)
            return rc;
    }
    return FC_ENOTFOUND;
}

/* A memtable entry that does not decode: the arena is damaged (a stray
 * write into shared memory), which the handle's message must say. */
static int memtable_damaged(fc_store *s)
{
    fci_err err;
    fci_err_set(&err, FC_ECORRUPT, "%s: a memtable entry in the arena does not decode", s->dir);
    return fci_store_fail(s, FC_ECORRUPT, &err);
}

/* The lookup key is built once and used for both memtables and every
 * table: the newest visible entry wins, in that order; *seq is its
 * sequence, for the clears (core/follow.h). */
static int lookup(fc_txn *t, fci_slice ukey, fci_slice *value, uint64_t *seq)
{
    fci_lookup_key lk;
    int rc = fci_lookup_key_init(&lk, ukey, t->snapshot);
    if (rc != 0) {
        fci_lookup_key_free(&lk);
        return rc;
    }
    rc = FC_ENOTFOUND;
    if (t->has_mem)
        rc = fci_memtable_get_ikey(&t->mem, lk.ikey, value, seq);
    if (rc == FC_ENOTFOUND && t->has_imm)
        rc = fci_memtable_get_ikey(&t->imm, lk.ikey, value, seq);
    if (rc == FC_ENOTFOUND)
        rc = lookup_tables(t, lk.ikey, ukey, value, seq);
    else if (rc == FCI_MEMTABLE_DELETED)
        rc = FC_ENOTFOUND;
    else if (rc == FC_ECORRUPT)
        rc = memtable_damaged(t->store);
    fci_lookup_key_free(&lk);
    return rc;
}

/* The newest visible value of key, still framed in a ttl store; an
 * expired or cleared one counts as absent (and hides older versions, as a
 * deletion does). *expiry is its frame's expiry (0 = never, or no framing). */
static int get_live(fc_txn *t, const void *key, size_t klen, fci_slice *v, uint64_t *expiry,
                    int *expired)
{
    if (t == NULL || (key == NULL && klen > 0))
        return FC_EINVAL;
    if (t->ended)
        return FC_ECLOSED;
    if (klen > FC_MAX_KEY_SIZE)
        return FC_ETOOBIG;
    uint64_t seq = 0;
    int rc = lookup(t, fci_slice_make(key, klen), v, &seq);
    *expiry = 0;
    if (rc == 0 && t->clr.n > 0 && fci_clear_hides(&t->clr, fci_slice_make(key, klen), seq))
        rc = FC_ENOTFOUND;
    if (rc != 0 || !t->ttl)
        return rc;
    *expiry = fci_ttl_value_expiry(*v);
    rc = fci_ttl_unframe(v, t->now_ms);
    if (rc == 1)
        return 0;
    *expired = rc == 0;
    if (rc == 0)
        return FC_ENOTFOUND;
    fci_err e;
    fci_err_set(&e, FC_ECORRUPT, "value of a %zu-byte key is %zu bytes, shorter than its "
                "%d-byte expiry frame", klen, v->size, FC_TTL_FRAME_SIZE);
    return fci_store_fail(t->store, FC_ECORRUPT, &e);
}

int fci_get_live(fc_txn *t, const void *key, size_t klen, fci_slice *v, uint64_t *expiry)
{
    int expired = 0;
    return get_live(t, key, klen, v, expiry, &expired);
}

/* A caller's get: counted in the transaction as a hit or a miss (and
 * whether the miss met an expired value). */
static int counted_get(fc_txn *t, const void *key, size_t klen, fci_slice *v, uint64_t *expiry)
{
    int expired = 0;
    int rc = get_live(t, key, klen, v, expiry, &expired);
    if (rc == 0)
        t->n_hits++;
    else if (rc == FC_ENOTFOUND) {
        t->n_misses++;
        t->n_expired += (uint64_t)expired;
    }
    return rc;
}

int fc_get(fc_txn *t, const void *key, size_t klen, fc_val *value)
{
    if (value == NULL)
        return FC_EINVAL;
    fci_slice v;
    uint64_t expiry;
    int rc = counted_get(t, key, klen, &v, &expiry);
    if (rc == 0) {
        value->data = v.data;
        value->size = v.size;
    }
    return rc;
}

int fc_ttl(fc_txn *t, const void *key, size_t klen, uint64_t *ms_left)
{
    if (ms_left == NULL)
        return FC_EINVAL;
    fci_slice v;
    uint64_t expiry;
    int rc = counted_get(t, key, klen, &v, &expiry);
    if (rc == 0)
        *ms_left = expiry == 0 ? FC_TTL_FOREVER : expiry - t->now_ms;
    return rc;
}

int fc_get_copy(fc_txn *t, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen)
{
    fc_val v;
    int rc = fc_get(t, key, klen, &v);
    if (rc != 0)
        return rc;
    if (vlen != NULL)
        *vlen = v.size;
    if (v.size > cap || (buf == NULL && v.size > 0))
        return FC_ELIMIT;
    if (v.size > 0)
        memcpy(buf, v.data, v.size);
    return 0;
}
