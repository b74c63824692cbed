/*
 * check_shm_bcache.c - the shared block cache on its own: hits and misses,
 * CLOCK, pinned frames never evicted, graceful refusal when nothing can be
 * evicted, eight processes hammering overlapping keys (no duplicate frame,
 * no torn contents), and processes SIGKILLed while filling, while holding
 * a set lock and while holding pins.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sched.h>
#include <sys/mman.h>

#include "fct_internal.h"
#include "shm/bcache.h"

/* ---- helpers ------------------------------------------------------------- */

/* Counters shared by a test's processes (an anonymous shared mapping). */
typedef struct shared_counts {
    _Atomic uint64_t ops, hits, fills, bypasses, bad, dups, errors;
} shared_counts;

static shared_counts *counts_new(void)
{
    void *p = mmap(NULL, sizeof(shared_counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(p != MAP_FAILED);
    memset(p, 0, sizeof(shared_counts));
    return p;
}

/* The block for key k: length and contents derived from k alone. */
static size_t key_len(uint64_t k)
{
    return 512 + (size_t)(k * 37 % 3000) / 8 * 8;
}

static uint64_t key_word(uint64_t k, size_t i)
{
    return k * 0x100000001ull + i;
}

typedef struct fill_arg {
    fci_bcache *bc;
    uint64_t k, file, offset;
    int calls;
    int check_unique;        /* count frames holding the key while filling */
    shared_counts *sc;
    int pipe_fd;             /* >= 0: tell the parent, then hang (killed there) */
    int fail;                /* return this instead of filling */
    size_t len;              /* 0: key_len(k) */
} fill_arg;

static int fill_key(void *arg, char *buf, size_t cap, size_t *len, fci_err *err)
{
    fill_arg *fa = arg;
    fa->calls++;
    if (fa->fail)
        return fa->fail < 0 ? fci_err_set(err, fa->fail, "fill failed on purpose") : fa->fail;
    /* While we fill the key, no other frame may hold it (ready or filling). */
    if (fa->check_unique && fci_bcache_count_key(fa->bc, fa->file, fa->offset) != 1 && fa->sc)
        atomic_fetch_add(&fa->sc->dups, 1);
    size_t n = fa->len ? fa->len : key_len(fa->k);
    if (n > cap)
        return FCI_BCACHE_BYPASS;
    for (size_t i = 0; i < n / 8; i++) {
        uint64_t w = key_word(fa->k, i);
        memcpy(buf + i * 8, &w, 8);
    }
    if (fa->pipe_fd >= 0) {
        ck_assert_int_eq((int)write(fa->pipe_fd, "f", 1), 1);
        for (;;)
            pause();
    }
    *len = n;
    return 0;
}

/* Test key k as the cache's (file, offset) pair: 16 blocks per file. */
static void split_key(uint64_t k, uint64_t *file, uint64_t *offset)
{
    *file = k / 16 + 1;
    *offset = (k % 16) * 4096;
}

/* Gets key k: 0 and a pinned ref, or BYPASS; *filled says if we filled. */
static int get_key(fci_bcache *bc, uint64_t k, fci_bcache_ref *ref, int *filled)
{
    fill_arg fa = { .bc = bc, .k = k, .pipe_fd = -1 };
    split_key(k, &fa.file, &fa.offset);
    fci_err e;
    int rc = fci_bcache_get(bc, fa.file, fa.offset, fill_key, &fa, ref, &e);
    if (filled)
        *filled = fa.calls;
    return rc;
}

static int contents_ok(const fci_bcache_ref *ref, uint64_t k)
{
    if (ref->len != key_len(k))
        return 0;
    for (size_t i = 0; i < ref->len / 8; i++) {
        uint64_t w;
        memcpy(&w, ref->data + i * 8, 8);
        if (w != key_word(k, i))
            return 0;
    }
    return 1;
}

static int key_count(fci_bcache *bc, uint64_t k)
{
    uint64_t file, offset;
    split_key(k, &file, &offset);
    return fci_bcache_count_key(bc, file, offset);
}

/* An arena of 8 slots whose cache has `bytes` (64 KiB: one set of 8 frames). */
static fci_arena *arena_with_cache(size_t bytes, uint32_t slots, fci_bcache **bc)
{
    fci_arena *a = fct_shm_anon(16u << 20, slots, 16);
    fci_err e;
    ck_assert_msg(fci_bcache_create(a, bytes, 4096, &e) == 0, "create: %s", e.msg);
    ck_assert_msg(fci_bcache_open(a, bc, &e) == 0, "open: %s", e.msg);
    return a;
}

static void done(fci_arena *a, fci_bcache *bc)
{
    fci_bcache_close(bc);
    fci_arena_detach(a);
}

/* ---- single process ------------------------------------------------------ */

START_TEST(miss_fills_then_hits)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(256 << 10, 8, &bc);
    ck_assert_uint_ge(bc->nframes, 8);
    fci_bcache_ref r1, r2;
    int filled;
    ck_assert_int_eq(get_key(bc, 7, &r1, &filled), 0);
    ck_assert_int_eq(filled, 1);
    ck_assert(contents_ok(&r1, 7));
    ck_assert_int_eq(get_key(bc, 7, &r2, &filled), 0);
    ck_assert_int_eq(filled, 0);
    ck_assert_ptr_eq(r1.data, r2.data);   /* one frame for the key */
    ck_assert(r1.data >= a->base && r1.data < a->base + a->size);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.fills, 1);
    ck_assert_uint_eq(st.ready, 1);
    ck_assert_uint_eq(st.pinned_records, 2);
    fci_bcache_release(bc, &r1);
    fci_bcache_release(bc, &r2);
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.pinned_records, 0);
    ck_assert_int_eq(key_count(bc, 7), 1);
    done(a, bc);
}
END_TEST

