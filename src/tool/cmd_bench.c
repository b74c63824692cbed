/*
 * cmd_bench.c - `forkcache bench`: point gets from forked reader processes,
 * zero-copy from mapped tables (mmap), zero-copy from the shared block
 * cache (cache), and copied into each process's own memory (copy), beside
 * LMDB, LevelDB and Redis holding the same keys when they are at hand.
 *
 * This file reads the options, runs the modes in a fixed order, and with
 * --plot a small sweep (value sizes 100 and 4096, 1 and 2 readers). The
 * engine is in the top-level bench/ folder: bench_fc.c and bench_<anchor>.c
 * run the engines, bench_run.c the reader processes, bench_report.c the
 * output. --mode put, incr and syncput run the write benchmark instead
 * (bench/bench_write.c: forked workers writing, beside the anchors).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench.h"
#include "bench/bench_write.h"
#include "tool/tool.h"

#define MAX_RESULTS 64
#define MAX_VALUE_SIZE ((size_t)1 << 20)
#define SWEEP_VALUE_BYTES ((uint64_t)128 << 20)   /* per sweep data set */
#define SWEEP_MIN_KEYS 1000
#define MAX_ROUNDS 15

/* The modes in the order they run; anchors after forkcache's own. */
enum { M_MMAP, M_CACHE, M_COPY, M_FLOOR, M_LMDB, M_LEVELDB, M_REDIS, M_COUNT };
static const char *const mode_names[M_COUNT] = { "mmap", "cache", "copy", "floor", "lmdb",
                                                 "leveldb", "redis" };
/* The sweep draws these (LevelDB and Redis stay in the main table). */
#define SWEEP_MODES ((1u << M_MMAP) | (1u << M_CACHE) | (1u << M_COPY) | (1u << M_LMDB))

