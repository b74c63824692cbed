/*
 * bench_txn.c - what a read costs through the table cache: a transaction
 * alone (begin + end), one get per transaction (a web worker's request),
 * and gets from 1, 2 and 4 threads of one process sharing the cache.
 * Prints the median of 5 runs of each; uses only the public API, so the
 * same file measures any build of the library.
 *
 *   bench/bench_txn [ROWS]        (default 100000)
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"

#define RUNS 5

static int rows = 100000;
static fc_store *store;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_txn: %s: %s (%s)\n", what, fc_strerror(rc), fc_errmsg(store));
    exit(1);
}

/* n transactions of `gets` random gets each; returns seconds. */
static double txns(int n, int gets, unsigned seed)
{
    char k[32];
    double t0 = now();
    for (int i = 0; i < n; i++) {
        fc_txn *t;
        int rc = fc_txn_begin(store, &t);
        if (rc != 0)
            die("fc_txn_begin", rc);
        for (int g = 0; g < gets; g++) {
            seed = seed * 1103515245u + 12345u;
            int len = snprintf(k, sizeof k, "key%08u", (seed >> 8) % (unsigned)rows);
            fc_val v;
            if ((rc = fc_get(t, k, (size_t)len, &v)) != 0)
                die("fc_get", rc);
        }
        fc_txn_end(t);
    }
    return now() - t0;
}

typedef struct worker {
    int n;
    unsigned seed;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    txns(w->n, 64, w->seed);
    return NULL;
}

/* Gets per second with `threads` threads, 64 gets per transaction. */
static double threaded(int threads, int per_thread)
{
    pthread_t th[8];
    worker w[8];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){ per_thread, 77u * (unsigned)(i + 1) };
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return (double)threads * per_thread * 64 / (now() - t0);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rows = atoi(argv[1]);
    char dir[] = "/tmp/fc-bench-txn.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    fc_options o;
    fc_options_init(&o);
    int rc = fc_open(dir, &o, &store);
    if (rc != 0)
        die("fc_open", rc);
    char k[32], v[100];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < rows; i++) {
        int len = snprintf(k, sizeof k, "key%08d", i);
        if ((rc = fc_put(store, k, (size_t)len, v, sizeof v)) != 0)
            die("fc_put", rc);
    }
    if ((rc = fc_compact_range(store, NULL, 0, NULL, 0)) != 0)
        die("fc_compact_range", rc);
    txns(rows, 1, 1); /* map every table, fault its pages in */
    double empty[RUNS], one[RUNS], thr[3][RUNS];
    for (int r = 0; r < RUNS; r++) {
        empty[r] = txns(1000000, 0, 2) / 1e6 * 1e9;
        one[r] = txns(300000, 1, 3) / 3e5 * 1e9;
        for (int t = 0; t < 3; t++)
            thr[t][r] = threaded(1 << t, 4000);
    }
    printf("bench_txn: %d rows, table tier (compacted), median of %d runs\n", rows, RUNS);
    printf("  txn begin+end:           %8.0f ns\n", median(empty));
    printf("  txn begin+get+end:       %8.0f ns\n", median(one));
    double base = median(thr[0]);
    for (int t = 0; t < 3; t++) {
        double g = median(thr[t]);
        printf("  %d thread(s), 64 gets/txn: %8.2f M gets/s (x%.2f of 1 thread)\n", 1 << t,
               g / 1e6, g / base);
    }
    fc_close(store);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