START_TEST(no_cache_and_too_small)
{
    fci_arena *a = fct_shm_anon(16u << 20, 8, 16);
    fci_bcache *bc;
    fci_err e;
    ck_assert_int_eq(fci_bcache_open(a, &bc, &e), FC_ENOTFOUND);
    ck_assert_int_eq(fci_bcache_create(a, 8192, 4096, &e), 0);   /* too small: none */
    ck_assert_int_eq(fci_bcache_open(a, &bc, &e), FC_ENOTFOUND);
    ck_assert_int_eq(fci_bcache_create(a, 1 << 20, 1000, &e), FC_EINVAL);
    fci_arena_detach(a);
}
END_TEST

/* One set of 8 frames: CLOCK gives referenced frames a second chance. */
START_TEST(clock_spares_referenced_frames)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    ck_assert_uint_eq(bc->nframes, 8);
    fci_bcache_ref r;
    int filled;
    for (uint64_t k = 0; k < 8; k++) {
        ck_assert_int_eq(get_key(bc, k, &r, &filled), 0);
        ck_assert_int_eq(filled, 1);
        fci_bcache_release(bc, &r);
    }
    for (uint64_t k = 0; k < 4; k++) {   /* touch 0..3 */
        ck_assert_int_eq(get_key(bc, k, &r, &filled), 0);
        ck_assert_int_eq(filled, 0);
        fci_bcache_release(bc, &r);
    }
    ck_assert_int_eq(get_key(bc, 8, &r, &filled), 0);
    ck_assert_int_eq(filled, 1);
    fci_bcache_release(bc, &r);
    for (uint64_t k = 0; k < 4; k++)
        ck_assert_int_eq(key_count(bc, k), 1);
    ck_assert_int_eq(key_count(bc, 4), 0);   /* first unreferenced after the hand */
    for (uint64_t k = 5; k <= 8; k++)
        ck_assert_int_eq(key_count(bc, k), 1);
    ck_assert_int_eq(get_key(bc, 9, &r, &filled), 0);
    fci_bcache_release(bc, &r);
    ck_assert_int_eq(key_count(bc, 5), 0);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.evictions, 2);
    done(a, bc);
}
END_TEST

/* Pinned frames are never evicted; a set full of pins refuses (the caller
 * reads to heap) until one pin goes. */
START_TEST(pinned_frames_are_never_evicted)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    fci_bcache_ref r[8], extra;
    int filled;
    for (uint64_t k = 0; k < 8; k++)
        ck_assert_int_eq(get_key(bc, k, &r[k], &filled), 0);
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(get_key(bc, 100 + round, &extra, &filled), FCI_BCACHE_BYPASS);
        ck_assert_int_eq(filled, 0);
        ck_assert_ptr_null(extra.pin);
    }
    for (uint64_t k = 0; k < 8; k++)
        ck_assert(contents_ok(&r[k], k));
    const char *freed = r[5].data;
    fci_bcache_release(bc, &r[5]);
    ck_assert_int_eq(get_key(bc, 100, &extra, &filled), 0);
    ck_assert_int_eq(filled, 1);
    ck_assert_ptr_eq(extra.data, freed);   /* the only unpinned frame */
    ck_assert_int_eq(key_count(bc, 5), 0);
    for (uint64_t k = 0; k < 8; k++)
        if (k != 5)
            ck_assert(contents_ok(&r[k], k));
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_ge(st.pinned_skips, 8);
    ck_assert_uint_eq(st.bypasses, 3);
    done(a, bc);
}
END_TEST

