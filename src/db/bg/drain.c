/*
 * drain.c - the writer's side of the write queue.
 *
 * The writer creates the write queue in the arena at open and runs a drain
 * thread that applies queued batches in order as one group commit: one WAL
 * append and at most one fdatasync for every batch that is ready, then one
 * publication. Any other process (a forked worker) submits its batch to the
 * queue and waits for the writer's answer (write/submit.c), so fc_put,
 * fc_del and fc_write mean the same thing in every process.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/write/condwrite.h"
#include "db/core/forkgate.h"
#include "db/core/store.h"
#include "shm/layout.h"
#include "shm/wqueue.h"
#include "util/futex.h"
#include "util/proc.h"
#include "db/write/write.h"
#include "db/bg/bg.h"

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
    return 0;
}

/* The reason a refused plain batch is given (FCI_WQ_REASON_MAX): for the
 * group's failure, the writer's message, which names the file and the
 * system's error (EMFILE says "Too many open files"); for a batch refused
 * alone, what its code says. Written over the payload, which the group has
 * copied and no one reads again. */
static void give_reason(fc_store *s, char *payload, int verdict, int group_rc)
{
    const char *why = fc_strerror(verdict != 0 ? verdict : group_rc);
    if (verdict == 0)
        pthread_mutex_lock(&s->err_mu);
    if (verdict == 0 && s->err.msg[0])
        why = s->err.msg;
    size_t n = strnlen(why, FCI_WQ_REASON_MAX - 1);   /* cut, never overrun */
    memcpy(payload, why, n);
    payload[n] = '\0';
    if (verdict == 0)
        pthread_mutex_unlock(&s->err_mu);
}

/* mu held. Gathers the ready entries at the tail into one batch, writes
 * it, and answers each: its own verdict (a malformed batch, an atomic
 * operation refused), or the group's result. An atomic operation is
 * decided here against the store plus the group so far (db/write/condwrite.c); a
 * large group is cut before one, so that its scan stays short. */
static int apply_group(fc_store *s, fci_wq *q, fci_write_batch *group)
{
    fci_wq_slot *slots[GROUP_MAX];
    char *payloads[GROUP_MAX];
    int verdict[GROUP_MAX];
    int n = 0, sync = 0;
    fci_cond_ctx actx;
    fci_cond_ctx_init(&actx, s);
    fci_batch_clear(group);
    const char *data;
    while (n < GROUP_MAX && fci_wq_peek(q, (uint64_t)n, &slots[n], &data)) {
        unsigned op = FCI_WQ_OP(slots[n]->flags);
        payloads[n] = (char *)data;
        if (op != 0 && n > 0 && fci_batch_approximate_size(group) > FCI_COND_GROUP_SCAN_MAX)
            break;
        if (op != 0) {
            verdict[n] = fci_cond_apply_queued(&actx, (char *)data, slots[n]->len, group);
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
    fci_cond_ctx_end(&actx);
    if (n == 0)
        return 0;
    sync = sync || (s->opts.flags & FC_SYNC);
    int rc = actx.room_made ? fci_write_batch_room_made(s, group, sync)
                            : fci_write_batch_locked(s, group, sync);
    for (int i = 0; i < n; i++) {
        int result = verdict[i] != 0 ? verdict[i] : rc;
        if (result != 0 && FCI_WQ_OP(slots[i]->flags) == 0)
            give_reason(s, payloads[i], verdict[i], rc);
        fci_wq_complete(q, slots[i], result);
    }
    return n;
}

static void *drain_main(void *arg)
{
    fc_store *s = arg;
    fci_writer *w = s->w;
    fci_wq *q = fci_queue_of(s);
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

/* Drains what is ready, then stops. The drain thread is woken, not left
 * to its 100 ms wait: fc_close would otherwise take up to that long. */
void fci_queue_stop(fc_store *s)
{
    fci_writer *w = s->w;
    if (!w->drain_started)
        return;
    pthread_mutex_lock(&w->mu);
    w->queue_stop = 1;
    pthread_mutex_unlock(&w->mu);
    fci_futex_bump(&fci_queue_of(s)->work);
    fci_gate_reap(w->drain);
    w->drain_started = 0;
}
