/*
 * check_db_lease.c - fc_get_or_compute: a hit never computes, a miss is
 * computed by exactly one process of the store while the others wait, and
 * the death of the computing process frees its lease (someone else
 * computes, nobody deadlocks). Counts live in shared memory.
 */
#include "config.h"

#include <signal.h>
#include <stdatomic.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/ttl.h"
#include "shm/lease.h"

#define PROCS 8
#define KEYS 16
#define WAIT_MS 60000   /* generous: no waiter should ever give up in these tests */

typedef struct shared_counts {
    _Atomic int computes[KEYS];
    _Atomic int started;        /* computes that began (the killed test) */
    _Atomic int bad;            /* wrong values seen */
} shared_counts;

static shared_counts *C;

static int framed_;

static fc_store *open_lease(void)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = framed_;
    o.queue_slots = 16;
    o.write_timeout_ms = 30000;
    C = fct_shared(sizeof *C);
    return fct_open_in(&o);
}

static int key_index(const void *key, size_t klen)
{
    char buf[16];
    if (klen >= sizeof buf)
        return -1;
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    int i = -1;
    return sscanf(buf, "page%d", &i) == 1 && i >= 0 && i < KEYS ? i : -1;
}

/* "value of pageN", slowly enough that the others arrive meanwhile. */
static int slow_compute(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    int i = key_index(key, klen);
    if (i < 0)
        return FC_EINVAL;
    atomic_fetch_add(&C->computes[i], 1);
    usleep(arg != NULL ? *(int *)arg : 20000);
    char *v = malloc(32);
    if (v == NULL)
        return FC_ENOMEM;
    *vlen = (size_t)snprintf(v, 32, "value of page%d", i);
    *value = v;
    return 0;
}

static int check_value(int i, const void *v, size_t n)
{
    char want[32];
    int len = snprintf(want, sizeof want, "value of page%d", i);
    return n == (size_t)len && memcmp(v, want, n) == 0;
}

static int fetch(fc_store *s, int i, fc_compute_fn fn, void *arg)
{
    char k[16];
    snprintf(k, sizeof k, "page%d", i);
    void *v = NULL;
    size_t n = 0;
    int rc = fc_get_or_compute(s, k, strlen(k), 0, WAIT_MS, fn, arg, &v, &n);
    if (rc == 0 && !check_value(i, v, n))
        atomic_fetch_add(&C->bad, 1);
    free(v);
    return rc;
}

/* 8 processes (the writer among them) ask for the same 16 missing keys,
 * each from its own starting point: each key is computed exactly once and
 * everyone gets its value. */
/* Every key once, starting from a point of its own. */
static int fetcher(fc_store *s, int w, void *arg)
{
    (void)arg;
    for (int j = 0; j < KEYS; j++)
        if (fetch(s, (j + w * 3) % KEYS, slow_compute, NULL) != 0)
            return 3;
    return 0;
}

START_TEST(computed_once_per_key)
{
    fc_store *s = open_lease();
    pid_t kids[PROCS - 1];
    for (int w = 0; w < PROCS - 1; w++)
        kids[w] = fct_fork_worker(s, w, fetcher, NULL);
    for (int j = 0; j < KEYS; j++)
        ck_assert_int_eq(fetch(s, (j + 5) % KEYS, slow_compute, NULL), 0);
    for (int w = 0; w < PROCS - 1; w++)
        fct_wait_ok(kids[w], "fetcher");
    for (int i = 0; i < KEYS; i++)
        ck_assert_msg(atomic_load(&C->computes[i]) == 1, "page%d computed %d times", i,
                      atomic_load(&C->computes[i]));
    ck_assert_int_eq(atomic_load(&C->bad), 0);
    /* hits compute nothing */
    for (int i = 0; i < KEYS; i++)
        ck_assert_int_eq(fetch(s, i, slow_compute, NULL), 0);
    for (int i = 0; i < KEYS; i++)
        ck_assert_int_eq(atomic_load(&C->computes[i]), 1);
    fc_close(s);
}
END_TEST

/* Computes forever once started: the process is killed meanwhile. */
static int stuck_compute(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    (void)arg; (void)key; (void)klen; (void)value; (void)vlen;
    atomic_fetch_add(&C->started, 1);
    for (;;)
        pause();
    return FC_EINTERNAL;
}

static int fetch_page3(fc_store *s, int w, void *arg)
{
    (void)w;
    return fetch(s, 3, arg != NULL ? stuck_compute : slow_compute, NULL) == 0 ? 0 : 3;
}

/* The computing process is SIGKILLed mid-compute while 7 others wait on
 * its lease: the lease is freed by its death, exactly one waiter computes,
 * all get the value, nobody hangs (the test's timeout would catch it). */
