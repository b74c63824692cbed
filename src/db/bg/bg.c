/*
 * bg.c - the writer's background thread, and the calls that wait for it.
 *
 * The thread flushes the immutable memtable as soon as there is one, and
 * otherwise runs the compaction LevelDB's scores call for. Compactions are
 * serialised by w->compacting, so a manual fc_compact_range in a caller's
 * thread and the background thread never compact at once; flushes only
 * ever happen on the background thread.
 *
 * A failed flush or compaction (a full disk, an I/O error) is not sticky:
 * the thread records it, shows it in stats (stall "error"), waits 10 ms
 * doubling to 1 s, and tries again, so the store heals once the fault is
 * gone. Nothing is lost meanwhile: the immutable memtable and its WAL stay
 * until a flush of it is in the MANIFEST. Writes that fit in the memtable
 * go on; a write that needs the failing work done, and fc_flush, wait for
 * the next attempt and return its error if it fails too (DESIGN.md,
 * "Faults").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/clock.h"
#include "util/proc.h"
#include "db/core/store.h"
#include "db/bg/evict.h"
#include "db/core/forkgate.h"
#include "db/write/write.h"
#include "db/core/publish.h"
#include "db/bg/flush.h"
#include "db/bg/bg.h"

/* mu held on entry and exit. With a size bound or expiry, the same edit
 * that adds the new table drops the tables that must go (evict.c), so the
 * published store never exceeds the bound by more than that one table;
 * not while a compaction runs, since it may have picked them. */
static int flush_imm(fc_store *s)
{
    fci_writer *w = s->w;
    fci_version_edit edit;
    fci_edit_init(&edit);
    int rc = fci_flush_memtable(s, &w->imm, &edit, 1);
    fci_err err;
    fci_err_clear(&err);
    fci_drop_plan drops = { 0 };
    int claimed = rc == 0 && fci_drop_enabled(s) && !w->compacting;
    if (claimed) {
        w->compacting = 1;
        rc = fci_drop_plan_make(s, &edit, &drops);
    }
    if (rc == 0) {
        /* The WAL that held imm's entries is obsolete once the table is
         * in the MANIFEST: the live WAL is the one mem is writing to. */
        fci_edit_set_log_number(&edit, w->mem_wal);
        rc = fci_vset_log_and_apply(&w->vs, &edit, &err);
        if (rc != 0)
            fci_store_fail(s, rc, &err);
    }
    w->pending_flush = 0;
    fci_edit_free(&edit);
    if (claimed && rc != 0) {
        fci_drop_plan_done(s, &drops, 0);
        w->compacting = 0;
    }
    if (rc != 0)
        return rc;
    fci_memchunks *old = w->imm_chunks;
    w->has_imm = 0;
    w->imm_chunks = NULL;
    rc = fci_store_publish(s);
    fci_store_retire(s, 0, old, 0);
    if (claimed) {
        fci_drop_plan_done(s, &drops, rc == 0);
        w->compacting = 0;
        pthread_cond_broadcast(&w->done_cv);
    }
    w->flushes++;
    fci_delete_obsolete_files(s);
    return rc;
}

/* mu held. Remembers a failed attempt for waiters and for stats. */
static void note_failure(fc_store *s, int rc)
{
    fci_writer *w = s->w;
    w->bg_error = rc;
    w->bg_failures++;
    w->stall = FC_STALL_ERROR;
    pthread_mutex_lock(&s->err_mu);
    fci_err_set(&w->bg_err, rc, "background %s failed (retrying): %s",
                w->has_imm ? "flush" : "compaction",
                s->err.code == rc && s->err.msg[0] ? s->err.msg : fc_strerror(rc));
    pthread_mutex_unlock(&s->err_mu);
}

