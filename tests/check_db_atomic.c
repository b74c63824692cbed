/*
 * check_db_atomic.c - fc_add, fc_replace, fc_cas and fc_incr: their
 * answers, the counter encoding, and atomicity across processes (the
 * writer decides every operation, also with producers being SIGKILLed).
 */
#include "config.h"

#include <signal.h>
#include <stdatomic.h>

#include "fct.h"
#include "forkcache.h"
#include "db/write/condwrite.h"
#include "db/core/ttl.h"

#define PROCS 8

/* Set by the loop tests: 1 runs them on a store with expiry framing. */
static int framed_;

static fc_store *open_atomic(int timeout_ms)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = framed_;
    o.queue_slots = 16;
    o.queue_entry_size = 16 * 1024;
    o.write_timeout_ms = timeout_ms;
    return fct_open_in(&o);
}

/* Reads key into a NUL-terminated buffer; 1 when it equals want (NULL:
 * absent), 0 otherwise. */
static int value_is(fc_store *s, const char *key, const char *want)
{
    fc_txn *t;
    char buf[128];
    size_t n = 0;
    if (fc_txn_begin(s, &t) != 0)
        return 0;
    int rc = fc_get_copy(t, key, strlen(key), buf, sizeof buf - 1, &n);
    fc_txn_end(t);
    if (want == NULL)
        return rc == FC_ENOTFOUND;
    return rc == 0 && n == strlen(want) && memcmp(buf, want, n) == 0;
}

static int64_t counter_of(fc_store *s, const char *key)
{
    fc_txn *t;
    char buf[32];
    size_t n = 0;
    int64_t v = -1;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get_copy(t, key, strlen(key), buf, sizeof buf, &n), 0);
    fc_txn_end(t);
    ck_assert_int_eq(fci_counter_parse(buf, n, &v), 0);
    return v;
}

START_TEST(counter_encoding)
{
    static const struct { const char *text; int ok; int64_t v; } cases[] = {
        { "0", 1, 0 }, { "42", 1, 42 }, { "-42", 1, -42 }, { "007", 1, 7 },
        { "9223372036854775807", 1, INT64_MAX }, { "-9223372036854775808", 1, INT64_MIN },
        { "9223372036854775808", 0, 0 }, { "-9223372036854775809", 0, 0 },
        { "", 0, 0 }, { "-", 0, 0 }, { "+1", 0, 0 }, { " 1", 0, 0 }, { "1 ", 0, 0 },
        { "1x", 0, 0 }, { "0x10", 0, 0 }, { "--1", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        int rc = fci_counter_parse(cases[i].text, strlen(cases[i].text), &v);
        ck_assert_msg(rc == (cases[i].ok ? 0 : FC_ENAN), "'%s': rc %d", cases[i].text, rc);
        if (cases[i].ok)
            ck_assert_msg(v == cases[i].v, "'%s' parsed as %lld", cases[i].text, (long long)v);
    }
    static const int64_t round[] = { 0, 1, -1, 10, -99, INT64_MAX, INT64_MIN, 1000000007 };
    for (size_t i = 0; i < sizeof round / sizeof round[0]; i++) {
        char buf[24];
        size_t n = fci_counter_format(round[i], buf);
        buf[n] = '\0';
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)round[i]);
        ck_assert_str_eq(buf, want);
        int64_t back;
        ck_assert_int_eq(fci_counter_parse(buf, n, &back), 0);
        ck_assert(back == round[i]);
    }
}
END_TEST

/* Every answer of every operation; the same calls run in the writer and,
 * through the queue, in a forked child (each on its own keys). Returns the
 * number of the first failed check, 0 when all held. */