/* A process has FCI_BCACHE_PINS records; past them, reads go to heap. */
START_TEST(out_of_pin_records_bypasses)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    fci_bcache_ref r[FCI_BCACHE_PINS + 1];
    for (int i = 0; i < FCI_BCACHE_PINS; i++)
        ck_assert_int_eq(get_key(bc, 3, &r[i], NULL), 0);
    ck_assert_int_eq(get_key(bc, 3, &r[FCI_BCACHE_PINS], NULL), FCI_BCACHE_BYPASS);
    fci_bcache_release(bc, &r[0]);
    ck_assert_int_eq(get_key(bc, 3, &r[0], NULL), 0);
    for (int i = 0; i < FCI_BCACHE_PINS; i++)
        fci_bcache_release(bc, &r[i]);
    done(a, bc);
}
END_TEST

/* Too large or failing fills leave the frame empty, not stuck. */
START_TEST(failed_fills_free_the_frame)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    fci_bcache_ref r;
    fci_err e;
    fill_arg fa = { .bc = bc, .k = 1, .file = 1, .offset = 0, .pipe_fd = -1, .len = 8192 };
    ck_assert_int_eq(fci_bcache_get(bc, 1, 0, fill_key, &fa, &r, &e), FCI_BCACHE_BYPASS);
    ck_assert_int_eq(fa.calls, 1);
    fa.len = 0;
    fa.fail = FC_EIO;
    ck_assert_int_eq(fci_bcache_get(bc, 1, 0, fill_key, &fa, &r, &e), FC_EIO);
    ck_assert_int_eq(fci_bcache_count_key(bc, 1, 0), 0);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_uint_eq(st.ready, 0);
    ck_assert_uint_eq(st.pinned_records, 0);
    fa.fail = 0;
    ck_assert_int_eq(fci_bcache_get(bc, 1, 0, fill_key, &fa, &r, &e), 0);
    ck_assert(contents_ok(&r, 1));
    fci_bcache_release(bc, &r);
    done(a, bc);
}
END_TEST

/* ---- many processes ------------------------------------------------------ */

#define HAMMER_KEYS 400

/* A child for the one-set race: 12 keys over 8 frames, so nearly every get
 * evicts; a pinned block is checked, the core given away, checked again. */
static int one_set_child(fci_arena *a, shared_counts *sc, unsigned seed, double secs)
{
    if (fci_arena_after_fork(a, NULL) != 0)
        return 2;
    fci_bcache *bc;
    if (fci_bcache_open(a, &bc, NULL) != 0)
        return 3;
    /* At least secs and 2048 gets (a loaded machine gives a child little
     * time), within a 60 s guard. */
    double start = fct_now(), end = start + secs;
    uint64_t ops = 0, x = seed * 2654435761u + 1;
    while ((ops & 63) != 0 ||
           ((fct_now() < end || ops < 2048) && fct_now() < start + 60.0)) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t k = (x >> 8) % 12;
        fci_bcache_ref r;
        int filled;
        int rc = get_key(bc, k, &r, &filled);
        ops++;
        if (rc != 0)
            continue;
        if (!contents_ok(&r, k))
            atomic_fetch_add(&sc->bad, 1);
        if (ops % 4 == 0)
            sched_yield();
        if (!contents_ok(&r, k))
            atomic_fetch_add(&sc->bad, 1);
        fci_bcache_release(bc, &r);
    }
    atomic_fetch_add(&sc->ops, ops);
    fci_bcache_close(bc);
    fci_arena_detach(a);
    return 0;
}

START_TEST(one_set_race_never_tears_a_pinned_block)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 16, &bc);
    ck_assert_uint_eq(bc->nframes, 8);
    shared_counts *sc = counts_new();
    pid_t kids[8];
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            _exit(one_set_child(a, sc, (unsigned)i + 11, 1.0));
    }
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(fct_reap(kids[i]), 0);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    fprintf(stderr, "one set: %llu gets, evictions %llu, pinned skips %llu, bypasses %llu\n",
            (unsigned long long)atomic_load(&sc->ops), (unsigned long long)st.evictions,
            (unsigned long long)st.pinned_skips, (unsigned long long)st.bypasses);
    ck_assert_uint_eq(atomic_load(&sc->bad), 0);
    ck_assert_uint_gt(st.evictions, 1000);
    for (uint64_t k = 0; k < 12; k++)
        ck_assert_int_le(key_count(bc, k), 1);
    done(a, bc);
}
END_TEST

