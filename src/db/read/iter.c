/*
 * iter.c - fc_iter, range scans over a transaction's snapshot.
 *
 * Under it sits one merger (iiter.c) over the active memtable, the
 * immutable one, every L0 table and one iterator per level L1..L6, all
 * taken from the version the transaction pinned. This file does what
 * LevelDB's DBIter does: of each user key it shows only the newest entry
 * with sequence <= the snapshot, and hides the key when that entry is a
 * tombstone.
 *
 * Walking forwards the merger sits on the entry shown, so key and value
 * point straight into it. Walking backwards the merger has to step one
 * entry past the one shown (to learn that the user key changed), so the
 * key is copied, and the value too unless it lives in memory the
 * transaction keeps (the arena, a table's mapping): zero-copy wherever the
 * block is uncompressed.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/read/iter.h"
#include "db/read/read.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "format/dbformat.h"
#include "util/buf.h"

enum { FWD, REV };

struct fc_iter {
    fc_txn *txn;
    fci_iiter *in;          /* the merger over every source */
    uint64_t snapshot;
    int dir;
    int valid;
    int status;             /* sticky first error */
    fci_buf saved_key;      /* REV: key shown; FWD: key being skipped */
    fci_buf saved_value;    /* REV: a value copied out of a transient block */
    fci_slice value;        /* REV: the value shown */
};

static const char empty[1] = "";

/* Collects the sources of the pinned version, newest first. */
static int build_sources(fc_txn *t, fci_iiter **out)
{
    fc_store *s = t->store;
    const fci_vrec_view *v = &t->view;
    size_t cap = 2 + v->nfiles[0] + FCI_NUM_LEVELS, n = 0;
    fci_iiter **kids = calloc(cap, sizeof *kids);
    if (kids == NULL)
        return fci_store_fail(s, FC_ENOMEM, NULL);
    int rc = 0;
    fci_err err;
    fci_err_clear(&err);
    if (t->has_mem && (rc = fci_iiter_memtable(&t->mem, &kids[n])) == 0)
        n++;
    if (rc == 0 && t->has_imm && (rc = fci_iiter_memtable(&t->imm, &kids[n])) == 0)
        n++;
    for (uint32_t i = 0; rc == 0 && i < v->nfiles[0]; i++)
        if ((rc = fci_iiter_table(s, v->level[0][i].number, &kids[n], &err)) == 0)
            n++;
    for (int level = 1; rc == 0 && level < FCI_NUM_LEVELS; level++)
        if (v->nfiles[level] > 0 && (rc = fci_iiter_level(s, v, level, &kids[n])) == 0)
            n++;
    if (rc == 0)
        rc = fci_iiter_merge(kids, n, out);
    else
        for (size_t i = 0; i < n; i++)
            fci_iiter_free(kids[i]);
    free(kids);
    return rc ? fci_store_fail(s, rc, &err) : 0;
}

int fc_iter_new(fc_txn *txn, fc_iter **out)
{
    if (out != NULL)
        *out = NULL;
    if (txn == NULL || out == NULL)
        return FC_EINVAL;
    if (txn->ended)
        return FC_ECLOSED;
    fc_iter *it = calloc(1, sizeof *it);
    if (it == NULL)
        return fci_store_fail(txn->store, FC_ENOMEM, NULL);
    int rc = build_sources(txn, &it->in);
    if (rc != 0) {
        free(it);
        return rc;
    }
    it->txn = txn;
    it->snapshot = txn->snapshot;
    fci_buf_init(&it->saved_key);
    fci_buf_init(&it->saved_value);
    txn->iters++;
    *out = it;
    return 0;
}

void fc_iter_free(fc_iter *it)
{
    if (it == NULL)
        return;
    fci_iiter_free(it->in);
    fci_buf_free(&it->saved_key);
    fci_buf_free(&it->saved_value);
    if (it->txn->iters > 0)
        it->txn->iters--;
    free(it);
}

/* Copies (or, when `keep` allows, borrows) the value to show in REV. */
static int save_value(fc_iter *it, fci_slice v, int keep)
{
    if (keep) {
        it->value = v;
        return 0;
    }
    fci_buf_clear(&it->saved_value);
    if (fci_buf_append(&it->saved_value, v.data, v.size) != 0)
        return FC_ENOMEM;
    it->value = fci_buf_slice(&it->saved_value);
    return 0;
}

static int save_key(fc_iter *it, fci_slice k)
{
    fci_buf_clear(&it->saved_key);
    return fci_buf_append(&it->saved_key, k.data, k.size) == 0 ? 0 : FC_ENOMEM;
}