static int exercise(fc_store *s, const char *p)
{
    char k[64], k2[64], k3[64], k4[64];
    snprintf(k, sizeof k, "%s:a", p);
    snprintf(k2, sizeof k2, "%s:n", p);
    snprintf(k3, sizeof k3, "%s:text", p);
    snprintf(k4, sizeof k4, "%s:max", p);
    int64_t v = 0;
    if (fc_add(s, k, strlen(k), "one", 3, 0) != 0 || !value_is(s, k, "one"))
        return 1;
    if (fc_add(s, k, strlen(k), "two", 3, 0) != FC_EEXIST || !value_is(s, k, "one"))
        return 2;
    if (strstr(fc_errmsg(s), "fc_add") == NULL)
        return 3;
    if (fc_replace(s, k2, strlen(k2), "x", 1, 0) != FC_ENOTFOUND || !value_is(s, k2, NULL))
        return 4;
    if (fc_replace(s, k, strlen(k), "three", 5, 0) != 0 || !value_is(s, k, "three"))
        return 5;
    if (fc_cas(s, k, strlen(k), "one", 3, "four", 4, 0) != FC_EMISMATCH || !value_is(s, k, "three"))
        return 6;
    if (fc_cas(s, k2, strlen(k2), "", 0, "z", 1, 0) != FC_ENOTFOUND || !value_is(s, k2, NULL))
        return 7;
    if (fc_cas(s, k, strlen(k), "three", 5, "four", 4, 0) != 0 || !value_is(s, k, "four"))
        return 8;
    if (fc_incr(s, k2, strlen(k2), 5, 100, 0, &v) != 0 || v != 105 || !value_is(s, k2, "105"))
        return 9;
    if (fc_incr(s, k2, strlen(k2), -205, 0, 0, &v) != 0 || v != -100 || !value_is(s, k2, "-100"))
        return 10;
    if (fc_incr(s, k, strlen(k), 1, 0, 0, &v) != FC_ENAN || !value_is(s, k, "four"))
        return 11;
    if (fc_put(s, k4, strlen(k4), "9223372036854775807", 19) != 0)
        return 12;
    if (fc_incr(s, k4, strlen(k4), 1, 0, 0, &v) != FC_EOVERFLOW ||
        !value_is(s, k4, "9223372036854775807"))
        return 13;
    if (fc_incr(s, k4, strlen(k4), INT64_MIN, 0, 0, &v) != 0 || v != -1)
        return 14;
    /* a deleted key is absent for add and incr */
    if (fc_del(s, k2, strlen(k2)) != 0 || fc_add(s, k2, strlen(k2), "7", 1, 0) != 0 ||
        fc_incr(s, k2, strlen(k2), 1, 0, 0, NULL) != 0 || !value_is(s, k2, "8"))
        return 15;
    if (fc_put(s, k3, strlen(k3), "12 ", 3) != 0 ||
        fc_incr(s, k3, strlen(k3), 1, 0, 0, &v) != FC_ENAN)
        return 16;
    if (fc_add(NULL, "k", 1, "v", 1, 0) != FC_EINVAL)
        return 17;
    return 0;
}

static int exercise_queued(fc_store *s, int w, void *arg)
{
    (void)w; (void)arg;
    return exercise(s, "queued");
}

