/*
 * check_db_fifo.c - a store bounded by max_bytes: under a write load of ten
 * times its bound its tables stay within the bound plus one table after
 * every flush, the oldest tables go first (the surviving keys are exactly
 * the newest ones), level 0 never stalls writes even past its leveled stop
 * count, the store is never emptied at once, and forked readers reading
 * throughout never see an error (only misses for evicted keys).
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/ttl.h"

#define VSIZE 1000

static fc_options bounded(uint64_t max_bytes)
{
    fc_options o = fct_small_opts();
    o.max_bytes = max_bytes;
    return o;
}

/* Value of key i: its number, then filler, so readers can check bytes. */
static void value_of(char *buf, long i)
{
    memset(buf, 'a' + (int)(i % 26), VSIZE);
    snprintf(buf, 24, "v%08ld", i);
}

static uint64_t table_bytes(const fc_stats *st)
{
    uint64_t total = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        total += st->level_bytes[l];
    return total;
}

/* The largest table file in the directory: "one table" in the bound. */
static uint64_t largest_table(void)
{
    DIR *d = opendir(fct_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    uint64_t best = 0;
    char path[4400];
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", fct_dir, e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".ldb") == 0 && stat(path, &sb) == 0 &&
            (uint64_t)sb.st_size > best)
            best = (uint64_t)sb.st_size;
    }
    closedir(d);
    return best;
}

/* Writes keys [from, to) and flushes every `every` keys, checking the bound
 * after each flush. Returns the most level-0 tables seen. */
static uint32_t load(fc_store *s, long from, long to, long every, uint64_t max_bytes)
{
    char k[24], v[VSIZE];
    uint32_t most_l0 = 0;
    for (long i = from; i < to; i++) {
        fct_key_of(k, "key", 8, i);
        value_of(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, VSIZE), 0);
        if ((i + 1) % every != 0)
            continue;
        ck_assert_int_eq(fc_flush(s), 0);
        fc_stats st;
        ck_assert_int_eq(fc_stats_get(s, &st), 0);
        uint64_t total = table_bytes(&st), one = largest_table();
        ck_assert_msg(total <= max_bytes + one, "tables %llu bytes > bound %llu + table %llu",
                      (unsigned long long)total, (unsigned long long)max_bytes,
                      (unsigned long long)one);
        for (int l = 1; l < FC_NUM_LEVELS; l++)
            ck_assert_uint_eq(st.files[l], 0); /* FIFO: no leveled compaction */
        ck_assert_uint_ge(st.files[0], 1);     /* never emptied */
        if (st.files[0] > most_l0)
            most_l0 = st.files[0];
    }
    return most_l0;
}

/* The keys left are exactly a newest run [first, to): oldest evicted first. */
static long check_newest_survive(fc_store *s, long to)
{
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_first(it), 0);
    char k[24], v[VSIZE], first_key[24];
    fc_val kv = fc_iter_key(it);
    ck_assert_uint_eq(kv.size, 11);
    memcpy(first_key, kv.data, kv.size);
    first_key[kv.size] = '\0';
    long first = atol(first_key + 3), i = first;
    int rc;
    for (rc = 0; rc == 0; rc = fc_iter_next(it), i++) {
        fct_key_of(k, "key", 8, i);
        value_of(v, i);
        kv = fc_iter_key(it);
        fc_val vv = fc_iter_value(it);
        ck_assert_msg(kv.size == strlen(k) && memcmp(kv.data, k, kv.size) == 0,
                      "a gap in the surviving keys at %s", k);
        ck_assert_uint_eq(vv.size, VSIZE);
        ck_assert_int_eq(memcmp(vv.data, v, VSIZE), 0);
    }
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(i, to);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    return first;
}

