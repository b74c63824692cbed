/*
 * condwrite.c - add, replace, incr and cas, decided by the write lock's
 * holder (condcall.c is the caller's side).
 *
 * The holder decides an operation against the newest state: a transaction
 * opened under the lock (it sees every applied write) plus the pending
 * group of queued writes not yet applied (write/lead.c gathers a group, and
 * an operation in it must see the entries before it). The
 * outcome is appended as an ordinary put, so the WAL and tables keep
 * LevelDB's format.
 *
 * In a ttl_framing store (db/ttl.h) every value carries its expiry frame:
 * the current value is read without it (an expired one is absent, also in
 * the pending group) and every put is framed. add, replace and cas give
 * what they write the caller's time to live; incr gives it to a counter it
 * creates, and keeps an existing counter's expiry (as APCu's apcu_inc).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/write/condwrite.h"
#include "db/core/follow.h"
#include "db/core/ttl.h"
#include "format/dbformat.h"
#include "shm/wqueue.h"
#include "db/write/write.h"
#include "db/write/lane.h"
#include "db/read/read.h"

/* ---- the counter encoding ---------------------------------------------- */

int fci_counter_parse(const char *p, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = n > 0 && p[0] == '-';
    i += (size_t)neg;
    if (i == n)
        return FC_ENAN;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return FC_ENAN;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (limit - d) / 10)
            return FC_ENAN;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

size_t fci_counter_format(int64_t v, char *buf)
{
    char tmp[21];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    return len;
}

/* ---- reading the current value ----------------------------------------- */

void fci_cond_ctx_init(fci_cond_ctx *c, fc_store *s)
{
    c->store = s;
    c->txn = NULL;
    c->clock_read = 0;
    c->now_ms = 0;
}

void fci_cond_ctx_end(fci_cond_ctx *c)
{
    if (c->txn != NULL)
        fc_txn_end(c->txn);
    c->txn = NULL;
}

/* The last record of key in the pending group: 1 with *val (a put), 2 (a
 * delete), 0 (not in the group). The group was built by the writer from
 * validated batches, so a parse error cannot happen; it reads as absent. */
static int group_lookup(const fci_write_batch *group, fci_slice key, fci_slice *val)
{
    fci_batch_iter it;
    int found = 0, type;
    fci_slice k, v;
    if (fci_batch_count(group) == 0 || fci_batch_iter_init(&it, fci_batch_contents(group), NULL))
        return 0;
    while (fci_batch_iter_next(&it, &type, &k, &v, NULL) == 1) {
        if (k.size == key.size && memcmp(k.data, key.data, k.size) == 0) {
            found = type == FCI_TYPE_VALUE ? 1 : 2;
            *val = v;
        }
    }
    return found;
}

/* A value of the pending group as a reader would see it: unframed in a
 * ttl store, absent once expired. */
static int group_value(fci_cond_ctx *c, fci_slice *val, uint64_t *expiry)
{
    if (!c->store->opts.ttl_framing)
        return 0;
    *expiry = fci_ttl_value_expiry(*val);
    int live = fci_ttl_unframe(val, c->now_ms);
    return live == 1 ? 0 : live == 0 ? FC_ENOTFOUND : FC_ECORRUPT;
}

/* mu held. 0 with *val and its *expiry (0 = never), FC_ENOTFOUND, or a
 * read error. *val stays valid until the group grows or the context ends. */
static int current_value(fci_cond_ctx *c, const fci_write_batch *group, fci_slice key,
                         fci_slice *val, uint64_t *expiry)
{
    *expiry = 0;
    int g = group_lookup(group, key, val);
    if (g != 0)
        return g == 1 ? group_value(c, val, expiry) : FC_ENOTFOUND;
    if (c->txn == NULL) {
        int rc = fc_txn_begin(c->store, &c->txn);
        if (rc != 0)
            return rc;
    }
    return fci_get_live(c->txn, key.data, key.size, val, expiry);
}

/* ---- deciding ------------------------------------------------------------ */

/* Appends key -> val, framed with expiry in a ttl store. */
static int op_put(fci_cond_ctx *c, fci_write_batch *group, const fci_cond_args *a, fci_slice val,
                  uint64_t expiry)
{
    if (!c->store->opts.ttl_framing)
        return fci_batch_put(group, a->key, val);
    char small[64];
    char *buf = fci_ttl_frame(expiry, val, small, sizeof small);
    if (buf == NULL)
        return FC_ENOMEM;
    int rc = fci_batch_put(group, a->key, fci_slice_make(buf, FC_TTL_FRAME_SIZE + val.size));
    if (buf != small)
        free(buf);
    return rc;
}

