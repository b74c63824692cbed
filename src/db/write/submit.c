/*
 * submit.c - writes from processes that are not the writer: a batch or an
 * atomic operation goes into the arena's write queue, and the process
 * applies it itself as the write lock's holder (write/lead.c) or waits for
 * the holder that does, the writer's drain thread last of all.
 */
#include "config.h"

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/writerid.h"
#include "db/write/write.h"
#include "db/write/lane.h"
#include "shm/layout.h"
#include "shm/wqueue.h"
#include "util/proc.h"

fci_wq *fci_queue_of(fc_store *s)
{
    return fci_wq_find(s->arena);
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
int fci_submit_call(fc_store *s, const void *data, size_t len, unsigned flags, int *result,
                   void *reply, uint32_t reply_len)
{
    fci_err err;
    fci_err_clear(&err);
    /* the queue of a replaced writer answers nobody */
    int rc = fci_store_writer_left(s) ? fci_store_stale(s, &err) : 0;
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    fci_wq *q = fci_queue_of(s);
    if (q == NULL) {
        fci_err_set(&err, FC_EREADONLY, "no writer has a write queue in this arena");
        return fci_store_fail(s, FC_EREADONLY, &err);
    }
    if (len > UINT32_MAX)
        return fci_store_fail(s, FC_ETOOBIG, NULL);
    *result = 0;
    rc = fci_lane_call(s, q, data, (uint32_t)len, flags, writer_alive, result, reply, reply_len,
                       &err);
    return rc != 0 ? fci_store_fail(s, rc, &err) : 0;
}

int fci_submit_batch(fc_store *s, fci_slice rep, int sync)
{
    int result = 0;
    char why[FCI_WQ_REASON_MAX];   /* the writer's reason, when it refuses */
    int rc = fci_submit_call(s, rep.data, rep.size, sync ? FCI_WQ_SYNC : 0, &result, why,
                             sizeof why);
    if (rc != 0 || result == 0)
        return rc;
    why[sizeof why - 1] = '\0';
    fci_err err;
    fci_err_set(&err, result, "the writer refused the batch: %s",
                why[0] ? why : fc_strerror(result));
    return fci_store_fail(s, result, &err);
}
