/*
 * condcall.c - the caller's side of add, replace, incr and cas: checks,
 * then the decision under the write lock, in this process (the writer's,
 * or a leader's through the write queue: condwrite.c decides).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/ttl.h"
#include "db/write/condwrite.h"
#include "db/write/lane.h"
#include "db/write/write.h"
#include "shm/counters.h"
#include "shm/wqueue.h"

/* In the writer process: room first (it may wait, so before the write
 * lock), then decide and apply under the lock, so that no leader in
 * another process changes the key in between. */
static int run_here(fc_store *s, const fci_cond_args *a, int64_t *out)
{
    fci_writer *w = s->w;
    fci_cond_ctx c;
    fci_cond_ctx_init(&c, s);
    pthread_mutex_lock(&w->mu);
    int rc = fci_make_room(s);
    if (rc == 0 && (rc = fci_lane_enter(s)) == 0) {
        fci_batch_clear(&w->scratch);
        rc = fci_cond_decide(&c, a, &w->scratch, out);
        fci_cond_ctx_end(&c);
        if (rc == 0)
            rc = fci_lane_commit_locked(s, &w->scratch, (s->opts.flags & FC_SYNC) != 0);
        if (s->lane != NULL)
            s->lane->rec_state = FCI_LANE_IDLE; /* no tickets to answer */
        fci_lane_leave(s);
    }
    fci_cond_ctx_end(&c);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* From another process: one queue entry, the writer's verdict back. */
static int run_queued(fc_store *s, const fci_cond_args *a, int64_t *out)
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
static int run_op(fc_store *s, const fci_cond_args *a, int64_t *out)
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

/* Counted by outcome in the calling process (shm/counters.h). */
static int run(fc_store *s, const fci_cond_args *a, int64_t *out)
{
    int rc = run_op(s, a, out);
    int outcome = rc == 0 ? FC_OUTCOME_APPLIED
                  : rc == FC_EEXIST || rc == FC_ENOTFOUND || rc == FC_EMISMATCH ||
                            rc == FC_ENAN || rc == FC_EOVERFLOW
                      ? FC_OUTCOME_REFUSED
                      : FC_OUTCOME_FAILED;
    if (s != NULL && a->op != FCI_OP_FILL) /* fills have figures of their own */
        fci_counters_add(s->arena, FCI_C_ATOMIC + (a->op - 1) * FC_OUTCOMES + outcome, 1);
    return rc;
}

int fc_add(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
           uint64_t ttl_ms)
{
    fci_cond_args a = { FCI_OP_ADD, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(NULL, 0), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_replace(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
               uint64_t ttl_ms)
{
    fci_cond_args a = { FCI_OP_REPLACE, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(NULL, 0), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_cas(fc_store *s, const void *key, size_t klen, const void *expected, size_t elen,
           const void *val, size_t vlen, uint64_t ttl_ms)
{
    fci_cond_args a = { FCI_OP_CAS, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(expected, elen), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

/* A put that stands only if the key was not invalidated or cleared since
 * fc_fill_begin took the token (decided in condwrite.c). */
int fc_fill_put(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
                uint64_t ttl_ms, const fc_fill_token *fill)
{
    if (fill == NULL)
        return fci_store_fail(s, FC_EINVAL, NULL);
    fci_cond_args a = { FCI_OP_FILL, fci_slice_make(key, klen), fci_slice_make(val, vlen),
                  fci_slice_make(fill->token, sizeof fill->token), 0, 0, ttl_ms };
    return run(s, &a, NULL);
}

int fc_incr(fc_store *s, const void *key, size_t klen, int64_t delta, int64_t initial,
            uint64_t ttl_ms, int64_t *new_value)
{
    fci_cond_args a = { FCI_OP_INCR, fci_slice_make(key, klen), fci_slice_make(NULL, 0),
                  fci_slice_make(NULL, 0), delta, initial, ttl_ms };
    return run(s, &a, new_value);
}
