/*
 * bench_load.c - load benchmark: the same rows, in batches of 1000, into
 * forkcache (fc_write) and into real LevelDB (leveldb_write, compression off
 * and snappy), alternating engines run by run, and prints rows/s for each
 * (median of the runs) and forkcache's ratio to each LevelDB setting. The
 * loading thread's CPU time is printed too: on a busy machine it shows the
 * work each engine asks of the caller apart from the waiting.
 *
 *   bench/bench_load [--rows N] [--seq] [--sync] [--runs R] [--dir D]
 *                    [--only forkcache|leveldb-nocomp|leveldb-snappy]
 *
 * Keys are "key%012d" (shuffled unless --seq), values 100 bytes, half of
 * them compressible as in LevelDB's db_bench. With --sync every batch is
 * synced (default rows then 20000). Only the writes are timed; opening and
 * closing (LevelDB's close waits for its compactions, ours for its flush)
 * are reported separately.
 */
#include "config.h"

#include <leveldb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

#define BATCH 1000
#define VALUE_SIZE 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: the loader's own work, without the time
 * it waited for background work or for the machine. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

typedef struct workload {
    long rows;
    int *order;       /* row numbers in load order */
    char *values;     /* rows * VALUE_SIZE bytes */
    int sync;
} workload;

/* Values: 50 random printable bytes then 50 copies of one of them, so
 * snappy halves them, as db_bench's default compression ratio does. */
static int workload_make(workload *w, long rows, int seq, int sync)
{
    w->rows = rows;
    w->sync = sync;
    w->order = malloc((size_t)rows * sizeof *w->order);
    w->values = malloc((size_t)rows * VALUE_SIZE);
    if (w->order == NULL || w->values == NULL)
        return -1;
    uint64_t s = 301;
    for (long i = 0; i < rows; i++) {
        w->order[i] = (int)i;
        char *v = w->values + (size_t)i * VALUE_SIZE;
        for (int k = 0; k < VALUE_SIZE / 2; k++)
            v[k] = (char)(' ' + rng_next(&s) % 95);
        memset(v + VALUE_SIZE / 2, v[0], VALUE_SIZE - VALUE_SIZE / 2);
    }
    if (!seq)
        for (long i = rows - 1; i > 0; i--) {
            long j = (long)(rng_next(&s) % (uint64_t)(i + 1));
            int t = w->order[i];
            w->order[i] = w->order[j];
            w->order[j] = t;
        }
    return 0;
}

typedef struct result {
    double load_s;    /* the writes */
    double cpu_s;     /* the loading thread's CPU time during the writes */
    double close_s;   /* close (flush / background work) */
    long stalls;      /* writes that waited for background work (-1: unknown) */
} result;

static void scratch_dir(char *out, size_t cap, const char *base, const char *engine, int run)
{
    snprintf(out, cap, "%s/bench_load.%ld.%s.%d", base, (long)getpid(), engine, run);
}

static void rmtree(const char *path)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_load: could not remove %s\n", path);
}

static int run_forkcache(const workload *w, const char *dir, result *r)
{
    fc_options o;
    fc_options_init(&o);
    fc_store *s;
    int rc = fc_open(dir, &o, &s);
    if (rc != 0) {
        fprintf(stderr, "fc_open %s: %s\n", dir, fc_errmsg(NULL));
        return -1;
    }
    fc_batch *b;
    if (fc_batch_new(&b) != 0)
        return -1;
    double t0 = now_s(), c0 = thread_cpu_s();
    for (long i = 0; i < w->rows && rc == 0; i += BATCH) {
        fc_batch_clear(b);
        for (long k = i; k < i + BATCH && k < w->rows; k++) {
            char key[32];
            int kl = snprintf(key, sizeof key, "key%012d", w->order[k]);
            fc_batch_put(b, key, (size_t)kl, w->values + (size_t)w->order[k] * VALUE_SIZE,
                         VALUE_SIZE);
        }
        rc = fc_write(s, b, w->sync ? FC_WRITE_SYNC : 0);
    }
    double t1 = now_s();
    r->cpu_s = thread_cpu_s() - c0;
    if (rc != 0)
        fprintf(stderr, "fc_write: %s\n", fc_errmsg(s));
    fc_stats st;
    r->stalls = fc_stats_get(s, &st) == 0 ? (long)st.stalls : -1;
    fc_batch_free(b);
    int crc = fc_close(s);
    r->load_s = t1 - t0;
    r->close_s = now_s() - t1;
    return rc == 0 && crc == 0 ? 0 : -1;
}