/* Records the first failure; the iterator is then invalid for good. */
static int fail(fc_iter *it, int rc, const fci_err *detail)
{
    if (it->status == 0)
        it->status = rc;
    it->valid = 0;
    return fci_store_fail(it->txn->store, rc, detail);
}

/* What a move returns: 0 on an entry, FC_ENOTFOUND past either end, or the
 * error of a source that met damage (which may have hidden entries). */
static int settle(fc_iter *it)
{
    fci_err err;
    fci_err_clear(&err);
    int rc = it->in->ops->status(it->in, &err);
    if (rc != 0)
        return fail(it, rc, &err);
    return it->valid ? 0 : FC_ENOTFOUND;
}

static int parse(fc_iter *it, fci_parsed_ikey *pk)
{
    fci_slice k = it->in->ops->key(it->in);
    if (fci_ikey_parse(k, pk) == 0)
        return 0;
    fci_err err;
    fci_err_set(&err, FC_ECORRUPT, "iterator: malformed internal key (%zu bytes)", k.size);
    return fail(it, FC_ECORRUPT, &err);
}

/* Whether the visible entry under the merger is hidden: a tombstone, an
 * entry a clear covers (core/follow.h), or in a ttl store a value whose expiry has passed (it hides older versions
 * of its key just as a tombstone does). 1 hidden, 0 shown, or an error. */
static int hidden(fc_iter *it, const fci_parsed_ikey *pk)
{
    if (pk->type == FCI_TYPE_DELETION)
        return 1;
    if (it->txn->clr.n > 0 && fci_clear_hides(&it->txn->clr, pk->user_key, pk->sequence))
        return 1;
    if (!it->txn->ttl)
        return 0;
    fci_slice v = it->in->ops->value(it->in);
    int rc = fci_ttl_unframe(&v, it->txn->now_ms);
    if (rc >= 0)
        return !rc;
    fci_err err;
    fci_err_set(&err, FC_ECORRUPT, "iterator: a %zu-byte value is shorter than its expiry frame",
                v.size);
    return fail(it, FC_ECORRUPT, &err);
}

/* The value of the entry under the merger, without its expiry frame. */
static fci_slice shown_value(const fc_iter *it)
{
    fci_slice v = it->in->ops->value(it->in);
    if (it->txn->ttl && v.size >= FC_TTL_FRAME_SIZE) {
        v.data += FC_TTL_FRAME_SIZE;
        v.size -= FC_TTL_FRAME_SIZE;
    }
    return v;
}

/* Forward: from the merger's position, the first entry that is visible,
 * not a tombstone, and (when skipping) of a user key after saved_key. */
static int find_next_user_entry(fc_iter *it, int skipping)
{
    fci_iiter *in = it->in;
    while (in->ops->valid(in)) {
        fci_parsed_ikey pk;
        int rc = parse(it, &pk);
        if (rc != 0)
            return rc;
        if (pk.sequence <= it->snapshot) {
            int h = hidden(it, &pk);
            if (h < 0)
                return h;
            if (h) {
                if ((rc = save_key(it, pk.user_key)) != 0)
                    return fail(it, rc, NULL);
                skipping = 1;
            } else if (!skipping ||
                       fci_bytewise_compare(pk.user_key, fci_buf_slice(&it->saved_key)) > 0) {
                it->valid = 1;
                fci_buf_clear(&it->saved_key);
                return 0;
            }
        }
        in->ops->next(in);
    }
    fci_buf_clear(&it->saved_key);
    it->valid = 0;
    return 0;
}

/* Backward: walks back over the entries of the previous user key, keeping
 * the newest visible one (the last met going back), until an entry of an
 * earlier user key shows that key is complete. */
static int find_prev_user_entry(fc_iter *it)
{
    fci_iiter *in = it->in;
    int type = FCI_TYPE_DELETION;
    while (in->ops->valid(in)) {
        fci_parsed_ikey pk;
        int rc = parse(it, &pk);
        if (rc != 0)
            return rc;
        if (pk.sequence <= it->snapshot) {
            if (type != FCI_TYPE_DELETION &&
                fci_bytewise_compare(pk.user_key, fci_buf_slice(&it->saved_key)) < 0)
                break;
            int h = hidden(it, &pk);
            if (h < 0)
                return h;
            type = h ? FCI_TYPE_DELETION : FCI_TYPE_VALUE;
            if (type == FCI_TYPE_DELETION) {
                fci_buf_clear(&it->saved_key);
                it->value = fci_slice_make(empty, 0);
            } else {
                rc = save_key(it, pk.user_key);
                if (rc == 0)
                    rc = save_value(it, shown_value(it), in->ops->value_stable(in));
                if (rc != 0)
                    return fail(it, rc, NULL);
            }
        }
        in->ops->prev(in);
    }
    if (type == FCI_TYPE_DELETION) {
        it->valid = 0;
        fci_buf_clear(&it->saved_key);
        it->dir = FWD;
    } else {
        it->valid = 1;
    }
    return 0;
}

