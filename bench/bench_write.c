/*
 * bench_write.c - the write benchmark's harness (bench_write.h): forks the
 * workers of one row, starts their clocks together, collects every
 * operation's latency through shared memory, and reports; runs the APCu
 * rows through php-cli and bench/bench_write_apcu.php.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/bench_common.h"
#include "bench/bench_write.h"

#define SAMPLE_CAP ((size_t)1 << 21)   /* latencies kept per worker */

static const char *const engine_names[BW_ENGINES] = { "forkcache", "lmdb", "redis", "apcu" };
static const char *const op_names[BW_OPS] = { "put", "incr", "syncput" };

const char *bw_engine_name(int engine)
{
    return engine >= 0 && engine < BW_ENGINES ? engine_names[engine] : "?";
}

const char *bw_op_name(int op)
{
    return op >= 0 && op < BW_OPS ? op_names[op] : "?";
}

int bw_op_of(const char *name)
{
    for (int op = 0; op < BW_OPS; op++)
        if (strcmp(name, op_names[op]) == 0)
            return op;
    return -1;
}

/* What the workers of one row share with the parent. */
typedef struct bw_shared {
    _Atomic int ready;             /* workers attached */
    _Atomic int go;                /* set by the parent once all are */
    double warm_end, end;          /* CLOCK_MONOTONIC seconds, set before go */
    struct {
        long ops;                  /* timed operations */
        long warm_ops;             /* those before the window */
        size_t nsamples;
        int failed;
    } w[BW_MAX_PROCS];
    uint32_t samples[];            /* BW_MAX_PROCS * SAMPLE_CAP, ns */
} bw_shared;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64: the workers' key draws. */
static uint64_t draw(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A worker: attach, wait for the start, warm up, then time every
 * operation until the end of the window. */
static void worker(bw_ctx *c, bw_shared *sh, int w)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(w + 1);
    if (bw_engine_attach(c, w) != 0) {
        sh->w[w].failed = 1;
        _exit(2);
    }
    /* release: our attach happened before the parent's start */
    atomic_fetch_add_explicit(&sh->ready, 1, memory_order_release);
    /* acquire: the window's times are written before go */
    while (!atomic_load_explicit(&sh->go, memory_order_acquire))
        usleep(100);
    long warm = 0;
    for (; bench_now() < sh->warm_end; warm++)
        if (bw_engine_op(c, draw(&x)) != 0)
            _exit(3);
    sh->w[w].warm_ops = warm;
    uint32_t *mine = sh->samples + (size_t)w * SAMPLE_CAP;
    long n = 0;
    for (uint64_t t0 = now_ns(); (double)t0 / 1e9 < sh->end; n++) {
        if (bw_engine_op(c, draw(&x)) != 0)
            _exit(4);
        uint64_t t1 = now_ns(), d = t1 - t0;
        if ((size_t)n < SAMPLE_CAP)
            mine[n] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        t0 = t1;
    }
    sh->w[w].ops = n;
    sh->w[w].nsamples = (size_t)n < SAMPLE_CAP ? (size_t)n : SAMPLE_CAP;
    bw_engine_detach(c);
    _exit(0);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Median and p99 of every worker's samples, gathered in place. */
static void latency(bw_shared *sh, int procs, bw_result *r)
{
    size_t n = 0;
    for (int w = 0; w < procs; w++) {
        memmove(sh->samples + n, sh->samples + (size_t)w * SAMPLE_CAP,
                sh->w[w].nsamples * sizeof(uint32_t));
        n += sh->w[w].nsamples;
    }
    if (n == 0)
        return;
    qsort(sh->samples, n, sizeof(uint32_t), cmp_u32);
    r->median_ns = sh->samples[n / 2];
    r->p99_ns = sh->samples[(size_t)((double)(n - 1) * 0.99)];
}

/* Forks the workers, starts them together, reaps them: 0 or -1. */
static int run_workers(bw_ctx *c, bw_shared *sh, const bw_params *p)
{
    pid_t kids[BW_MAX_PROCS];
    int ok = 1;
    fflush(NULL);
    for (int w = 0; w < p->procs; w++) {
        kids[w] = fc_fork();
        if (kids[w] == 0)
            worker(c, sh, w);
        ok &= kids[w] > 0;
    }
    /* acquire: pairs with each worker's release */
    while (ok && atomic_load_explicit(&sh->ready, memory_order_acquire) < p->procs)
        usleep(1000);
    sh->warm_end = bench_now() + 0.01 + p->warmup;
    sh->end = sh->warm_end + p->seconds;
    /* release: the window's times before go */
    atomic_store_explicit(&sh->go, 1, memory_order_release);
    for (int w = 0; w < p->procs; w++) {
        int status;
        ok &= kids[w] > 0 && waitpid(kids[w], &status, 0) == kids[w] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0;
    }
    return ok ? 0 : -1;
}

/* One row of a C engine. */
static int run_c(int engine, const bw_params *p, bw_result *r)
{
    bw_ctx *c;
    int rc = bw_engine_open(engine, p, &c);
    if (rc != 0)
        return rc;
    size_t bytes = sizeof(bw_shared) + (size_t)p->procs * SAMPLE_CAP * sizeof(uint32_t);
    bw_shared *sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        bw_engine_close(c);
        return -1;
    }
    int64_t before = p->op == BW_INCR ? bw_engine_counter(c) : 0;
    rc = run_workers(c, sh, p);
    long warm = 0;
    for (int w = 0; w < p->procs; w++) {
        r->ops += sh->w[w].ops;
        warm += sh->w[w].warm_ops;
    }
    r->ops_per_s = (double)r->ops / p->seconds;
    latency(sh, p->procs, r);
    if (rc == 0 && p->op == BW_INCR) {
        /* every increment, warm-up's included, applied exactly once */
        int64_t after = bw_engine_counter(c);
        if (after != (before < 0 ? 0 : before) + r->ops + warm)
            snprintf(r->note, sizeof r->note, "counter %" PRId64 " != %ld increments", after,
                     r->ops + warm);
    }
    munmap(sh, bytes);
    bw_engine_close(c);
    if (rc != 0)
        fprintf(stderr, "bench write: %s %s: a worker failed\n", bw_engine_name(engine),
                bw_op_name(p->op));
    return rc != 0 || r->note[0] != '\0' ? -1 : 0;
}

