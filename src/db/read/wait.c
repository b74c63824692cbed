/*
 * wait.c - fc_wait and fc_last_sequence: a process follows the store's
 * writes by sleeping until the published last sequence passes one it has
 * seen, instead of polling with read transactions.
 *
 * The sleep itself is shm/seqwait.c's; this file adds the deadline, the
 * checks every public call makes (handle of this process, writer not
 * replaced) and a bound on each sleep, so a waiter notices a stale arena
 * (whose writer will never publish again) even if nothing woke it.
 */
#include "config.h"

#include <stdint.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/writerid.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/proc.h"

/* Longest single sleep. A writer that closes and one that retires a dead
 * writer's arena wake the sleepers (fci_arena_seq_changed), so this only
 * bounds how late a waiter notices a replacement nobody announced.
 * Longer than the lateness check_db_wait's never_misses_a_wake allows, so
 * a lost wake-up fails that test instead of hiding behind this. */
#define WAIT_SLICE_MS 1000

uint64_t fc_last_sequence(fc_store *s)
{
    if (s == NULL || s->arena == NULL)
        return 0;
    return fci_arena_last_seq(s->arena);
}

/* FC_ESTALE (recorded in the handle) when this attached process's writer
 * was replaced; 0 otherwise, cheaply while the writer is still there. */
static int stale(fc_store *s)
{
    if (!fci_store_writer_left(s))
        return 0;
    fci_err e;
    fci_err_clear(&e);
    int rc = fci_store_stale(s, &e);
    return rc != 0 ? fci_store_fail(s, rc, &e) : 0;
}

/* The next sleep in milliseconds: the time left, rounded up, at most one
 * slice; 0 when the deadline has passed. timeout_ms < 0 never ends. */
static int next_sleep(int timeout_ms, uint64_t deadline_ns)
{
    if (timeout_ms < 0)
        return WAIT_SLICE_MS;
    uint64_t now = fci_mono_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
    return ms < WAIT_SLICE_MS ? (int)ms : WAIT_SLICE_MS;
}

int fc_wait(fc_store *s, uint64_t seen_seq, int timeout_ms, uint64_t *now_seq)
{
    if (now_seq != NULL)
        *now_seq = 0;
    if (s == NULL || s->arena == NULL)
        return FC_EINVAL;
    if (s->pid != fci_getpid())
        return fci_store_fail(s, FC_EINVAL, NULL); /* fc_after_fork not called */
    uint64_t deadline = fci_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
    uint64_t now = 0;
    for (;;) {
        int rc = stale(s);
        if (rc != 0)
            return rc;
        int ms = next_sleep(timeout_ms, deadline);
        int passed = fci_arena_seq_wait(s->arena, seen_seq, ms, &now);
        if (now_seq != NULL)
            *now_seq = now;
        if (passed)
            return 0;
        if (ms == 0) {
            fci_err e;
            fci_err_set(&e, FC_ETIMEDOUT, "fc_wait: last sequence still %llu after %d ms",
                        (unsigned long long)now, timeout_ms);
            return fci_store_fail(s, FC_ETIMEDOUT, &e);
        }
    }
}
