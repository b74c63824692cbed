/*
 * lane.c - committing a group under the write lock, and finishing the
 * group of a leader that died (see lane.h).
 *
 * A group goes through four recorded steps (shm/lane.h):
 *   DECIDED    the verdicts and replies are in the queue's slots, the WAL
 *              record is being written at rec_wal_start;
 *   LOGGED     the record is whole in the WAL; inserts are under way;
 *   PUBLISHED  the group's last sequence is published; answers are going
 *              out in ticket order;
 *   IDLE       done.
 * Nothing of a group is visible before PUBLISHED (readers see sequences
 * up to the published one only), so a group that died DECIDED is undone:
 * its record's bytes are zeroed, which a log reader takes as the end of
 * the log, and its entries, still READY in the queue, are decided again by
 * the next leader. A group that died LOGGED is redone from its WAL record:
 * an entry already in the memtable is skipped (the same internal key).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/write/lane.h"
#include "db/write/lanepriv.h"
#include "db/write/write.h"
#include "db/core/vset.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "shm/layout.h"
#include "util/io.h"

fci_lane_step_fn fci_lane_test_hook;

fci_lane *fci_lane_of(fc_store *s)
{
    if (s->lane != NULL)
        return s->lane;
    /* acquire: pairs with fci_lane_create's release */
    uint64_t off = atomic_load_explicit(&s->arena->hdr->lane_off, memory_order_acquire);
    if (off == 0 || off % 64 != 0)
        return NULL;
    s->lane = fci_arena_ptr(s->arena, off, sizeof(fci_lane));
    return s->lane;
}

/* ---- one group's commit ------------------------------------------------ */

typedef struct insert_ctx {
    fci_memtable *mem;
    const fci_lane *lane;
} insert_ctx;

static int insert_entry(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    insert_ctx *c = arg;
    int rc = fci_memtable_add(c->mem, seq, type, key, value);
    fci_lane_step(FCI_LANE_STEP_INSERTING, c->lane);
    return rc;
}

/* A redo meets the entries its dead leader inserted: the same internal
 * key is the same entry. */
static int reinsert_entry(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    int rc = fci_memtable_add(arg, seq, type, key, value);
    return rc == FC_EEXIST ? 0 : rc;
}

/* Sequences stop at FCI_LAST_SEQUENCE_LIMIT (vset.h), below the 56 bits
 * of a key's tag: a batch that would pass it is refused before the WAL
 * sees it, and the store stays up for reads. */
static int sequence_room(const fci_lane *l, uint32_t count, fci_err *err)
{
    if (l->last_seq < FCI_LAST_SEQUENCE_LIMIT && count <= FCI_LAST_SEQUENCE_LIMIT - l->last_seq)
        return 0;
    return fci_err_set(err, FC_ELIMIT,
                       "sequence numbers are spent: the last is %llu, the limit %llu; a batch "
                       "of %lu does not fit", (unsigned long long)l->last_seq,
                       (unsigned long long)FCI_LAST_SEQUENCE_LIMIT, (unsigned long)count);
}

/* Write lock held: the WAL append, the inserts and the publication of b,
 * each step recorded first. wal and mem are the caller's handles on the
 * lane's WAL and memtable. A failed append spends the batch's sequences
 * and marks the WAL failed: the writer starts a new one, as the record may
 * be on disk, whole or torn. */
int fci_lane_commit_group(fc_store *s, fci_lane *l, fci_log_writer *wal, fci_memtable *mem,
                          fci_write_batch *b, int sync, fci_err *err)
{
    uint32_t count = fci_batch_count(b);
    int rc = count == 0 ? 0 : sequence_room(l, count, err);
    if (count == 0 || rc != 0)
        return rc;
    uint64_t first = l->last_seq + 1;
    fci_batch_set_sequence(b, first);
    fci_slice rec = fci_batch_contents(b);
    wal->offset = l->wal_end;
    if (wal->zero_end < wal->offset)
        wal->zero_end = wal->offset;
    l->rec_first_seq = first;
    l->rec_count = count;
    l->rec_wal_start = l->wal_end;
    l->rec_wal_len = fci_log_record_end(l->wal_end, rec.size) - l->wal_end;
    l->rec_state = FCI_LANE_DECIDED;
    fci_lane_step(FCI_LANE_STEP_DECIDED, l);
    rc = fci_log_writer_add(wal, rec, err);
    if (rc == 0 && sync)
        rc = fci_log_writer_sync(wal, err);
    fci_lane_step(FCI_LANE_STEP_APPENDED, l);
    if (rc != 0) {
        l->last_seq = first + count - 1;
        l->wal_failed = 1;
        l->rec_state = FCI_LANE_IDLE;
        return rc;
    }
    l->wal_end = wal->offset;
    l->rec_state = FCI_LANE_LOGGED;
    fci_lane_step(FCI_LANE_STEP_LOGGED, l);
    insert_ctx ic = { mem, l };
    rc = fci_batch_apply(rec, insert_entry, &ic, err);
    l->last_seq = first + count - 1; /* spent even if an insert failed */
    if (rc != 0) {
        l->rec_state = FCI_LANE_IDLE;
        return rc;
    }
    fci_lane_step(FCI_LANE_STEP_INSERTED, l);
    fci_arena_publish_last_seq(s->arena, l->last_seq);
    atomic_fetch_add_explicit(&l->groups, 1, memory_order_relaxed); /* a figure */
    atomic_fetch_add_explicit(&l->entries, count, memory_order_relaxed);
    l->rec_state = FCI_LANE_PUBLISHED;
    fci_lane_step(FCI_LANE_STEP_PUBLISHED, l);
    return 0;
}