/* A child: random gets of overlapping keys for `secs`, checking every
 * block's contents and that a key is never in two frames while filled. */
static int hammer_child(fci_arena *a, shared_counts *sc, unsigned seed, double secs)
{
    if (fci_arena_after_fork(a, NULL) != 0)
        return 2;
    fci_bcache *bc;
    if (fci_bcache_open(a, &bc, NULL) != 0)
        return 3;
    double end = fct_now() + secs;
    uint64_t ops = 0, x = seed * 2654435761u + 1;
    fci_bcache_ref held[4] = { 0 };
    while ((ops & 255) != 0 || fct_now() < end) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t k = (x >> 8) % HAMMER_KEYS;
        if (k >= HAMMER_KEYS / 2)   /* hot half: more hits */
            k %= 60;
        fill_arg fa = { .bc = bc, .k = k, .check_unique = 1, .sc = sc, .pipe_fd = -1 };
        split_key(k, &fa.file, &fa.offset);
        fci_bcache_ref r;
        fci_err e;
        int rc = fci_bcache_get(bc, fa.file, fa.offset, fill_key, &fa, &r, &e);
        ops++;
        if (rc == FCI_BCACHE_BYPASS) {
            atomic_fetch_add_explicit(&sc->bypasses, 1, memory_order_relaxed);
            continue;
        }
        if (rc != 0) {
            atomic_fetch_add(&sc->errors, 1);
            continue;
        }
        if (fa.calls)
            atomic_fetch_add_explicit(&sc->fills, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&sc->hits, 1, memory_order_relaxed);
        if (!contents_ok(&r, k))
            atomic_fetch_add(&sc->bad, 1);
        /* keep a few pins for a while, so evictions meet pinned frames */
        int slot = (int)(x & 3);
        if (held[slot].pin)
            fci_bcache_release(bc, &held[slot]);
        held[slot] = r;
    }
    for (int i = 0; i < 4; i++)
        fci_bcache_release(bc, &held[i]);
    atomic_fetch_add(&sc->ops, ops);
    fci_bcache_close(bc);
    fci_arena_detach(a);
    return 0;
}

START_TEST(eight_processes_hammer_overlapping_keys)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(512 << 10, 16, &bc);
    shared_counts *sc = counts_new();
    pid_t kids[8];
    double t0 = fct_now();
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            _exit(hammer_child(a, sc, (unsigned)i + 1, 1.5));
    }
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(fct_reap(kids[i]), 0);
    double secs = fct_now() - t0;
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    uint64_t ops = atomic_load(&sc->ops);
    fprintf(stderr, "hammer: %u frames, %d keys, 8 procs: %llu gets in %.2f s (%.0f/s), "
            "hit rate %.1f%%, fills %llu, evictions %llu, waits %llu, bypasses %llu, "
            "pinned skips %llu, takeovers %llu\n",
            st.nframes, HAMMER_KEYS, (unsigned long long)ops, secs, ops / secs,
            100.0 * (double)st.hits / (double)(st.hits + st.misses ? st.hits + st.misses : 1),
            (unsigned long long)st.fills, (unsigned long long)st.evictions,
            (unsigned long long)st.waits, (unsigned long long)st.bypasses,
            (unsigned long long)st.pinned_skips, (unsigned long long)st.takeovers);
    ck_assert_uint_eq(atomic_load(&sc->bad), 0);
    ck_assert_uint_eq(atomic_load(&sc->dups), 0);
    ck_assert_uint_eq(atomic_load(&sc->errors), 0);
    ck_assert_uint_gt(ops, 10000);
    ck_assert_uint_gt(atomic_load(&sc->hits), 0);
    ck_assert_uint_gt(st.evictions, 0);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_uint_eq(st.pinned_records, 0);
    /* never a duplicate frame: each key in at most one frame, and every
     * ready frame belongs to exactly one key */
    uint32_t seen = 0;
    for (uint64_t k = 0; k < HAMMER_KEYS; k++) {
        int n = key_count(bc, k);
        ck_assert_int_le(n, 1);
        seen += (uint32_t)n;
    }
    ck_assert_uint_eq(seen, st.ready);
    /* and every ready frame holds its key's contents */
    for (uint64_t k = 0; k < HAMMER_KEYS; k++) {
        if (key_count(bc, k) == 0)
            continue;
        fci_bcache_ref r;
        int filled;
        ck_assert_int_eq(get_key(bc, k, &r, &filled), 0);
        ck_assert_int_eq(filled, 0);
        ck_assert(contents_ok(&r, k));
        fci_bcache_release(bc, &r);
    }
    done(a, bc);
}
END_TEST

