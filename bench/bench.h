/*
 * bench.h - what the files of `forkcache bench` share.
 *
 * A bench directory holds one data set per engine and shape (keys, value
 * size): the same keys ("%016llu" of 0..N-1) and the same values in a
 * forkcache store, an LMDB environment, a LevelDB database, and for Redis
 * a private server loaded at run time. A value is derived from its key, so
 * a reader checks what it got without asking anyone.
 *
 * A run forks reader processes that each drive one engine through a
 * bench_target (attach after fork, one get, measure memory), for a warm-up
 * and then a timed window, and reports one bench_result per mode.
 */
#ifndef FC_TOOL_BENCH_H
#define FC_TOOL_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_KEY_LEN 16          /* "%016llu" */
#define BENCH_MODE_LEN 16
#define BENCH_MAX_PROCS 64
#define BENCH_PATTERN_STRIDE 26   /* values differ by key modulo this */

/* The data set: how many keys, how big each value. */
typedef struct bench_shape {
    uint64_t keys;
    size_t value_size;
} bench_shape;

/* Writes key i ("%016llu", BENCH_KEY_LEN bytes plus a NUL) into out. */
int bench_key(char *out, uint64_t i);

/*
 * What a reader checks a value against. Value i is its key's first bytes
 * (up to 16), then bytes of a fixed pattern starting at i modulo 26: a
 * cheap check compares length and head on every get, a full one the rest.
 */
typedef struct bench_verify {
    size_t value_size;
    char *pattern;   /* value_size + BENCH_PATTERN_STRIDE bytes */
} bench_verify;

int bench_verify_init(bench_verify *v, size_t value_size);
void bench_verify_free(bench_verify *v);
/* Fills out (value_size bytes) with value i. */
void bench_value(const bench_verify *v, uint64_t i, char *out);
/* 1 when data/len is value i (its key already formatted in key). */
int bench_value_ok(const bench_verify *v, uint64_t i, const char *key, const void *data,
                   size_t len, int full);
/* Reads one byte per 512 of a value (and its last), so its pages are in. */
unsigned bench_touch(const void *data, size_t len);

/* A progress bar on standard error while it is a terminal, then one
 * summary line in any case. */
typedef struct bench_progress {
    char what[96];
    uint64_t total;
    double start, last;
    int tty;
} bench_progress;

void bench_progress_start(bench_progress *p, const char *what, uint64_t total);
void bench_progress_update(bench_progress *p, uint64_t done);
void bench_progress_end(bench_progress *p, uint64_t done);

/* One engine as a reader process drives it. Every function but the
 * parent_* ones runs in the reader, after fork. */
typedef struct bench_target {
    char mode[BENCH_MODE_LEN];
    void *ctx;
    /* Opens what the reader needs; 0, or -1 with a message in err. */
    int (*attach)(void *ctx, char *err, size_t cap);
    /* One request: look key up and check the value. 0 good, 1 the value
     * is missing or wrong, -1 an error (message in err). */
    int (*get)(void *ctx, const char *key, size_t klen, uint64_t i, int full,
               const bench_verify *v, char *err, size_t cap);
    /* Before the clock starts: reads keys [from, to) in order, so every
     * engine starts with its data in memory (NULL: nothing to warm). */
    int (*warm)(void *ctx, uint64_t from, uint64_t to, char *err, size_t cap);
    /* The engine's data mappings, whose PSS the reader measures at the
     * end (bench/bench_pss.h; NULL: none of its own). */
    const struct tool_pss_match *pss;
    void (*detach)(void *ctx);
    /* In the parent after the readers measured: extra KiB to count (a
     * server's memory), or NULL. */
    long (*parent_pss_kib)(void *ctx);
} bench_target;

/* How a run goes. */
typedef struct bench_params {
    bench_shape shape;
    int procs;
    double seconds;   /* timed window */
    double warmup;    /* untimed gets before it */
} bench_params;

/* One line of the report. */
typedef struct bench_result {
    char mode[BENCH_MODE_LEN];
    int procs;
    bench_shape shape;
    double gets_per_s;
    double ns_per_get;       /* per reader: its window over its gets */
    double cpu_ns_per_get;   /* per reader: its CPU time over its gets (what
                                a get costs when other work shares the CPUs) */
    double p99_ns;           /* of every 64th get, all readers together */
    double pss_mib;          /* sum over readers (plus a server's) */
    double data_mib;         /* the engine's data on disk; 0 unknown */
    char note[160];
} bench_result;