/* ---- finishing a dead leader's group ------------------------------------ */

/* DECIDED: zeros over whatever part of the record reached the file. */
static int undo_record(fc_store *s, fci_lane *l, int fd, fci_err *err)
{
    static const char zeros[4096];
    uint64_t off = l->rec_wal_start, end = off + l->rec_wal_len;
    while (off < end) {
        size_t n = end - off < sizeof zeros ? (size_t)(end - off) : sizeof zeros;
        if (fci_io_pwrite(FCI_IO_SITE_LOG_APPEND, fd, zeros, n, off) < 0)
            return fci_err_errno(err, FC_EIO, errno, "%s: WAL %llu: undoing a dead leader's "
                                 "record at %llu", s->dir, (unsigned long long)l->wal_number,
                                 (unsigned long long)l->rec_wal_start);
        off += n;
    }
    l->wal_end = l->rec_wal_start;
    return 0;
}

/* LOGGED: the record is read back from the WAL, from the start of its
 * block (a reader needs block boundaries), and is the last one there. */
static int read_record(fc_store *s, fci_lane *l, char **buf, fci_slice *rec, fci_err *err)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, s->dir, FCI_FILE_WAL, l->wal_number);
    uint64_t from = l->rec_wal_start - l->rec_wal_start % FCI_LOG_BLOCK_SIZE;
    size_t n = (size_t)(l->wal_end - from);
    int fd = fci_io_open_regular(FCI_IO_SITE_LOG_READ_OPEN, s->dirfd, path, O_RDONLY | O_CLOEXEC,
                                 0, err);
    if (fd < 0)
        return fd;
    *buf = malloc(n ? n : 1);
    ssize_t got = *buf ? fci_io_pread(FCI_IO_SITE_LOG_READ, fd, *buf, n, from) : -1;
    close(fd);
    if (got != (ssize_t)n)
        return fci_err_set(err, FC_EIO, "%s: reading back a dead leader's record", path);
    fci_log_reader r;
    fci_log_reader_init_mem(&r, path, *buf, n, 0);
    fci_slice one;
    int found = 0;
    while (fci_log_reader_read(&r, &one, NULL) == 1) {
        *rec = one;
        found = 1;
    }
    fci_log_reader_free(&r);
    return found ? 0 : fci_err_set(err, FC_ECORRUPT, "%s: a dead leader's record at %llu is "
                                   "not whole", path, (unsigned long long)l->rec_wal_start);
}

/* LOGGED: inserts what is missing and publishes. The record's bytes are
 * copied first: the log reader's slice may point into its own buffer. */
static int redo_record(fc_store *s, fci_lane *l, fci_memtable *mem, fci_err *err)
{
    char *buf = NULL;
    fci_slice rec;
    int rc = read_record(s, l, &buf, &rec, err);
    if (rc == 0)
        rc = fci_batch_apply(rec, reinsert_entry, mem, err);
    free(buf);
    if (rc != 0)
        return rc;
    l->last_seq = l->rec_first_seq + l->rec_count - 1;
    fci_arena_publish_last_seq(s->arena, l->last_seq);
    l->rec_state = FCI_LANE_PUBLISHED;
    return 0;
}

/* PUBLISHED: the group's tickets still unanswered get the verdicts the
 * dead leader wrote into their slots (the group itself succeeded). */
static void answer_rest(fc_store *s, fci_lane *l)
{
    fci_wq *q = fci_wq_find(s->arena);
    uint64_t end = l->rec_ticket + l->rec_tickets;
    fci_wq_slot *slot;
    const char *data;
    while (q != NULL && atomic_load_explicit(&q->tail, memory_order_relaxed) < end &&
           fci_wq_peek(q, 0, &slot, &data))
        fci_wq_complete(q, slot, atomic_load_explicit(&slot->result, memory_order_relaxed));
}

/* The write lock was taken from a dead holder: bring its group to an end.
 * wal_fd and mem are the caller's handles on the lane's WAL and memtable.
 * A failure leaves the record as it is (the next holder tries again) and
 * closes the lane to leaders. */
int fci_lane_repair(fc_store *s, fci_lane *l, int wal_fd, fci_memtable *mem, fci_err *err)
{
    int rc = 0;
    atomic_fetch_add_explicit(&l->repairs, 1, memory_order_relaxed); /* a figure */
    if (l->rec_state == FCI_LANE_DECIDED) {
        rc = undo_record(s, l, wal_fd, err);
        if (rc == 0)
            l->rec_state = FCI_LANE_IDLE;
    } else if (l->rec_state == FCI_LANE_LOGGED) {
        rc = redo_record(s, l, mem, err);
    }
    if (rc == 0 && l->rec_state == FCI_LANE_PUBLISHED) {
        answer_rest(s, l);
        l->rec_state = FCI_LANE_IDLE;
    }
    if (rc != 0)
        l->open = 0;
    return rc;
}
