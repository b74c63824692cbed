/*
 * lead.c - who applies a group: any process with the write lock (a
 * leader), or the writer's drain thread as the leader of last resort.
 *
 * A producer queues its entry, then takes the write lock and applies
 * every ready entry, its own and those queued behind it, as one group.
 * Uncontended, a put takes no wake-up at all; contended, a waiter usually
 * finds its entry answered by the holder it waited for. A leader hands a
 * group to the writer (wakes the drain thread and waits, as every write
 * did before the lane) when the lane cannot take it: the memtable is full
 * and must be switched, the spare chunks are used up, an entry is too
 * large for a chunk, the WAL failed, or the writer is closing or gone.
 * Only the writer switches memtables and WALs, flushes, compacts and
 * appends to the MANIFEST.
 */
#include "config.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/write/condwrite.h"
#include "db/write/lane.h"
#include "db/write/lanepriv.h"
#include "db/write/write.h"
#include "format/filename.h"
#include "util/proc.h"

#define GROUP_MAX 64      /* entries applied by one group at most */
#define IDLE_ROUNDS 64    /* lock rounds that found nothing ready, before handing over */
#define HANDOVER (-1)
#define SPIN_ROUNDS 16    /* tries of the lock before sleeping in it */
#define SPIN_PAUSES 64    /* pause instructions between two tries (about 10 us in all) */

/* The entries of one group, in ticket order from the queue's tail. */
typedef struct group_entries {
    fci_wq_slot *slot[GROUP_MAX];
    char *payload[GROUP_MAX];
    int verdict[GROUP_MAX];
    int n, sync;
} group_entries;

/* ---- gathering and answering (any leader) ------------------------------ */

static int gather_one(fci_cond_ctx *actx, fci_wq_slot *slot, const char *data,
                      fci_write_batch *group)
{
    if (FCI_WQ_OP(slot->flags) != 0) {
        int64_t reply = 0;
        int v = fci_cond_apply_queued(actx, data, slot->len, group, &reply);
        slot->reply = reply;
        return v;
    }
    fci_slice rep = fci_slice_make(data, slot->len);
    if (fci_batch_validate(rep, NULL) != 0)
        return FC_ECORRUPT;
    fci_write_batch one = { { (char *)data, rep.size, rep.size } };
    return fci_batch_append(group, &one);
}

/* Write lock held. Gathers the ready entries at the tail into group and
 * decides each: a malformed batch or a refused operation gets its verdict,
 * which is kept in its slot so a repair can answer it. An operation is
 * decided against the store plus the group so far (condwrite.c); a large
 * group is cut before one, so that its scan stays short. */
static void gather(fc_store *s, fci_wq *q, fci_write_batch *group, group_entries *g)
{
    fci_cond_ctx actx;
    fci_cond_ctx_init(&actx, s); /* room was made before the lock was taken */
    fci_batch_clear(group);
    g->n = 0;
    g->sync = (s->opts.flags & FC_SYNC) != 0;
    const char *data;
    while (g->n < GROUP_MAX && fci_wq_peek(q, (uint64_t)g->n, &g->slot[g->n], &data)) {
        fci_wq_slot *slot = g->slot[g->n];
        if (FCI_WQ_OP(slot->flags) != 0 && g->n > 0 &&
            fci_batch_approximate_size(group) > FCI_COND_GROUP_SCAN_MAX)
            break;
        int v = gather_one(&actx, slot, data, group);
        g->payload[g->n] = (char *)data;
        g->verdict[g->n] = v;
        /* relaxed: read by a repairer after it took the lock */
        atomic_store_explicit(&slot->result, v, memory_order_relaxed);
        g->sync |= v == 0 && (slot->flags & FCI_WQ_SYNC);
        g->n++;
    }
    fci_cond_ctx_end(&actx);
}

/* A refused plain batch is told why over its payload, which no one reads
 * again (FCI_WQ_REASON_MAX): the leader's message for the group's failure,
 * or what its own verdict's code says. */
static void give_reason(char *payload, int verdict, int group_rc, const char *msg)
{
    const char *why = verdict == 0 && msg != NULL && msg[0] ? msg
                      : fc_strerror(verdict != 0 ? verdict : group_rc);
    size_t n = strnlen(why, FCI_WQ_REASON_MAX - 1);
    memcpy(payload, why, n);
    payload[n] = '\0';
}

static void answer(fci_wq *q, const fci_lane *l, group_entries *g, int rc, const char *msg)
{
    for (int i = 0; i < g->n; i++) {
        int result = g->verdict[i] != 0 ? g->verdict[i] : rc;
        if (result != 0 && FCI_WQ_OP(g->slot[i]->flags) == 0)
            give_reason(g->payload[i], g->verdict[i], rc, msg);
        fci_wq_complete(q, g->slot[i], result);
        fci_lane_step(FCI_LANE_STEP_ANSWERING, l);
    }
}

/* ---- a leader outside the writer --------------------------------------- */