/* 10x the bound in writes: bound kept, oldest evicted, figures counted. */
START_TEST(test_bound_under_load)
{
    const uint64_t max_bytes = 512 * 1024;
    fc_options o = bounded(max_bytes);
    fc_store *s = fct_open_in(&o);
    long n = (long)(10 * max_bytes / VSIZE);
    load(s, 0, n, 50, max_bytes);
    long first = check_newest_survive(s, n);
    ck_assert_int_gt(first, 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_gt(st.evicted_tables, 0);
    ck_assert_uint_ge(st.evicted_bytes, (uint64_t)first * VSIZE / 2);
    ck_assert_uint_eq(st.compactions, 0);
    ck_assert_uint_eq(st.expired_tables, 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Level 0 grows past the leveled stop count (12 tables) without stalling:
 * the bound, not the table count, limits it. No write waited at any point
 * (the stall counter did not move), not just none at the end: an explicit
 * flush every 40 puts of 1000 bytes keeps each memtable under its 64 KiB,
 * so the only stall left to happen would be level 0's. */
START_TEST(test_no_l0_stall)
{
    const uint64_t max_bytes = 2u << 20;
    fc_options o = bounded(max_bytes);
    fc_store *s = fct_open_in(&o);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    uint64_t stalls_before = st.stalls;
    uint32_t most = load(s, 0, (long)(4 * max_bytes / VSIZE), 40, max_bytes);
    ck_assert_uint_gt(most, 12);
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_msg(st.stalls == stalls_before, "%llu writes stalled",
                  (unsigned long long)(st.stalls - stalls_before));
    ck_assert_int_eq(st.stall, FC_STALL_NONE);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A bound smaller than one table: the newest table always stays. */
START_TEST(test_never_emptied)
{
    const uint64_t max_bytes = 64 * 1024;
    fc_options o = bounded(max_bytes);
    fc_store *s = fct_open_in(&o);
    load(s, 0, 2000, 100, max_bytes);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.files[0], 1);
    long first = check_newest_survive(s, 2000);
    ck_assert_int_ge(first, 1900); /* what the last flush wrote, at most */
    ck_assert_int_lt(first, 2000);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Reopened with a bound, a store keeps it from the first flush on; and
 * reopened without one, it is an ordinary leveled store again. */
START_TEST(test_reopen)
{
    const uint64_t max_bytes = 256 * 1024;
    fc_options o = bounded(max_bytes);
    fc_store *s = fct_open_in(&o);
    load(s, 0, 3000, 100, max_bytes);
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    load(s, 3000, 4000, 100, max_bytes);
    check_newest_survive(s, 4000);
    ck_assert_int_eq(fc_close(s), 0);
    fc_options plain = fct_small_opts();
    s = fct_open_in(&plain);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.files[0], 0);
    ck_assert_uint_gt(st.files[1], 0);
    check_newest_survive(s, 4000);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- forked readers during eviction --------------------------------------- */

#define NREADERS 3
#define MIN_READS 2000

typedef struct shared {
    volatile long written;   /* keys [0, written) were acknowledged */
    volatile int stop;
} shared;

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Reads random written keys (a hit must have the right bytes, a miss is an
 * evicted key) and scans a little, until told to stop and MIN_READS are
 * done. Exit status 0 = never an error. */
static int reader(fc_store *s, shared *sh, int id)
{
    if (fc_after_fork(s) != 0)
        return 1;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
    char k[24], v[VSIZE];
    long reads = 0, hits = 0;
    while (!sh->stop || reads < MIN_READS) {
        long w = sh->written;
        if (w == 0)
            continue;
        long i = (long)(rng_next(&x) % (uint64_t)w);
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0)
            return 2;
        fct_key_of(k, "key", 8, i);
        fc_val got;
        int rc = fc_get(t, k, strlen(k), &got);
        if (rc == 0) {
            value_of(v, i);
            if (got.size != VSIZE || memcmp(got.data, v, VSIZE) != 0)
                return 3;
            hits++;
        } else if (rc != FC_ENOTFOUND) {
            return 4;
        }
        fc_iter *it;
        if (fc_iter_new(t, &it) != 0)
            return 5;
        rc = fc_iter_seek(it, k, strlen(k));
        for (int j = 0; rc == 0 && j < 5; j++)
            rc = fc_iter_next(it);
        if (rc != 0 && rc != FC_ENOTFOUND)
            return 6;
        fc_iter_free(it);
        if (fc_txn_end(t) != 0)
            return 7;
        reads++;
    }
    fc_close(s);
    return hits > 0 ? 0 : 8;
}

START_TEST(test_readers_never_fail)
{
    const uint64_t max_bytes = 512 * 1024;
    fc_options o = bounded(max_bytes);
    fc_store *s = fct_open_in(&o);
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    pid_t kids[NREADERS];
    for (int r = 0; r < NREADERS; r++) {
        kids[r] = fc_fork();
        ck_assert_int_ge(kids[r], 0);
        if (kids[r] == 0)
            _exit(reader(s, sh, r));
    }
    char k[24], v[VSIZE];
    long n = (long)(10 * max_bytes / VSIZE);
    for (long i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        value_of(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, VSIZE), 0);
        sh->written = i + 1;
    }
    sh->stop = 1;
    for (int r = 0; r < NREADERS; r++) {
        int status;
        ck_assert_int_eq(waitpid(kids[r], &status, 0), kids[r]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "reader %d failed (status %d)", r, WEXITSTATUS(status));
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_gt(st.evicted_tables, 0);
    munmap(sh, sizeof *sh);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- SIGKILL around expiry and eviction ---------------------------------- */

#define CK_KEYS 400
#define CK_T0 UINT64_C(1700000000000)

typedef struct crash_shared {
    volatile long acked;   /* last op whose put returned 0 */
} crash_shared;

/* Op j puts key j % CK_KEYS with value j; every third lives 40 ms of the
 * test clock, which moves 1 ms an op. */
static int crash_put(fc_store *s, long j)
{
    char k[24], v[400];
    fct_key_of(k, "key", 8, j % CK_KEYS);
    memset(v, 'x', sizeof v);
    snprintf(v, 24, "%020ld", j);
    if (fci_ttl_set_clock(s, CK_T0 + (uint64_t)j) != 0)
        return -1;
    return fc_put_ttl(s, k, strlen(k), v, sizeof v, j % 3 == 0 ? 40 : 0);
}

/* The writer the parent kills: puts from op `from` on until killed. */
static int crash_child(const fc_options *o, crash_shared *sh, long from)
{
    fc_store *s = NULL;
    if (fc_open(fct_dir, o, &s) != 0)
        return 3;
    for (long j = from;; j++) {
        if (crash_put(s, j) != 0)
            return 4;
        sh->acked = j;
    }
}

static void count_damage(void *arg, const fc_verify_finding *f)
{
    if (f->severity != FC_VERIFY_NOTE) {
        fprintf(stderr, "verify: %s @%llu: %s\n", f->file, (unsigned long long)f->offset,
                f->message);
        (*(int *)arg)++;
    }
}

/* Every key shows its newest acknowledged op or a later one, or nothing
 * (evicted or expired): never an older version brought back. */
static void check_no_older(fc_store *s, long acked)
{
    ck_assert_int_eq(fci_ttl_set_clock(s, CK_T0 + (uint64_t)acked), 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    char k[24], num[24];
    for (long key = 0; key < CK_KEYS; key++) {
        long newest = acked - ((acked - key) % CK_KEYS + CK_KEYS) % CK_KEYS;
        fct_key_of(k, "key", 8, key);
        fc_val v;
        int rc = fc_get(t, k, strlen(k), &v);
        ck_assert_msg(rc == 0 || rc == FC_ENOTFOUND, "%s: %s", k, fc_strerror(rc));
        if (rc != 0 || newest < 0)
            continue;
        ck_assert_uint_eq(v.size, 400);
        memcpy(num, v.data, 20);
        num[20] = '\0';
        ck_assert_msg(atol(num) >= newest, "%s shows op %ld, older than acked op %ld", k,
                      atol(num), newest);
    }
    ck_assert_int_eq(fc_txn_end(t), 0);
}

/* Leveled data first (a store opened without the bound, compacted), then
 * a bounded writer with expiring values SIGKILLed three times mid-load:
 * each time fc_verify finds no damage, the store reopens, and no older
 * version of a key has come back through an eviction or an expiry drop. */
START_TEST(test_sigkill_while_dropping)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = 1;
    fc_store *s = fct_open_in(&o);
    for (long j = 0; j < 3 * CK_KEYS; j++)
        ck_assert_int_eq(crash_put(s, j), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    crash_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    sh->acked = 3 * CK_KEYS - 1;
    o.max_bytes = 128 * 1024;
    for (int round = 0; round < 3; round++) {
        long from = sh->acked + 1, target = from + 2500 + 700 * round;
        pid_t pid = fc_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(crash_child(&o, sh, from));
        int status, tries;
        for (tries = 0; tries < 120000 && sh->acked < target; tries++) {
            ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0); /* still running */
            usleep(1000);
        }
        ck_assert_int_ge(sh->acked, target);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        int damage = 0;
        ck_assert_int_eq(fc_verify(fct_dir, count_damage, &damage), 0);
        ck_assert_int_eq(damage, 0);
        s = fct_open_in(&o);
        check_no_older(s, sh->acked);
        fc_stats st;
        ck_assert_int_eq(fc_stats_get(s, &st), 0);
        /* the killed writer evicted: far less is left than it wrote, at
         * most the bound, its newest table, the one recovery made and
         * one more of slack (table sizes vary) */
        fprintf(stderr, "round %d: acked %ld, tables %llu bytes, largest %llu\n", round,
                sh->acked, (unsigned long long)table_bytes(&st),
                (unsigned long long)largest_table());
        ck_assert_uint_le(table_bytes(&st), o.max_bytes + 3 * largest_table());
        ck_assert_int_eq(fc_close(s), 0);
    }
    munmap(sh, sizeof *sh);
}
END_TEST

/* ---- a long-lived reader process through many evictions ----------------- */

typedef struct churn_shared {
    volatile long written;   /* keys written so far */
    volatile long rounds;    /* reader rounds done */
    volatile int stop;
    volatile int gone;       /* the reader has returned */
} churn_shared;

/* Open descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own */
}

/* A worker that lives through the whole load, with a small descriptor
 * limit: each round reads the newest keys (so it opens each new table),
 * then ends its transaction. Exit 0 = never an error, and it does not
 * end up holding a descriptor per table it ever read. */
static int churn_reader(fc_store *s, churn_shared *sh)
{
    if (fc_after_fork(s) != 0)
        return 1;
    int base = open_fds();
    struct rlimit rl = { (rlim_t)base + 40, (rlim_t)base + 40 };
    if (base < 0 || setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 2;
    char k[24];
    while (!sh->stop) {
        long w = sh->written;
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0)
            return 3;
        for (long i = w - 1; i >= 0 && i >= w - 200; i -= 20) {
            fct_key_of(k, "key", 8, i);
            fc_val got;
            int rc = fc_get(t, k, strlen(k), &got);
            if (rc != 0 && rc != FC_ENOTFOUND) {
                fprintf(stderr, "reader: get %s: %s: %s\n", k, fc_strerror(rc), fc_errmsg(s));
                return 4;
            }
        }
        if (fc_txn_end(t) != 0)
            return 5;
        sh->rounds++;
    }
    int left = open_fds();
    fc_close(s);
    if (left > base + 20) {
        fprintf(stderr, "reader: %d descriptors open, %d at the start\n", left, base);
        return 6;
    }
    return 0;
}

/* 20x the bound written while one worker process reads the newest keys
 * after every few writes; few table mappings are allowed, so tables it
 * reads beyond them go through descriptors. Tables evicted from the store
 * must leave the worker too, or it runs out of descriptors (and mappings)
 * and its reads fail. */
START_TEST(test_long_lived_reader_lets_go)
{
    const uint64_t max_bytes = 256 * 1024;
    fc_options o = bounded(max_bytes);
    o.max_mappings = 4;
    fc_store *s = fct_open_in(&o);
    churn_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(sh, MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int code = churn_reader(s, sh);
        sh->gone = 1;
        _exit(code);
    }
    char k[24], v[VSIZE];
    long n = (long)(20 * max_bytes / VSIZE);
    for (long i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        value_of(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, VSIZE), 0);
        sh->written = i + 1;
        if ((i + 1) % 32 != 0)
            continue;
        /* let the reader see this much (a guard, not a timing check) */
        long seen = sh->rounds;
        for (int tries = 0; tries < 20000 && sh->rounds < seen + 2 && !sh->gone; tries++)
            usleep(500);
    }
    sh->stop = 1;
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader failed (status %d)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_gt(st.evicted_tables, 40);
    munmap(sh, sizeof *sh);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *fifo_suite(void)
{
    Suite *su = suite_create("db_fifo");
    TCase *tc = tcase_create("fifo");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bound_under_load);
    tcase_add_test(tc, test_no_l0_stall);
    tcase_add_test(tc, test_never_emptied);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_readers_never_fail);
    tcase_add_test(tc, test_sigkill_while_dropping);
    tcase_add_test(tc, test_long_lived_reader_lets_go);
    suite_add_tcase(su, tc);
    return su;
}

FCT_MAIN(fifo_suite)
