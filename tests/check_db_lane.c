/*
 * check_db_lane.c - the write lane (db/write/lead.c, lane.c): a worker
 * applies its own writes under the arena's write lock, and a leader killed
 * at any step of a group loses no acknowledged write, shows no reader part
 * of a group, and leaves no lock held by the dead.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkcache.h"
#include "fct.h"
#include "fct_internal.h"
#include "db/core/store.h"
#include "db/write/lane.h"
#include "format/filename.h"
#include "shm/wqueue.h"

#define BATCH 8          /* keys per batch: all of them or none, always */
#define PRODUCERS 3
#define WARMUP 20        /* batches the victim writes before it may die */
#define AFTER 60         /* batches each survivor writes after the death */

/* Shared with every child (fct_shared): acknowledged prefixes and flags. */
typedef struct shared {
    atomic_long acked[PRODUCERS];   /* batches 0..acked-1 were acknowledged */
    atomic_int victim_dead;
    atomic_int stop_readers;
    atomic_long torn_seen;          /* reader: a batch seen partly */
    atomic_long reads;
    int step;                       /* FCI_LANE_STEP_* the victim dies at */
    int torn;                       /* the victim leaves half a record first */
} shared;

static shared *sh;

static size_t batch_key(char *buf, int p, long n, int j)
{
    return (size_t)snprintf(buf, 64, "p%d-%06ld-%d", p, n, j);
}

static int put_batch(fc_store *s, int p, long n)
{
    fc_batch *b;
    int rc = fc_batch_new(&b);
    char k[64], v[64];
    int vl = snprintf(v, sizeof v, "batch %d/%ld", p, n);
    for (int j = 0; rc == 0 && j < BATCH; j++)
        rc = fc_batch_put(b, k, batch_key(k, p, n, j), v, (size_t)vl);
    if (rc == 0)
        rc = fc_write(s, b, 0);
    fc_batch_free(b);
    return rc;
}

/* How many of batch (p, n)'s keys a transaction sees; -1 on a wrong value. */
static int batch_seen(fc_txn *t, int p, long n)
{
    char k[64], v[64];
    int vl = snprintf(v, sizeof v, "batch %d/%ld", p, n), seen = 0;
    for (int j = 0; j < BATCH; j++) {
        fc_val got;
        int rc = fc_get(t, k, batch_key(k, p, n, j), &got);
        if (rc == FC_ENOTFOUND)
            continue;
        if (rc != 0 || got.size != (size_t)vl || memcmp(got.data, v, got.size) != 0)
            return -1;
        seen++;
    }
    return seen;
}

/* The victim's hook: past its warm-up, dies at its step (after writing
 * garbage over half of the record's place when torn). */
static void die_at_step(int step, const fci_lane *l)
{
    if (step != sh->step || atomic_load(&sh->acked[0]) < WARMUP)
        return;
    if (sh->torn) {
        char path[512];
        fci_filename(path, sizeof path, fct_dir, FCI_FILE_WAL, l->wal_number);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        char junk[4096];
        memset(junk, 0xab, sizeof junk);
        size_t n = l->rec_wal_len / 2 < sizeof junk ? l->rec_wal_len / 2 : sizeof junk;
        if (fd < 0 || pwrite(fd, junk, n, (off_t)l->rec_wal_start) != (ssize_t)n)
            _exit(9);
        close(fd);
    }
    raise(SIGKILL);
}

static int producer(fc_store *s, int p, void *arg)
{
    (void)arg;
    if (p == 0)
        fci_lane_test_hook = die_at_step;
    long until = -1;
    for (long n = 0;; n++) {
        if (p != 0 && until < 0 && atomic_load(&sh->victim_dead))
            until = n + AFTER;
        if (n == until || n > 100000)
            return n > 100000; /* the victim never died: fail */
        if (put_batch(s, p, n) != 0) {
            fprintf(stderr, "producer %d batch %ld: %s\n", p, n, fc_errmsg(s));
            return 1;
        }
        atomic_store(&sh->acked[p], n + 1);
    }
}

/* Reads acknowledged batches (and the one after) until told to stop: each
 * is whole or absent, never part. */
static int reader(fc_store *s, int r, void *arg)
{
    (void)arg;
    unsigned seed = (unsigned)r * 7919u + 1;
    while (!atomic_load(&sh->stop_readers)) {
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0)
            return 1;
        for (int i = 0; i < 50; i++) {
            int p = (int)(rand_r(&seed) % PRODUCERS);
            long top = atomic_load(&sh->acked[p]) + 1;
            int seen = batch_seen(t, p, (long)(rand_r(&seed) % (unsigned)top));
            if (seen != 0 && seen != BATCH)
                atomic_fetch_add(&sh->torn_seen, 1);
            atomic_fetch_add(&sh->reads, 1);
        }
        fc_txn_end(t);
    }
    return 0;
}

static void expect_acked(fc_store *s, const char *when)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int p = 0; p < PRODUCERS; p++)
        for (long n = 0; n < atomic_load(&sh->acked[p]); n++)
            ck_assert_msg(batch_seen(t, p, n) == BATCH, "%s: acknowledged batch %d/%ld is "
                          "not whole (%d keys)", when, p, n, batch_seen(t, p, n));
    fc_txn_end(t);
}

static void note_finding(void *arg, const fc_verify_finding *f)
{
    if (f->severity != FC_VERIFY_NOTE)
        (*(int *)arg)++;
}

/* One leader death at step, with the other producers and two readers
 * running; then every check of the issue. */
