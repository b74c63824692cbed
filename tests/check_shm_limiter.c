/*
 * check_shm_limiter.c - the cross-process Limiter: its bound, its errors,
 * per-process holdings, the cap on mapped bytes (the byte Limiter), and
 * exactness of both when holders are SIGKILLed at random
 * points of a transfer.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "fct_internal.h"

START_TEST(bound_and_errors)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 5);
    fci_err e;
    ck_assert_uint_eq(fci_limiter_available(a), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fci_limiter_acquire(a, &e), 0);
    ck_assert_int_eq(fci_limiter_acquire(a, &e), FC_ELIMIT);
    ck_assert_ptr_nonnull(strstr(e.msg, "5 table mappings"));
    ck_assert_uint_eq(fci_limiter_available(a), 0);
    ck_assert_uint_eq(fci_limiter_held(a), 5);
    ck_assert_int_eq(fci_limiter_release(a, &e), 0);
    ck_assert_int_eq(fci_limiter_acquire(a, &e), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fci_limiter_release(a, &e), 0);
    ck_assert_int_eq(fci_limiter_release(a, &e), FC_EINVAL);
    ck_assert_uint_eq(fci_limiter_available(a), 5);

    fci_reader_info ri[8];
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, ri, 8);
    ck_assert_uint_eq(st.limiter_capacity, 5);
    ck_assert_uint_eq(st.limiter_in_use, 0);
    ck_assert_uint_eq(st.readers_reported, 1);
    ck_assert_uint_eq(ri[0].n_acquired, 6);
    ck_assert_uint_eq(ri[0].n_refused, 1);
    fci_arena_detach(a);
}
END_TEST

/* The byte Limiter: a mapping costs its bytes rounded up to whole units
 * (64 KiB for a small cap), and the cap holds as the mapping count does. */
START_TEST(byte_cap_bound_and_errors)
{
    fci_arena *a = fct_shm_anon_capped(1 << 20, 8, 100, (1u << 20) + 1000);
    fci_err e;
    ck_assert_uint_eq(fci_limiter_bytes_cap(a), 1u << 20);   /* whole units */
    ck_assert_uint_eq(fci_limiter_units(a, 1), 1);
    ck_assert_uint_eq(fci_limiter_units(a, 65536), 1);
    ck_assert_uint_eq(fci_limiter_units(a, 65537), 2);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 10, &e), 0);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 7, &e), FC_ELIMIT);
    ck_assert_ptr_nonnull(strstr(e.msg, "mapped bytes"));
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 6, &e), 0);
    ck_assert_uint_eq(fci_limiter_bytes_in_use(a), 1u << 20);
    ck_assert_uint_eq(fci_limiter_bytes_held(a), 16);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 1, &e), FC_ELIMIT);
    ck_assert_int_eq(fci_limiter_release_bytes(a, 17, &e), FC_EINVAL);
    ck_assert_int_eq(fci_limiter_release_bytes(a, 16, &e), 0);
    ck_assert_uint_eq(fci_limiter_bytes_in_use(a), 0);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 17, &e), FC_ELIMIT);  /* past the cap */
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.mapped_bytes_cap, 1u << 20);
    ck_assert_uint_eq(st.mapped_bytes_in_use, 0);
    fci_arena_detach(a);
    /* a cap of terabytes takes a bigger unit: 24 bits of count still cover it */
    a = fct_shm_anon_capped(1 << 20, 8, 100, (uint64_t)3 << 40);
    ck_assert_uint_eq(fci_limiter_bytes_cap(a), (uint64_t)3 << 40);
    ck_assert_uint_eq(fci_limiter_units(a, 1), 1);
    fci_arena_detach(a);
}
END_TEST

/* Units held across processes add up; a child's units come back when it
 * detaches, and when it is killed once its slot is swept. */
START_TEST(units_return_on_detach_and_death)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    fci_err e;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(fci_limiter_acquire(a, &e), 0);
    pid_t normal = fork();
    if (normal == 0) {
        if (fci_arena_after_fork(a, NULL) != 0)
            _exit(2);
        for (int i = 0; i < 4; i++)
            if (fci_limiter_acquire(a, NULL) != 0)
                _exit(3);
        if (fci_limiter_held(a) != 4)
            _exit(4);
        fci_arena_detach(a);
        _exit(0);
    }
    ck_assert_int_eq(fct_reap(normal), 0);
    ck_assert_uint_eq(fci_limiter_available(a), 9);

    pid_t killed = fork();
    if (killed == 0) {
        if (fci_arena_after_fork(a, NULL) != 0)
            _exit(2);
        for (int i = 0; i < 6; i++)
            fci_limiter_acquire(a, NULL);
        if (write(p[1], "x", 1) != 1)
            _exit(5);
        pause();
        _exit(0);
    }
    fct_wait_byte(p[0]);
    ck_assert_uint_eq(fci_limiter_available(a), 3);
    ck_assert_int_eq(fci_readers_sweep(a), 0);      /* alive: nothing to take */
    ck_assert_uint_eq(fci_limiter_available(a), 3);
    fct_kill(killed);
    ck_assert_uint_eq(fci_limiter_available(a), 3);  /* not until a sweep */
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_uint_eq(fci_limiter_available(a), 9);
    ck_assert_uint_eq(fci_limiter_held(a), 1);
    close(p[0]);
    close(p[1]);
    fci_arena_detach(a);
}
END_TEST

/* Threads of one process share its slot; the busy bit serialises their
 * transfers, so the holdings stay exact. */
static fci_arena *g_arena;

