/*
 * check_db_counters.c - the operation counters (shm/counters.h): exact
 * under 8 processes doing a known sequence of hits, misses, writes and
 * atomic operations; a SIGKILLed process's counts fold into the store's
 * totals when its slot is reclaimed, and the next holder of that slot
 * starts from zero; threads of one process sharing its row; the latency
 * buckets and the Prometheus text's sizing.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/store.h"
#include "shm/counters.h"

#define PROCS 8
#define KEYS 40        /* present: key000 .. key039 */
#define ROUNDS 25      /* transactions per worker */
#define HITS 7         /* per transaction */
#define MISSES 3       /* per transaction */
#define PUTS 5         /* per worker */

static fc_store *open_counted(void)
{
    fc_options o = fct_small_opts();
    o.queue_slots = 16;
    o.write_timeout_ms = 30000;
    fc_store *s = fct_open_in(&o);
    char k[FCT_KEY_MAX];
    for (int i = 0; i < KEYS; i++) {
        fct_key_of(k, "key", 3, i);
        fct_put_str(s, k, "v");
    }
    return s;
}

/* ROUNDS transactions of HITS hits and MISSES misses, PUTS puts, one
 * delete, one add refused and one incr applied: all exact. */
static int known_work(fc_store *s, int w, void *arg)
{
    (void)arg;
    char k[FCT_KEY_MAX];
    for (int r = 0; r < ROUNDS; r++) {
        fc_txn *t;
        fc_val v;
        if (fc_txn_begin(s, &t) != 0)
            return 1;
        for (int i = 0; i < HITS; i++) {
            fct_key_of(k, "key", 3, (r + i) % KEYS);
            if (fc_get(t, k, strlen(k), &v) != 0)
                return 2;
        }
        for (int i = 0; i < MISSES; i++) {
            fct_key_of(k, "nokey", 3, i);
            if (fc_get(t, k, strlen(k), &v) != FC_ENOTFOUND)
                return 3;
        }
        if (fc_txn_end(t) != 0)
            return 4;
    }
    for (int i = 0; i < PUTS; i++) {
        snprintf(k, sizeof k, "w%d-%d", w, i);
        if (fc_put(s, k, strlen(k), "x", 1) != 0)
            return 5;
    }
    snprintf(k, sizeof k, "w%d-0", w);
    if (fc_del(s, k, strlen(k)) != 0)
        return 6;
    if (fc_add(s, "key000", 6, "y", 1, 0) != FC_EEXIST)
        return 7;
    snprintf(k, sizeof k, "n%d", w);
    return fc_incr(s, k, strlen(k), 1, 0, 0, NULL) != 0 ? 8 : 0;
}

START_TEST(test_exact_under_8_processes)
{
    fc_store *s = open_counted();
    fct_run_workers(s, PROCS, known_work, NULL);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    const fc_counters *c = &st.ops;
    ck_assert_uint_eq(c->hits, (uint64_t)PROCS * ROUNDS * HITS);
    ck_assert_uint_eq(c->misses, (uint64_t)PROCS * ROUNDS * MISSES);
    ck_assert_uint_eq(c->gets, c->hits + c->misses);
    ck_assert_uint_eq(c->expired, 0);
    ck_assert_uint_eq(c->puts, (uint64_t)KEYS + PROCS * PUTS);
    ck_assert_uint_eq(c->deletes, PROCS);
    ck_assert_uint_eq(c->atomic[0][FC_OUTCOME_REFUSED], PROCS);   /* add */
    ck_assert_uint_eq(c->atomic[0][FC_OUTCOME_APPLIED], 0);
    ck_assert_uint_eq(c->atomic[2][FC_OUTCOME_APPLIED], PROCS);   /* incr */
    uint64_t lat = 0;
    for (int b = 0; b < FC_LATENCY_BUCKETS; b++)
        lat += c->write_latency[b];
    ck_assert_uint_eq(lat, c->puts + c->deletes + c->batches);
    ck_assert_uint_gt(c->write_latency_sum_ns, 0);
    fc_close(s);
}
END_TEST