static int run_leveldb(const workload *w, const char *dir, int compression, result *r)
{
    char *err = NULL;
    leveldb_options_t *opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(opt, 1);
    leveldb_options_set_compression(opt, compression);
    /* The same bloom filter forkcache builds by default (10 bits per key),
     * so both sides do the work a store that serves reads needs. */
    leveldb_filterpolicy_t *bloom = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_filter_policy(opt, bloom);
    leveldb_t *db = leveldb_open(opt, dir, &err);
    if (db == NULL) {
        fprintf(stderr, "leveldb_open %s: %s\n", dir, err ? err : "?");
        leveldb_options_destroy(opt);
        leveldb_filterpolicy_destroy(bloom);
        return -1;
    }
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(wo, (unsigned char)w->sync);
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    double t0 = now_s(), c0 = thread_cpu_s();
    for (long i = 0; i < w->rows && err == NULL; i += BATCH) {
        leveldb_writebatch_clear(b);
        for (long k = i; k < i + BATCH && k < w->rows; k++) {
            char key[32];
            int kl = snprintf(key, sizeof key, "key%012d", w->order[k]);
            leveldb_writebatch_put(b, key, (size_t)kl,
                                   w->values + (size_t)w->order[k] * VALUE_SIZE, VALUE_SIZE);
        }
        leveldb_write(db, wo, b, &err);
    }
    double t1 = now_s();
    r->cpu_s = thread_cpu_s() - c0;
    r->stalls = -1;
    int rc = 0;
    if (err != NULL) {
        fprintf(stderr, "leveldb_write: %s\n", err);
        leveldb_free(err);
        rc = -1;
    }
    leveldb_writebatch_destroy(b);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_options_destroy(opt);
    leveldb_filterpolicy_destroy(bloom);
    r->load_s = t1 - t0;
    r->close_s = now_s() - t1;
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { ENG_FC, ENG_LDB_NONE, ENG_LDB_SNAPPY, NENG };
static const char *const engine_name[NENG] = { "forkcache", "leveldb-nocomp", "leveldb-snappy" };

static void usage(void)
{
    fprintf(stderr, "usage: bench_load [--rows N] [--seq] [--sync] [--runs R] [--dir D]\n"
                    "                  [--only forkcache|leveldb-nocomp|leveldb-snappy]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long rows = -1;
    int seq = 0, sync = 0, runs = 3, only = -1;
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            rows = atol(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            i++;
            for (int e = 0; e < NENG; e++)
                if (strcmp(argv[i], engine_name[e]) == 0)
                    only = e;
            if (only < 0)
                usage();
        } else if (strcmp(argv[i], "--seq") == 0)
            seq = 1;
        else if (strcmp(argv[i], "--sync") == 0)
            sync = 1;
        else
            usage();
    }
    if (rows < 0)
        rows = sync ? 20000 : 1000000;
    if (rows <= 0 || rows > 100000000 || runs < 1 || runs > 99)
        usage();
    workload w;
    if (workload_make(&w, rows, seq, sync) != 0) {
        fprintf(stderr, "bench_load: out of memory\n");
        return 1;
    }
    printf("bench_load: %ld rows, %s keys (16 bytes), %d-byte values, batches of %d, %s, "
           "median of %d runs\n",
           rows, seq ? "sequential" : "shuffled", VALUE_SIZE, BATCH, sync ? "sync" : "no sync",
           runs);
    double *load[NENG], *closing[NENG], *cpu[NENG];
    for (int e = 0; e < NENG; e++) {
        load[e] = calloc((size_t)runs, sizeof(double));
        closing[e] = calloc((size_t)runs, sizeof(double));
        cpu[e] = calloc((size_t)runs, sizeof(double));
    }
    int failed = 0;
    for (int run = 0; run < runs && !failed; run++)
        for (int k = 0; k < NENG && !failed; k++) {
            /* Alternate who goes first, so neither always gets a cold or
             * a warm page cache. */
            int e = (k + run) % NENG;
            if (only >= 0 && e != only)
                continue;
            char dir[4096];
            scratch_dir(dir, sizeof dir, base, engine_name[e], run);
            rmtree(dir);
            result r;
            failed = e == ENG_FC ? run_forkcache(&w, dir, &r)
                                 : run_leveldb(&w, dir, e == ENG_LDB_NONE ? leveldb_no_compression
                                                                          : leveldb_snappy_compression,
                                               &r);
            rmtree(dir);
            if (failed)
                break;
            load[e][run] = (double)rows / r.load_s;
            closing[e][run] = r.close_s;
            cpu[e][run] = r.cpu_s;
            printf("  run %d %-15s %12.0f rows/s  (load %.3f s, cpu %.3f s, close %.3f s",
                   run, engine_name[e], load[e][run], r.load_s, r.cpu_s, r.close_s);
            if (r.stalls >= 0)
                printf(", %ld stalls", r.stalls);
            printf(")\n");
        }
    if (!failed && only >= 0) {
        printf("%-15s %12.0f rows/s  (loader cpu %.3f s)\n", engine_name[only],
               median(load[only], runs), median(cpu[only], runs));
    } else if (!failed) {
        double med[NENG];
        for (int e = 0; e < NENG; e++) {
            med[e] = median(load[e], runs);
            printf("%-15s %12.0f rows/s  (loader cpu %.3f s, close %.3f s)\n", engine_name[e],
                   med[e], median(cpu[e], runs), median(closing[e], runs));
        }
        printf("ratio forkcache/leveldb-nocomp %.2f, forkcache/leveldb-snappy %.2f\n",
               med[ENG_FC] / med[ENG_LDB_NONE], med[ENG_FC] / med[ENG_LDB_SNAPPY]);
    }
    for (int e = 0; e < NENG; e++) {
        free(load[e]);
        free(closing[e]);
        free(cpu[e]);
    }
    free(w.order);
    free(w.values);
    return failed ? 1 : 0;
}
