/*
 * condwrite.c - add, replace, incr and cas, decided by the writer.
 *
 * The writer decides an operation while holding mu, against the newest
 * state: a transaction opened under mu (it sees every applied write) plus
 * the pending group of queued writes not yet applied (bg/drain.c gathers a
 * group, and an operation in it must see the entries before it). The
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
    c->room_made = 0;
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

typedef struct op_args {
    unsigned op;
    fci_slice key, val, expected;
    int64_t delta, initial;
    uint64_t ttl_ms;
} op_args;

/* Appends key -> val, framed with expiry in a ttl store. */
static int op_put(fci_cond_ctx *c, fci_write_batch *group, const op_args *a, fci_slice val,
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

static int decide_incr(fci_cond_ctx *c, const op_args *a, fci_write_batch *group, int64_t *out)
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
static int decide_fill(fci_cond_ctx *c, const op_args *a, fci_write_batch *group)
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

/* mu held: the verdict of one operation, its put appended on 0. The
 * first decision of a group makes room for it first (see fci_cond_ctx). */
static int decide(fci_cond_ctx *c, const op_args *a, fci_write_batch *group, int64_t *out)
{
    if (!c->room_made) {
        int rc = fci_make_room(c->store);
        if (rc != 0)
            return rc;
        c->room_made = 1;
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

int fci_cond_apply_queued(fci_cond_ctx *c, char *payload, uint32_t len,
                            fci_write_batch *group)
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
    op_args a = { r.op, fci_slice_make(p, r.klen), fci_slice_make(p + r.klen, r.vlen),
                  fci_slice_make(p + r.klen + r.vlen, r.elen), r.delta, r.initial, r.ttl_ms };
    fci_cond_reply reply = { 0 };
    int rc = decide(c, &a, group, &reply.value);
    /* the producer reads the reply once the entry is DONE (release there) */
    memcpy(payload, &reply, sizeof reply);
    return rc;
}

/* ---- the caller's side ------------------------------------------------------ */

/* In the writer process: decide and apply under mu, like a single put. */
static int run_here(fc_store *s, const op_args *a, int64_t *out)
{
    fci_writer *w = s->w;
    fci_cond_ctx c;
    fci_cond_ctx_init(&c, s);
    pthread_mutex_lock(&w->mu);
    fci_batch_clear(&w->scratch);
    int rc = decide(&c, a, &w->scratch, out);
    fci_cond_ctx_end(&c);
    if (rc == 0)
        rc = fci_write_batch_room_made(s, &w->scratch, (s->opts.flags & FC_SYNC) != 0);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* From another process: one queue entry, the writer's verdict back. */
static int run_queued(fc_store *s, const op_args *a, int64_t *out)
{
    fci_cond_req r = { a->op, (uint32_t)a->key.size, (uint32_t)a->val.size,
                         (uint32_t)a->expected.size, a->delta, a->initial, a->ttl_ms };
    size_t len = sizeof r + a->key.size + a->val.size + a->expected.size;
    char *buf = malloc(len);
    if (buf == NULL)
        return fci_store_fail(s, FC_ENOMEM, NULL);
    memcpy(buf, &r, sizeof r);
    char *p = buf + sizeof r;
    memcpy(p, a->key.data, a->key.size);
    if (a->val.size > 0)
        memcpy(p + a->key.size, a->val.data, a->val.size);
    if (a->expected.size > 0)
        memcpy(p + a->key.size + a->val.size, a->expected.data, a->expected.size);
    unsigned flags = a->op << FCI_WQ_OP_SHIFT | ((s->opts.flags & FC_SYNC) ? FCI_WQ_SYNC : 0);
    fci_cond_reply reply = { 0 };
    int result = 0;
    int rc = fci_submit_call(s, buf, len, flags, &result, &reply, sizeof reply);
    free(buf);
    if (rc != 0)
        return rc;
    *out = reply.value;
    return result;
}

static const char *op_name(unsigned op)
{
    static const char *const names[] = { "?", "fc_add", "fc_replace", "fc_incr", "fc_cas",
                                          "fc_fill_put" };
    return op < sizeof names / sizeof names[0] ? names[op] : "?";
}

/* Routes one operation and words its refusal for fc_errmsg. */
static int run(fc_store *s, const op_args *a, int64_t *out)
{
    int route = fci_write_route(s);
    if (route < 0)
        return route;
    int rc = fci_check_sizes(a->key.data, a->key.size, a->val.data, a->val.size);
    if (rc == 0)
        rc = fci_check_sizes(NULL, 0, a->expected.data, a->expected.size);
    if (rc == 0 && s->opts.ttl_framing && a->val.size > FC_MAX_VALUE_SIZE - FC_TTL_FRAME_SIZE)
        rc = FC_ETOOBIG;
    if (rc != 0)
        return fci_store_fail(s, rc, NULL);
    if (a->ttl_ms > 0 && !s->opts.ttl_framing) {
        fci_err e;
        fci_err_set(&e, FC_EUNSUPPORTED, "%s: a time to live needs a store created with "
                    "ttl_framing (%s was not)", op_name(a->op), s->dir);
        return fci_store_fail(s, FC_EUNSUPPORTED, &e);
    }
    int64_t value = 0;
    rc = route == FCI_WRITE_HERE ? run_here(s, a, &value) : run_queued(s, a, &value);
    if (rc == 0 && out != NULL)
        *out = value;
    if (rc == FC_EEXIST || rc == FC_ENOTFOUND || rc == FC_EMISMATCH || rc == FC_ENAN ||
        rc == FC_EOVERFLOW) {
        fci_err e;
        fci_err_set(&e, rc, "%s: %s (key of %zu bytes)", op_name(a->op), fc_strerror(rc),
                    a->key.size);
        return fci_store_fail(s, rc, &e);
    }
    return rc;
}

int fc_add(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
           uint64_t ttl_ms)
{
    op_args a = { FCI_OP_ADD, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(NULL, 0), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_replace(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t ttl_ms)
{
    op_args a = { FCI_OP_REPLACE, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(NULL, 0), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_cas(fc_store *s, const void *key, size_t klen, const void *expected, size_t elen,
           const void *val, size_t vlen, uint64_t ttl_ms)
{
    op_args a = { FCI_OP_CAS, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(expected, elen), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_fill_put(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
                uint64_t ttl_ms, const fc_fill_token *fill)
{
    if (fill == NULL)
        return fci_store_fail(s, FC_EINVAL, NULL);
    op_args a = { FCI_OP_FILL, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(fill->token, sizeof fill->token), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_incr(fc_store *s, const void *key, size_t klen, int64_t delta, int64_t initial,
            uint64_t ttl_ms, int64_t *new_value)
{
    op_args a = { FCI_OP_INCR, fci_slice_make(key, klen), fci_slice_make(NULL, 0),
                  fci_slice_make(NULL, 0), delta, initial, ttl_ms };
    return run(s, &a, new_value);
}
