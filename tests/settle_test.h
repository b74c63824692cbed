/*
 * settle_test.h - waiting, in a test, until a writer's background thread
 * has nothing left to do: no memtable to flush, no compaction running or
 * due. fc_close cancels a running compaction (the next open runs it
 * again), so a test that needs a store's shape fixed at reopen settles it
 * first. Uses the writer's internals (db/store.h).
 */
#ifndef FC_SETTLE_TEST_H
#define FC_SETTLE_TEST_H

#include <pthread.h>
#include <unistd.h>

#include "fc_test.h"
#include "db/core/store.h"

/* mu held: whether the background thread has nothing left to do. */
static inline int settled_locked(fc_store *s)
{
    fci_writer *w = s->w;
    return !w->has_imm && !w->compacting && w->vs.current->compaction_score < 1 && !w->bg_error;
}

/* Waits (a bounded number of naps, never a time assertion) until the
 * background thread is idle; fails the test on a background error. */
static inline void settle(fc_store *s)
{
    int idle = 0;
    for (int naps = 0; naps < 600000 && !idle; naps++) {
        pthread_mutex_lock(&s->w->mu);
        idle = settled_locked(s);
        int err = s->w->bg_error;
        pthread_mutex_unlock(&s->w->mu);
        ck_assert_msg(err == 0, "background error %d: %s", err, fc_errmsg(s));
        if (!idle)
            usleep(200);
    }
    ck_assert(idle);
}

#endif