static int usable(const fc_iter *it)
{
    if (it == NULL)
        return FC_EINVAL;
    return it->status;
}

int fc_iter_first(fc_iter *it)
{
    int rc = usable(it);
    if (rc != 0)
        return rc;
    it->dir = FWD;
    fci_buf_clear(&it->saved_key);
    it->in->ops->first(it->in);
    if ((rc = find_next_user_entry(it, 0)) != 0)
        return rc;
    return settle(it);
}

int fc_iter_last(fc_iter *it)
{
    int rc = usable(it);
    if (rc != 0)
        return rc;
    it->dir = REV;
    fci_buf_clear(&it->saved_key);
    it->in->ops->last(it->in);
    if ((rc = find_prev_user_entry(it)) != 0)
        return rc;
    return settle(it);
}

int fc_iter_seek(fc_iter *it, const void *key, size_t klen)
{
    int rc = usable(it);
    if (rc != 0)
        return rc;
    if (key == NULL && klen > 0)
        return FC_EINVAL;
    it->dir = FWD;
    fci_buf_clear(&it->saved_key);
    if (fci_ikey_append(&it->saved_key, fci_slice_make(key ? key : empty, klen), it->snapshot,
                        FCI_TYPE_FOR_SEEK) != 0)
        return fail(it, FC_ENOMEM, NULL);
    it->in->ops->seek(it->in, fci_buf_slice(&it->saved_key));
    if ((rc = find_next_user_entry(it, 0)) != 0)
        return rc;
    return settle(it);
}

int fc_iter_next(fc_iter *it)
{
    int rc = usable(it);
    if (rc != 0)
        return rc;
    if (!it->valid)
        return FC_EINVAL;
    fci_iiter *in = it->in;
    if (it->dir == REV) {
        /* The merger stands just before the entries of key(): step into
         * them; saved_key already names the key to skip past. */
        it->dir = FWD;
        if (!in->ops->valid(in))
            in->ops->first(in);
        else
            in->ops->next(in);
    } else {
        fci_parsed_ikey pk;
        if ((rc = parse(it, &pk)) != 0)
            return rc;
        if ((rc = save_key(it, pk.user_key)) != 0)
            return fail(it, rc, NULL);
        in->ops->next(in);
    }
    if ((rc = find_next_user_entry(it, 1)) != 0)
        return rc;
    return settle(it);
}

int fc_iter_prev(fc_iter *it)
{
    int rc = usable(it);
    if (rc != 0)
        return rc;
    if (!it->valid)
        return FC_EINVAL;
    fci_iiter *in = it->in;
    if (it->dir == FWD) {
        /* The merger stands on the entry shown: walk back until the user
         * key changes, then scan backwards as usual. */
        fci_parsed_ikey pk;
        if ((rc = parse(it, &pk)) != 0)
            return rc;
        if ((rc = save_key(it, pk.user_key)) != 0)
            return fail(it, rc, NULL);
        for (;;) {
            in->ops->prev(in);
            if (!in->ops->valid(in)) {
                it->valid = 0;
                fci_buf_clear(&it->saved_key);
                return settle(it);
            }
            if ((rc = parse(it, &pk)) != 0)
                return rc;
            if (fci_bytewise_compare(pk.user_key, fci_buf_slice(&it->saved_key)) < 0)
                break;
        }
        it->dir = REV;
    }
    if ((rc = find_prev_user_entry(it)) != 0)
        return rc;
    return settle(it);
}

int fc_iter_valid(const fc_iter *it)
{
    return it != NULL && it->status == 0 && it->valid;
}

static fc_val to_val(fci_slice s)
{
    fc_val v = { s.data ? s.data : empty, s.size };
    return v;
}

fc_val fc_iter_key(const fc_iter *it)
{
    if (!fc_iter_valid(it))
        return to_val(fci_slice_make(NULL, 0));
    if (it->dir == REV)
        return to_val(fci_buf_slice(&it->saved_key));
    return to_val(fci_ikey_user(it->in->ops->key(it->in)));
}

fc_val fc_iter_value(const fc_iter *it)
{
    if (!fc_iter_valid(it))
        return to_val(fci_slice_make(NULL, 0));
    if (it->dir == REV)
        return to_val(it->value);
    return to_val(shown_value(it));
}

int fc_iter_status(const fc_iter *it)
{
    if (it == NULL)
        return FC_EINVAL;
    return it->status;
}
