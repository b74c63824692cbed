/*
 * lanewriter.c - the writer process's side of the write lane.
 *
 * The writer keeps its own handles (the WAL writer, the memtable, the
 * chunk allocator, the version set's last sequence), which leaders in
 * other processes move past while it does not hold the write lock. So
 * every write of the writer process takes the lock with fci_lane_enter,
 * which pulls what the leaders did into those handles, and gives it back
 * with fci_lane_leave, which pushes the writer's state to the lane: a new
 * memtable or WAL (a new gen, so leaders reopen), spare chunks for
 * leaders, and whether leaders may lead at all.
 *
 * The lock is never held while waiting for the background thread (a
 * memtable switch's wait for a flush, an arena stall): room is made
 * before it is taken, so no writer thread waits on mu while holding it.
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/write/lane.h"
#include "db/write/lanepriv.h"
#include "db/write/write.h"
#include "shm/layout.h"

/* Lane to writer, lock held. Only while the lane names the writer's own
 * memtable and WAL (always, once the lane exists). */
static void lane_pull(fc_store *s, fci_lane *l)
{
    fci_writer *w = s->w;
    if (l->mem_root != fci_memtable_root(&w->mem) || l->wal_number != w->wal_number)
        return;
    /* the larger: the writer's may have been set past the lane's (tests
     * of the sequence limit, recovery) */
    if (l->last_seq > w->vs.last_sequence)
        w->vs.last_sequence = l->last_seq;
    l->last_seq = w->vs.last_sequence;
    w->wal.offset = l->wal_end;
    if (w->wal.zero_end < w->wal.offset)
        w->wal.zero_end = w->wal.offset;
    if (l->wal_failed)
        w->wal.failed = 1;
    w->mem_chunks->cur = l->chunk_cur;
    w->mem_chunks->end = l->chunk_end;
    w->mem_chunks->nspare = l->nspare; /* leaders took theirs from the top */
}

/* Writer to lane, lock held. A new memtable or WAL is a new gen (its
 * spares start afresh: the old ones are the old memtable's). */
static void lane_push(fc_store *s, fci_lane *l)
{
    fci_writer *w = s->w;
    uint64_t root = fci_memtable_root(&w->mem);
    if (root != l->mem_root || w->wal_number != l->wal_number) {
        l->mem_root = root;
        l->wal_number = w->wal_number;
        l->gen++;
    }
    l->wal_end = w->wal.offset;
    l->wal_failed = (uint64_t)w->wal.failed;
    l->last_seq = w->vs.last_sequence;
    l->chunk_cur = w->mem_chunks->cur;
    l->chunk_end = w->mem_chunks->end;
    l->chunk_size = w->mem_chunks->chunk;
    l->mem_limit = s->opts.write_buffer_size;
    /* spares only while the arena keeps room for the writer's own next
     * steps: under pressure, leaders hand over and the writer stalls */
    fci_memchunks *mc = w->mem_chunks;
    while (mc->nspare < FCI_MEMCHUNKS_SPARES && fci_room_fits(s, NULL) &&
           fci_memchunks_reserve(mc) == 0)
        ;
    memcpy(l->spare, mc->spare, sizeof l->spare);
    l->nspare = mc->nspare;
    l->open = !w->lane_closed && !w->lock_lost;
}

int fci_lane_create(fc_store *s, fci_err *err)
{
    uint64_t raw;
    int rc = fci_arena_alloc(s->arena, sizeof(fci_lane) + 64, &raw, err);
    if (rc != 0)
        return rc;
    uint64_t off = (raw + 63) & ~(uint64_t)63; /* the locks want lines of their own */
    fci_lane *l = fci_arena_ptr(s->arena, off, sizeof *l);
    if (l == NULL || fci_lane_init(l) != 0)
        return fci_err_set(err, FC_EIO, "cannot set up the write lock in the arena");
    pthread_mutex_lock(&s->w->mu);
    s->lane = l; /* no other process can see it yet: no lock needed */
    lane_push(s, l);
    pthread_mutex_unlock(&s->w->mu);
    /* release: the lane is laid out before any process can find it */
    atomic_store_explicit(&s->arena->hdr->lane_off, off, memory_order_release);
    return 0;
}

int fci_lane_enter(fc_store *s)
{
    fci_lane *l = s->lane;
    fci_writer *w = s->w;
    if (l == NULL)
        return 0; /* still opening: no other process writes */
    int rc = fci_lane_lock(l, 0);
    if (rc < 0)
        return fci_store_fail(s, rc, NULL);
    lane_pull(s, l); /* the repair below allocates with the writer's handles */
    if (rc == FCI_LANE_OWNER_DIED || l->rec_state != FCI_LANE_IDLE) {
        fci_err err;
        fci_err_clear(&err);
        int r = fci_lane_repair(s, l, w->wal.fd, &w->mem, &err);
        if (rc == FCI_LANE_OWNER_DIED)
            fci_lane_consistent(l);
        if (r != 0) {
            fci_lane_unlock(l);
            return fci_store_fail(s, r, &err);
        }
        lane_pull(s, l);
    }
    return 0;
}

void fci_lane_leave(fc_store *s)
{
    if (s->lane == NULL)
        return;
    lane_push(s, s->lane);
    fci_lane_unlock(s->lane);
}

/* Between enter and leave: a WAL that failed is replaced first (its
 * record may be torn), then the group goes through the recorded commit.
 * Leaves the record PUBLISHED for the caller to answer. */
int fci_lane_commit_locked(fc_store *s, fci_write_batch *b, int sync)
{
    fci_writer *w = s->w;
    fci_lane *l = s->lane;
    fci_err err;
    fci_err_clear(&err);
    if (w->lock_lost) /* another writer may run: nothing more is acknowledged */
        return fci_store_fail(s, FC_EBUSY, &w->lock_err);
    if (l == NULL)
        return fci_store_fail(s, FC_EIO, NULL);
    int rc = 0;
    if (w->wal.failed && (rc = fci_wal_new(s, &err)) == 0)
        lane_push(s, l);
    if (rc == 0 && sync)
        rc = fci_wal_for_sync(s, &err);
    if (rc == 0)
        rc = fci_lane_commit_group(s, l, &w->wal, &w->mem, b, sync, &err);
    w->vs.last_sequence = l->last_seq; /* spent, even by a failed append */
    return rc != 0 ? fci_store_fail(s, rc, &err) : 0;
}

int fci_lane_commit(fc_store *s, fci_write_batch *b, int sync)
{
    int rc = fci_lane_enter(s);
    if (rc != 0)
        return rc;
    rc = fci_lane_commit_locked(s, b, sync);
    if (s->lane != NULL)
        s->lane->rec_state = FCI_LANE_IDLE; /* no tickets to answer */
    fci_lane_leave(s);
    return rc;
}

void fci_lane_close(fc_store *s)
{
    pthread_mutex_lock(&s->w->mu);
    s->w->lane_closed = 1;
    if (fci_lane_enter(s) == 0)
        fci_lane_leave(s);
    pthread_mutex_unlock(&s->w->mu);
}
