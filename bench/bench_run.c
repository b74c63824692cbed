/*
 * bench_run.c - one mode of `forkcache bench`: fork the readers, start
 * them together, let each run uniform random gets (a warm-up, then the
 * timed window), and gather what they measured.
 *
 * Every reader times every 64th get with clock_gettime (two calls per
 * sample keep the clock's cost under a few ns per get) and checks the
 * window's end on those gets only. Another 64th of the gets, untimed for
 * latency, compare every byte of the value. After the window a reader
 * measures its PSS while every other reader still maps the data (a
 * page's share depends on how many map it now), sends its figures and
 * samples through its own pipe, and waits for the parent to close the
 * "go" pipe before it exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_pss.h"
#include "tool/tool.h"

#define SAMPLE_MASK 63u             /* every 64th get is timed */
#define VERIFY_PHASE 32u            /* ... and another 64th fully checked */
#define MAX_SAMPLES (1u << 20)      /* per reader */

/* What a reader sends back, followed by nsamples uint32 nanoseconds. */
typedef struct reader_report {
    int32_t status;          /* 0, or -1 with msg */
    uint32_t nsamples;
    uint64_t gets;           /* in the timed window */
    uint64_t window_ns;
    uint64_t cpu_ns;         /* CPU time the reader used in the window */
    int64_t pss_kib;
    char msg[192];
} reader_report;

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* xorshift64*: cheap, and every reader gets its own stream. */
static uint64_t next_random(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

typedef struct reader_loop {
    const bench_target *t;
    const bench_params *p;
    bench_verify v;
    uint64_t seed;
    int id;                  /* 0 .. procs-1: which share it warms */
    uint32_t *samples;
    uint32_t nsamples;
    reader_report rep;
} reader_loop;

/* Runs gets until deadline; with timed, samples latencies and counts.
 * 0 at the deadline, -1 on a failed get (rep.msg says which). */
static int run_until(reader_loop *L, uint64_t deadline, int timed)
{
    char key[BENCH_KEY_LEN + 1];
    uint64_t keys = L->p->shape.keys, n = 0;
    const bench_target *t = L->t;
    for (;;) {
        uint64_t i = next_random(&L->seed) % keys;
        uint32_t phase = (uint32_t)n & SAMPLE_MASK;
        uint64_t t0 = phase == 0 ? now_ns() : 0;
        int klen = bench_key(key, i);
        int rc = t->get(t->ctx, key, (size_t)klen, i, phase == VERIFY_PHASE, &L->v, L->rep.msg,
                        sizeof L->rep.msg);
        if (rc != 0) {
            if (rc > 0)
                snprintf(L->rep.msg, sizeof L->rep.msg, "key %s: value missing or wrong", key);
            return -1;
        }
        n++;
        if (phase == 0) {
            uint64_t t1 = now_ns();
            if (timed && L->nsamples < MAX_SAMPLES)
                L->samples[L->nsamples++] = (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
            if (t1 >= deadline)
                break;
        }
    }
    if (timed)
        L->rep.gets = n;
    return 0;
}

/* Waits for its start byte (EOF instead: the parent gave up), warms its
 * share of the keys, runs, measures, reports. */
static int reader_body(reader_loop *L, int start_fd)
{
    char c;
    if (read(start_fd, &c, 1) != 1) {
        snprintf(L->rep.msg, sizeof L->rep.msg, "not started");
        return -1;
    }
    uint64_t keys = L->p->shape.keys, id = (uint64_t)L->id, procs = (uint64_t)L->p->procs;
    if (L->t->warm && L->t->warm(L->t->ctx, keys * id / procs, keys * (id + 1) / procs, L->rep.msg,
                                 sizeof L->rep.msg) != 0)
        return -1;
    uint64_t begin = now_ns();
    uint64_t warm_end = begin + (uint64_t)(L->p->warmup * 1e9);
    uint64_t end = warm_end + (uint64_t)(L->p->seconds * 1e9);
    if (L->p->warmup > 0 && run_until(L, warm_end, 0) != 0)
        return -1;
    uint64_t t0 = now_ns(), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if (run_until(L, end, 1) != 0)
        return -1;
    L->rep.window_ns = now_ns() - t0;
    L->rep.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    L->rep.pss_kib = L->t->pss ? tool_pss_kib(0, L->t->pss, NULL, NULL) : 0;
    L->rep.nsamples = L->nsamples;
    return 0;
}

/* The reader process: never returns. */
static void reader(const bench_target *t, const bench_params *p, int id, int out, int start_fd,
                   int go_fd)
{
    reader_loop L;
    memset(&L, 0, sizeof L);
    L.t = t;
    L.p = p;
    L.id = id;
    L.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1) ^ (uint64_t)getpid();
    L.samples = malloc(MAX_SAMPLES * sizeof *L.samples);
    int rc = -1;
    if (L.samples == NULL || bench_verify_init(&L.v, p->shape.value_size) != 0)
        snprintf(L.rep.msg, sizeof L.rep.msg, "out of memory");
    else
        rc = t->attach(t->ctx, L.rep.msg, sizeof L.rep.msg);
    char ready = rc == 0 ? 'R' : 'E';
    if (bench_io_all(out, &ready, 1, 'w') != 0)
        _exit(3);
    if (rc == 0)
        rc = reader_body(&L, start_fd);
    L.rep.status = rc;
    if (rc != 0)
        L.rep.nsamples = 0;
    if (bench_io_all(out, &L.rep, sizeof L.rep, 'w') != 0 ||
        bench_io_all(out, L.samples, (size_t)L.rep.nsamples * sizeof *L.samples, 'w') != 0)
        _exit(4);
    char c;
    while (read(go_fd, &c, 1) > 0)
        ;
    if (rc == 0 && t->detach)
        t->detach(t->ctx);
    _exit(rc == 0 ? 0 : 1);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The parent's side of the readers. */
typedef struct run_state {
    int procs;
    pid_t pid[BENCH_MAX_PROCS];
    int res[BENCH_MAX_PROCS];     /* read ends of the readers' pipes */
    int start[2], go[2];
    uint32_t *all;                /* every reader's samples */
    size_t nall;
} run_state;

static int spawn(run_state *S, const bench_target *t, const bench_params *p)
{
    fflush(NULL); /* nothing buffered is written twice by a child */
    for (int k = 0; k < p->procs; k++) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            tool_fail("bench", NULL, "pipe: %s", strerror(errno));
            return -1;
        }
        pid_t pid = fc_fork();
        if (pid < 0) {
            tool_fail("bench", NULL, "fork: %s", strerror(errno));
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
        if (pid == 0) {
            close(fds[0]);
            close(S->start[1]);
            close(S->go[1]);
            for (int j = 0; j < k; j++)
                close(S->res[j]);
            reader(t, p, k, fds[1], S->start[0], S->go[0]);
        }
        close(fds[1]);
        S->pid[k] = pid;
        S->res[k] = fds[0];
        S->procs = k + 1;
    }
    return 0;
}

/* Reads reader k's report and samples; the first failure is printed. */
static int collect(run_state *S, int k, const char *mode, reader_report *rep)
{
    if (bench_io_all(S->res[k], rep, sizeof *rep, 'r') != 0) {
        tool_fail("bench", NULL, "%s: reader %d died", mode, k);
        return -1;
    }
    if (rep->status != 0) {
        rep->msg[sizeof rep->msg - 1] = '\0';
        tool_fail("bench", NULL, "%s: reader %d: %s", mode, k, rep->msg);
        return -1;
    }
    if (rep->nsamples > MAX_SAMPLES ||
        bench_io_all(S->res[k], S->all + S->nall, (size_t)rep->nsamples * sizeof *S->all, 'r') != 0) {
        tool_fail("bench", NULL, "%s: reader %d sent a bad report", mode, k);
        return -1;
    }
    S->nall += rep->nsamples;
    return 0;
}

/* Waits for every reader to be attached ('R'), then starts them all with
 * one write of a byte each (at most 64 bytes: one atomic pipe write). */
static int start_all(run_state *S, const char *mode)
{
    int ok = 1;
    for (int k = 0; k < S->procs; k++) {
        char c = 0;
        if (bench_io_all(S->res[k], &c, 1, 'r') != 0 || c != 'R') {
            reader_report rep;
            if (c == 'E' && bench_io_all(S->res[k], &rep, sizeof rep, 'r') == 0) {
                rep.msg[sizeof rep.msg - 1] = '\0';
                tool_fail("bench", NULL, "%s: reader %d: %s", mode, k, rep.msg);
            } else {
                tool_fail("bench", NULL, "%s: reader %d died before it started", mode, k);
            }
            ok = 0;
        }
    }
    char go[BENCH_MAX_PROCS];
    memset(go, 'g', sizeof go);
    if (ok && bench_io_all(S->start[1], go, (size_t)S->procs, 'w') != 0)
        ok = 0;
    close(S->start[1]); /* EOF for any reader still waiting: give up */
    S->start[1] = -1;
    return ok ? 0 : -1;
}

static void summarize(run_state *S, const reader_report *reps, const bench_params *p,
                      bench_result *r)
{
    double rate = 0, window = 0, gets = 0, cpu = 0;
    long pss = 0;
    for (int k = 0; k < S->procs; k++) {
        double secs = (double)reps[k].window_ns / 1e9;
        rate += secs > 0 ? (double)reps[k].gets / secs : 0;
        window += (double)reps[k].window_ns;
        cpu += (double)reps[k].cpu_ns;
        gets += (double)reps[k].gets;
        pss += (long)reps[k].pss_kib;
    }
    r->procs = p->procs;
    r->shape = p->shape;
    r->gets_per_s = rate;
    r->ns_per_get = gets > 0 ? window / gets : 0;
    r->cpu_ns_per_get = gets > 0 ? cpu / gets : 0;
    qsort(S->all, S->nall, sizeof *S->all, cmp_u32);
    r->p99_ns = S->nall ? (double)S->all[(size_t)((double)(S->nall - 1) * 0.99)] : 0;
    r->pss_mib += (double)pss / 1024.0;
}

int bench_run(const bench_target *t, const bench_params *p, bench_result *r)
{
    run_state S;
    memset(&S, 0, sizeof S);
    S.start[0] = S.start[1] = S.go[0] = S.go[1] = -1;
    snprintf(r->mode, sizeof r->mode, "%s", t->mode);
    reader_report *reps = calloc((size_t)p->procs, sizeof *reps);
    S.all = malloc((size_t)p->procs * MAX_SAMPLES * sizeof *S.all);
    int rc = -1;
    if (reps == NULL || S.all == NULL)
        tool_fail("bench", NULL, "out of memory");
    else if (pipe2(S.start, O_CLOEXEC) != 0 || pipe2(S.go, O_CLOEXEC) != 0)
        tool_fail("bench", NULL, "pipe: %s", strerror(errno));
    else if (spawn(&S, t, p) == 0 && start_all(&S, t->mode) == 0)
        rc = 0;
    for (int k = 0; rc == 0 && k < S.procs; k++)
        rc = collect(&S, k, t->mode, &reps[k]);
    if (rc == 0) {
        r->pss_mib = 0;
        if (t->parent_pss_kib)
            r->pss_mib = (double)t->parent_pss_kib(t->ctx) / 1024.0;
        summarize(&S, reps, p, r);
    }
    for (int fd = 0; fd < 2; fd++) {
        if (S.start[fd] >= 0)
            close(S.start[fd]);
        if (S.go[fd] >= 0)
            close(S.go[fd]); /* EOF on go: the readers exit */
    }
    for (int k = 0; k < S.procs; k++) {
        int status;
        close(S.res[k]);
        if (rc != 0)
            kill(S.pid[k], SIGTERM); /* only ours: a reader stuck in a get */
        if (waitpid(S.pid[k], &status, 0) == S.pid[k] && rc == 0 &&
            !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            tool_fail("bench", NULL, "%s: reader %d exited with status %d", t->mode, k, status);
            rc = -1;
        }
    }
    free(reps);
    free(S.all);
    return rc;
}