const char tool_bench_description[] =
    "Measures point gets from P forked reader processes. Each reader first\n"
    "reads its share of the keys in order (an iterator or cursor, untimed), so\n"
    "every engine starts with its data in memory, then runs uniform random gets:\n"
    "--warmup seconds untimed, then S seconds timed. One transaction per get\n"
    "(fc_txn_begin, fc_get, fc_txn_end) as a web worker would, formatting the\n"
    "key included. Every get checks the value's length and first bytes, every\n"
    "64th compares every byte, and every 64th is timed for the p99.\n"
    "\n"
    "DIR is a bench directory: it holds one data set per engine and shape,\n"
    "built on first use with a progress bar and reused afterwards:\n"
    "DIR/forkcache-N-B (the forkcache store: keys %016llu of 0..N-1, values of\n"
    "B bytes derived from their key, compacted), DIR/lmdb-N-B, DIR/leveldb-N-B.\n"
    "Remove one to have it built again (after upgrading forkcache, say, so its\n"
    "tables are written the new way).\n"
    "\n"
    "Modes: mmap reads values zero-copy from the mapped tables; cache sets the\n"
    "Limiter to 0 so no table is mapped, and reads them zero-copy from the\n"
    "shared block cache (sized to hold the data; the note says the hit rate);\n"
    "copy sets the Limiter to 0 with no block cache, so each get preads its\n"
    "block into the reader's own memory and copies the value out, as a design\n"
    "with a private copy per process does. Anchors, in the same run with the\n"
    "same keys: lmdb (P processes, environment opened after fork, a read txn\n"
    "per get through mdb_txn_reset/mdb_txn_renew, LMDB's fast path), leveldb\n"
    "(one process: LevelDB locks its directory), redis (a private redis-server\n"
    "from PATH on a unix socket, loaded with pipelined SETs, P clients doing\n"
    "GET; stopped afterwards). lmdb and leveldb exist when configure found them.\n"
    "floor is the physical reference: one process probing a bare hash table over\n"
    "one mapped file (DIR/floor-N-B) with the same keys and values; compare its\n"
    "ns_per_get with the others'. mmap uses the store's default cap on mapped\n"
    "bytes (half the memory limit), so past memory it reads the rest with pread.\n"
    "\n"
    "For each mode one line goes to standard output, in this shape:\n"
    "  bench mode=mmap procs=2 keys=1000000 value_size=100 gets_per_s=...\n"
    "  ns_per_get=... p99_ns=... pss_mib=...\n"
    "(one line), then a table with the same figures, the gets/s per process,\n"
    "the data's size and how many times faster mmap is per process, and the\n"
    "headline ratios. gets_per_s is the sum of the readers' rates; ns_per_get a\n"
    "reader's window over its gets; pss_mib the sum over readers of the PSS of\n"
    "the data's mappings (tables and arena; LMDB's data.mdb; LevelDB's tables;\n"
    "for Redis the server's whole PSS), measured while every reader still runs.\n"
    "\n"
    "With --plot a sweep follows: value sizes 100 and 4096 with 1 and 2 readers\n"
    "(at most 128 MiB of values per data set: 4096-byte values use at most\n"
    "32768 keys), modes mmap, cache, copy and lmdb among those chosen; its\n"
    "lines are printed too, and gnuplot draws gets/s by value size and\n"
    "process count.\n"
    "\n"
    "Writes: --mode put, incr and syncput (alone or together, not with the read\n"
    "modes) run the write benchmark instead, in scratch directories under DIR:\n"
    "P worker processes forked from one parent (1, 2 and 4 unless --procs is\n"
    "given) each do one operation at a time for --warmup seconds untimed, then\n"
    "--seconds timed, every operation timed. put stores a --value-size value\n"
    "(default 100 bytes) under a random key of --keys (default here 100000);\n"
    "incr adds 1 to one counter all workers share; syncput is a put that is on\n"
    "disk when it returns (FC_WRITE_SYNC; LMDB without MDB_NOSYNC). Beside\n"
    "forkcache (a writer parent, workers after fc_fork): lmdb (one write\n"
    "transaction per operation, MDB_NOSYNC except for syncput; incr reads,\n"
    "adds and writes in one transaction), redis (SET and INCR over a unix\n"
    "socket to a private redis-server) and apcu (apcu_store and apcu_inc in\n"
    "php-cli, workers from pcntl_fork; the source tree's\n"
    "bench/bench_write_apcu.php). Each row prints one line:\n"
    "  bench mode=put engine=forkcache procs=1 ops_per_s=... median_ns=...\n"
    "  p99_ns=...\n"
    "then a table with forkcache's ratios to each anchor. An incr row fails\n"
    "unless its counter ends at exactly the increments made.\n";

const char tool_bench_options[] =
    "--dir DIR\n"
    "    The bench directory (made when missing). Required.\n"
    "--keys N\n"
    "    Keys in the data set (default 1000000).\n"
    "--value-size B\n"
    "    Bytes per value, 1 to 1048576 (default 100).\n"
    "--procs P\n"
    "    Reader processes, 1 to 64 (default 2).\n"
    "--seconds S\n"
    "    Timed window per mode, in seconds, fractions allowed (default 3).\n"
    "--warmup S\n"
    "    Untimed gets before the window, in seconds (default 0.5).\n"
    "--rounds R\n"
    "    Run the whole set of modes R times, one after the other, and report for\n"
    "    each mode its median round by gets/s (default 1; at most 15). On a machine\n"
    "    that other work keeps busy, this spreads the disturbance over every mode.\n"
    "    Each round's gets/s and CPU ns per get go to standard error.\n"
    "--mode LIST\n"
    "    mmap, cache, copy, floor, lmdb, leveldb, redis or all (the default), or a\n"
    "    comma-separated list of them; or put, incr, syncput (writes, see above).\n"
    "--memory-limit SIZE\n"
    "    Run everything (the store's opener, the readers, the anchors) in a memory\n"
    "    cgroup made for the run with this limit (bytes, or K, M, G suffixes), v2\n"
    "    or v1 whichever is mounted, and drop the page cache before each mode when\n"
    "    allowed. Needs root or a delegated cgroup; says why when it cannot. Build\n"
    "    the data sets first with a run without it.\n"
    "--csv FILE\n"
    "    Also write every line as a CSV row (with a header) to FILE.\n"
    "--plot FILE.png\n"
    "    Run the sweep and draw FILE.png with gnuplot; the script (FILE.gp) and\n"
    "    its data (FILE.csv) are written beside it, and when gnuplot is not\n"
    "    installed they are all there is.\n"
    "--help\n"
    "    Print this page and exit.\n";

