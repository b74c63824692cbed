/*
 * write.c - the write path: batches, the WAL, the memtable, and making room.
 *
 * A write holds the writer's mutex from sequence assignment to publication,
 * so batches are applied in sequence order, and publishes the store's last
 * sequence only after every entry is in the memtable: a reader in any
 * process sees a batch whole or not at all.
 */
#include "config.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/proc.h"
#include "db/core/forkgate.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "format/dbformat.h"
#include "db/write/write.h"
#include "db/write/expiry.h"
#include "db/write/lane.h"
#include "db/core/publish.h"
#include "shm/counters.h"
#include "util/clock.h"


/* Where this handle's writes go: applied here in the writer process, through
 * the write queue from any other process attached to the store. */
int fci_write_route(fc_store *s)
{
    if (s == NULL)
        return FC_EINVAL;
    if (s->role == FCI_ROLE_READONLY)
        return fci_store_fail(s, FC_EREADONLY, NULL);
    if (s->pid != fci_getpid()) {
        fci_err e;
        fci_err_set(&e, FC_EINVAL, "store handle used in a forked child before fc_after_fork");
        return fci_store_fail(s, FC_EINVAL, &e);
    }
    return s->w != NULL ? FCI_WRITE_HERE : FCI_WRITE_QUEUE;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int switch_locked(fc_store *s)
{
    fci_writer *w = s->w;
    fci_err err;
    fci_err_clear(&err);
    fci_memtable fresh;
    fci_memchunks *chunks = NULL;
    int rc = fci_wal_new(s, &err);
    if (rc == 0)
        rc = fci_memchunks_memtable(s, &fresh, &chunks);
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    fci_memchunks_unreserve(w->mem_chunks); /* it takes no more writes */
    w->imm = w->mem;
    w->imm_chunks = w->mem_chunks;
    w->has_imm = 1;
    w->mem = fresh;
    w->mem_chunks = chunks;
    w->mem_wal = w->wal_number;
    rc = fci_store_publish(s);
    pthread_cond_signal(&w->work_cv);
    return rc;
}

/* mu held, no immutable memtable. The active memtable becomes the
 * immutable one, and a fresh memtable and WAL take new writes. The new
 * memtable is published in a new version before anything is inserted into
 * it: readers depend on that order (read.c). The write lock is held
 * throughout, so no leader is inside a group meanwhile, and leaving the
 * lane tells every leader of the new memtable and WAL. */
int fci_switch_memtable(fc_store *s)
{
    int rc = fci_lane_enter(s);
    if (rc != 0)
        return rc;
    rc = switch_locked(s);
    fci_lane_leave(s);
    return rc;
}

/* mu held. Swaps a full memtable for a fresh one and a new WAL, waiting
 * while the previous one is still being flushed or L0 is at its stop
 * count. Like LevelDB, a write past the slowdown count sleeps 1 ms once. */
int fci_make_room(fc_store *s)
{
    fci_writer *w = s->w;
    int slowed = 0;
    uint64_t failures = w->bg_failures;
    for (;;) {
        /* FIFO (max_bytes): level 0 is bounded by eviction, never stalls */
        size_t l0 = s->opts.max_bytes ? 0 : w->vs.current->nfiles[0];
        if (!slowed && l0 >= FCI_L0_SLOWDOWN_TRIGGER) {
            slowed = 1;
            pthread_mutex_unlock(&w->mu);
            fci_gate_yield();
            sleep_ms(1);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        if (fci_memtable_bytes(&w->mem) < s->opts.write_buffer_size)
            break;
        if (w->has_imm || l0 >= FCI_L0_STOP_TRIGGER) {
            if (w->bg_failures != failures)
                return fci_bg_failed(s); /* the work this write waits for failed again */
            w->stall = w->has_imm ? FC_STALL_MEMTABLE : FC_STALL_L0;
            w->stall_count++;
            fci_store_count(s);
            pthread_cond_signal(&w->work_cv);
            fci_gate_wait(&w->done_cv, &w->mu, NULL);
            continue;
        }
        int rc = fci_room_wait(s, NULL); /* room for the next memtable (room.c) */
        if (rc == FCI_ROOM_WAITED)
            continue;
        if (rc == 0)
            rc = fci_switch_memtable(s);
        if (rc != 0)
            return rc;
    }
    if (w->stall != FC_STALL_NONE && w->stall != FC_STALL_ERROR) {
        w->stall = FC_STALL_NONE;
        fci_store_count(s);
    }
    return 0;
}

/* mu held, room made: the batch goes through the write lane (lane.c),
 * which orders it with the groups of leaders in other processes. */
int fci_write_batch_room_made(fc_store *s, fci_write_batch *b, int sync)
{
    if (fci_batch_count(b) == 0)
        return 0;
    return fci_lane_commit(s, b, sync);
}

/* mu held. */
int fci_write_batch_locked(fc_store *s, fci_write_batch *b, int sync)
{
    if (fci_batch_count(b) == 0)
        return 0;
    int rc = fci_make_room(s);
    /* a full arena (old snapshots pin it) stalls the write (room.c) */
    while (rc == 0 && (rc = fci_room_wait(s, b)) == FCI_ROOM_WAITED)
        rc = fci_make_room(s);
    return rc != 0 ? rc : fci_write_batch_room_made(s, b, sync);
}

static int write_batch(fc_store *s, fc_batch *b, unsigned flags)
{
    int route = fci_write_route(s);
    if (route < 0)
        return route;
    if (b == NULL || (flags & ~FC_WRITE_SYNC) != 0)
        return fci_store_fail(s, FC_EINVAL, NULL);
    int sync = (flags & FC_WRITE_SYNC) || (s->opts.flags & FC_SYNC);
    if (fci_batch_count(&b->wb) == 0)
        return 0;
    fci_err terr;
    fci_err_clear(&terr);
    int trc = fci_ttl_batch_stamp(s, &b->wb, &b->ttl, &terr);
    if (trc != 0)
        return fci_store_fail(s, trc, &terr);
    if (route == FCI_WRITE_QUEUE)
        return fci_submit_batch(s, fci_batch_contents(&b->wb), sync);
    pthread_mutex_lock(&s->w->mu);
    int rc = fci_write_batch_locked(s, &b->wb, sync);
    pthread_mutex_unlock(&s->w->mu);
    return rc;
}

/* Counts one record of a written batch by its kind. */
static int count_record(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    (void)seq, (void)key, (void)value;
    fci_counters_add(arg, type == FCI_TYPE_VALUE ? FCI_C_PUTS : FCI_C_DELETES, 1);
    return 0;
}

/* Counted in the calling process (shm/counters.h), whoever applies it. */
int fc_write(fc_store *s, fc_batch *b, unsigned flags)
{
    uint64_t t0 = fci_mono_ns();
    int rc = write_batch(s, b, flags);
    if (rc == 0 && fci_batch_count(&b->wb) > 0) {
        fci_batch_iterate(fci_batch_contents(&b->wb), count_record, s->arena, NULL);
        fci_counters_write_done(s->arena, FCI_C_BATCHES, t0);
    }
    return rc;
}

/* A single put or delete from a non-writer process, through the queue. */
static int queue_one(fc_store *s, int type, fci_slice key, fci_slice val)
{
    fci_write_batch b;
    int rc = fci_batch_init(&b);
    if (rc == 0)
        rc = type == FCI_TYPE_VALUE ? fci_batch_put(&b, key, val) : fci_batch_delete(&b, key);
    if (rc == 0)
        rc = fci_submit_batch(s, fci_batch_contents(&b), (s->opts.flags & FC_SYNC) != 0);
    else
        fci_store_fail(s, rc, NULL);
    fci_batch_free(&b);
    return rc;
}

static int write_one(fc_store *s, int type, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    int route = fci_write_route(s);
    if (route < 0)
        return route;
    int rc = fci_check_sizes(key, klen, val, vlen);
    if (rc != 0)
        return fci_store_fail(s, rc, NULL);
    if (route == FCI_WRITE_QUEUE)
        return queue_one(s, type, fci_slice_make(key, klen), fci_slice_make(val, vlen));
    pthread_mutex_lock(&s->w->mu);
    fci_write_batch *wb = &s->w->scratch;
    fci_batch_clear(wb);
    rc = type == FCI_TYPE_VALUE
             ? fci_batch_put(wb, fci_slice_make(key, klen), fci_slice_make(val, vlen))
             : fci_batch_delete(wb, fci_slice_make(key, klen));
    if (rc == 0)
        rc = fci_write_batch_locked(s, wb, (s->opts.flags & FC_SYNC) != 0);
    pthread_mutex_unlock(&s->w->mu);
    return rc;
}

int fc_put(fc_store *s, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t t0 = fci_mono_ns();
    int rc = s != NULL && s->opts.ttl_framing
                 ? fci_put_ttl(s, key, klen, val, vlen, 0) /* a frame that never expires */
                 : write_one(s, FCI_TYPE_VALUE, key, klen, val, vlen);
    if (rc == 0)
        fci_counters_write_done(s->arena, FCI_C_PUTS, t0);
    return rc;
}

int fc_del(fc_store *s, const void *key, size_t klen)
{
    uint64_t t0 = fci_mono_ns();
    int rc = write_one(s, FCI_TYPE_DELETION, key, klen, NULL, 0);
    if (rc == 0)
        fci_counters_write_done(s->arena, FCI_C_DELETES, t0);
    return rc;
}

/* ---- expiry (expiry.c): what needs this file's route ------------------------ */

int fci_write_one(fc_store *s, int type, const void *key, size_t klen, const void *val,
                  size_t vlen)
{
    return write_one(s, type, key, klen, val, vlen);
}