/* Forks a child that attaches to the cache and runs body; the child tells
 * the parent through the pipe when it is where it should die. */
static pid_t spawn(fci_arena *a, void (*body)(fci_arena *, int), int *rd)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        if (fci_arena_after_fork(a, NULL) != 0)
            _exit(2);
        body(a, p[1]);
        _exit(0);
    }
    close(p[1]);
    *rd = p[0];
    return pid;
}

static void fill_and_hang(fci_arena *a, int fd)
{
    fci_bcache *bc;
    if (fci_bcache_open(a, &bc, NULL) != 0)
        _exit(3);
    fill_arg fa = { .bc = bc, .k = 5, .pipe_fd = fd };
    split_key(5, &fa.file, &fa.offset);
    fci_bcache_ref r;
    fci_bcache_get(bc, fa.file, fa.offset, fill_key, &fa, &r, NULL);
    _exit(4);
}

START_TEST(killed_filler_is_taken_over)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    int rd;
    pid_t kid = spawn(a, fill_and_hang, &rd);
    fct_wait_byte(rd);
    close(rd);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.filling, 1);
    fct_kill(kid);
    fci_bcache_ref r;
    int filled;
    double t0 = fct_now();
    /* Taken over, not bypassed: the get fills the frame itself (a bypass
     * would return FCI_BCACHE_BYPASS). No timing bound beyond "not stuck":
     * this machine may be busy. */
    ck_assert_int_eq(get_key(bc, 5, &r, &filled), 0);
    ck_assert_double_lt(fct_now() - t0, 10.0);
    ck_assert_int_eq(filled, 1);
    ck_assert(contents_ok(&r, 5));
    fci_bcache_release(bc, &r);
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.takeovers, 1);
    ck_assert_uint_eq(st.waits, 1);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_int_eq(key_count(bc, 5), 1);
    done(a, bc);
}
END_TEST

/* Nobody asks for the dead fill's key again: the set's evictions reclaim
 * the frame anyway. */
START_TEST(killed_filler_frame_reclaimed_without_waiters)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    int rd;
    pid_t kid = spawn(a, fill_and_hang, &rd);
    fct_wait_byte(rd);
    close(rd);
    fct_kill(kid);
    fci_bcache_ref r[8];
    int filled;
    for (uint64_t k = 0; k < 8; k++) {   /* 8 pins need all 8 frames */
        ck_assert_int_eq(get_key(bc, 100 + k, &r[k], &filled), 0);
        ck_assert_int_eq(filled, 1);
    }
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.filling, 0);
    ck_assert_uint_eq(st.takeovers, 1);
    ck_assert_uint_eq(st.waits, 0);
    for (uint64_t k = 0; k < 8; k++)
        fci_bcache_release(bc, &r[k]);
    done(a, bc);
}
END_TEST

/* The child holds pins on every frame of the only set, then dies. */
static void pin_all_and_hang(fci_arena *a, int fd)
{
    fci_bcache *bc;
    if (fci_bcache_open(a, &bc, NULL) != 0)
        _exit(3);
    fci_bcache_ref r[8];
    for (uint64_t k = 0; k < 8; k++)
        if (get_key(bc, k, &r[k], NULL) != 0)
            _exit(5);
    if (write(fd, "p", 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

START_TEST(killed_pinner_frames_become_usable)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    int rd;
    pid_t kid = spawn(a, pin_all_and_hang, &rd);
    fct_wait_byte(rd);
    close(rd);
    fci_bcache_ref r;
    int filled;
    /* alive: its pins hold, a new key is refused */
    ck_assert_int_eq(get_key(bc, 50, &r, &filled), FCI_BCACHE_BYPASS);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.pinned_records, 8);
    fct_kill(kid);
    /* the sweep rate limit (100 ms) was used by the refused get above */
    usleep(120 * 1000);
    fci_bcache_ref mine[8];
    for (uint64_t k = 0; k < 8; k++) {
        ck_assert_int_eq(get_key(bc, 60 + k, &mine[k], &filled), 0);
        ck_assert_int_eq(filled, 1);
    }
    for (uint64_t k = 0; k < 8; k++) {
        ck_assert(contents_ok(&mine[k], 60 + k));
        ck_assert_int_eq(key_count(bc, k), 0);
        fci_bcache_release(bc, &mine[k]);
    }
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.pinned_records, 0);
    done(a, bc);
}
END_TEST