/* Forks params->procs readers of t and measures them. 0, or -1 with the
 * reason printed. */
int bench_run(const bench_target *t, const bench_params *p, bench_result *r);

/* ---- engines: each builds its data set when missing and runs a mode ---- */

/* One engine's data set in the bench directory. */
typedef struct bench_dataset {
    const bench_shape *shape;
    char name[128];          /* for the progress bar: "LMDB env lmdb-N-B" */
    char path[4096];         /* DIR/engine-N-B */
    char real[4096];         /* its absolute path, as smaps names it */
} bench_dataset;

/*
 * Makes d name engine's data set for shape in the bench directory dir and
 * builds it when missing: fill(d, tmp) writes it into the directory tmp,
 * which is then renamed to d->path (a leftover of an interrupted build is
 * removed first), so a data set exists only once complete. 0, or -1 with
 * the reason printed.
 */
int bench_dataset_ready(bench_dataset *d, const char *dir, const char *engine,
                        const char *label, const bench_shape *shape,
                        int (*fill)(const bench_dataset *d, const char *tmp));
/* Removes a directory tree of plain files and directories. */
int bench_rmtree(const char *path);
/* Bytes of the files in dir whose names end in suffix (NULL: all). */
uint64_t bench_dir_bytes(const char *dir, const char *suffix);
/* Formats a reader's failure into err (cap bytes); returns -1. */
int bench_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Moves all len bytes through fd: 'r' reads, 'w' writes, 's' sends on a
 * socket without SIGPIPE. 0, or -1 on an error or end of file. */
int bench_io_all(int fd, void *buf, size_t len, char how);
/* One read of at most cap bytes, EINTR retried: the count, 0 at end of
 * file, -1 on an error. For replies whose length is not known ahead. */
ssize_t bench_read_some(int fd, void *buf, size_t cap);

/* forkcache: mode is "mmap", "cache" or "copy". */
int bench_fc(const char *dir, const char *mode, const bench_params *p, bench_result *r);
/* The anchors; each returns 1 when this build or machine lacks it. */
int bench_lmdb(const char *dir, const bench_params *p, bench_result *r);
int bench_leveldb(const char *dir, const bench_params *p, bench_result *r);
/* Redis: a private server, started and loaded with a shape's keys for a
 * set of rounds (1 when redis-server is not in PATH), then stopped. */
typedef struct bench_redis_server bench_redis_server;
int bench_redis_start(const bench_shape *shape, bench_redis_server **out);
int bench_redis(bench_redis_server *srv, const bench_params *p, bench_result *r);
void bench_redis_stop(bench_redis_server *srv);

/* The floor: a bare hash probe over one mapped file of the same keys and
 * values, one process (bench_floor.c). */
int bench_floor(const char *dir, const bench_params *p, bench_result *r);

/* ---- --memory-limit: a memory cgroup around the run (bench_cgroup.c) ---- */

typedef struct bench_cgroup {
    char parent[4096];   /* the group the process was in */
    char dir[4200];      /* the one made for the run */
    int v2;              /* cgroup v2 (memory.max), else v1 */
    int in;              /* the process is in dir */
} bench_cgroup;

/* Makes a group under the process's own with memory limit `limit` bytes
 * and moves the process into it: 0, or -1 with the reason in why. */
int bench_cgroup_enter(bench_cgroup *cg, uint64_t limit, char *why, size_t cap);
/* Moves the process back and removes the group. */
void bench_cgroup_leave(bench_cgroup *cg);
/* "cgroup peak N MiB, K OOM kills" into out. */
void bench_cgroup_note(const bench_cgroup *cg, char *out, size_t cap);
/* Drops the clean page cache (root only): 0, or -1 when not allowed. */
int bench_drop_caches(void);

/* ---- reporting ----------------------------------------------------------- */

void bench_print_line(const bench_result *r);
void bench_print_table(const bench_result *rs, int n);
int bench_write_csv(const char *path, const bench_result *rs, int n);
/* Writes path's gnuplot script (path with .gp) and the CSV beside it,
 * and runs gnuplot when it is installed. 0 drawn, 1 script only, -1 error. */
int bench_plot(const char *png, const bench_result *rs, int n);

#endif
