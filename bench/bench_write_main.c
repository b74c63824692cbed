/*
 * bench_write_main.c - bench/bench_write, the write benchmark
 * (`make bench-write`): puts and increments from 1, 2 and 4 forked
 * workers, forkcache beside LMDB, Redis and APCu, and synced puts from 1
 * and 4 workers, every row in one run, then the table (bench_write.h says
 * what a row measures). A benchmark: it prints figures and asserts nothing
 * about speed; it exits non-zero only when a row failed (a worker's error,
 * or a counter that does not end at the increments made).
 *
 *   bench/bench_write [--seconds S] [--warmup S] [--procs LIST] [--ops LIST]
 *                     [--keys N] [--dir D] [--php FILE]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_write.h"

#define MAX_ROWS 128

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--seconds S] [--warmup S] [--procs 1,2,4] [--ops put,incr,syncput]\n"
            "          [--keys N] [--dir D] [--php bench_write_apcu.php]\n", prog);
    return 2;
}

/* A comma-separated list of worker counts into procs (at most 8). */
static int parse_procs(const char *s, int *procs, int *n)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int v = atoi(t);
        if (v < 1 || v > BW_MAX_PROCS || *n == 8)
            return -1;
        procs[(*n)++] = v;
    }
    return *n > 0 ? 0 : -1;
}

static int parse_ops(const char *s, unsigned *ops)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    *ops = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int op = bw_op_of(t);
        if (op < 0)
            return -1;
        *ops |= 1u << op;
    }
    return *ops ? 0 : -1;
}

/* The rows of one operation: each worker count, each engine, side by side. */
static int run_op(bw_params *p, const int *procs, int nprocs, bw_result *rs, int *n)
{
    int failed = 0;
    for (int k = 0; k < nprocs; k++) {
        /* synced puts: 1 and 4 workers are the figure the issue asks for */
        if (p->op == BW_SYNCPUT && procs[k] != 1 && procs[k] != 4 && nprocs > 1)
            continue;
        p->procs = procs[k];
        for (int e = 0; e < BW_ENGINES && *n < MAX_ROWS; e++) {
            int rc = bw_run(e, p, &rs[*n]);
            if (rc == 0 || rs[*n].ops > 0)
                bw_print_line(&rs[(*n)++]);
            failed |= rc < 0;
        }
    }
    return failed;
}

int main(int argc, char **argv)
{
    bw_params p = { .seconds = 2.0, .warmup = 0.3, .value_size = 100, .keys = 100000,
                    .php_script = BENCH_WRITE_PHP };
    int procs[8] = { 1, 2, 4 }, nprocs = 3;
    unsigned ops = (1u << BW_PUT) | (1u << BW_INCR) | (1u << BW_SYNCPUT);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage(argv[0]);
        i++;
        if (strcmp(a, "--seconds") == 0 && (p.seconds = atof(v)) > 0)
            continue;
        if (strcmp(a, "--warmup") == 0 && (p.warmup = atof(v)) >= 0)
            continue;
        if (strcmp(a, "--keys") == 0 && (p.keys = strtoull(v, NULL, 10)) > 0)
            continue;
        if (strcmp(a, "--procs") == 0 && parse_procs(v, procs, &nprocs) == 0)
            continue;
        if (strcmp(a, "--ops") == 0 && parse_ops(v, &ops) == 0)
            continue;
        if (strcmp(a, "--dir") == 0) {
            p.scratch = v;
            continue;
        }
        if (strcmp(a, "--php") == 0) {
            p.php_script = v;
            continue;
        }
        return usage(argv[0]);
    }
    bw_result *rs = calloc(MAX_ROWS, sizeof *rs);
    if (rs == NULL)
        return 1;
    int n = 0, failed = 0;
    for (int op = 0; op < BW_OPS; op++) {
        if (!(ops & (1u << op)))
            continue;
        p.op = op;
        failed |= run_op(&p, procs, nprocs, rs, &n);
    }
    bw_print_table(rs, n, &p);
    free(rs);
    return failed ? 1 : 0;
}