static void *thread_hammer(void *arg)
{
    (void)arg;
    int held = 0;
    for (int i = 0; i < 20000; i++) {
        if ((i & 3) != 3 && fci_limiter_acquire(g_arena, NULL) == 0)
            held++;
        else if (held > 0 && fci_limiter_release(g_arena, NULL) == 0)
            held--;
    }
    while (held > 0) {
        if (fci_limiter_release(g_arena, NULL) != 0)
            return (void *)1;
        held--;
    }
    return NULL;
}

START_TEST(threads_share_a_slot)
{
    g_arena = fct_shm_anon(1 << 20, 8, 16);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, thread_hammer, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_uint_eq(fci_limiter_held(g_arena), 0);
    ck_assert_uint_eq(fci_limiter_available(g_arena), 16);
    fci_arena_detach(g_arena);
}
END_TEST

/* ---- the stress test ---- */

#define NPROC 8
#define CAP   24
#define BYTE_UNITS 40     /* byte Limiter capacity, 64 KiB units */

struct shared_flags {
    _Atomic int stop;
    _Atomic int violations;
    _Atomic uint64_t ops;
};

/* A worker acquires and releases at random, sometimes sweeps (so that
 * reclaimers get killed too), and checks the count never leaves [0, CAP]. */
static void hammer_child(fci_arena *a, struct shared_flags *f, unsigned seed)
{
    if (fci_arena_after_fork(a, NULL) != 0)
        _exit(2);
    uint64_t ops = 0;
    while (!atomic_load(&f->stop)) {
        unsigned r = (unsigned)rand_r(&seed);
        if (r % 3 != 0)
            fci_limiter_acquire(a, NULL);
        else if (fci_limiter_held(a) > 0 && fci_limiter_release(a, NULL) != 0)
            atomic_fetch_add(&f->violations, 1);
        uint32_t units = 1 + (r >> 8) % 4;
        if ((r >> 4) % 3 != 0)
            fci_limiter_acquire_bytes(a, units, NULL);
        else if (fci_limiter_bytes_held(a) >= units &&
                 fci_limiter_release_bytes(a, units, NULL) != 0)
            atomic_fetch_add(&f->violations, 1);
        if (r % 997 == 0)
            fci_readers_sweep(a);
        if (fci_limiter_available(a) > CAP || fci_limiter_held(a) > CAP ||
            fci_limiter_bytes_in_use(a) > (uint64_t)BYTE_UNITS << 16 ||
            fci_limiter_bytes_held(a) > BYTE_UNITS)
            atomic_fetch_add(&f->violations, 1);
        if ((++ops & 1023) == 0)
            atomic_fetch_add(&f->ops, 1024);
    }
    fci_arena_detach(a);
    _exit(0);
}

START_TEST(random_sigkills_leave_count_exact)
{
    fci_arena *a = fct_shm_anon_capped(1 << 20, 32, CAP, (uint64_t)BYTE_UNITS << 16);
    struct shared_flags *f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(f, MAP_FAILED);
    memset(f, 0, sizeof *f);
    pid_t kids[NPROC];
    unsigned seed = 12345;
    for (int i = 0; i < NPROC; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            hammer_child(a, f, (unsigned)i * 7919u + 1);
    }
    int kills = 0, swept = 0;
    /* about one second and at least 40 kills, however slow the machine (a
     * sanitizer build is); 60 s only guards against a wedged child */
    double start = fct_now(), now;
    while ((now = fct_now()) < start + 60.0 && (now < start + 1.0 || kills < 40)) {
        usleep(500 + (unsigned)rand_r(&seed) % 2500);
        int i = rand_r(&seed) % NPROC;
        fct_kill(kids[i]);
        kills++;
        if (rand_r(&seed) % 2)
            swept += fci_readers_sweep(a);
        kids[i] = fork();
        if (kids[i] == 0)
            hammer_child(a, f, (unsigned)kills * 104729u);
    }
    /* half stop normally (detach), half are killed */
    atomic_store(&f->stop, 1);
    for (int i = 0; i < NPROC; i++) {
        if (i % 2) {
            fct_kill(kids[i]);
            kills++;
        } else {
            ck_assert_int_eq(fct_reap(kids[i]), 0);
        }
    }
    swept += fci_readers_sweep(a);
    int violations = atomic_load(&f->violations);
    uint64_t ops = atomic_load(&f->ops);
    fprintf(stderr, "limiter stress: %d SIGKILLs, %d slots swept, ~%llu ops, %d violations\n",
            kills, swept, (unsigned long long)ops, violations);
    ck_assert_int_eq(violations, 0);
    ck_assert_uint_gt(ops, 10000);
    ck_assert_int_ge(kills, 20);
    ck_assert_uint_eq(fci_limiter_available(a), CAP);
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.limiter_in_use, 0);
    ck_assert_uint_eq(st.mapped_bytes_in_use, 0);
    ck_assert_uint_eq(st.slots_live, 1);      /* only ours */
    /* and the Limiter is still usable to its full capacity */
    for (int i = 0; i < CAP; i++)
        ck_assert_int_eq(fci_limiter_acquire(a, NULL), 0);
    ck_assert_int_eq(fci_limiter_acquire(a, NULL), FC_ELIMIT);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, BYTE_UNITS, NULL), 0);
    ck_assert_int_eq(fci_limiter_acquire_bytes(a, 1, NULL), FC_ELIMIT);
    munmap(f, sizeof *f);
    fci_arena_detach(a);
}
END_TEST

static Suite *limiter_suite(void)
{
    Suite *s = suite_create("shm_limiter");
    TCase *tc = tcase_create("limiter");
    tcase_add_test(tc, bound_and_errors);
    tcase_add_test(tc, byte_cap_bound_and_errors);
    tcase_add_test(tc, units_return_on_detach_and_death);
    tcase_add_test(tc, threads_share_a_slot);
    tcase_add_test(tc, random_sigkills_leave_count_exact);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(limiter_suite)