const char tool_bench_examples[] =
    "forkcache bench --dir /tmp/fcbench\n"
    "forkcache bench --dir /tmp/fcbench --keys 10000000 --memory-limit 512M\n"
    "forkcache bench --dir /tmp/fcbench --keys 100000 --value-size 4096 --mode mmap,copy\n"
    "forkcache bench --dir /tmp/fcbench --seconds 2 --csv out.csv --plot out.png\n"
    "forkcache bench --dir /tmp/fcbench --mode put,incr --seconds 2\n";

enum {
    OPT_DIR = 2000, OPT_KEYS, OPT_VALUE_SIZE, OPT_PROCS, OPT_SECONDS, OPT_WARMUP, OPT_MODE,
    OPT_CSV, OPT_PLOT, OPT_ROUNDS, OPT_MEMORY_LIMIT
};

static const struct option bench_opts[] = {
    { "dir", required_argument, NULL, OPT_DIR },
    { "keys", required_argument, NULL, OPT_KEYS },
    { "value-size", required_argument, NULL, OPT_VALUE_SIZE },
    { "procs", required_argument, NULL, OPT_PROCS },
    { "seconds", required_argument, NULL, OPT_SECONDS },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "mode", required_argument, NULL, OPT_MODE },
    { "rounds", required_argument, NULL, OPT_ROUNDS },
    { "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
    { "csv", required_argument, NULL, OPT_CSV },
    { "plot", required_argument, NULL, OPT_PLOT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

typedef struct bench_args {
    const char *dir, *csv, *plot;
    bench_params p;
    int rounds;            /* runs of the whole set; the median is kept */
    unsigned modes;        /* 1 << M_* */
    unsigned wmodes;       /* 1 << BW_*: the write benchmark's operations */
    int procs_given;       /* --procs named: the write rows use only it */
    int keys_given;
    int all;               /* --mode all: anchors missing here are skipped quietly */
    uint64_t memory_limit; /* --memory-limit bytes, 0 = none */
    bench_cgroup *cg;      /* the group the run is in, or NULL */
} bench_args;

/* A whole number in [lo, hi]; -1 on anything else. */
static int parse_count(const char *s, unsigned long long lo, unsigned long long hi,
                       unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] < '0' || s[0] > '9' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= lo) || v > 3600)
        return -1;
    *out = v;
    return 0;
}

static int parse_modes(const char *s, bench_args *a)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    a->modes = a->wmodes = 0;
    a->all = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = strcmp(tok, "all") == 0, op = bw_op_of(tok);
        if (op >= 0) {
            a->wmodes |= 1u << op;
            continue;
        }
        if (found) {
            a->modes = (1u << M_COUNT) - 1;
            a->all = 1;
        }
        for (int m = 0; m < M_COUNT && !found; m++)
            if (strcmp(tok, mode_names[m]) == 0) {
                a->modes |= 1u << m;
                found = 1;
            }
        if (!found)
            return -1;
    }
    /* writes and reads are separate benchmarks: one or the other */
    return (a->modes != 0) != (a->wmodes != 0) ? 0 : -1;
}

