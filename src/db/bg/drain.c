/*
 * drain.c - the writer's side of the write queue.
 *
 * The writer creates the write queue in the arena at open and runs a drain
 * thread, the leader of last resort (write/lead.c): any other process
 * queues its batch and applies it itself under the write lock, with
 * whatever is queued behind it, as one group commit; the drain thread
 * applies what no producer can (a full memtable to switch, a group handed
 * over, entries whose producers died), so fc_put, fc_del and fc_write mean
 * the same thing in every process.
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
#include "db/write/lane.h"
#include "db/bg/bg.h"

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

/* mu held. Room for a memtable is made before the write lock is taken
 * (making it may wait for a flush); a group the arena cannot hold yet
 * waits for room here, outside the lock, and is gathered again. */
static int drain_once(fc_store *s, fci_wq *q, fci_write_batch *group)
{
    int rc = fci_make_room(s);
    if (rc != 0)
        return fci_lane_refuse(s, q, group, rc);
    int n = fci_lane_drain(s, q, group);
    if (n != FCI_LANE_NO_ROOM)
        return n;
    rc = fci_room_wait(s, group);
    return rc == FCI_ROOM_WAITED || rc == 0 ? 1 : fci_lane_refuse(s, q, group, rc);
}

/* The leader of last resort: applies what no producer leads (after every
 * producer died, or when a leader handed a group over), and holds the
 * lane's presence lock while it runs, which tells leaders a writer is
 * there to flush what they write. */
static void *drain_main(void *arg)
{
    fc_store *s = arg;
    fci_writer *w = s->w;
    fci_wq *q = fci_queue_of(s);
    fci_write_batch group;
    fci_batch_init(&group);
    fci_gate_adopt(); /* a fork waits for the group in hand (forkgate.c) */
    int present = s->lane != NULL && fci_lane_presence_take(s->lane) == 0;
    for (;;) {
        uint32_t seen = atomic_load_explicit(&q->work, memory_order_acquire);
        pthread_mutex_lock(&w->mu);
        int stopping = w->queue_stop;
        int did = drain_once(s, q, &group);
        w->drained += did > 0 ? (uint64_t)did : 0;
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
    if (present)
        fci_lane_presence_drop(s->lane);
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