START_TEST(answers_in_the_writer_and_through_the_queue)
{
    framed_ = _i;
    fc_store *s = open_atomic(10000);
    ck_assert_int_eq(exercise(s, "here"), 0);
    fct_run_workers(s, 1, exercise_queued, NULL);
    /* what the child did is in the store as plain puts, also after reopening */
    ck_assert(value_is(s, "queued:a", "four"));
    ck_assert_int_eq(fc_close(s), 0);
    s = open_atomic(10000);
    ck_assert(value_is(s, "queued:n", "8"));
    ck_assert(value_is(s, "here:max", "-1"));
    fc_close(s);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* 8 processes x 10,000 increments of one key through the queue while the
 * writer process adds 10,000 of its own directly, with memtables small
 * enough to switch often (a switch may wait for the previous flush,
 * releasing the writer's mutex: a decision made before such a wait would
 * lose increments). The total is exact, and every value 1..N was returned
 * to exactly one caller (checked by their sum). */
typedef struct incr_arg {
    int n;
    _Atomic int64_t *sums;
} incr_arg;

/* n increments; the sum of the values returned goes to sums[w]. */
static int incr_worker(fc_store *s, int w, void *arg)
{
    incr_arg *a = arg;
    int64_t sum = 0, v;
    for (int i = 0; i < a->n; i++) {
        if (fc_incr(s, "ctr", 3, 1, 0, 0, &v) != 0)
            return 3;
        sum += v;
    }
    atomic_store(&a->sums[w], sum);
    return 0;
}

START_TEST(incr_from_eight_processes_is_exact)
{
    framed_ = _i;
    fc_store *s = open_atomic(30000);
    const int mine = 10000;
    incr_arg a = { 10000, fct_shared(sizeof(int64_t) * PROCS) };
    pid_t kids[PROCS];
    for (int w = 0; w < PROCS; w++)
        kids[w] = fct_fork_worker(s, w, incr_worker, &a);
    int64_t sum = 0, v;
    for (int i = 0; i < mine; i++) {
        ck_assert_int_eq(fc_incr(s, "ctr", 3, 1, 0, 0, &v), 0);
        sum += v;
    }
    for (int w = 0; w < PROCS; w++)
        fct_wait_ok(kids[w], "incr worker");
    int64_t total = (int64_t)PROCS * a.n + mine;
    ck_assert_int_eq(counter_of(s, "ctr"), total);
    for (int w = 0; w < PROCS; w++)
        sum += atomic_load(&a.sums[w]);
    ck_assert_int_eq(sum, total * (total + 1) / 2);
    fc_close(s);
}
END_TEST

/* Producers that are SIGKILLed at random and restarted until each has
 * 10,000 acknowledged increments. An increment is acknowledged when
 * fc_incr returned 0 and the producer recorded it in shared memory. A
 * kill can land after the writer applied an increment and before its
 * producer recorded the ack (waiting for the answer, or between the
 * return and the record): that one is applied but not counted. So the
 * final value lies in [acked, acked + kills]; no increment is applied
 * twice, none acknowledged is lost. */
#define KILL_TARGET 10000

static int incr_producer(fc_store *s, int w, void *arg)
{
    _Atomic int *acked = arg;
    while (atomic_load(&acked[w]) < KILL_TARGET) {
        int rc = fc_incr(s, "killed", 6, 1, 0, 0, NULL);
        if (rc != 0) {
            fprintf(stderr, "producer %d: fc_incr %d: %s\n", w, rc, fc_errmsg(s));
            return 3;
        }
        atomic_fetch_add(&acked[w], 1);
    }
    return 0;
}

START_TEST(incr_with_producers_killed)
{
    fc_store *s = open_atomic(30000);
    const int target = KILL_TARGET;
    _Atomic int *acked = fct_shared(sizeof(int) * PROCS);
    pid_t pids[PROCS];
    for (int w = 0; w < PROCS; w++)
        pids[w] = fct_fork_worker(s, w, incr_producer, acked);
    uint32_t x = 2463534242u;
    int kills = 0;
    for (int round = 0; round < 40; round++) {
        usleep(10000);
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        int w = (int)(x % PROCS);
        int status;
        kill(pids[w], SIGKILL);
        waitpid(pids[w], &status, 0);
        if (WIFSIGNALED(status))
            kills++;
        else
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer %d: %d", w,
                          status);
        /* restarted; one that is done already exits 0 at once */
        pids[w] = fct_fork_worker(s, w, incr_producer, acked);
    }
    for (int w = 0; w < PROCS; w++)
        fct_wait_ok(pids[w], "producer");
    long sum = 0;
    for (int w = 0; w < PROCS; w++) {
        ck_assert_int_eq(atomic_load(&acked[w]), target);
        sum += atomic_load(&acked[w]);
    }
    int64_t final = counter_of(s, "killed");
    fprintf(stderr, "incr torture: %d kills, %ld acked, final %lld\n", kills, sum,
            (long long)final);
    ck_assert_int_ge(kills, 1);
    ck_assert_int_ge(final, sum);
    ck_assert_int_le(final, sum + kills);
    /* the writer goes on answering, and the value survives a reopen */
    int64_t v;
    ck_assert_int_eq(fc_incr(s, "killed", 6, 0, 0, 0, &v), 0);
    ck_assert_int_eq(v, final);
    ck_assert_int_eq(fc_close(s), 0);
    s = open_atomic(30000);
    ck_assert_int_eq(counter_of(s, "killed"), final);
    fc_close(s);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* 8 processes add the same 200 keys, each in its own order: every key has
 * exactly one winner, and its value names that winner. */
#define ADD_KEYS 200

/* Adds every key, in an order of its own; counts its wins per key. */
static int adder(fc_store *s, int w, void *arg)
{
    _Atomic int *wins = arg, *winner = wins + ADD_KEYS;
    for (int i = 0; i < ADD_KEYS; i++) {
        int key = (i * (2 * w + 1) + w * 17) % ADD_KEYS;
        char k[16], v[8];
        snprintf(k, sizeof k, "add%03d", key);
        snprintf(v, sizeof v, "w%d", w);
        int rc = fc_add(s, k, strlen(k), v, strlen(v), 0);
        if (rc == 0) {
            atomic_fetch_add(&wins[key], 1);
            atomic_store(&winner[key], w);
        } else if (rc != FC_EEXIST) {
            return 3;
        }
    }
    return 0;
}

START_TEST(add_races_have_one_winner)
{
    fc_store *s = open_atomic(30000);
    _Atomic int *wins = fct_shared(sizeof(int) * ADD_KEYS * 2);
    _Atomic int *winner = wins + ADD_KEYS;
    fct_run_workers(s, PROCS, adder, wins);
    for (int i = 0; i < ADD_KEYS; i++) {
        char k[16], v[8];
        snprintf(k, sizeof k, "add%03d", i);
        snprintf(v, sizeof v, "w%d", atomic_load(&winner[i]));
        ck_assert_msg(atomic_load(&wins[i]) == 1, "%s: %d winners", k, atomic_load(&wins[i]));
        ck_assert_msg(value_is(s, k, v), "%s is not the winner's value %s", k, v);
    }
    fc_close(s);
}
END_TEST

/* Read-modify-write loops with fc_cas from 8 processes: retried on
 * FC_EMISMATCH, never losing an update: the final count equals the
 * successes. */
#define CAS_PER 400

/* CAS_PER successful read-increment-cas rounds; stats[0] counts
 * successes, stats[1] mismatches (retried). */
static int cas_worker(fc_store *s, int w, void *arg)
{
    _Atomic long *stats = arg;
    (void)w;
    for (int done = 0, guard = 0; done < CAS_PER; guard++) {
        if (guard > 10000000)
            return 4;
        char cur[32], next[32];
        size_t n = 0;
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0 || fc_get_copy(t, "cas", 3, cur, sizeof cur, &n) != 0)
            return 5;
        fc_txn_end(t);
        int64_t v;
        if (fci_counter_parse(cur, n, &v) != 0)
            return 6;
        size_t m = fci_counter_format(v + 1, next);
        int rc = fc_cas(s, "cas", 3, cur, n, next, m, 0);
        if (rc != 0 && rc != FC_EMISMATCH)
            return 3;
        done += rc == 0;
        atomic_fetch_add(&stats[rc == 0 ? 0 : 1], 1);
    }
    return 0;
}