/* The skiplist's allocator for a leader: the lane's current chunk, then
 * its spares. The spare count drops before the chunk is used, so a death
 * between the two loses a chunk to this memtable, never hands it out
 * twice. */
static uint64_t lane_alloc(void *ctx, size_t n)
{
    fci_lane *l = ctx;
    uint64_t need = ((uint64_t)n + 7) & ~(uint64_t)7;
    if (l->chunk_cur == 0 || l->chunk_end - l->chunk_cur < need) {
        if (l->nspare == 0 || need > l->chunk_size)
            return 0;
        uint64_t c = l->spare[l->nspare - 1];
        l->nspare--;
        l->chunk_cur = c;
        l->chunk_end = c + l->chunk_size;
    }
    uint64_t off = l->chunk_cur;
    l->chunk_cur += need;
    return off;
}

typedef struct room_probe {
    uint64_t chunk, bytes;
    int too_big;
} room_probe;

static int probe_entry(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    (void)seq;
    (void)type;
    room_probe *p = arg;
    uint64_t need = fci_memtable_node_bound(key.size, value.size);
    p->too_big |= need > p->chunk / 4;
    p->bytes += need;
    return 0;
}

/* Whether the lane's chunks and the memtable's budget take group whole:
 * a chunk may waste up to a quarter (the largest node it refuses). */
static int lane_fits(const fci_lane *l, const fci_memtable *mem, fci_write_batch *group)
{
    room_probe p = { l->chunk_size, 0, 0 };
    if (l->chunk_size == 0 ||
        fci_batch_insert(fci_batch_contents(group), probe_entry, &p, NULL) != 0 || p.too_big)
        return 0;
    uint64_t room = (l->chunk_end - l->chunk_cur) + l->nspare * (l->chunk_size - l->chunk_size / 4);
    return p.bytes <= room && fci_memtable_bytes(mem) + p.bytes <= l->mem_limit;
}

/* Write lock held: this process's handles on the lane's WAL and memtable,
 * reopened when the writer moved to a new one (gen). */
static int leader_ready(fc_store *s, fci_lane *l, fci_err *err)
{
    struct fci_leader *ld = s->leader;
    if (ld == NULL) {
        if ((ld = calloc(1, sizeof *ld)) == NULL || fci_batch_init(&ld->group) != 0) {
            free(ld);
            return fci_err_set(err, FC_ENOMEM, "out of memory");
        }
        s->leader = ld;
    }
    if (ld->gen == l->gen && ld->wal_open)
        return 0;
    if (ld->wal_open)
        fci_log_writer_close(&ld->wal, NULL);
    ld->wal_open = 0;
    char path[PATH_MAX];
    fci_filename(path, sizeof path, s->dir, FCI_FILE_WAL, l->wal_number);
    int rc = fci_log_writer_open(&ld->wal, s->dirfd, path, 0, s->opts.file_mode, err);
    if (rc != 0)
        return rc;
    ld->wal_open = 1;
    rc = fci_memtable_attach(&ld->mem, fci_arena_base(s->arena), fci_arena_size(s->arena),
                             l->mem_root);
    if (rc != 0)
        return fci_err_set(err, rc, "%s: the lane's memtable at %llu is damaged", s->dir,
                           (unsigned long long)l->mem_root);
    ld->mem.list.alloc = lane_alloc;
    ld->mem.list.alloc_ctx = l;
    ld->mem.list.rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)fci_getpid() << 17;
    ld->gen = l->gen;
    return 0;
}

/* Write lock held, lane open: one group, or HANDOVER when the lane cannot
 * take it (nothing was written; its entries stay ready for the writer).
 * The writer is looked for again after the group: one that died meanwhile
 * may be replaced by a writer that replayed the WAL before the group
 * reached it, so the group's outcome is unknown and said so. */
static int lead_group(fc_store *s, fci_lane *l, fci_wq *q)
{
    struct fci_leader *ld = s->leader;
    group_entries g;
    l->rec_ticket = atomic_load_explicit(&q->tail, memory_order_relaxed);
    gather(s, q, &ld->group, &g);
    if (g.n == 0)
        return 0;
    if (!lane_fits(l, &ld->mem, &ld->group))
        return HANDOVER;
    l->rec_tickets = (uint64_t)g.n;
    fci_err err;
    fci_err_clear(&err);
    int rc = fci_lane_commit_group(s, l, &ld->wal, &ld->mem, &ld->group, g.sync, &err);
    if (rc == 0 && !fci_lane_writer_present(l))
        rc = fci_err_set(&err, FC_EAGAIN, "the store's writer went away during the write; "
                         "it may or may not have been applied");
    answer(q, l, &g, rc, err.msg);
    l->rec_state = FCI_LANE_IDLE;
    return g.n;
}

/* Write lock just taken: finishes what a dead holder left, then leads one
 * group if the lane takes groups from this process. */
