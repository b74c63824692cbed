/*
 * follow.h - the clear/follow block in the arena: prefix clears (fc_clear)
 * as every reader sees them, and the state of the writer's link to Redis
 * (db/bg/follow.c) that reads and fills depend on.
 *
 * A clear of prefix P at sequence C means: every entry whose key starts
 * with P and whose sequence is < C reads as absent (and hides older
 * versions of its key, as a deletion does). The writer picks C = its last
 * sequence + 1, so every write acknowledged before the clear is gone and
 * every later write is not. Nothing is rewritten: the cost of a clear is
 * one record, whatever the size of the store. A transaction copies the
 * records' sequences when it begins, so all its reads agree on one state
 * of every clear: a clear is never half visible.
 *
 * A record of a followed prefix also goes dark while the link is down:
 * when link_ok_until (CLOCK_MONOTONIC ms) has passed, a transaction reads
 * it as cleared at "infinity", i.e. every key under it is a miss.
 */
#ifndef FC_DB_CORE_FOLLOW_H
#define FC_DB_CORE_FOLLOW_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/slice.h"

#define FCI_CLEAR_MAX 16          /* distinct cleared or followed prefixes */
#define FCI_CLEAR_PREFIX_MAX 48   /* bytes of one prefix */
#define FCI_FOLLOW_BUCKETS 4096   /* invalidation epochs (a power of two) */

#define FCI_CLEAR_FOLLOWED 0x1u   /* a followed prefix: dark while the link is down */

/* Link states (fci_follow_shared.link): FC_LINK_* of forkcache.h. */

/* One prefix. prefix, plen and flags are written before the record is
 * published (nrec, release) and never change; seq changes in place. */
typedef struct fci_clear_rec {
    _Atomic uint64_t seq;          /* entries below it are gone; 0 = none */
    uint32_t plen;
    uint32_t flags;                /* FCI_CLEAR_* */
    char prefix[FCI_CLEAR_PREFIX_MAX];
} fci_clear_rec;

_Static_assert(sizeof(fci_clear_rec) == 64, "one record, one line");

typedef struct fci_follow_shared {
    _Atomic uint32_t nrec;         /* records published (release by the writer) */
    _Atomic uint32_t link;         /* FC_LINK_*; relaxed, a figure */
    _Atomic uint64_t link_ok_until; /* CLOCK_MONOTONIC ms; followed prefixes
                                      read as misses after it */
    _Atomic uint64_t gen;          /* bumped by every clear: a fill token's age */
    uint64_t max_stale_ms;         /* the writer's setting, for stats */
    /* counters since the arena was made, relaxed: figures */
    _Atomic uint64_t invalidations, fills, fills_stale, clears, link_losses;
    uint64_t pad[7];
    fci_clear_rec rec[FCI_CLEAR_MAX];
    _Atomic uint64_t epoch[FCI_FOLLOW_BUCKETS]; /* bumped per invalidated key */
} fci_follow_shared;

_Static_assert(offsetof(fci_follow_shared, rec) == 128, "records after two lines");
_Static_assert(sizeof(fci_follow_shared) % 64 == 0, "whole lines");

/* What a transaction copied at its begin (read.h embeds it). */
typedef struct fci_clear_view {
    uint32_t n;                    /* records in force; 0 = nothing to check */
    const fci_clear_rec *rec;
    uint64_t seq[FCI_CLEAR_MAX];   /* UINT64_MAX: a followed prefix, link down */
} fci_clear_view;

struct fc_store;

/* The block, or NULL (an arena whose writer made none). */
fci_follow_shared *fci_follow_of(struct fc_store *s);
/* A non-writer handle finds the writer's block (fc_open). */
void fci_follow_attach(struct fc_store *s);

/* Fills v at a transaction's begin (after its snapshot was loaded); with
 * link_aware 0 (compaction) followed prefixes keep their own sequence
 * while the link is down. */
void fci_clear_view_load(struct fc_store *s, fci_clear_view *v, int link_aware);

/* 1 when an entry of ukey at sequence seq reads as absent under v. */
int fci_clear_hides(const fci_clear_view *v, fci_slice ukey, uint64_t seq);

/* The invalidation bucket of a key. */
uint32_t fci_follow_bucket(fci_slice key);

/* A fill's token: the clear generation and the key's bucket epoch, taken
 * before the fill asks the source of truth. */
void fci_fill_token(struct fc_store *s, fci_slice key, uint64_t tok[2]);

/* 0 when a fill of key begun with tok may be stored now: no clear, no
 * invalidation of its bucket since, and the link (if any) up; else
 * FC_EMISMATCH. Decided by the writer with the other conditional ops. */
int fci_fill_check(struct fc_store *s, fci_slice key, const uint64_t tok[2]);

#endif