/* One option into a; 0, or an exit code (help, usage error). */
static int take_opt(const tool_cmd *cmd, int opt, const char *arg, bench_args *a)
{
    unsigned long long v;
    switch (opt) {
    case OPT_DIR: a->dir = arg; return 0;
    case OPT_CSV: a->csv = arg; return 0;
    case OPT_PLOT: a->plot = arg; return 0;
    case OPT_KEYS:
        if (parse_count(arg, 1, 1ull << 40, &v) != 0)
            return tool_usage(cmd, "bad --keys '%s' (1 or more)", arg);
        a->p.shape.keys = v;
        a->keys_given = 1;
        return 0;
    case OPT_VALUE_SIZE:
        if (parse_count(arg, 1, MAX_VALUE_SIZE, &v) != 0)
            return tool_usage(cmd, "bad --value-size '%s' (1 to %zu bytes)", arg, MAX_VALUE_SIZE);
        a->p.shape.value_size = (size_t)v;
        return 0;
    case OPT_PROCS:
        if (parse_count(arg, 1, BENCH_MAX_PROCS, &v) != 0)
            return tool_usage(cmd, "bad --procs '%s' (1 to %d)", arg, BENCH_MAX_PROCS);
        a->p.procs = (int)v;
        a->procs_given = 1;
        return 0;
    case OPT_SECONDS:
        if (parse_seconds(arg, 0.001, &a->p.seconds) != 0)
            return tool_usage(cmd, "bad --seconds '%s' (more than 0, at most 3600)", arg);
        return 0;
    case OPT_WARMUP:
        if (parse_seconds(arg, 0, &a->p.warmup) != 0)
            return tool_usage(cmd, "bad --warmup '%s' (0 to 3600)", arg);
        return 0;
    case OPT_ROUNDS:
        if (parse_count(arg, 1, MAX_ROUNDS, &v) != 0)
            return tool_usage(cmd, "bad --rounds '%s' (1 to %d)", arg, MAX_ROUNDS);
        a->rounds = (int)v;
        return 0;
    case OPT_MODE:
        if (parse_modes(arg, a) != 0)
            return tool_usage(cmd, "bad --mode '%s' (mmap, cache, copy, floor, lmdb, leveldb, "
                                   "redis, all, or a list; or put, incr, syncput)", arg);
        return 0;
    case OPT_MEMORY_LIMIT: {
        size_t sz = 0;
        if (tool_parse_size(arg, &sz) != 0)
            sz = 0;
        a->memory_limit = sz;
        if (a->memory_limit < ((uint64_t)16 << 20))
            return tool_usage(cmd, "bad --memory-limit '%s' (16M or more)", arg);
        return 0;
    }
    case OPT_HELP:
        tool_help_cmd(cmd);
        return EXIT_OK;
    default:
        return tool_usage(cmd, NULL);
    }
}

static int parse_args(const tool_cmd *cmd, int argc, char **argv, bench_args *a)
{
    memset(a, 0, sizeof *a);
    a->p.shape.keys = 1000000;
    a->p.shape.value_size = 100;
    a->p.procs = 2;
    a->p.seconds = 3;
    a->p.warmup = 0.5;
    a->rounds = 1;
    parse_modes("all", a);
    int opt;
    while ((opt = getopt_long(argc, argv, "+", bench_opts, NULL)) != -1) {
        int rc = take_opt(cmd, opt, optarg, a);
        if (rc != 0 || opt == OPT_HELP)
            return rc == 0 ? EXIT_OK : rc;
    }
    if (optind < argc)
        return tool_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (a->dir == NULL)
        return tool_usage(cmd, "no --dir given");
    return -1;
}

/* The bench directory and its parents. */
static int make_dir(const char *dir)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* Runs one mode; 0 done (result appended), 1 not available here, -1 failed.
 * The Redis server of the set is started on its first use. */
static int run_mode(const bench_args *a, int m, const bench_params *p, bench_result *r,
                    bench_redis_server **redis)
{
    switch (m) {
    case M_MMAP: case M_CACHE: case M_COPY:
        return bench_fc(a->dir, mode_names[m], p, r);
    case M_FLOOR:
        return bench_floor(a->dir, p, r);
    case M_LMDB:
        return bench_lmdb(a->dir, p, r);
    case M_LEVELDB:
        return bench_leveldb(a->dir, p, r);
    default:
        if (*redis == NULL) {
            int rc = bench_redis_start(&p->shape, redis);
            if (rc != 0)
                return rc;
        }
        return bench_redis(*redis, p, r);
    }
}