START_TEST(cas_loops_lose_no_update)
{
    fc_store *s = open_atomic(30000);
    const int per = CAS_PER;
    ck_assert_int_eq(fc_put(s, "cas", 3, "0", 1), 0);
    _Atomic long *stats = fct_shared(sizeof(long) * 2);
    fct_run_workers(s, PROCS, cas_worker, (void *)stats);
    fprintf(stderr, "cas: %ld successes, %ld mismatches retried\n", atomic_load(&stats[0]),
            atomic_load(&stats[1]));
    ck_assert_int_eq(atomic_load(&stats[0]), (long)PROCS * per);
    ck_assert_int_eq(counter_of(s, "cas"), (int64_t)PROCS * per);
    fc_close(s);
}
END_TEST

#define T0 1800000000000ull   /* the test clock, ms since the epoch */

static uint64_t ms_left(fc_store *s, const char *key)
{
    fc_txn *t;
    uint64_t left = 0;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    int rc = fc_ttl(t, key, strlen(key), &left);
    fc_txn_end(t);
    return rc == 0 ? left : 0;
}

/* Expiry with the injectable clock, in the writer and through the queue:
 * an expired key is absent for add, replace, cas and incr; add, replace
 * and cas give what they write the caller's ttl; incr gives it to a
 * counter it creates and keeps an existing counter's expiry. */
