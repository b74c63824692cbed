/*
 * check_shm_order.c - the memory-ordering claims of docs/SHM_PROTOCOL.md,
 * each exercised across processes for many iterations, so that weakening
 * one of them makes a test fail:
 *  - publication: a record written with plain stores and published by a
 *    release store of its offset is seen whole by an acquiring reader;
 *  - offset before sequence: a reader never pins a sequence newer than the
 *    version its offset leads to;
 *  - pin handshake (seq_cst store/load on both sides): the writer never
 *    reuses a record a reader has pinned;
 *  - slot claims: a sweeper never takes a slot from a live claimant.
 */
#include "config.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "fct_internal.h"

#define RING   2        /* two records: every superseded one is reused at once */
#define POISON UINT64_MAX
#define WORDS  64       /* 512-byte records */
#define MIN_READS 100000

struct flags {
    _Atomic int stop;
    _Atomic uint64_t reads;
    _Atomic uint64_t torn;
    _Atomic uint64_t stale;     /* record older than the pinned sequence */
    _Atomic uint64_t backwards; /* pinned sequence went back */
    _Atomic uint64_t published;
    _Atomic uint64_t stolen;
    _Atomic uint64_t claims;
};

static struct flags *shared_flags(void)
{
    struct flags *f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(f, MAP_FAILED);
    memset(f, 0, sizeof *f);
    return f;
}

/* The writer: record k goes into ring[k % RING]. Right after publishing k
 * it reuses record k-1 if the pin scan allows (no pin <= k-1), poisoning
 * it: exactly the store's rule for freeing a superseded version, applied
 * at the tightest moment of the pin handshake. */
static void poison(fci_arena *a, const uint64_t *ring, uint64_t k)
{
    volatile uint64_t *rec = fci_arena_ptr(a, ring[k % RING], WORDS * 8);
    for (int i = 0; i < WORDS; i++)
        rec[i] = POISON;
}

static void publisher(fci_arena *a, const uint64_t *ring, struct flags *f)
{
    if (fci_arena_after_fork(a, NULL) != 0)
        _exit(2);
    uint64_t reused = 0;
    for (uint64_t k = 1; !atomic_load_explicit(&f->stop, memory_order_relaxed); k++) {
        /* ring[k % RING] holds k-RING (reused already, or wait for it) */
        if (k > RING && reused < k - RING) {
            while (fci_readers_oldest(a) <= k - RING) {
                if (atomic_load_explicit(&f->stop, memory_order_relaxed))
                    goto out;
                sched_yield();
            }
        }
        volatile uint64_t *rec = fci_arena_ptr(a, ring[k % RING], WORDS * 8);
        for (int i = 0; i < WORDS; i++)
            rec[i] = k;
        fci_arena_publish(a, ring[k % RING], k);
        if (k > 1 && fci_readers_oldest(a) > k - 1) {
            poison(a, ring, k - 1);
            reused = k - 1;
        }
        atomic_store_explicit(&f->published, k, memory_order_relaxed);
    }
out:
    fci_arena_detach(a);
    _exit(0);
}

/* A reader: pin, read the whole record twice over, check, unpin. */
static void reader(fci_arena *a, struct flags *f, int forked)
{
    if (forked && fci_arena_after_fork(a, NULL) != 0)
        _exit(2);
    uint64_t last = 0, n = 0;
    while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        uint64_t s, o;
        if (fci_arena_pin_current(a, &s, &o) != 0)
            _exit(3);
        if (o != 0) {
            const volatile uint64_t *rec = fci_arena_ptr(a, o, WORDS * 8);
            uint64_t first = rec[0], bad = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < WORDS; i++)
                    bad |= rec[i] ^ first;
            if (bad || first == POISON)
                atomic_fetch_add(&f->torn, 1);
            if (first < s)
                atomic_fetch_add(&f->stale, 1);
            if (s < last)
                atomic_fetch_add(&f->backwards, 1);
            last = s;
            if ((++n & 1023) == 0)
                atomic_fetch_add(&f->reads, 1024);
        }
        fci_arena_unpin(a);
    }
    atomic_fetch_add(&f->reads, n & 1023);
    if (forked) {
        fci_arena_detach(a);
        _exit(0);
    }
}