/* The child leaves the only set locked, with key 3's frame marked
 * EVICTING (undecided) and key 4's marked EVICTING committed. */
static void lock_and_hang(fci_arena *a, int fd)
{
    fci_bcache *bc;
    if (fci_bcache_open(a, &bc, NULL) != 0)
        _exit(3);
    uint64_t f3 = 99, f4 = 99;
    for (uint32_t f = 0; f < bc->nframes; f++) {
        uint64_t off = atomic_load(&bc->frames[f].offset);
        if (off == 3 * 4096) f3 = f;
        if (off == 4 * 4096) f4 = f;
    }
    if (f3 == 99 || f4 == 99)
        _exit(7);
    atomic_store(&bc->sets[0].lock, bc->token);
    uint64_t w3 = atomic_load(&bc->frames[f3].word), w4 = atomic_load(&bc->frames[f4].word);
    atomic_store(&bc->frames[f3].word, FCI_FW_MAKE(FCI_FRAME_EVICTING, 0, FCI_FW_GEN(w3)));
    atomic_store(&bc->frames[f4].word, FCI_FW_MAKE(FCI_FRAME_EVICTING, 1, FCI_FW_GEN(w4)));
    atomic_store(&bc->frames[f4].offset, 12345);   /* half-rewritten key */
    if (write(fd, "l", 1) != 1)
        _exit(6);
    for (;;)
        pause();
}

START_TEST(killed_lock_holder_is_replaced)
{
    fci_bcache *bc;
    fci_arena *a = arena_with_cache(64 << 10, 8, &bc);
    fci_bcache_ref r;
    int filled;
    for (uint64_t k = 0; k < 8; k++) {
        ck_assert_int_eq(get_key(bc, k, &r, &filled), 0);
        fci_bcache_release(bc, &r);
    }
    int rd;
    pid_t kid = spawn(a, lock_and_hang, &rd);
    fct_wait_byte(rd);
    close(rd);
    fct_kill(kid);
    ck_assert_int_eq(get_key(bc, 3, &r, &filled), 0);   /* undecided: READY again */
    ck_assert_int_eq(filled, 0);
    ck_assert(contents_ok(&r, 3));
    fci_bcache_release(bc, &r);
    ck_assert_int_eq(get_key(bc, 4, &r, &filled), 0);   /* committed: refilled */
    ck_assert_int_eq(filled, 1);
    ck_assert(contents_ok(&r, 4));
    fci_bcache_release(bc, &r);
    fci_bcache_stats st;
    fci_bcache_stats_get(bc, &st);
    ck_assert_uint_eq(st.takeovers, 1);
    ck_assert_uint_eq(atomic_load(&bc->sets[0].lock), 0);
    for (uint64_t k = 0; k < 8; k++)
        ck_assert_int_eq(key_count(bc, k), 1);
    done(a, bc);
}
END_TEST

static Suite *bcache_suite(void)
{
    Suite *s = suite_create("shm_bcache");
    TCase *tc = tcase_create("single");
    tcase_add_test(tc, miss_fills_then_hits);
    tcase_add_test(tc, no_cache_and_too_small);
    tcase_add_test(tc, clock_spares_referenced_frames);
    tcase_add_test(tc, pinned_frames_are_never_evicted);
    tcase_add_test(tc, out_of_pin_records_bypasses);
    tcase_add_test(tc, failed_fills_free_the_frame);
    suite_add_tcase(s, tc);
    TCase *mp = tcase_create("processes");
    tcase_set_timeout(mp, 120); /* above the children's 60 s guard */
    tcase_add_test(mp, eight_processes_hammer_overlapping_keys);
    tcase_add_test(mp, one_set_race_never_tears_a_pinned_block);
    tcase_add_test(mp, killed_filler_is_taken_over);
    tcase_add_test(mp, killed_filler_frame_reclaimed_without_waiters);
    tcase_add_test(mp, killed_pinner_frames_become_usable);
    tcase_add_test(mp, killed_lock_holder_is_replaced);
    suite_add_tcase(s, mp);
    return s;
}

FCT_MAIN(bcache_suite)
