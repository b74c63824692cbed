/*
 * read.c - read transactions and point lookups, in any process.
 *
 * Publication order (the writer, in write.c and reclaim.c):
 *   a new memtable is published in a new version before any entry goes into
 *   it, and the last sequence is published after its entries are inserted.
 * So a reader loads the current version V, then the last sequence S, then
 * checks that V is still current. If it is, every entry with sequence <= S
 * lives in V's memtables or tables; if not, it retries. The process's slot
 * pin (taken before the first transaction) is the oldest version any of
 * its transactions uses, so the writer keeps everything they can reach.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/proc.h"
#include "db/read.h"
#include "db/store.h"
#include "format/dbformat.h"

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

/* The first transaction of the process pins; later ones ride on that pin. */
static int pin_and_load(fc_store *s, uint64_t *off, uint64_t *snapshot)
{
    fci_reader_state *r = &s->rd;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (r->active == 0) {
        uint64_t pinned, poff;
        rc = fci_arena_pin_current(s->arena, &pinned, &poff);
        if (rc == 0)
            r->pinned = pinned;
    }
    if (rc == 0)
        rc = load_version(s, off, snapshot);
    if (rc == 0)
        r->active++;
    else if (r->active == 0)
        fci_arena_unpin(s->arena);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void unpin(fc_store *s)
{
    fci_reader_state *r = &s->rd;
    pthread_mutex_lock(&r->mu);
    if (--r->active == 0)
        fci_arena_unpin(s->arena);
    pthread_mutex_unlock(&r->mu);
}

static int attach_memtables(fc_store *s, fc_txn *t)
{
    char *base = fci_arena_base(s->arena);
    size_t size = fci_arena_size(s->arena);
    const fci_vrec *rec = t->view.rec;
    if (rec->mem_root != 0) {
        if (fci_memtable_attach(&t->mem, base, size, rec->mem_root) != 0)
            return FC_ECORRUPT;
        t->has_mem = 1;
    }
    if (rec->imm_root != 0) {
        if (fci_memtable_attach(&t->imm, base, size, rec->imm_root) != 0)
            return FC_ECORRUPT;
        t->has_imm = 1;
    }
    return 0;
}

int fc_txn_begin(fc_store *s, fc_txn **out)
{
    if (s == NULL || out == NULL)
        return FC_EINVAL;
    *out = NULL;
    if (s->pid != fci_getpid())
        return fci_store_fail(s, FC_EINVAL, NULL); /* fc_after_fork not called */
    fc_txn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return fci_store_fail(s, FC_ENOMEM, NULL);
    t->store = s;
    uint64_t off;
    int rc = pin_and_load(s, &off, &t->snapshot);
    if (rc != 0) {
        free(t);
        return fci_store_fail(s, rc, NULL);
    }
    rc = fci_vrec_open(fci_arena_base(s->arena), fci_arena_size(s->arena), off, &t->view);
    if (rc == 0)
        t->vseq = t->view.rec->vseq;
    if (rc == 0)
        rc = attach_memtables(s, t);
    if (rc != 0) {
        unpin(s);
        free(t);
        fci_err e;
        fci_err_set(&e, rc, "arena: version record at offset %llu is damaged",
                    (unsigned long long)off);
        return fci_store_fail(s, rc, &e);
    }
    fci_table_get_init(&t->res);
    *out = t;
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

/* An ended txn is kept, marked, among the last few ends instead of being
 * freed at once, so that a careless second use (double end, a get after
 * the end) meets the mark and gets FC_ECLOSED instead of freed memory. */
static void bury(fc_store *s, fc_txn *t)
{
    fci_reader_state *r = &s->rd;
    memset(t, 0, sizeof *t);
    t->ended = 1;
    pthread_mutex_lock(&r->mu);
    fc_txn *old = r->graves[r->next_grave];
    r->graves[r->next_grave] = t;
    r->next_grave = (r->next_grave + 1) % FCI_TXN_GRAVES;
    pthread_mutex_unlock(&r->mu);
    free(old);
}

void fci_reader_graves_free(fci_reader_state *r)
{
    for (int i = 0; i < FCI_TXN_GRAVES; i++) {
        free(r->graves[i]);
        r->graves[i] = NULL;
    }
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
    if (t->res_live)
        fci_table_get_done(t->res_table, &t->res);
    for (size_t i = 0; i < t->nheld; i++)
        fci_table_release_block(t->held[i].table, &t->held[i].ref);
    free(t->held);
    fci_table_get_free(NULL, &t->res);
    unpin(s);
    bury(s, t);
    return 0;
}

/* 0 found (value set), FC_ENOTFOUND deleted or absent in this table, 1 not
 * in this table at all (keep looking), or an error. */
static int table_lookup(fc_txn *t, uint64_t number, fci_slice ikey, fci_slice ukey,
                        fci_slice *value)
{
    fc_store *s = t->store;
    const fci_table *table;
    fci_err err;
    fci_err_clear(&err);
    int rc = fci_tcache_get(&s->tcache, s->arena, s->dir, number, &table, &err);
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
    if (fci_bytewise_compare(fci_ikey_user(t->res.key), ukey) != 0)
        return 1;
    if (t->res.type == FCI_TYPE_DELETION)
        return FC_ENOTFOUND;
    *value = t->res.value;
    return 0;
}

static int key_in_file(const fci_vrec_view *v, const fci_vrec_file *f, fci_slice ukey)
{
    return fci_bytewise_compare(ukey, fci_ikey_user(fci_vrec_smallest(v, f))) >= 0 &&
           fci_bytewise_compare(ukey, fci_ikey_user(fci_vrec_largest(v, f))) <= 0;
}

static int lookup_tables(fc_txn *t, fci_slice ikey, fci_slice ukey, fci_slice *value)
{
    const fci_vrec_view *v = &t->view;
    for (uint32_t i = 0; i < v->nfiles[0]; i++) {
        const fci_vrec_file *f = &v->level[0][i];
        if (!key_in_file(v, f, ukey))
            continue;
        int rc = table_lookup(t, f->number, ikey, ukey, value);
        if (rc != 1)
            return rc;
    }
    for (int level = 1; level < FCI_NUM_LEVELS; level++) {
        const fci_vrec_file *f = fci_vrec_find(v, level, ukey);
        if (f == NULL)
            continue;
        int rc = table_lookup(t, f->number, ikey, ukey, value);
        if (rc != 1)
            return rc;
    }
    return FC_ENOTFOUND;
}

/* The lookup key is built once and used for both memtables and every
 * table: the newest visible entry wins, in that order. */
static int lookup(fc_txn *t, fci_slice ukey, fci_slice *value)
{
    fci_lookup_key lk;
    int rc = fci_lookup_key_init(&lk, ukey, t->snapshot);
    if (rc != 0) {
        fci_lookup_key_free(&lk);
        return rc;
    }
    rc = FC_ENOTFOUND;
    if (t->has_mem)
        rc = fci_memtable_get_ikey(&t->mem, lk.ikey, value);
    if (rc == FC_ENOTFOUND && t->has_imm)
        rc = fci_memtable_get_ikey(&t->imm, lk.ikey, value);
    if (rc == FC_ENOTFOUND)
        rc = lookup_tables(t, lk.ikey, ukey, value);
    else if (rc == FCI_MEMTABLE_DELETED)
        rc = FC_ENOTFOUND;
    fci_lookup_key_free(&lk);
    return rc;
}

int fc_get(fc_txn *t, const void *key, size_t klen, fc_val *value)
{
    if (t == NULL || value == NULL || (key == NULL && klen > 0))
        return FC_EINVAL;
    if (t->ended)
        return FC_ECLOSED;
    if (klen > FC_MAX_KEY_SIZE)
        return FC_ETOOBIG;
    fci_slice v;
    int rc = lookup(t, fci_slice_make(key, klen), &v);
    if (rc == 0) {
        value->data = v.data;
        value->size = v.size;
    }
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