static void run_kill(int step, int torn)
{
    sh = fct_shared(sizeof *sh);
    sh->step = step;
    sh->torn = torn;
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    pid_t rd[2], pr[PRODUCERS];
    for (int r = 0; r < 2; r++)
        rd[r] = fct_fork_worker(s, r, reader, NULL);
    for (int p = 0; p < PRODUCERS; p++)
        pr[p] = fct_fork_worker(s, p, producer, NULL);
    int status;
    ck_assert_int_eq(waitpid(pr[0], &status, 0), pr[0]);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the victim was to die at step %d: status %#x", step, status);
    atomic_store(&sh->victim_dead, 1);
    for (int p = 1; p < PRODUCERS; p++)
        fct_wait_ok(pr[p], "survivor");
    atomic_store(&sh->stop_readers, 1);
    for (int r = 0; r < 2; r++)
        fct_wait_ok(rd[r], "reader");
    ck_assert_int_eq(atomic_load(&sh->torn_seen), 0);
    ck_assert_int_gt(atomic_load(&sh->reads), 0);
    fci_lane *l = fci_lane_of(s);
    ck_assert_ptr_nonnull(l);
    ck_assert_uint_ge(atomic_load(&l->repairs), 1);
    expect_acked(s, "after the repair");
    fct_put_str(s, "after", "the lock is free"); /* the writer takes it */
    ck_assert_int_eq(fc_close(s), 0);
    int bad = 0;
    ck_assert_int_eq(fc_verify(fct_dir, note_finding, &bad), 0);
    ck_assert_int_eq(bad, 0);
    s = fct_open_in(&o);
    expect_acked(s, "after a reopen");
    fct_expect(s, "after", "the lock is free");
    ck_assert_int_eq(fc_close(s), 0);
}

START_TEST(leader_killed_at_each_step)
{
    run_kill(FCI_LANE_STEP_DECIDED + _i, 0);
}
END_TEST

START_TEST(leader_killed_mid_append)
{
    run_kill(FCI_LANE_STEP_DECIDED, 1);
}
END_TEST

/* Uncontended, a worker's puts are applied by the worker itself: the
 * lane counts its groups, nothing is handed over, and the writer's drain
 * thread is never woken. */
START_TEST(worker_applies_its_own_puts)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fci_lane *l = fci_lane_of(s);
    fci_wq *q = fci_wq_find(s->arena);
    uint64_t groups = atomic_load(&l->groups);
    uint32_t work = atomic_load(&q->work);
    pid_t pid = fc_fork();
    if (pid == 0) {
        if (fc_after_fork(s) != 0)
            _exit(2);
        char k[32];
        for (int i = 0; i < 200; i++)
            if (fc_put(s, k, fct_key_of(k, "w", 4, i), "v", 1) != 0)
                _exit(3);
        _exit(0);
    }
    fct_wait_ok(pid, "worker");
    ck_assert_uint_ge(atomic_load(&l->groups) - groups, 200);
    ck_assert_uint_eq(atomic_load(&l->handovers), 0);
    ck_assert_uint_eq(atomic_load(&q->work), work);
    fct_expect(s, "w0199", "v");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* fc_incr from 8 processes, two of them killed at random moments: the
 * counter ends between the acknowledged count and that plus the calls in
 * flight when the two died. */
typedef struct incr_shared {
    atomic_long acked[8];
    atomic_int inflight[8];
} incr_shared;

static incr_shared *ish;

static int incrementer(fc_store *s, int p, void *arg)
{
    (void)arg;
    for (int i = 0; i < 400; i++) {
        int64_t v;
        atomic_store(&ish->inflight[p], 1);
        if (fc_incr(s, "counter", 7, 1, 0, 0, &v) != 0)
            return 1;
        atomic_fetch_add(&ish->acked[p], 1);
        atomic_store(&ish->inflight[p], 0);
    }
    return 0;
}

START_TEST(incr_from_8_with_kills)
{
    ish = fct_shared(sizeof *ish);
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    pid_t pid[8];
    for (int p = 0; p < 8; p++)
        pid[p] = fct_fork_worker(s, p, incrementer, NULL);
    while (atomic_load(&ish->acked[0]) < 50 || atomic_load(&ish->acked[1]) < 80)
        usleep(200);
    fct_kill(pid[0]);
    fct_kill(pid[1]);
    long acked = 0, inflight = 0;
    for (int p = 2; p < 8; p++)
        fct_wait_ok(pid[p], "incrementer");
    for (int p = 0; p < 8; p++) {
        acked += atomic_load(&ish->acked[p]);
        inflight += atomic_load(&ish->inflight[p]);
    }
    char buf[32];
    fc_txn *t;
    fc_val v;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, "counter", 7, &v), 0);
    snprintf(buf, sizeof buf, "%.*s", (int)v.size, (const char *)v.data);
    fc_txn_end(t);
    long got = atol(buf);
    ck_assert_msg(got >= acked && got <= acked + inflight, "counter %ld, acknowledged %ld, in "
                  "flight at the kills %ld", got, acked, inflight);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *lane_suite(void)
{
    Suite *su = suite_create("lane");
    TCase *tc = tcase_create("lane");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, leader_killed_at_each_step, 0,
                        FCI_LANE_STEP_COUNT - FCI_LANE_STEP_DECIDED);
    tcase_add_test(tc, leader_killed_mid_append);
    tcase_add_test(tc, worker_applies_its_own_puts);
    tcase_add_test(tc, incr_from_8_with_kills);
    suite_add_tcase(su, tc);
    return su;
}

FCT_MAIN(lane_suite)
