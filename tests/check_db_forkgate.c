/*
 * check_db_forkgate.c - a fork waits until the writer's own threads stand
 * still (db/forkgate.c), and forking a busy writer never hangs.
 *
 * The load: an application thread of the writer puts without pause (the
 * background thread flushes and compacts), and a forked producer puts
 * 4 KiB values through the write queue (the drain thread applies them and
 * often waits for a flush). While the gate is closed, neither thread may
 * take a step: the writer's counters of their work stay still.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "db/core/forkgate.h"
#include "db/core/store.h"

typedef struct load {
    fc_store *s;
    pthread_t putter;
    pid_t producer;
    atomic_int stop;
} load;

static void *putter_main(void *arg)
{
    load *l = arg;
    char k[32], v[200];
    memset(v, 'p', sizeof v);
    for (unsigned i = 0; !atomic_load(&l->stop); i++) {
        int n = snprintf(k, sizeof k, "app%08u", i % 50000);
        if (fc_put(l->s, k, (size_t)n, v, sizeof v) != 0)
            break;
    }
    return NULL;
}

static void producer_main(fc_store *s)
{
    char k[32], v[4096];
    memset(v, 'q', sizeof v);
    if (fc_after_fork(s) != 0)
        _exit(2);
    for (unsigned i = 0;; i++) {
        int n = snprintf(k, sizeof k, "queue%06u", i % 5000);
        if (fc_put(s, k, (size_t)n, v, sizeof v) != 0)
            _exit(3);
    }
}

static void load_start(load *l)
{
    fc_options o = fct_small_opts();
    l->s = fct_open_in(&o);
    atomic_init(&l->stop, 0);
    l->producer = fc_fork();
    ck_assert_int_ge(l->producer, 0);
    if (l->producer == 0)
        producer_main(l->s);
    ck_assert_int_eq(pthread_create(&l->putter, NULL, putter_main, l), 0);
}

static void load_stop(load *l)
{
    atomic_store(&l->stop, 1);
    pthread_join(l->putter, NULL);
    kill(l->producer, SIGKILL);
    waitpid(l->producer, NULL, 0);
    ck_assert_int_eq(fc_close(l->s), 0);
}

/* The work only the writer's own threads do, counted where it is done:
 * flushes, compactions and the entries the drain thread applied (a
 * producer process now applies most of its own: write/lead.c). */
static uint64_t thread_work(fc_store *s)
{
    pthread_mutex_lock(&s->w->mu);
    uint64_t n = s->w->flushes + s->w->compactions + s->w->drained;
    pthread_mutex_unlock(&s->w->mu);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(closed_gate_stops_the_writer_threads)
{
    load l;
    load_start(&l);
    uint64_t first = thread_work(l.s);
    for (int i = 0; i < 100; i++) {
        fci_gate_close();
        ck_assert_int_eq(fci_gate_working(), 0);
        uint64_t before = thread_work(l.s);
        sleep_ms(3);
        uint64_t after = thread_work(l.s);
        ck_assert_int_eq(fci_gate_working(), 0);
        fci_gate_open();
        ck_assert_msg(after == before, "round %d: the writer's threads did %llu steps "
                      "with the gate closed", i, (unsigned long long)(after - before));
        sleep_ms(2);
    }
    /* And they went on between the rounds: the gate is not a lock-up. */
    uint64_t last = thread_work(l.s);
    load_stop(&l);
    ck_assert_msg(last > first, "no flush, compaction or queued write in 100 open windows");
}
END_TEST

/* Each child allocates (under AddressSanitizer a child forked while a
 * writer thread was inside malloc hung here) and reads the store. */
START_TEST(fork_of_a_busy_writer_never_hangs)
{
    load l;
    load_start(&l);
    for (int i = 0; i < 200; i++) {
        pid_t pid = fc_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            if (fc_after_fork(l.s) != 0)
                _exit(2);
            for (int j = 0; j < 100; j++)
                free(malloc((size_t)(16 << (j % 12))));
            fc_txn *t;
            if (fc_txn_begin(l.s, &t) != 0)
                _exit(3);
            fc_txn_end(t);
            _exit(0);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status %#x", i, status);
    }
    load_stop(&l);
}
END_TEST

static void *wait_for_go(void *arg)
{
    atomic_int *go = arg;
    fci_gate_adopt();
    while (!atomic_load(go))
        sleep_ms(1);
    return NULL;
}

/* A thread's start and exit allocate inside the runtime: it counts as
 * working from before pthread_create until it is joined (a reader forked
 * right after fc_open hung in CI while the new threads were starting). */
START_TEST(a_thread_counts_from_spawn_to_reap)
{
    atomic_int go;
    atomic_init(&go, 0);
    pthread_t t;
    ck_assert_int_eq(fci_gate_spawn(&t, wait_for_go, &go), 0);
    ck_assert_int_eq(fci_gate_working(), 1);
    atomic_store(&go, 1);
    sleep_ms(20); /* it has returned by now, or is returning: still counted */
    ck_assert_int_eq(fci_gate_working(), 1);
    fci_gate_reap(t);
    ck_assert_int_eq(fci_gate_working(), 0);
}
END_TEST

/* Readers forked the moment the writer opened, again and again. */
START_TEST(fork_right_after_open)
{
    fc_options o = fct_small_opts();
    for (int i = 0; i < 30; i++) {
        fc_store *s = fct_open_in(&o);
        pid_t pid = fc_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            if (fc_after_fork(s) != 0)
                _exit(2);
            free(malloc(1000));
            _exit(fc_close(s) == 0 ? 0 : 3);
        }
        ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %#x", i, status);
        ck_assert_int_eq(fc_close(s), 0);
    }
}
END_TEST

static Suite *forkgate_suite(void)
{
    Suite *s = suite_create("db_forkgate");
    TCase *tc = tcase_create("forkgate");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_add_test(tc, closed_gate_stops_the_writer_threads);
    tcase_add_test(tc, fork_of_a_busy_writer_never_hangs);
    tcase_add_test(tc, a_thread_counts_from_spawn_to_reap);
    tcase_add_test(tc, fork_right_after_open);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(forkgate_suite)