static const char *const missing_why[M_COUNT] = {
    [M_LMDB] = "this build has no LMDB (configure did not find liblmdb-dev)",
    [M_LEVELDB] = "this build has no LevelDB (configure did not find libleveldb-dev)",
    [M_REDIS] = "redis-server is not in PATH",
};

typedef struct bench_out {
    bench_result r[MAX_RESULTS];
    int n;
    int failed;
    unsigned missing;    /* modes found unavailable (said once) */
} bench_out;

static int have_result(const bench_out *o, const char *mode, const bench_params *p)
{
    for (int k = 0; k < o->n; k++)
        if (strcmp(o->r[k].mode, mode) == 0 && o->r[k].procs == p->procs &&
            o->r[k].shape.keys == p->shape.keys &&
            o->r[k].shape.value_size == p->shape.value_size)
            return 1;
    return 0;
}

static int cmp_rate(const void *x, const void *y)
{
    double a = ((const bench_result *)x)->gets_per_s, b = ((const bench_result *)y)->gets_per_s;
    return a < b ? -1 : a > b;
}

/* A mode's last round is in: its median round by gets/s becomes its line. */
static void keep_median(bench_out *o, bench_result *runs, int n)
{
    if (o->n == MAX_RESULTS)
        return;
    qsort(runs, (size_t)n, sizeof *runs, cmp_rate);
    o->r[o->n] = runs[n / 2];
    bench_print_line(&o->r[o->n++]);
}

/* Runs every mode in the set for one shape and process count, the whole
 * set once per round (so a machine busy for a while hurts every mode
 * alike), and keeps each mode's median round by gets/s. */
static void run_set(const bench_args *a, unsigned modes, const bench_params *p, bench_out *o)
{
    bench_result runs[M_COUNT][MAX_ROUNDS];
    int got[M_COUNT] = { 0 };
    bench_redis_server *redis = NULL;
    for (int round = 0; round < a->rounds; round++) {
        for (int m = 0; m < M_COUNT; m++) {
            if (!(modes & (1u << m)) || (o->missing & (1u << m)) || got[m] < round ||
                have_result(o, mode_names[m], p))
                continue;
            if (a->cg != NULL && bench_drop_caches() != 0 && round == 0 && m == 0)
                fprintf(stderr, "forkcache: bench: cannot drop the page cache (%s): modes "
                        "start with what earlier ones left in memory\n", strerror(errno));
            int rc = run_mode(a, m, p, &runs[m][got[m]], &redis);
            if (a->cg != NULL) {
                char note[128];
                bench_cgroup_note(a->cg, note, sizeof note);
                fprintf(stderr, "forkcache: bench: %s in the %llu MiB cgroup: %s\n",
                        mode_names[m], (unsigned long long)(a->memory_limit >> 20), note);
            }
            if (rc == 0 && a->rounds > 1)
                fprintf(stderr, "forkcache: bench: round %d/%d: %s %.0f gets/s, %.0f cpu ns/get\n",
                        round + 1, a->rounds, mode_names[m], runs[m][got[m]].gets_per_s,
                        runs[m][got[m]].cpu_ns_per_get);
            if (rc == 0 && ++got[m] == a->rounds)
                keep_median(o, runs[m], got[m]);
            if (rc > 0) {
                o->missing |= 1u << m;
                fprintf(stderr, "forkcache: bench: no %s line: %s\n", mode_names[m],
                        missing_why[m]);
                if (!a->all)
                    o->failed = 1;
            } else if (rc < 0) {
                o->failed = 1;
            }
        }
    }
    bench_redis_stop(redis);
}

