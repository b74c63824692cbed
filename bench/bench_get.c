/*
 * bench_get.c - the point-get path in one process, side by side in one run:
 * a store written with the hash index (and restart interval 4, the
 * defaults) against the same keys written as LevelDB lays tables out
 * (no hash index, restart interval 16), plus the cost of an empty read
 * transaction. Prints medians of several rounds; asserts nothing. Time is
 * the thread's CPU time, so a busy machine's other processes (which take
 * turns on the cores) do not count against a round; they still share the
 * caches.
 *
 *   bench/bench_get [--keys N] [--value-size B] [--rounds R] [--dir D]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Loads keys %016llu with values of vsize bytes and compacts them into
 * sorted levels, as a long-running store would hold them. */
static fc_store *build(const char *dir, long n, size_t vsize, int hash, int restart)
{
    fc_options o;
    fc_options_init(&o);
    o.hash_index = hash;
    o.block_restart_interval = restart;
    fc_store *s;
    if (fc_open(dir, &o, &s) != 0) {
        fprintf(stderr, "bench_get: open %s: %s\n", dir, fc_errmsg(NULL));
        exit(1);
    }
    char *v = malloc(vsize), k[32];
    memset(v, 'v', vsize);
    fc_batch *b;
    fc_batch_new(&b);
    for (long i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%016ld", i);
        fc_batch_put(b, k, 16, v, vsize);
        if (i % 1000 == 999 || i == n - 1) {
            if (fc_write(s, b, 0) != 0) {
                fprintf(stderr, "bench_get: write: %s\n", fc_errmsg(s));
                exit(1);
            }
            fc_batch_clear(b);
        }
    }
    fc_batch_free(b);
    free(v);
    fc_compact_range(s, NULL, 0, NULL, 0);
    return s;
}

/* ns per get, a transaction per get as a web worker would, key
 * formatting included (every bench anchor pays it too). */
static double get_round(fc_store *s, long n, long gets)
{
    char k[32];
    long found = 0;
    double t0 = now_ns();
    for (long i = 0; i < gets; i++) {
        snprintf(k, sizeof k, "%016llu", (unsigned long long)(next_rand() % (uint64_t)n));
        fc_txn *t;
        fc_val v;
        if (fc_txn_begin(s, &t) != 0)
            exit(1);
        found += fc_get(t, k, 16, &v) == 0;
        fc_txn_end(t);
    }
    double ns = (now_ns() - t0) / (double)gets;
    if (found != gets) {
        fprintf(stderr, "bench_get: %ld of %ld keys missing\n", gets - found, gets);
        exit(1);
    }
    return ns;
}

static double txn_round(fc_store *s, long loops)
{
    double t0 = now_ns();
    for (long i = 0; i < loops; i++) {
        fc_txn *t;
        if (fc_txn_begin(s, &t) != 0)
            exit(1);
        fc_txn_end(t);
    }
    return (now_ns() - t0) / (double)loops;
}

int main(int argc, char **argv)
{
    long n = 1000000, rounds = 5;
    size_t vsize = 100;
    const char *base = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--keys") == 0)
            n = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--value-size") == 0)
            vsize = (size_t)atol(argv[i + 1]);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            base = argv[i + 1];
    }
    if (n < 1 || rounds < 1 || rounds > 99 || vsize < 1) {
        fprintf(stderr, "usage: bench_get [--keys N] [--value-size B] [--rounds R] [--dir D]\n");
        return 2;
    }
    char d1[4096], d2[4096], cmd[8400];
    snprintf(d1, sizeof d1, "%s/bench_get_hash.XXXXXX", base);
    snprintf(d2, sizeof d2, "%s/bench_get_plain.XXXXXX", base);
    if (mkdtemp(d1) == NULL || mkdtemp(d2) == NULL) {
        perror("bench_get: mkdtemp");
        return 1;
    }
    fprintf(stderr, "bench_get: loading %ld keys twice...\n", n);
    fc_store *hashed = build(d1, n, vsize, 1, 4);
    fc_store *plain = build(d2, n, vsize, 0, 16);
    double h[99], p[99], t[99];
    for (long r = 0; r < rounds; r++) {   /* interleaved, so noise hits both */
        h[r] = get_round(hashed, n, 200000);
        p[r] = get_round(plain, n, 200000);
        t[r] = txn_round(hashed, 1000000);
    }
    double mh = median(h, (int)rounds), mp = median(p, (int)rounds);
    printf("bench_get keys=%ld value_size=%zu rounds=%ld (medians of CPU time)\n", n, vsize, rounds);
    printf("  get, hash index + restart 4:     %7.0f ns\n", mh);
    printf("  get, LevelDB layout (restart 16): %7.0f ns\n", mp);
    printf("  ratio (LevelDB layout / hash):    %7.2fx\n", mp / mh);
    printf("  empty transaction (begin + end): %7.0f ns\n", median(t, (int)rounds));
    fc_close(hashed);
    fc_close(plain);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d1, d2);
    return system(cmd) == 0 ? 0 : 1;
}
