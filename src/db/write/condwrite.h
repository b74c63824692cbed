/*
 * condwrite.h - add, replace, incr and cas: conditional writes the writer
 * decides while it holds its write serialization (see forkcache.h).
 *
 * From another process an operation is a write queue entry whose flags
 * carry its code (FCI_WQ_OP) and whose payload is an fci_cond_req, then
 * the key and the operands; the writer answers with an fci_cond_reply
 * written over the start of that payload.
 */
#ifndef FC_DB_ATOMIC_H
#define FC_DB_ATOMIC_H

#include <stdint.h>

#include "db/core/store.h"
#include "format/write_batch.h"

enum { FCI_OP_ADD = 1, FCI_OP_REPLACE = 2, FCI_OP_INCR = 3, FCI_OP_CAS = 4,
       FCI_OP_FILL = 5 /* a fill's put: "expected" is its 16-byte token (core/follow.h) */ };

/* A group of queued writes larger than this is written before an atomic
 * operation is decided, to keep the scan of the pending group short. */
#define FCI_COND_GROUP_SCAN_MAX (64u * 1024u)

/* The request, in a queue payload (host order: same machine). */
typedef struct fci_cond_req {
    uint32_t op;         /* FCI_OP_* (also in the entry's flags) */
    uint32_t klen;       /* key bytes, right after this header */
    uint32_t vlen;       /* value (add, replace, cas's new value), after the key */
    uint32_t elen;       /* cas's expected value, after the value */
    int64_t delta;       /* incr */
    int64_t initial;     /* incr: the value of an absent key */
    uint64_t ttl_ms;     /* time to live of what is written (0 = never expires) */
} fci_cond_req;

typedef struct fci_cond_reply {
    int64_t value;       /* incr's new value */
} fci_cond_reply;

_Static_assert(sizeof(fci_cond_req) == 40, "request header layout");
_Static_assert(sizeof(fci_cond_reply) <= sizeof(fci_cond_req), "reply fits the header");

/* What the write lock's holder keeps while it decides the operations of
 * one group: a transaction on the store, opened at first use, after room
 * was made for the group and the lock taken; the lock stays held until
 * the group is written, so no other write can slip between a decision and
 * its put. */
typedef struct fci_cond_ctx {
    fc_store *store;
    fc_txn *txn;
    int clock_read;     /* now_ms is set */
    uint64_t now_ms;    /* the expiry clock, read at the group's first decision */
} fci_cond_ctx;

/* One operation, as the caller gave it. */
typedef struct fci_cond_args {
    unsigned op;
    fci_slice key, val, expected;
    int64_t delta, initial;
    uint64_t ttl_ms;
} fci_cond_args;

/* Write lock held, room made: decides a, appending its put to group on 0;
 * *out is incr's new value. */
int fci_cond_decide(fci_cond_ctx *c, const fci_cond_args *a, fci_write_batch *group,
                    int64_t *out);

void fci_cond_ctx_init(fci_cond_ctx *c, fc_store *s);
void fci_cond_ctx_end(fci_cond_ctx *c);

/* The write lock's holder: decides the queued request in payload (len
 * bytes), appends its put to group and sets *reply. 0 or the operation's
 * FC_E* verdict (nothing appended then). The payload is left as it was, so
 * a group can be decided again after its leader died (lane.c). */
int fci_cond_apply_queued(fci_cond_ctx *c, const char *payload, uint32_t len,
                          fci_write_batch *group, int64_t *reply);

/* Counter text <-> int64 (the encoding documented at fc_incr). */
int fci_counter_parse(const char *p, size_t n, int64_t *out);
size_t fci_counter_format(int64_t v, char *buf);   /* buf >= 21 bytes */

#endif