static int lead_locked(fc_store *s, fci_lane *l, fci_wq *q, int died)
{
    fci_err err;
    fci_err_clear(&err);
    int rc = leader_ready(s, l, &err);
    if (died || l->rec_state != FCI_LANE_IDLE) {
        if (rc == 0)
            rc = fci_lane_repair(s, l, s->leader->wal.fd, &s->leader->mem, &err);
        if (died)
            fci_lane_consistent(l);
    }
    if (rc != 0 || !l->open || l->wal_failed || !fci_lane_writer_present(l))
        return HANDOVER;
    return lead_group(s, l, q);
}

/* A hint to the CPU that this is a spin loop. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* A holder's group takes a few microseconds: a contender looks for its
 * answer, or for the lock free, for about that long before it sleeps in
 * the mutex, since a sleep and the wake that ends it cost more than the
 * wait, and the holder often answers our entry meanwhile. Measured with
 * bench_write on this 2-core machine, quiet: 4 workers' puts/s 1.6-1.8x
 * and incr/s 1.6-2x those of a plain blocking lock. */
static int lock_or_done(fci_lane *l, fci_wq *q, uint64_t t, int timeout_ms)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        int rc = fci_lane_trylock(l);
        if (rc != FC_EAGAIN)
            return rc;
        for (int k = 0; k < SPIN_PAUSES && !fci_wq_done(q, t); k++)
            cpu_relax();
        if (fci_wq_done(q, t))
            return FC_EAGAIN; /* answered: no lock needed */
    }
    return fci_lane_lock(l, timeout_ms);
}

/* Leads until ticket t is answered, or hands it over to the writer. A
 * round that finds nothing ready (an entry ahead of ours is still being
 * written) yields and tries again, a bounded number of times. */
static void lead_until_done(fc_store *s, fci_lane *l, fci_wq *q, uint64_t t)
{
    int idle = 0;
    while (!fci_wq_done(q, t) && idle < IDLE_ROUNDS) {
        int rc = lock_or_done(l, q, t, s->opts.write_timeout_ms);
        if (rc < 0)
            return;
        int n = lead_locked(s, l, q, rc == FCI_LANE_OWNER_DIED);
        fci_lane_unlock(l);
        if (n == HANDOVER) {
            atomic_fetch_add_explicit(&l->handovers, 1, memory_order_relaxed); /* a figure */
            return;
        }
        if (n == 0 && ++idle > 0)
            sched_yield();
    }
}

int fci_lane_call(fc_store *s, fci_wq *q, const void *data, uint32_t len, uint32_t flags,
                  fci_wq_alive_fn alive, int *result, void *reply, uint32_t reply_len,
                  fci_err *err)
{
    fci_lane *l = fci_lane_of(s);
    int timeout = s->opts.write_timeout_ms;
    if (l == NULL)
        return fci_wq_call(q, data, len, flags, timeout, alive, s, result, reply, reply_len, err);
    uint64_t t;
    int rc = fci_wq_enqueue(q, data, len, flags, timeout, alive, s, &t, err);
    if (rc != 0)
        return rc;
    lead_until_done(s, l, q, t);
    if (!fci_wq_done(q, t))
        fci_wq_wake_writer(q);
    return fci_wq_finish(q, t, timeout, alive, s, result, reply, reply_len, err);
}

void fci_leader_free(fc_store *s)
{
    struct fci_leader *ld = s->leader;
    if (ld == NULL)
        return;
    if (ld->wal_open)
        fci_log_writer_close(&ld->wal, NULL);
    fci_batch_free(&ld->group);
    free(ld);
    s->leader = NULL;
}

/* ---- the writer's drain thread: the leader of last resort --------------- */

/* Mu held: the writer takes the lock and answers the ready entries as one
 * group: applied, or all refused with refuse (room could not be made).
 * The handle's message is the reason a refused batch is given. */
static int writer_group(fc_store *s, fci_wq *q, fci_write_batch *group, int refuse)
{
    fci_lane *l = s->lane;
    if (l == NULL || fci_lane_enter(s) != 0)
        return 0;
    group_entries g;
    l->rec_ticket = atomic_load_explicit(&q->tail, memory_order_relaxed);
    gather(s, q, group, &g);
    int rc = refuse;
    if (g.n > 0 && rc == 0 && !fci_room_fits(s, group)) {
        fci_lane_leave(s);
        return FCI_LANE_NO_ROOM; /* the caller waits for room (room.c) and comes back */
    }
    if (g.n > 0 && rc == 0) {
        l->rec_tickets = (uint64_t)g.n;
        rc = fci_lane_commit_locked(s, group, g.sync);
    }
    if (g.n > 0) {
        pthread_mutex_lock(&s->err_mu);
        answer(q, l, &g, rc, rc != 0 ? s->err.msg : NULL);
        pthread_mutex_unlock(&s->err_mu);
        l->rec_state = FCI_LANE_IDLE;
    }
    fci_lane_leave(s);
    return g.n;
}

int fci_lane_drain(fc_store *s, fci_wq *q, fci_write_batch *group)
{
    return writer_group(s, q, group, 0);
}

int fci_lane_refuse(fc_store *s, fci_wq *q, fci_write_batch *group, int rc)
{
    return writer_group(s, q, group, rc);
}