/* A child that does n hits, says so, then waits to be killed. */
static pid_t counted_child(fc_store *s, int n)
{
    int ready[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_txn *t;
        fc_val v;
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        for (int i = 0; i < n; i++)
            if (fc_get(t, "key001", 6, &v) != 0)
                _exit(3);
        if (fc_txn_end(t) != 0 || write(ready[1], "r", 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    fct_wait_byte(ready[0]);
    close(ready[0]);
    return pid;
}

/* The ops of pid's slot in fc_stats_readers; fails if pid holds none. */
static fc_counters reader_ops(fc_store *s, pid_t pid)
{
    fc_reader_stat rd[64];
    size_t n = 0;
    ck_assert_int_eq(fc_stats_readers(s, rd, 64, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (rd[i].pid == pid)
            return rd[i].ops;
    ck_abort_msg("pid %d holds no slot", (int)pid);
    return rd[0].ops;
}

START_TEST(test_killed_process_folds)
{
    fc_store *s = open_counted();
    pid_t kid = counted_child(s, 123);
    ck_assert_uint_eq(reader_ops(s, kid).hits, 123);
    fct_kill(kid);
    fci_readers_sweep(s->arena);   /* (or the writer's own sweep got there first) */
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.ops.hits, 123);
    /* folded: no slot's row holds them any more, the totals do */
    for (uint32_t i = 0; i < s->arena->slot_count; i++) {
        fc_counters row;
        fci_counters_read(s->arena, (int)i, &row);
        ck_assert_uint_eq(row.hits, 0);
    }
    /* the slot's next holder starts from zero; the sum goes on */
    kid = counted_child(s, 5);
    ck_assert_uint_eq(reader_ops(s, kid).hits, 5);
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.ops.hits, 128);
    fct_kill(kid);
    fc_close(s);
}
END_TEST

/* Threads of one process share its row: their counts add up exactly. */
static void *thread_gets(void *arg)
{
    fc_store *s = arg;
    for (int r = 0; r < ROUNDS; r++) {
        fc_txn *t;
        fc_val v;
        if (fc_txn_begin(s, &t) != 0)
            return s;
        for (int i = 0; i < HITS; i++)
            if (fc_get(t, "key002", 6, &v) != 0)
                return s;
        if (fc_get(t, "nokey", 5, &v) != FC_ENOTFOUND || fc_txn_end(t) != 0)
            return s;
    }
    return NULL;
}

START_TEST(test_threads_share_a_row)
{
    fc_store *s = open_counted();
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_gets, s), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        ck_assert_int_eq(pthread_join(th[i], &bad), 0);
        ck_assert_ptr_null(bad);
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.ops.hits, 4u * ROUNDS * HITS);
    ck_assert_uint_eq(st.ops.misses, 4u * ROUNDS);
    ck_assert_uint_eq(reader_ops(s, getpid()).hits, 4u * ROUNDS * HITS);
    fc_close(s);
}
END_TEST

START_TEST(test_latency_buckets)
{
    ck_assert_uint_eq(fci_counters_bucket(0), 0);
    ck_assert_uint_eq(fci_counters_bucket(999), 0);      /* under 1 us */
    ck_assert_uint_eq(fci_counters_bucket(1000), 1);     /* [1, 2) us */
    ck_assert_uint_eq(fci_counters_bucket(1999), 1);
    ck_assert_uint_eq(fci_counters_bucket(2000), 2);
    ck_assert_uint_eq(fci_counters_bucket(1000u << 13), 14);
    ck_assert_uint_eq(fci_counters_bucket(1000u << 14), FC_LATENCY_BUCKETS - 1);
    ck_assert_uint_eq(fci_counters_bucket(UINT64_MAX), FC_LATENCY_BUCKETS - 1);
}
END_TEST

/* Expired values count as misses, and as expired. */
START_TEST(test_expired_counts)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = 1;
    fc_store *s = fct_open_in(&o);
    ck_assert_int_eq(fc_put_ttl(s, "gone", 4, "v", 1, 1), 0);
    ck_assert_int_eq(fc_put_ttl(s, "here", 4, "v", 1, 0), 0);
    usleep(20000);
    fc_txn *t;
    fc_val v;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, "gone", 4, &v), FC_ENOTFOUND);
    ck_assert_int_eq(fc_get(t, "here", 4, &v), 0);
    ck_assert_int_eq(fc_txn_end(t), 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.ops.puts, 2);
    ck_assert_uint_eq(st.ops.hits, 1);
    ck_assert_uint_eq(st.ops.misses, 1);
    ck_assert_uint_eq(st.ops.expired, 1);
    fc_close(s);
}
END_TEST

/* A short buffer gets FC_ELIMIT and the length a second call needs. */
START_TEST(test_prometheus_sizing)
{
    fc_store *s = open_counted();
    size_t need = 0, len = 0;
    char small[64];
    ck_assert_int_eq(fc_stats_prometheus(s, small, sizeof small, &need), FC_ELIMIT);
    ck_assert_uint_gt(need, sizeof small);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    char *buf = malloc(need + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(fc_stats_prometheus(s, buf, need + 1, &len), 0);
    ck_assert_uint_eq(len, need);
    ck_assert_ptr_nonnull(strstr(buf, "\nforkcache_puts_total 40\n"));
    ck_assert_ptr_nonnull(strstr(buf, "forkcache_write_latency_seconds_count 40\n"));
    free(buf);
    fc_close(s);
}
END_TEST

static Suite *counters_suite(void)
{
    Suite *su = suite_create("db_counters");
    TCase *tc = tcase_create("counters");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_exact_under_8_processes);
    tcase_add_test(tc, test_killed_process_folds);
    tcase_add_test(tc, test_threads_share_a_row);
    tcase_add_test(tc, test_latency_buckets);
    tcase_add_test(tc, test_expired_counts);
    tcase_add_test(tc, test_prometheus_sizing);
    suite_add_tcase(su, tc);
    return su;
}

FCT_MAIN(counters_suite)
