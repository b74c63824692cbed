/*
 * check_shm_slots.c - reader slots: claim and release, reclaiming the slots
 * of killed holders and of recycled pids, a full table, the oldest pin
 * across processes, and fork.
 */
#include "config.h"

#include "fct_internal.h"
#include "util/proc.h"

/* A child that claims its own slot, pins seq (0 = none), takes units,
 * says "ready" on ready_fd and waits for a byte on go_fd (then detaches
 * and exits 0) or for its parent to kill it. */
static pid_t spawn_holder(fci_arena *a, uint64_t seq, int units, int ready_fd, int go_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int rc = fci_arena_after_fork(a, NULL);
    char c = rc == 0 ? 'y' : 'n';
    if (rc == 0 && seq != 0) {
        atomic_store(&a->slots[a->slot].pinned_seq, seq);
    }
    for (int i = 0; rc == 0 && i < units; i++)
        if (fci_limiter_acquire(a, NULL) != 0)
            c = 'n';
    if (write(ready_fd, &c, 1) != 1)
        _exit(3);
    if (rc != 0)
        _exit(rc == FC_ELIMIT ? 4 : 5);
    char b;
    if (read(go_fd, &b, 1) != 1)
        _exit(6);
    fci_arena_detach(a);
    _exit(0);
}

static void go_on(int fd, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_int_eq((int)write(fd, "g", 1), 1);
}

static char read_byte(int fd)
{
    char c = 0;
    ck_assert_int_eq((int)read(fd, &c, 1), 1);
    return c;
}

START_TEST(claim_and_release)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    fci_arena_stats st;
    fci_reader_info ri[4];
    int ready[2], go[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    ck_assert_int_ge(a->slot, 0);
    fci_arena_stats_get(a, &st, ri, 4);
    ck_assert_uint_eq(st.slots_total, 4);
    ck_assert_uint_eq(st.slots_live, 1);
    ck_assert_int_eq(ri[0].pid, getpid());
    ck_assert_uint_eq(ri[0].pinned_seq, 0);

    pid_t kid = spawn_holder(a, 9, 2, ready[1], go[0]);
    ck_assert_int_eq(read_byte(ready[0]), 'y');
    fci_arena_stats_get(a, &st, ri, 4);
    ck_assert_uint_eq(st.slots_live, 2);
    ck_assert_uint_eq(st.readers_reported, 2);
    int k = ri[0].pid == kid ? 0 : 1;
    ck_assert_int_eq(ri[k].pid, kid);
    ck_assert_uint_eq(ri[k].pinned_seq, 9);
    ck_assert_uint_eq(ri[k].held, 2);
    ck_assert_uint_eq(st.limiter_in_use, 2);
    go_on(go[1], 1);                  /* let it detach */
    ck_assert_int_eq(fct_reap(kid), 0);
    fci_arena_stats_get(a, &st, ri, 4);
    ck_assert_uint_eq(st.slots_live, 1);
    ck_assert_uint_eq(st.limiter_in_use, 0);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    fci_arena_detach(a);
}
END_TEST

START_TEST(killed_holder_slot_reclaimed)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    int ready[2], go[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t kid = spawn_holder(a, 5, 3, ready[1], go[0]);
    ck_assert_int_eq(read_byte(ready[0]), 'y');
    ck_assert_uint_eq(fci_readers_oldest(a), 5);
    ck_assert_int_eq(fci_readers_sweep(a), 0);
    fct_kill(kid);
    /* the pin holds until a sweep: a dead reader is conservatively live */
    ck_assert_uint_eq(fci_readers_oldest(a), 5);
    ck_assert_uint_eq(fci_limiter_available(a), 7);
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    ck_assert_uint_eq(fci_limiter_available(a), 10);
    ck_assert_int_eq(fci_readers_sweep(a), 0);
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.slots_live, 1);
    fci_arena_detach(a);
}
END_TEST

/* Fakes a holder in a free slot: pid, start time, a pin and units taken
 * from the Limiter as a real holder would have. */
static int fake_slot(fci_arena *a, int32_t pid, uint64_t start, uint64_t pin, uint32_t units)
{
    for (uint32_t s = 0; s < a->slot_count; s++) {
        fci_reader_slot *sl = &a->slots[s];
        if (FCI_OWNER_PID(atomic_load(&sl->owner)) != 0)
            continue;
        atomic_store(&sl->owner, FCI_OWNER_MAKE(pid, 1));
        atomic_store(&sl->start_time, start);
        atomic_store(&sl->pinned_seq, pin);
        atomic_store(&sl->held, FCI_HELD_MAKE(units, 0));
        uint64_t g = atomic_load(&a->hdr->limiter);
        atomic_store(&a->hdr->limiter, FCI_LIM_MAKE(FCI_LIM_COUNT(g) - units, 0, 0));
        return (int)s;
    }
    return -1;
}