static int ttl_checks(fc_store *s, int w, void *arg)
{
    (void)w;
    char k[32], c[32];
    snprintf(k, sizeof k, "%s:k", (const char *)arg);
    snprintf(c, sizeof c, "%s:c", (const char *)arg);
    int64_t v;
    if (fci_ttl_set_clock(s, T0) != 0 || fc_add(s, k, strlen(k), "a", 1, 1000) != 0)
        return 1;
    if (ms_left(s, k) != 1000 || fc_incr(s, c, strlen(c), 1, 0, 1000, &v) != 0 || v != 1)
        return 2;
    if (fci_ttl_set_clock(s, T0 + 600) != 0 || fc_add(s, k, strlen(k), "b", 1, 1000) != FC_EEXIST)
        return 3;
    /* the counter keeps its window; replace and cas set a new one */
    if (fc_incr(s, c, strlen(c), 1, 0, 5000, &v) != 0 || v != 2 || ms_left(s, c) != 400)
        return 4;
    if (fc_cas(s, k, strlen(k), "a", 1, "c", 1, 2000) != 0 || ms_left(s, k) != 2000)
        return 5;
    if (fc_replace(s, k, strlen(k), "d", 1, 0) != 0 || ms_left(s, k) != FC_TTL_FOREVER)
        return 6;
    if (fc_replace(s, k, strlen(k), "e", 1, 100) != 0 || !value_is(s, k, "e"))
        return 7;
    /* past both expiries: absent for everything */
    if (fci_ttl_set_clock(s, T0 + 1000) != 0 || !value_is(s, c, NULL) || !value_is(s, k, NULL))
        return 8;
    if (fc_replace(s, k, strlen(k), "f", 1, 0) != FC_ENOTFOUND ||
        fc_cas(s, k, strlen(k), "e", 1, "f", 1, 0) != FC_ENOTFOUND)
        return 9;
    if (fc_incr(s, c, strlen(c), 1, 10, 0, &v) != 0 || v != 11 || ms_left(s, c) != FC_TTL_FOREVER)
        return 10;
    if (fc_add(s, k, strlen(k), "g", 1, 0) != 0 || !value_is(s, k, "g"))
        return 11;
    return 0;
}

START_TEST(time_to_live)
{
    framed_ = 1;
    fc_store *s = open_atomic(10000);
    ck_assert_int_eq(ttl_checks(s, 0, "here"), 0);
    fct_run_workers(s, 1, ttl_checks, "queued");
    ck_assert_int_eq(fci_ttl_set_clock(s, 0), 0);
    fc_close(s);
}
END_TEST

/* A time to live on a store without framing is refused, nothing written. */
START_TEST(time_to_live_needs_framing)
{
    framed_ = 0;
    fc_store *s = open_atomic(10000);
    ck_assert_int_eq(fc_add(s, "k", 1, "v", 1, 1000), FC_EUNSUPPORTED);
    ck_assert_int_eq(fc_incr(s, "n", 1, 1, 0, 1000, NULL), FC_EUNSUPPORTED);
    ck_assert(value_is(s, "k", NULL) && value_is(s, "n", NULL));
    ck_assert_int_eq(fc_add(s, "k", 1, "v", 1, 0), 0);
    fc_close(s);
}
END_TEST

static Suite *atomic_suite(void)
{
    Suite *s = suite_create("db_atomic");
    TCase *tc = tcase_create("atomic");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, counter_encoding);
    /* _i = 0: a plain store; 1: values framed with their expiry */
    tcase_add_loop_test(tc, answers_in_the_writer_and_through_the_queue, 0, 2);
    tcase_add_loop_test(tc, incr_from_eight_processes_is_exact, 0, 2);
    tcase_add_test(tc, time_to_live);
    tcase_add_test(tc, time_to_live_needs_framing);
    tcase_add_test(tc, incr_with_producers_killed);
    tcase_add_test(tc, add_races_have_one_winner);
    tcase_add_test(tc, cas_loops_lose_no_update);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(atomic_suite)
