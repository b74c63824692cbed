/*
 * queue.c - writes from processes that are not the writer.
 *
 * The writer creates the write queue in the arena at open and runs a drain
 * thread that applies queued batches in order as one group commit: one WAL
 * append and at most one fdatasync for every batch that is ready, then one
 * publication. Any other process (a forked worker) submits its batch to the
 * queue and waits for the writer's answer, so fc_put, fc_del and fc_write
 * mean the same thing in every process.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/atomic.h"
#include "db/forkgate.h"
#include "db/lease.h"
#include "db/store.h"
#include "shm/layout.h"
#include "shm/wqueue.h"
#include "util/proc.h"

#define GROUP_MAX 64   /* batches applied by one group commit at most */

int fci_queue_create(fc_store *s, fci_err *err)
{
    uint64_t bytes = fci_wq_bytes((uint32_t)s->opts.queue_slots, (uint32_t)s->opts.queue_entry_size);
    uint64_t raw, off;
    /* The queue's lines are 64-byte aligned (producers and the writer
     * write side by side); the allocator promises less, so pad and round. */
    int rc = fci_arena_alloc(s->arena, bytes + 64, &raw, err);
    if (rc != 0)
        return rc;
    off = (raw + 63) & ~(uint64_t)63;
    fci_wq_init(fci_arena_ptr(s->arena, off, bytes), (uint32_t)s->opts.queue_slots,
                (uint32_t)s->opts.queue_entry_size);
    /* release: the queue is laid out before any process can find it */
    atomic_store_explicit(&s->arena->hdr->wq_off, off, memory_order_release);
    return fci_lease_create(s, err);
}

static fci_wq *queue_of(fc_store *s)
{
    /* acquire: pairs with fci_queue_create's release */
    uint64_t off = atomic_load_explicit(&s->arena->hdr->wq_off, memory_order_acquire);
    if (off == 0)
        return NULL;
    fci_wq *q = fci_arena_ptr(s->arena, off, sizeof(fci_wq));
    if (q == NULL || fci_wq_check(q, fci_arena_size(s->arena) - off) != 0)
        return NULL;
    return q;
}

/* mu held. Gathers the ready entries at the tail into one batch, writes
 * it, and answers each: its own verdict (a malformed batch, an atomic
 * operation refused), or the group's result. An atomic operation is
 * decided here against the store plus the group so far (db/atomic.c); a
 * large group is cut before one, so that its scan stays short. */
static int apply_group(fc_store *s, fci_wq *q, fci_write_batch *group)
{
    fci_wq_slot *slots[GROUP_MAX];
    int verdict[GROUP_MAX];
    int n = 0, sync = 0;
    fci_atomic_ctx actx;
    fci_atomic_ctx_init(&actx, s);
    fci_batch_clear(group);
    const char *data;
    while (n < GROUP_MAX && fci_wq_peek(q, (uint64_t)n, &slots[n], &data)) {
        unsigned op = FCI_WQ_OP(slots[n]->flags);
        if (op != 0 && n > 0 && fci_batch_approximate_size(group) > FCI_ATOMIC_GROUP_SCAN_MAX)
            break;
        if (op != 0) {
            verdict[n] = fci_atomic_apply_queued(&actx, (char *)data, slots[n]->len, group);
        } else {
            fci_slice rep = fci_slice_make(data, slots[n]->len);
            verdict[n] = fci_batch_validate(rep, NULL) != 0 ? FC_ECORRUPT : 0;
            if (verdict[n] == 0) {
                fci_write_batch one = { { (char *)data, rep.size, rep.size } };
                verdict[n] = fci_batch_append(group, &one);
            }
        }
        sync |= verdict[n] == 0 && (slots[n]->flags & FCI_WQ_SYNC);
        n++;
    }
    fci_atomic_ctx_end(&actx);
    if (n == 0)
        return 0;
    sync = sync || (s->opts.flags & FC_SYNC);
    int rc = actx.room_made ? fci_write_batch_room_made(s, group, sync)
                            : fci_write_batch_locked(s, group, sync);
    for (int i = 0; i < n; i++)
        fci_wq_complete(q, slots[i], verdict[i] != 0 ? verdict[i] : rc);
    return n;
}

static void *drain_main(void *arg)
{
    fc_store *s = arg;
    fci_writer *w = s->w;
    fci_wq *q = queue_of(s);
    fci_write_batch group;
    fci_batch_init(&group);
    fci_gate_adopt(); /* a fork waits for the group in hand (forkgate.c) */
    for (;;) {
        uint32_t seen = atomic_load_explicit(&q->work, memory_order_acquire);
        pthread_mutex_lock(&w->mu);
        int stopping = w->queue_stop;
        int did = apply_group(s, q, &group);
        pthread_mutex_unlock(&w->mu);
        if (did > 0) {
            fci_gate_yield();
            continue;
        }
        if (stopping)
            break; /* drained: nothing ready is left */
        fci_gate_idle_begin();
        fci_wq_wait_work(q, seen, 100);
        fci_gate_idle_end();
    }
    fci_batch_free(&group);
    return NULL;
}

int fci_queue_start(fc_store *s)
{
    if (fci_gate_spawn(&s->w->drain, drain_main, s) != 0)
        return fci_store_fail(s, FC_EIO, NULL);
    s->w->drain_started = 1;
    return 0;
}

/* Drains what is ready, then stops. */
void fci_queue_stop(fc_store *s)
{
    fci_writer *w = s->w;
    if (!w->drain_started)
        return;
    pthread_mutex_lock(&w->mu);
    w->queue_stop = 1;
    pthread_mutex_unlock(&w->mu);
    fci_gate_reap(w->drain);
    w->drain_started = 0;
}

/* The writer a producer waits on: its pid and start time from the arena. */
static int writer_alive(void *arg)
{
    fc_store *s = arg;
    fci_arena_header *h = s->arena->hdr;
    uint64_t owner = atomic_load_explicit(&h->writer_owner, memory_order_relaxed);
    uint64_t start = atomic_load_explicit(&h->writer_start, memory_order_relaxed);
    int pid = (int)FCI_OWNER_PID(owner);
    return pid != 0 && fci_proc_alive(pid, start);
}

/* Sends one entry and waits for the writer: returns 0 with its verdict in
 * *result (0 or FC_E*) and reply_len bytes of its reply in reply, or the
 * failure to get an answer at all (recorded in the handle). */
int fci_queue_call(fc_store *s, const void *data, size_t len, unsigned flags, int *result,
                   void *reply, uint32_t reply_len)
{
    fci_wq *q = queue_of(s);
    fci_err err;
    fci_err_clear(&err);
    if (q == NULL) {
        fci_err_set(&err, FC_EREADONLY, "no writer has a write queue in this arena");
        return fci_store_fail(s, FC_EREADONLY, &err);
    }
    if (len > UINT32_MAX)
        return fci_store_fail(s, FC_ETOOBIG, NULL);
    *result = 0;
    int rc = fci_wq_call(q, data, (uint32_t)len, flags, s->opts.write_timeout_ms, writer_alive, s,
                         result, reply, reply_len, &err);
    return rc != 0 ? fci_store_fail(s, rc, &err) : 0;
}

int fci_queue_submit(fc_store *s, fci_slice rep, int sync)
{
    int result = 0;
    int rc = fci_queue_call(s, rep.data, rep.size, sync ? FCI_WQ_SYNC : 0, &result, NULL, 0);
    if (rc != 0 || result == 0)
        return rc;
    fci_err err;
    fci_err_set(&err, result, "the writer refused the batch: %s", fc_strerror(result));
    return fci_store_fail(s, result, &err);
}