/* Our own pid with another start time is a recycled pid: the slot's
 * holder is gone even though kill(pid, 0) succeeds. */
START_TEST(recycled_pid_is_stale)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    uint64_t real = fci_proc_start_time(getpid());
    ck_assert_uint_ne(real, 0);
    int s = fake_slot(a, getpid(), real + 12345, 4, 3);
    ck_assert_int_ge(s, 0);
    ck_assert_uint_eq(fci_readers_oldest(a), 4);
    ck_assert_uint_eq(fci_limiter_available(a), 7);
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_int_eq(FCI_OWNER_PID(atomic_load(&a->slots[s].owner)), 0);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    ck_assert_uint_eq(fci_limiter_available(a), 10);

    /* same pid, right start time: a live holder (a second handle), kept */
    s = fake_slot(a, getpid(), real, 6, 1);
    ck_assert_int_eq(fci_readers_sweep(a), 0);
    ck_assert_uint_eq(fci_readers_oldest(a), 6);
    /* start time 0 = holder between its claim and its start store: kept
     * while the pid lives */
    int s2 = fake_slot(a, getpid(), 0, 2, 0);
    ck_assert_int_eq(fci_readers_sweep(a), 0);
    ck_assert_uint_eq(fci_readers_oldest(a), 2);
    ck_assert_int_ne(s, s2);
    fci_arena_detach(a);
}
END_TEST

/* A pid that is certainly dead: a child we have reaped. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

START_TEST(dead_pid_and_dead_reclaimer)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    pid_t d = dead_pid();
    fake_slot(a, d, 0, 3, 2);           /* died between claim and start store */
    fake_slot(a, -dead_pid(), 0, 0, 4); /* a reclaimer died mid-reclaim */
    ck_assert_uint_eq(fci_limiter_available(a), 4);
    ck_assert_int_eq(fci_readers_sweep(a), 2);
    ck_assert_uint_eq(fci_limiter_available(a), 10);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    fci_arena_detach(a);
}
END_TEST

/* A reclaimer that died after its Limiter CAS but before the holdings were
 * updated leaves a descriptor; the next reclaimer finishes it and returns
 * exactly what was held. */
START_TEST(reclaim_finishes_transfer_in_flight)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    int s = fake_slot(a, dead_pid(), 1, 0, 5);     /* count is 5 now */
    fci_reader_slot *sl = &a->slots[s];
    /* a release of 5 half done: count already +5, holdings not yet -5 */
    atomic_store(&sl->intent, FCI_INTENT_MAKE(-5, 1));
    atomic_store(&a->hdr->limiter, FCI_LIM_MAKE(10, (uint64_t)s + 1, 1));
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_uint_eq(fci_limiter_available(a), 10);
    ck_assert_uint_eq(FCI_LIM_SLOT(atomic_load(&a->hdr->limiter)), 0);
    /* and an acquire in the middle of such a state helps it along */
    s = fake_slot(a, getpid(), fci_proc_start_time(getpid()), 0, 2);  /* count 8 */
    sl = &a->slots[s];
    atomic_store(&sl->intent, FCI_INTENT_MAKE(1, 1));
    atomic_store(&a->hdr->limiter, FCI_LIM_MAKE(7, (uint64_t)s + 1, 1));
    ck_assert_int_eq(fci_limiter_acquire(a, NULL), 0);
    ck_assert_uint_eq(FCI_HELD_COUNT(atomic_load(&sl->held)), 3);
    ck_assert_uint_eq(fci_limiter_available(a), 6);
    fci_arena_detach(a);
}
END_TEST

START_TEST(full_table)
{
    fci_arena *a = fct_shm_anon(1 << 20, 4, 10);
    int ready[2], go[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = spawn_holder(a, 0, 0, ready[1], go[0]);
        ck_assert_int_eq(read_byte(ready[0]), 'y');
    }
    /* table full of live holders: the sweep on claim finds nothing */
    pid_t extra = spawn_holder(a, 0, 0, ready[1], go[0]);
    ck_assert_int_eq(read_byte(ready[0]), 'n');
    ck_assert_int_eq(fct_reap(extra), 4);          /* FC_ELIMIT */
    fci_arena *b = NULL;
    fci_err e;
    fci_arena tmp = *a;
    tmp.slot = -1;
    ck_assert_int_eq(fci_slot_claim(&tmp, &e), FC_ELIMIT);
    ck_assert_ptr_nonnull(strstr(e.msg, "all 4 reader slots"));
    (void)b;
    /* one holder dies: the next claim sweeps it away and succeeds */
    fct_kill(kids[1]);
    extra = spawn_holder(a, 0, 0, ready[1], go[0]);
    ck_assert_int_eq(read_byte(ready[0]), 'y');
    go_on(go[1], 3);
    ck_assert_int_eq(fct_reap(kids[0]), 0);
    ck_assert_int_eq(fct_reap(kids[2]), 0);
    ck_assert_int_eq(fct_reap(extra), 0);
    fci_arena_detach(a);
}
END_TEST