/* The APCu row: php-cli runs bench_write_apcu.php, which forks the workers
 * with pcntl_fork and prints "ops median_ns p99_ns ok". */
static int run_apcu(const bw_params *p, bw_result *r)
{
    if (p->php_script == NULL || p->op == BW_SYNCPUT || access(p->php_script, R_OK) != 0)
        return 1;
    char cmd[8600];
    snprintf(cmd, sizeof cmd,
             "php -d apc.enable_cli=1 -d apc.shm_size=256M -d memory_limit=-1 '%s' %s %d %g %g %zu %" PRIu64
             " 2>/dev/null", p->php_script, bw_op_name(p->op), p->procs, p->seconds, p->warmup,
             p->value_size, p->keys);
    FILE *f = popen(cmd, "re");
    if (f == NULL)
        return 1;
    long ops = -1;
    int ok = 0;
    int got = fscanf(f, "%ld %lf %lf %d", &ops, &r->median_ns, &r->p99_ns, &ok);
    int rc = pclose(f);
    if (got != 4 || rc != 0)
        return 1; /* php, APCu or pcntl missing: the script exits non-zero */
    r->ops = ops;
    r->ops_per_s = (double)ops / p->seconds;
    if (!ok)
        snprintf(r->note, sizeof r->note, "apcu counter differs from the increments");
    return ok ? 0 : -1;
}

int bw_run(int engine, const bw_params *p, bw_result *r)
{
    memset(r, 0, sizeof *r);
    r->engine = engine;
    r->op = p->op;
    r->procs = p->procs;
    if (p->procs < 1 || p->procs > BW_MAX_PROCS || p->op < 0 || p->op >= BW_OPS)
        return -1;
    return engine == BW_APCU ? run_apcu(p, r) : run_c(engine, p, r);
}

/* ---- reporting ------------------------------------------------------------- */

void bw_print_line(const bw_result *r)
{
    printf("bench mode=%s engine=%s procs=%d ops_per_s=%.0f median_ns=%.0f p99_ns=%.0f%s%s\n",
           bw_op_name(r->op), bw_engine_name(r->engine), r->procs, r->ops_per_s, r->median_ns,
           r->p99_ns, r->note[0] ? " note=" : "", r->note);
    fflush(stdout);
}

static const bw_result *find(const bw_result *rs, int n, int op, int procs, int engine)
{
    for (int k = 0; k < n; k++)
        if (rs[k].op == op && rs[k].procs == procs && rs[k].engine == engine)
            return &rs[k];
    return NULL;
}

/* forkcache's ratios to each anchor on one row: its ops/s over theirs,
 * their median latency over its (above 1: forkcache is ahead on both). */
static void print_ratios(const bw_result *rs, int n, const bw_result *fc)
{
    for (int e = BW_LMDB; e < BW_ENGINES; e++) {
        const bw_result *a = find(rs, n, fc->op, fc->procs, e);
        if (a == NULL || a->ops_per_s <= 0 || fc->median_ns <= 0)
            continue;
        printf("  %s %.2fx, %.2fx", bw_engine_name(e), fc->ops_per_s / a->ops_per_s,
               a->median_ns / fc->median_ns);
    }
}

void bw_print_table(const bw_result *rs, int n, const bw_params *p)
{
    printf("\nwrites: %zu-byte values, puts to random keys of %" PRIu64 ", %.1f s per row after "
           "%.1f s of warm-up, workers forked from one parent\n",
           p->value_size, p->keys, p->seconds, p->warmup);
    printf("%-8s %5s  %-9s %12s %10s %10s  %s\n", "op", "procs", "engine", "ops/s",
           "median_us", "p99_us", "forkcache vs: its ops/s / theirs, their median / its");
    for (int k = 0; k < n; k++) {
        const bw_result *r = &rs[k];
        printf("%-8s %5d  %-9s %12.0f %10.1f %10.1f", bw_op_name(r->op), r->procs,
               bw_engine_name(r->engine), r->ops_per_s, r->median_ns / 1e3, r->p99_ns / 1e3);
        if (r->engine == BW_FC)
            print_ratios(rs, n, r);
        printf("%s%s\n", r->note[0] ? "  " : "", r->note);
    }
    const bw_result *s1 = find(rs, n, BW_SYNCPUT, 1, BW_FC);
    const bw_result *s4 = find(rs, n, BW_SYNCPUT, 4, BW_FC);
    if (s1 != NULL && s4 != NULL && s1->ops_per_s > 0)
        printf("forkcache synced puts: 4 workers %.2fx the puts/s of 1\n",
               s4->ops_per_s / s1->ops_per_s);
}