/* The plot's points: value sizes 100 and 4096, 1 and 2 readers. */
static void run_sweep(const bench_args *a, bench_out *o)
{
    static const size_t sizes[] = { 100, 4096 };
    static const int procs[] = { 1, 2 };
    printf("sweep for the plot (value sizes 100 and 4096, 1 and 2 readers):\n");
    for (int s = 0; s < 2; s++) {
        for (int k = 0; k < 2; k++) {
            bench_params p = a->p;
            p.shape.value_size = sizes[s];
            p.procs = procs[k];
            uint64_t cap = SWEEP_VALUE_BYTES / sizes[s];
            if (cap < SWEEP_MIN_KEYS)
                cap = SWEEP_MIN_KEYS;
            if (p.shape.keys > cap)
                p.shape.keys = cap;
            run_set(a, a->modes & SWEEP_MODES, &p, o);
        }
    }
}

/* The write benchmark (bench_write.h): each chosen operation with 1, 2
 * and 4 workers (or --procs), every engine side by side; synced puts with
 * 1 and 4. Exit code as the read benchmark's. */
static int run_writes(const bench_args *a)
{
    bw_params p = { .seconds = a->p.seconds, .warmup = a->p.warmup,
                    .value_size = a->p.shape.value_size,
                    .keys = a->keys_given ? a->p.shape.keys : 100000, .scratch = a->dir,
                    .php_script = BENCH_WRITE_PHP };
    int procs[3] = { 1, 2, 4 }, np = 3, n = 0, failed = 0;
    if (a->procs_given && a->p.procs > BW_MAX_PROCS)
        return tool_usage(tool_find("bench"), "writes: --procs at most %d", BW_MAX_PROCS);
    if (a->procs_given) {
        procs[0] = a->p.procs;
        np = 1;
    }
    bw_result rs[BW_OPS * 3 * BW_ENGINES];
    for (p.op = 0; p.op < BW_OPS; p.op++) {
        for (int k = 0; k < np && (a->wmodes & (1u << p.op)); k++) {
            if (p.op == BW_SYNCPUT && np > 1 && procs[k] == 2)
                continue;
            p.procs = procs[k];
            for (int e = 0; e < BW_ENGINES; e++) {
                int rc = bw_run(e, &p, &rs[n]);
                if (rc == 0 || rs[n].ops > 0)
                    bw_print_line(&rs[n++]);
                failed |= rc < 0;
            }
        }
    }
    if (n > 0)
        bw_print_table(rs, n, &p);
    return failed || n == 0 ? EXIT_TROUBLE : EXIT_OK;
}

int tool_cmd_bench(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("bench");
    bench_args a;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (make_dir(a.dir) != 0) {
        tool_fail("bench", a.dir, "cannot make the bench directory: %s", strerror(errno));
        return EXIT_TROUBLE;
    }
    if (a.wmodes != 0)
        return run_writes(&a);
    bench_out *o = calloc(1, sizeof *o);
    if (o == NULL) {
        tool_fail("bench", a.dir, "out of memory");
        return EXIT_TROUBLE;
    }
    bench_cgroup cg;
    if (a.memory_limit != 0) {
        char why[512];
        if (bench_cgroup_enter(&cg, a.memory_limit, why, sizeof why) != 0) {
            tool_fail("bench", a.dir, "--memory-limit: %s", why);
            free(o);
            return EXIT_TROUBLE;
        }
        a.cg = &cg;
        fprintf(stderr, "forkcache: bench: running in %s (cgroup %s, limit %llu MiB)\n",
                cg.dir, cg.v2 ? "v2" : "v1", (unsigned long long)(a.memory_limit >> 20));
    }
    run_set(&a, a.modes, &a.p, o);
    if (a.plot)
        run_sweep(&a, o);
    if (a.cg != NULL)
        bench_cgroup_leave(&cg);
    if (o->n > 0)
        bench_print_table(o->r, o->n);
    if (a.csv && o->n > 0 && bench_write_csv(a.csv, o->r, o->n) != 0)
        o->failed = 1;
    if (a.plot && o->n > 0 && bench_plot(a.plot, o->r, o->n) < 0)
        o->failed = 1;
    rc = o->failed || o->n == 0 ? EXIT_TROUBLE : EXIT_OK;
    free(o);
    return rc;
}