START_TEST(oldest_across_processes)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    int ready[2], go[4][2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    uint64_t pins[4] = { 10, 7, 12, 0 };
    pid_t kids[4];
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pipe2(go[i], O_CLOEXEC), 0);
        kids[i] = spawn_holder(a, pins[i], 0, ready[1], go[i][0]);
        ck_assert_int_eq(read_byte(ready[0]), 'y');
    }
    ck_assert_uint_eq(fci_readers_oldest(a), 7);
    fct_kill(kids[1]);
    ck_assert_uint_eq(fci_readers_oldest(a), 7);
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_uint_eq(fci_readers_oldest(a), 10);
    /* our own pin, through the publication protocol */
    uint64_t seq, off;
    fci_arena_publish(a, 4096, 3);
    ck_assert_int_eq(fci_arena_pin_current(a, &seq, &off), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert_uint_eq(off, 4096);
    ck_assert_uint_eq(fci_readers_oldest(a), 3);
    fci_arena_unpin(a);
    ck_assert_uint_eq(fci_readers_oldest(a), 10);
    go_on(go[0][1], 1);                   /* the 10 detaches normally */
    ck_assert_int_eq(fct_reap(kids[0]), 0);
    ck_assert_uint_eq(fci_readers_oldest(a), 12);
    go_on(go[2][1], 1);
    go_on(go[3][1], 1);
    ck_assert_int_eq(fct_reap(kids[2]), 0);
    ck_assert_int_eq(fct_reap(kids[3]), 0);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    fci_arena_detach(a);
}
END_TEST

/* A child that forgot fci_arena_after_fork cannot use or free the
 * parent's slot; after the call it has its own, with no holdings. */
START_TEST(fork_without_and_with_after_fork)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    ck_assert_int_eq(fci_limiter_acquire(a, NULL), 0);
    int parent_slot = a->slot;
    pid_t kid = fork();
    if (kid == 0) {
        if (fci_limiter_acquire(a, NULL) != FC_EINVAL)
            _exit(1);
        uint64_t s, o;
        if (fci_arena_pin_current(a, &s, &o) != FC_EINVAL)
            _exit(2);
        if (fci_arena_after_fork(a, NULL) != 0 || a->slot == parent_slot)
            _exit(3);
        if (fci_limiter_held(a) != 0 || a->is_owner)
            _exit(4);
        if (fci_limiter_acquire(a, NULL) != 0 || fci_limiter_held(a) != 1)
            _exit(5);
        if (fci_arena_after_fork(a, NULL) != 0 || fci_limiter_held(a) != 1)
            _exit(6);       /* second call is a no-op */
        _exit(0);           /* dies holding a unit, without detach */
    }
    ck_assert_int_eq(fct_reap(kid), 0);
    kid = fork();
    if (kid == 0) {
        fci_arena_detach(a);  /* no after_fork: must not free the parent's slot */
        _exit(0);
    }
    ck_assert_int_eq(fct_reap(kid), 0);
    ck_assert_int_eq(FCI_OWNER_PID(atomic_load(&a->slots[parent_slot].owner)), getpid());
    ck_assert_uint_eq(fci_limiter_held(a), 1);
    ck_assert_uint_eq(fci_limiter_available(a), 8);
    ck_assert_int_eq(fci_readers_sweep(a), 1);
    ck_assert_uint_eq(fci_limiter_available(a), 9);
    fci_arena_detach(a);
}
END_TEST

static Suite *slots_suite(void)
{
    Suite *s = suite_create("shm_slots");
    TCase *tc = tcase_create("slots");
    tcase_add_test(tc, claim_and_release);
    tcase_add_test(tc, killed_holder_slot_reclaimed);
    tcase_add_test(tc, recycled_pid_is_stale);
    tcase_add_test(tc, dead_pid_and_dead_reclaimer);
    tcase_add_test(tc, reclaim_finishes_transfer_in_flight);
    tcase_add_test(tc, full_table);
    tcase_add_test(tc, oldest_across_processes);
    tcase_add_test(tc, fork_without_and_with_after_fork);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(slots_suite)
