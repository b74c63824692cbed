/*
 * wqueue.h - the write queue: a bounded ring in the arena through which any
 * process hands a WriteBatch to the store's one writer and waits for it to
 * be applied, with no socket and one copy (into the ring).
 *
 * Each slot carries a sequence word, ticket << 2 | state:
 *   FREE  (ticket t may claim it)  ->  READY (payload written by t's owner)
 *   ->  DONE (result written by the writer)  ->  FREE for ticket t + nslots
 *   (set by t's owner once it has read its result).
 * Producers take tickets in order; the writer consumes them in order. A
 * slot's owner (pid and start time) is recorded before its ticket is taken,
 * so a producer that dies anywhere in the protocol is recognised and its
 * slot recovered: by the writer if it died before READY, by the next
 * producer of that slot if it died after DONE. See docs/SHM_PROTOCOL.md,
 * section 13.
 */
#ifndef FC_SHM_WQUEUE_H
#define FC_SHM_WQUEUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define FCI_WQ_FREE 0u
#define FCI_WQ_READY 1u
#define FCI_WQ_DONE 2u

#define FCI_WQ_SYNC 0x1u   /* entry flag: fdatasync before acknowledging */
/* Bits 8..15 of an entry's flags: 0 = the payload is a WriteBatch, else
 * the code of an operation the leader decides (db/write/condwrite.h),
 * which answers in the slot's reply word (fci_wq_call's reply). The
 * payload stays as it was sent until the entry is answered, so a group
 * whose leader died can be decided again (db/write/lane.c). */
#define FCI_WQ_OP_SHIFT 8
/* A plain batch the writer refuses gets, over the start of its payload, the
 * reason as a NUL-terminated sentence of at most this many bytes (the
 * writer's own message: the file and the system's error), so the producer
 * can say more than the code. Entries are at least 4 KiB. */
#define FCI_WQ_REASON_MAX 256
#define FCI_WQ_OP(flags) (((flags) >> FCI_WQ_OP_SHIFT) & 0xffu)

typedef struct fci_wq_slot {
    _Atomic uint64_t seq;          /* ticket << 2 | state */
    _Atomic uint64_t owner;        /* claimer's owner word, 0 = unowned */
    _Atomic uint64_t owner_start;  /* unused: the start time is in owner */
    _Atomic uint32_t wake;         /* futex word: bumped when DONE */
    uint32_t len;                  /* payload bytes */
    uint32_t flags;                /* FCI_WQ_* */
    _Atomic int32_t result;        /* the answer: 0 or FC_E* */
    int64_t reply;                 /* an operation's reply (fci_cond_reply), set
                                      by whoever decides it; read once DONE */
    uint64_t pad[2];
} fci_wq_slot;

typedef struct fci_wq {
    _Alignas(64) _Atomic uint64_t head;   /* next ticket to hand out */
    uint64_t pad0[7];
    _Alignas(64) _Atomic uint64_t tail;   /* next ticket the writer takes */
    _Atomic uint32_t work;                /* futex: bumped when a slot is READY */
    _Atomic uint32_t space;               /* futex: bumped when a slot is FREE again */
    uint32_t nslots;
    uint32_t slot_bytes;                  /* payload capacity of one slot */
    uint64_t slots_off;                   /* from the start of this struct */
    _Atomic uint64_t submitted, applied, recovered;  /* figures */
    _Atomic uint32_t space_waiters;       /* producers about to wait on space */
    uint32_t pad1;
} fci_wq;

_Static_assert(sizeof(fci_wq_slot) == 64, "a slot header is one cache line");
_Static_assert(offsetof(fci_wq_slot, wake) == 24, "futex word is 4-byte aligned");
_Static_assert(offsetof(fci_wq_slot, reply) == 40, "reply after the result");
_Static_assert(sizeof(fci_wq) == 128, "queue header is two cache lines");
_Static_assert(offsetof(fci_wq, tail) == 64, "consumer line apart from producers'");

/* Bytes the queue needs in the arena. */
uint64_t fci_wq_bytes(uint32_t nslots, uint32_t slot_bytes);

/* Writer: lays out an empty queue in mem (fci_wq_bytes bytes, 64-aligned). */
void fci_wq_init(void *mem, uint32_t nslots, uint32_t slot_bytes);

struct fci_arena;
/* The write queue a writer made in arena a (wq_off), checked; NULL when
 * none. */
fci_wq *fci_wq_find(struct fci_arena *a);

/* Checks a queue found in the arena against the region it lies in. */
int fci_wq_check(const fci_wq *q, uint64_t bytes_available);

/* Is the store's writer still there? Producers stop waiting when not. */
typedef int (*fci_wq_alive_fn)(void *arg);

/*
 * Producer: copies data into a slot, wakes the writer and waits until it
 * has applied it; *result is the writer's answer. timeout_ms bounds the
 * whole wait (0 = none). Returns 0 (then look at *result), FC_ETOOBIG,
 * FC_ETIMEDOUT, or FC_EAGAIN when the writer went away.
 */
int fci_wq_submit(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                  fci_wq_alive_fn alive, void *arg, int *result, fci_err *err);

/* fci_wq_submit that also copies reply_len bytes of the writer's reply
 * (written over the start of the payload) to reply once DONE. */
int fci_wq_call(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                fci_wq_alive_fn alive, void *arg, int *result, void *reply, uint32_t reply_len,
                fci_err *err);

/* fci_wq_call in two halves, for a producer that may apply its entry
 * itself (db/write/lane.c): enqueue claims a slot and writes the entry
 * without waking the writer; finish waits for DONE, copies the reply and
 * frees the slot (or abandons it on timeout). */
int fci_wq_enqueue(fci_wq *q, const void *data, uint32_t len, uint32_t flags, int timeout_ms,
                   fci_wq_alive_fn alive, void *arg, uint64_t *ticket, fci_err *err);
int fci_wq_finish(fci_wq *q, uint64_t ticket, int timeout_ms, fci_wq_alive_fn alive, void *arg,
                  int *result, void *reply, uint32_t reply_len, fci_err *err);
/* 1 once ticket's entry is answered (its owner has not freed it yet). */
int fci_wq_done(fci_wq *q, uint64_t ticket);
/* Wakes the writer's drain thread. */
void fci_wq_wake_writer(fci_wq *q);

/* The first two steps of fci_wq_submit, apart so tests can stop between
 * them: take a ticket, write the entry (then it waits for the answer and
 * frees the slot). */
int fci_wq_claim(fci_wq *q, int timeout_ms, fci_wq_alive_fn alive, void *arg, uint64_t *ticket,
                 fci_err *err);
void fci_wq_publish(fci_wq *q, uint64_t ticket, const void *data, uint32_t len, uint32_t flags);

/*
 * The write lock's holder (db/write/lane.c): the entry at the tail + skip. Returns 1 with *slot and *data when it is
 * READY, 0 when the queue is empty or the entry is still being written.
 * A claimed entry whose owner died is recovered here (freed and counted).
 */
int fci_wq_peek(fci_wq *q, uint64_t skip, fci_wq_slot **slot, const char **data);

/* The lock holder: answers the entry at the tail and moves past it. A
 * producer answering its own entry wakes nobody. */
void fci_wq_complete(fci_wq *q, fci_wq_slot *slot, int result);

/* Writer: sleeps until a producer signals work or timeout_ms passes. */
void fci_wq_wait_work(fci_wq *q, uint32_t seen, int timeout_ms);

#endif