START_TEST(published_records_are_whole_and_pinned_ones_kept)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    struct flags *f = shared_flags();
    uint64_t ring[RING];
    for (int i = 0; i < RING; i++)
        ck_assert_int_eq(fci_arena_alloc(a, WORDS * 8, &ring[i], NULL), 0);
    pid_t w = fork();
    if (w == 0)
        publisher(a, ring, f);
    pid_t r = fork();
    if (r == 0)
        reader(a, f, 1);
    /* At least a second, and until the minimum numbers of records were
     * published and read (so a slow or sanitizer build checks as many, just
     * more slowly); 60 s is only a guard against a wedged child. */
    double start = fct_now(), now;
    while ((now = fct_now()) < start + 60.0 &&
           (now < start + 1.0 || atomic_load(&f->reads) < 10 * MIN_READS ||
            atomic_load(&f->published) < MIN_READS))
        usleep(50000);
    atomic_store(&f->stop, 1);
    ck_assert_int_eq(fct_reap(w), 0);
    ck_assert_int_eq(fct_reap(r), 0);
    uint64_t published = atomic_load(&f->published), reads = atomic_load(&f->reads);
    uint64_t torn = atomic_load(&f->torn), stale = atomic_load(&f->stale);
    uint64_t backwards = atomic_load(&f->backwards);
    fprintf(stderr, "publication: %llu records published, %llu reads, %llu torn, "
            "%llu stale, %llu backwards\n", (unsigned long long)published,
            (unsigned long long)reads, (unsigned long long)torn, (unsigned long long)stale,
            (unsigned long long)backwards);
    ck_assert_uint_eq(torn, 0);
    ck_assert_uint_eq(stale, 0);
    ck_assert_uint_eq(backwards, 0);
    ck_assert_uint_ge(reads, MIN_READS);
    ck_assert_uint_ge(published, MIN_READS);
    ck_assert_uint_eq(fci_readers_oldest(a), FCI_NO_PIN);
    munmap(f, sizeof *f);
    fci_arena_detach(a);
}
END_TEST

/* Claimants take and give back slots as fast as they can while another
 * process sweeps without pause: a live claimant's slot (between its CAS and
 * its start-time store, or later) must never be taken. */
static void claimant(fci_arena *a, struct flags *f)
{
    if (fci_arena_after_fork(a, NULL) != 0)
        _exit(2);
    fci_slot_release(a);
    while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
        if (fci_slot_claim(a, NULL) != 0)
            continue;
        fci_reader_slot *sl = &a->slots[a->slot];
        atomic_store(&sl->pinned_seq, 7);
        for (int i = 0; i < 50; i++) {
            if (FCI_OWNER_PID(atomic_load(&sl->owner)) != getpid()) {
                atomic_fetch_add(&f->stolen, 1);
                break;
            }
        }
        fci_slot_release(a);
        atomic_fetch_add_explicit(&f->claims, 1, memory_order_relaxed);
    }
    _exit(0);
}

START_TEST(sweeper_never_steals_a_live_claim)
{
    fci_arena *a = fct_shm_anon(1 << 20, 8, 10);
    struct flags *f = shared_flags();
    pid_t c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = fork();
        if (c[i] == 0)
            claimant(a, f);
    }
    uint64_t sweeps = 0;
    double start = fct_now(), now;
    while ((now = fct_now()) < start + 60.0 &&
           (now < start + 1.0 || atomic_load(&f->claims) < 100000)) {
        fci_readers_sweep(a);
        sweeps++;
    }
    atomic_store(&f->stop, 1);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fct_reap(c[i]), 0);
    uint64_t claims = atomic_load(&f->claims), stolen = atomic_load(&f->stolen);
    fprintf(stderr, "claims: %llu claims against %llu sweeps, %llu stolen\n",
            (unsigned long long)claims, (unsigned long long)sweeps, (unsigned long long)stolen);
    ck_assert_uint_eq(stolen, 0);
    ck_assert_uint_ge(claims, 10000);
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.slots_live, 1);
    munmap(f, sizeof *f);
    fci_arena_detach(a);
}
END_TEST

static Suite *order_suite(void)
{
    Suite *s = suite_create("shm_order");
    TCase *tc = tcase_create("order");
    /* Above the 60 s guards of the loops: a loaded machine makes them
     * slow, never wrong, so the timeout must not cut them short. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, published_records_are_whole_and_pinned_ones_kept);
    tcase_add_test(tc, sweeper_never_steals_a_live_claim);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(order_suite)