/* A compaction on the background thread takes seconds on a large store,
 * while a full memtable fills in tens of milliseconds: like LevelDB, the
 * compaction stops between entries to write a waiting immutable memtable,
 * else every writer would stall behind the compaction. A compaction run by
 * fc_compact_range in a caller's thread leaves the flush to the background
 * thread, which is free then. A failed flush does not stop the compaction:
 * it is noted, and retried once the compaction is done. */
int fci_bg_flush_if_waiting(fc_store *s)
{
    fci_writer *w = s->w;
    pthread_mutex_lock(&w->mu);
    int on_bg = w->bg_running && pthread_equal(pthread_self(), w->bg_self);
    if (on_bg && w->has_imm && w->bg_error == 0) {
        int rc = flush_imm(s);
        if (rc != 0)
            note_failure(s, rc);
        pthread_cond_broadcast(&w->done_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

/* mu held. A single input with nothing below it moves down a level
 * without being rewritten. */
static int apply_move(fc_store *s, fci_compaction *c, fci_err *err)
{
    fci_file_meta *f = c->inputs[0][0];
    fci_version_edit edit;
    fci_edit_init(&edit);
    int rc = fci_edit_delete_file(&edit, c->level, f->number);
    if (rc == 0)
        rc = fci_edit_add_file(&edit, c->level + 1, f->number, f->size,
                               fci_buf_slice(&f->smallest), fci_buf_slice(&f->largest));
    if (rc == 0)
        rc = fci_vset_log_and_apply(&s->w->vs, &edit, err);
    fci_edit_free(&edit);
    return rc;
}

/* mu held on entry and exit; released while tables are merged. */
static int run_compaction(fc_store *s, fci_compaction *c)
{
    fci_writer *w = s->w;
    fci_err err;
    fci_err_clear(&err);
    if (fci_compaction_is_move(c)) {
        int rc = apply_move(s, c, &err);
        w->trivial_moves += rc == 0;
        return rc ? fci_store_fail(s, rc, &err) : fci_store_publish(s);
    }
    fci_version_edit edit;
    fci_edit_init(&edit);
    fci_file_meta *last = c->inputs[0][c->ninputs[0] - 1];
    int rc = fci_edit_add_compact_pointer(&edit, c->level, fci_buf_slice(&last->largest));
    uint64_t snapshot = w->vs.last_sequence, bytes = 0;
    pthread_mutex_unlock(&w->mu);
    if (rc == 0)
        rc = fci_compaction_run(s, c, &edit, snapshot, &bytes, &err);
    pthread_mutex_lock(&w->mu);
    /* Stopped for fc_close: its outputs are gone, the version unchanged. */
    int cancelled = rc == FC_ECLOSED && atomic_load_explicit(&w->stop_compaction,
                                                             memory_order_relaxed);
    if (rc == 0)
        rc = fci_vset_log_and_apply(&w->vs, &edit, &err);
    w->pending_compact = 0;
    fci_edit_free(&edit);
    w->compactions_cancelled += cancelled;
    if (cancelled)
        return 0;
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    w->compactions++;
    w->bytes_compacted += bytes;
    rc = fci_store_publish(s);
    for (int which = 0; which < 2; which++)
        for (size_t i = 0; i < c->ninputs[which]; i++)
            fci_store_retire(s, 0, NULL, c->inputs[which][i]->number);
    fci_delete_obsolete_files(s);
    return rc;
}

/* mu held. Waits for the compaction slot, runs c, frees it. */
static int compact_serialised(fc_store *s, fci_compaction *c)
{
    fci_writer *w = s->w;
    w->compacting = 1;
    int rc = run_compaction(s, c);
    fci_compaction_free(c);
    w->compacting = 0;
    pthread_cond_broadcast(&w->done_cv);
    return rc;
}

/* mu held. One unit of background work; returns 1 if it did something. */
static int background_step(fc_store *s, int *rc)
{
    fci_writer *w = s->w;
    if (w->has_imm) {
        *rc = flush_imm(s);
        return 1;
    }
    if (w->compacting || w->shutting_down)
        return 0;
    if (fci_drop_step(s, rc))
        return 1;
    if (s->opts.max_bytes > 0)
        return 0; /* FIFO: tables stay in level 0, only dropped whole */
    fci_compaction *c = NULL;
    *rc = fci_compaction_pick(w->vs.current, w->vs.compact_pointer,
                              s->opts.max_file_size, &c);
    if (*rc != 0 || c == NULL)
        return *rc != 0;
    *rc = compact_serialised(s, c);
    return 1;
}

/* mu held. Sleeps before the next attempt (a shutdown wakes it early). */
static void back_off(fci_writer *w, long ms)
{
    struct timespec until = fci_realtime_deadline(ms);
    if (!w->shutting_down)
        fci_gate_wait(&w->work_cv, &w->mu, &until);
}

/* mu held. After a step: a failure is noted and backed off from (at
 * shutdown it ends the thread: the WAL keeps what was not flushed); a
 * success clears the error. Returns 0 when the thread should stop. */
static int after_step(fc_store *s, int rc, long *backoff_ms)
{
    fci_writer *w = s->w;
    if (rc == 0) {
        if (w->stall == FC_STALL_ERROR)
            w->stall = FC_STALL_NONE;
        w->bg_error = 0;
        *backoff_ms = 0;
    } else {
        note_failure(s, rc);
    }
    fci_store_count(s);
    fci_store_reclaim(s);
    pthread_cond_broadcast(&w->done_cv);
    if (rc == 0)
        return 1;
    if (w->shutting_down)
        return 0;
    *backoff_ms = *backoff_ms ? (*backoff_ms < 500 ? *backoff_ms * 2 : 1000) : 10;
    back_off(w, *backoff_ms);
    return 1;
}

/* mu held. Nothing wakes the thread when a reader ends or dies, nor when
 * entries expire: while something is retired (a reader pins it) it
 * reclaims every second, so a killed reader's tables go while the store
 * is idle; a ttl_framing store also looks for wholly expired tables. */
static void wait_for_work(fc_store *s)
{
    fci_writer *w = s->w;
    fci_store_reclaim(s);
    if (!s->opts.ttl_framing && w->retired == NULL) {
        fci_gate_wait(&w->work_cv, &w->mu, NULL);
        return;
    }
    struct timespec ts = fci_realtime_deadline(1000);
    fci_gate_wait(&w->work_cv, &w->mu, &ts);
}

static void *background_main(void *arg)
{
    fc_store *s = arg;
    fci_writer *w = s->w;
    long backoff_ms = 0;
    fci_gate_adopt(); /* a fork waits for this thread's step to end (forkgate.c) */
    pthread_mutex_lock(&w->mu);
    w->bg_self = pthread_self();
    w->bg_running = 1;
    while (!(w->shutting_down && !w->has_imm)) {
        int rc = 0;
        if (background_step(s, &rc)) {
            if (!after_step(s, rc, &backoff_ms))
                break;
            continue;
        }
        pthread_cond_broadcast(&w->done_cv);
        wait_for_work(s);
    }
    w->bg_running = 0;
    pthread_cond_broadcast(&w->done_cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int fci_bg_start(fc_store *s)
{
    int rc = fci_gate_spawn(&s->w->bg, background_main, s);
    if (rc != 0)
        return fci_store_fail(s, FC_EIO, NULL);
    s->w->bg_started = 1;
    return 0;
}

void fci_bg_stop(fc_store *s)
{
    fci_writer *w = s->w;
    if (!w->bg_started)
        return;
    pthread_mutex_lock(&w->mu);
    w->shutting_down = 1;
    /* relaxed: the compaction only polls it (compact.c cancel_requested) */
    atomic_store_explicit(&w->stop_compaction, 1, memory_order_relaxed);
    pthread_cond_broadcast(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
    fci_gate_reap(w->bg);
    w->bg_started = 0;
}

/* mu held. Waits until no immutable memtable is left, or an attempt to
 * flush it fails after `failures` were counted (then that error). */
static int wait_imm(fc_store *s, uint64_t failures)
{
    fci_writer *w = s->w;
    while (w->has_imm && w->bg_failures == failures) {
        pthread_cond_signal(&w->work_cv);
        fci_gate_wait(&w->done_cv, &w->mu, NULL);
    }
    return w->has_imm ? fci_bg_failed(s) : 0;
}

/* mu held. Turns a non-empty memtable into the immutable one and waits
 * until the background thread has written it. Like a write, the switch
 * waits while the arena is full of what old snapshots pin (write/room.c), and
 * looks at the state again after any wait. */
static int flush_locked(fc_store *s)
{
    fci_writer *w = s->w;
    int rc;
    do {
        if ((rc = wait_imm(s, w->bg_failures)) != 0 || fci_skiplist_count(&w->mem.list) == 0)
            return rc;
    } while ((rc = fci_room_wait(s, NULL)) == FCI_ROOM_WAITED);
    if (rc != 0)
        return rc;
    uint64_t failures = w->bg_failures;
    rc = fci_switch_memtable(s);
    return rc ? rc : wait_imm(s, failures);
}

static int writer_only(fc_store *s)
{
    if (s == NULL)
        return FC_EINVAL;
    if (s->w == NULL || s->pid != fci_getpid())
        return fci_store_fail(s, FC_EREADONLY, NULL);
    return 0;
}

int fc_flush(fc_store *s)
{
    int rc = writer_only(s);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->w->mu);
    rc = flush_locked(s);
    pthread_mutex_unlock(&s->w->mu);
    return rc;
}

/* mu held. Compacts [begin, end] at one level until nothing there overlaps
 * it (a compaction may leave the range in pieces at the next level). */
static int compact_level(fc_store *s, int level, const fci_slice *begin, const fci_slice *end)
{
    fci_writer *w = s->w;
    for (;;) {
        while (w->compacting)
            fci_gate_wait(&w->done_cv, &w->mu, NULL);
        if (w->shutting_down) /* a cancelled compaction must not be retried */
            return fci_store_fail(s, FC_ECLOSED, NULL);
        fci_compaction *c = NULL;
        int rc = fci_compaction_range(w->vs.current, level, begin, end,
                                      s->opts.max_file_size, &c);
        if (rc != 0 || c == NULL)
            return rc;
        rc = compact_serialised(s, c);
        if (rc != 0)
            return rc;
        if (level > 0)
            return 0; /* L1+ inputs are disjoint: one pass moved them all */
    }
}

/* mu held. The deepest level (at least 1) holding files in the range:
 * compacting stops there, as LevelDB's does, instead of pushing the data
 * to the last level by a cascade of moves. */
static int deepest_level(fc_store *s, const fci_slice *begin, const fci_slice *end)
{
    int deepest = 1;
    for (int level = 1; level < FCI_NUM_LEVELS; level++) {
        fci_file_meta **files;
        size_t n = 0;
        if (fci_version_overlaps(s->w->vs.current, level, begin, end, &files, &n) != 0)
            return FCI_NUM_LEVELS - 1;
        free(files);
        if (n > 0)
            deepest = level;
    }
    return deepest;
}

int fc_compact_range(fc_store *s, const void *begin, size_t blen, const void *end, size_t elen)
{
    int rc = writer_only(s);
    if (rc != 0)
        return rc;
    fci_slice b = fci_slice_make(begin, blen), e = fci_slice_make(end, elen);
    const fci_slice *bp = begin ? &b : NULL, *ep = end ? &e : NULL;
    pthread_mutex_lock(&s->w->mu);
    rc = flush_locked(s);
    int deepest = rc == 0 ? deepest_level(s, bp, ep) : 0;
    for (int level = 0; level < deepest && rc == 0; level++)
        rc = compact_level(s, level, bp, ep);
    pthread_mutex_unlock(&s->w->mu);
    return rc;
}