START_TEST(holder_killed_mid_compute)
{
    fc_store *s = open_lease();
    pid_t holder = fct_fork_worker(s, 0, fetch_page3, "stuck");
    for (long guard = 0; atomic_load(&C->started) == 0; guard++) {
        ck_assert_msg(guard < 60000, "the holder never started computing");
        usleep(1000);
    }
    pid_t kids[PROCS - 1];
    for (int w = 0; w < PROCS - 1; w++)
        kids[w] = fct_fork_worker(s, w, fetch_page3, NULL);
    usleep(50000); /* not needed for correctness: lets the waiters queue up */
    kill(holder, SIGKILL);
    int status;
    waitpid(holder, &status, 0);
    ck_assert(WIFSIGNALED(status));
    for (int w = 0; w < PROCS - 1; w++)
        fct_wait_ok(kids[w], "waiter");
    ck_assert_int_eq(atomic_load(&C->started), 1);
    ck_assert_int_eq(atomic_load(&C->computes[3]), 1);
    ck_assert_int_eq(atomic_load(&C->bad), 0);
    ck_assert_int_eq(fetch(s, 3, slow_compute, NULL), 0);
    ck_assert_int_eq(atomic_load(&C->computes[3]), 1);
    fc_close(s);
}
END_TEST

static int failing_compute(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    (void)arg; (void)key; (void)klen; (void)value; (void)vlen;
    return FC_EIO;
}

/* A compute error comes back to the caller, stores nothing, and frees the
 * lease: the next call computes. Bad arguments are refused. */
START_TEST(compute_error_and_arguments)
{
    fc_store *s = open_lease();
    ck_assert_int_eq(fetch(s, 7, failing_compute, NULL), FC_EIO);
    int quick = 0;
    ck_assert_int_eq(fetch(s, 7, slow_compute, &quick), 0);
    ck_assert_int_eq(atomic_load(&C->computes[7]), 1);
    void *v;
    size_t n;
    ck_assert_int_eq(fc_get_or_compute(s, "k", 1, 0, 0, NULL, NULL, &v, &n), FC_EINVAL);
    ck_assert_int_eq(fc_get_or_compute(NULL, "k", 1, 0, 0, slow_compute, NULL, &v, &n), FC_EINVAL);
    fc_close(s);
}
END_TEST

/* The computed value lives ttl_ms (judged by the test clock): a hit until
 * then, computed again afterwards. */
START_TEST(computed_value_expires)
{
    framed_ = 1;
    fc_store *s = open_lease();
    const uint64_t t0 = 1800000000000ull;
    ck_assert_int_eq(fci_ttl_set_clock(s, t0), 0);
    int quick = 0;
    void *v;
    size_t n;
    int rc = fc_get_or_compute(s, "page2", 5, 1000, WAIT_MS, slow_compute, &quick, &v, &n);
    ck_assert_int_eq(rc, 0);
    free(v);
    fc_txn *t;
    uint64_t left = 0;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_ttl(t, "page2", 5, &left), 0);
    fc_txn_end(t);
    ck_assert_uint_eq(left, 1000);
    ck_assert_int_eq(fci_ttl_set_clock(s, t0 + 999), 0);
    ck_assert_int_eq(fetch(s, 2, slow_compute, &quick), 0);
    ck_assert_int_eq(atomic_load(&C->computes[2]), 1);
    ck_assert_int_eq(fci_ttl_set_clock(s, t0 + 1000), 0);
    ck_assert_int_eq(fetch(s, 2, slow_compute, &quick), 0);
    ck_assert_int_eq(atomic_load(&C->computes[2]), 2);
    ck_assert_int_eq(atomic_load(&C->bad), 0);
    fci_ttl_set_clock(s, 0);
    fc_close(s);
}
END_TEST

/* The lease table alone: one holder at a time, release by the holder, and
 * takeover from a dead holder. */
START_TEST(lease_table_protocol)
{
    static char mem[sizeof(fci_lease_table) + 4 * sizeof(fci_lease_slot)];
    fci_lease_table *t = (fci_lease_table *)mem;
    fci_lease_init(t, 4);
    ck_assert_int_eq(fci_lease_check(t, sizeof mem), 0);
    ck_assert_int_eq(fci_lease_check(t, sizeof mem - 1), FC_ECORRUPT);
    uint64_t a, b;
    ck_assert_int_eq(fci_lease_try(t, 5, &a), 1);
    /* the same slot (5 % 4 == 9 % 4) is held by a live process: us */
    ck_assert_int_eq(fci_lease_try(t, 9, &b), 0);
    fci_lease_release(t, 5, a);
    ck_assert_int_eq(fci_lease_try(t, 9, &b), 1);
    ck_assert(b != a);
    fci_lease_release(t, 9, b);
    /* a dead holder's lease is taken over */
    fci_lease_slot *slots = (fci_lease_slot *)(t + 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    atomic_store(&slots[2].owner, (uint64_t)(uint32_t)pid);
    ck_assert_int_eq(fci_lease_try(t, 2, &a), 1);
    ck_assert_int_eq(atomic_load(&t->takeovers), 1);
}
END_TEST

static Suite *lease_suite(void)
{
    Suite *s = suite_create("db_lease");
    TCase *tc = tcase_create("lease");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lease_table_protocol);
    tcase_add_test(tc, computed_once_per_key);
    tcase_add_test(tc, holder_killed_mid_compute);
    tcase_add_test(tc, compute_error_and_arguments);
    tcase_add_test(tc, computed_value_expires);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(lease_suite)
