/*
 * bench_write.h - the write benchmark's engine, shared by bench/bench_write
 * (`make bench-write`) and `forkcache bench --mode put,incr,syncput`.
 *
 * A row is one operation from P worker processes forked from one parent,
 * for a timed window after a short warm-up: put (a 100-byte value under a
 * random key of K), incr (one counter every worker bumps) or syncput (a put
 * that reaches the disk before it returns). Engines, each in the same run:
 * forkcache (a writer parent, workers after fc_fork), LMDB (each worker
 * opens the environment after fork, one write transaction per operation),
 * Redis (a private redis-server on a unix socket, one connection per
 * worker) and APCu (php-cli, workers from pcntl_fork; the harness is
 * bench/bench_write_apcu.php). Every operation is timed on its own; a row
 * reports operations per second (all workers), and the median and p99 of
 * the per-operation latency. incr rows also check that the counter ends at
 * exactly the number of increments counted.
 */
#ifndef FC_BENCH_WRITE_H
#define FC_BENCH_WRITE_H

#include <stddef.h>
#include <stdint.h>

#define BW_MAX_PROCS 16

enum { BW_PUT, BW_INCR, BW_SYNCPUT, BW_OPS };
enum { BW_FC, BW_LMDB, BW_REDIS, BW_APCU, BW_ENGINES };

typedef struct bw_params {
    int op;                  /* BW_* operation */
    int procs;               /* worker processes, 1..BW_MAX_PROCS */
    double seconds;          /* timed window */
    double warmup;           /* untimed operations before it, seconds */
    size_t value_size;       /* bytes per put */
    uint64_t keys;           /* puts go to random keys of this many */
    const char *scratch;     /* a directory for stores, sockets, scripts */
    const char *php_script;  /* the APCu harness; NULL: no APCu rows */
} bw_params;

typedef struct bw_result {
    int engine, op, procs;
    double ops_per_s;
    double median_ns, p99_ns;
    long ops;
    char note[96];           /* e.g. "counter differs" */
} bw_result;

const char *bw_engine_name(int engine);
const char *bw_op_name(int op);
/* BW_* of a name ("put", "incr", "syncput"), -1 if none. */
int bw_op_of(const char *name);

/* Runs one row. 0 done, 1 the engine is not available here (or does not
 * do this operation: Redis and APCu have no syncput), -1 failed (reason on
 * stderr). */
int bw_run(int engine, const bw_params *p, bw_result *r);

/* One "bench mode=... engine=..." line, then, for bw_print_table, the
 * rows side by side and forkcache's ratio to each anchor. */
void bw_print_line(const bw_result *r);
void bw_print_table(const bw_result *rs, int n, const bw_params *p);

/* ---- engines (bench_write_engines.c), run inside a forked worker ---- */

typedef struct bw_ctx bw_ctx;
/* Makes the engine's shared state in the parent (a store, a server, an
 * environment directory): 0, 1 unavailable, -1 failed. */
int bw_engine_open(int engine, const bw_params *p, bw_ctx **out);
/* In the worker, after fork: 0 or -1. */
int bw_engine_attach(bw_ctx *c, int worker);
/* One operation, its random draw r: 0 or -1. */
int bw_engine_op(bw_ctx *c, uint64_t r);
void bw_engine_detach(bw_ctx *c);
/* In the parent, after the workers: the counter's value (-1 unknown). */
int64_t bw_engine_counter(bw_ctx *c);
void bw_engine_close(bw_ctx *c);

#endif