static int decide_incr(fci_cond_ctx *c, const fci_cond_args *a, fci_write_batch *group, int64_t *out)
{
    fci_slice cur;
    int64_t v = a->initial;
    uint64_t expiry;
    int rc = current_value(c, group, a->key, &cur, &expiry);
    if (rc == 0) {
        rc = fci_counter_parse(cur.data, cur.size, &v);
    } else if (rc == FC_ENOTFOUND) {
        expiry = fci_ttl_expiry(c->now_ms, a->ttl_ms); /* a new counter */
        rc = 0;
    }
    if (rc != 0)
        return rc;
    if (__builtin_add_overflow(v, a->delta, out))
        return FC_EOVERFLOW;
    char text[24];
    return op_put(c, group, a, fci_slice_make(text, fci_counter_format(*out, text)), expiry);
}

/* A fill's put stands only if no clear and no invalidation of its key's
 * bucket came since its token was taken (core/follow.h). */
static int decide_fill(fci_cond_ctx *c, const fci_cond_args *a, fci_write_batch *group)
{
    uint64_t tok[2];
    if (a->expected.size != sizeof tok)
        return FC_EINVAL;
    memcpy(tok, a->expected.data, sizeof tok);
    fci_follow_shared *f = fci_follow_of(c->store);
    int rc = fci_fill_check(c->store, a->key, tok);
    if (f != NULL) /* relaxed: figures */
        atomic_fetch_add_explicit(rc == 0 ? &f->fills : &f->fills_stale, 1, memory_order_relaxed);
    return rc != 0 ? rc : op_put(c, group, a, a->val, fci_ttl_expiry(c->now_ms, a->ttl_ms));
}

/* Write lock held, room made: the verdict of one operation, its put
 * appended on 0. The expiry clock is read once per group. */
int fci_cond_decide(fci_cond_ctx *c, const fci_cond_args *a, fci_write_batch *group, int64_t *out)
{
    if (!c->clock_read) {
        c->clock_read = 1;
        c->now_ms = fci_ttl_now(c->store);
    }
    if (a->op == FCI_OP_INCR)
        return decide_incr(c, a, group, out);
    if (a->op == FCI_OP_FILL)
        return decide_fill(c, a, group);
    fci_slice cur;
    uint64_t expiry;
    int rc = current_value(c, group, a->key, &cur, &expiry);
    if (rc != 0 && rc != FC_ENOTFOUND)
        return rc;
    switch (a->op) {
    case FCI_OP_ADD:
        if (rc == 0)
            return FC_EEXIST;
        break;
    case FCI_OP_REPLACE:
        if (rc != 0)
            return rc;
        break;
    case FCI_OP_CAS:
        if (rc != 0)
            return rc;
        if (cur.size != a->expected.size ||
            (cur.size > 0 && memcmp(cur.data, a->expected.data, cur.size) != 0))
            return FC_EMISMATCH;
        break;
    default:
        return FC_EINVAL;
    }
    return op_put(c, group, a, a->val, fci_ttl_expiry(c->now_ms, a->ttl_ms));
}

/* ---- the queued form ------------------------------------------------------ */

int fci_cond_apply_queued(fci_cond_ctx *c, const char *payload, uint32_t len,
                          fci_write_batch *group, int64_t *reply)
{
    fci_cond_req r;
    if (len < sizeof r)
        return FC_ECORRUPT;
    memcpy(&r, payload, sizeof r);
    uint64_t need = sizeof r + (uint64_t)r.klen + r.vlen + r.elen;
    if (need > len || r.klen > FC_MAX_KEY_SIZE || r.vlen > FC_MAX_VALUE_SIZE ||
        r.elen > FC_MAX_VALUE_SIZE)
        return FC_ECORRUPT;
    const char *p = payload + sizeof r;
    fci_cond_args a = { r.op, fci_slice_make(p, r.klen), fci_slice_make(p + r.klen, r.vlen),
                  fci_slice_make(p + r.klen + r.vlen, r.elen), r.delta, r.initial, r.ttl_ms };
    *reply = 0;
    return fci_cond_decide(c, &a, group, reply);
}

/* ---- the caller's side ------------------------------------------------------ */
