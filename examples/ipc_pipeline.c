/*
 * ipc_pipeline.c - cooperating processes over one forkcache store.
 *
 * The parent opens the store (it is the writer) and forks one producer and
 * C consumers. The producer writes a stream of records whose keys sort in
 * production order ("<run>/<%016llu sequence>"), each value carrying the
 * CLOCK_MONOTONIC time of its put; its puts go through the write queue to
 * the parent. Each consumer follows the stream with range scans that seek
 * to the last key it saw, checks that every record arrives in order, none
 * missing, bytes intact, and measures how long each record took from the
 * producer's put to being read in the consumer. A consumer that finds
 * nothing new sleeps in fc_wait until the store's last sequence passes the
 * one it read before its scan (or, with --poll-us, pauses and scans
 * again). At the end each consumer prints the median and p99 of that
 * latency; the program exits non-zero if any process saw anything wrong.
 */
#define _GNU_SOURCE /* clock_nanosleep flags, prctl */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

#define HEADER_BYTES 16          /* sequence + put time, at the start of a value */
#define PREFIX_LEN 17            /* "%016llx/": the run's key prefix */
#define KEY_LEN (PREFIX_LEN + 16)   /* --records stays below 10^16 */
#define KEY_BUF 48

typedef struct pipeline_config {
    const char *dir;
    uint64_t records;
    int consumers;
    double rate;                 /* records per second; 0 = as fast as it can */
    size_t value_size;
    long poll_us;                /* a consumer's pause when nothing is new;
                                    -1: sleep in fc_wait instead */
    int timeout_s;               /* a consumer's limit without progress */
    char prefix[PREFIX_LEN + 1]; /* this run's keys start with it */
} pipeline_config;

/* CLOCK_MONOTONIC is one clock for every process on the machine, so a
 * time taken in the producer can be subtracted from one taken elsewhere. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Record seq's key: the run's prefix and the zero-padded sequence, so
 * bytewise key order is production order. */
static void make_key(const pipeline_config *cfg, uint64_t seq, char key[KEY_BUF])
{
    snprintf(key, KEY_BUF, "%s%016" PRIu64, cfg->prefix, seq);
}

/* Payload byte i of record seq: any reader can check it alone. */
static unsigned char payload_byte(uint64_t seq, size_t i)
{
    return (unsigned char)(seq * 131u + i * 7u + (i >> 8));
}

/* Sorts latencies for percentiles (defined at the end). */
static void sort_u64(uint64_t *v, size_t n);

/* p in [0, 1] of a sorted array (nearest rank). */
static uint64_t percentile(const uint64_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

/* ---- the producer ------------------------------------------------------------ */

/* Waits until record seq is due at --rate (absolute deadlines, so a late
 * wake-up does not slow the whole stream). */
static void pace(const pipeline_config *cfg, uint64_t start, uint64_t seq)
{
    if (cfg->rate <= 0)
        return;
    uint64_t due = start + (uint64_t)((double)seq * 1e9 / cfg->rate);
    struct timespec ts = { (time_t)(due / 1000000000u), (long)(due % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Puts every record in order, each stamped just before its fc_put, and
 * reports its rate and how long fc_put took through the write queue. */
static int producer(fc_store *s, const pipeline_config *cfg)
{
    unsigned char *val = malloc(cfg->value_size);
    uint64_t *put_ns = malloc(cfg->records * sizeof *put_ns);
    if (val == NULL || put_ns == NULL)
        return 3;
    for (size_t i = HEADER_BYTES; i < cfg->value_size; i++)
        val[i] = 0;
    char key[KEY_BUF];
    uint64_t start = now_ns();
    for (uint64_t seq = 0; seq < cfg->records; seq++) {
        pace(cfg, start, seq);
        make_key(cfg, seq, key);
        for (size_t i = HEADER_BYTES; i < cfg->value_size; i++)
            val[i] = payload_byte(seq, i);
        uint64_t t = now_ns();
        memcpy(val, &seq, 8);
        memcpy(val + 8, &t, 8);
        int rc = fc_put(s, key, KEY_LEN, val, cfg->value_size);
        if (rc != 0) {
            fprintf(stderr, "ipc_pipeline: producer: put %s: %s\n", key, fc_errmsg(s));
            return 4;
        }
        put_ns[seq] = now_ns() - t;
    }
    double secs = (double)(now_ns() - start) / 1e9;
    sort_u64(put_ns, cfg->records);
    printf("producer: %" PRIu64 " records of %zu bytes in %.2f s (%.0f/s); "
           "fc_put through the write queue: median %.1f us, p99 %.1f us\n",
           cfg->records, cfg->value_size, secs, (double)cfg->records / secs,
           (double)percentile(put_ns, cfg->records, 0.5) / 1e3,
           (double)percentile(put_ns, cfg->records, 0.99) / 1e3);
    fflush(stdout);
    free(val);
    free(put_ns);
    return 0;
}

/* ---- a consumer --------------------------------------------------------------- */

typedef struct follower {
    fc_store *store;
    const pipeline_config *cfg;
    int id;
    uint64_t next;               /* the sequence expected next */
    uint64_t *lat_ns;            /* put -> read latency of each record */
    uint64_t scans, empty_scans;
} follower;

/* Checks one record against what record f->next must be; prints what is
 * wrong and returns -1 on any difference. */
static int check_record(follower *f, fc_val k, fc_val v, uint64_t seen)
{
    char want[KEY_BUF];
    make_key(f->cfg, f->next, want);
    if (k.size != KEY_LEN || memcmp(k.data, want, KEY_LEN) != 0) {
        fprintf(stderr, "ipc_pipeline: consumer %d: expected key %s, found '%.*s' (%zu bytes)\n",
                f->id, want, (int)(k.size < 64 ? k.size : 64), (const char *)k.data, k.size);
        return -1;
    }
    const unsigned char *b = v.data;
    uint64_t seq, t;
    if (v.size != f->cfg->value_size) {
        fprintf(stderr, "ipc_pipeline: consumer %d: %s: value of %zu bytes, expected %zu\n",
                f->id, want, v.size, f->cfg->value_size);
        return -1;
    }
    memcpy(&seq, b, 8);
    memcpy(&t, b + 8, 8);
    size_t bad = seq != f->next ? 0 : v.size;
    for (size_t i = HEADER_BYTES; i < v.size && bad == v.size; i++)
        if (b[i] != payload_byte(f->next, i))
            bad = i;
    if (bad != v.size) {
        fprintf(stderr, "ipc_pipeline: consumer %d: %s: value differs at byte %zu\n", f->id,
                want, bad);
        return -1;
    }
    f->lat_ns[f->next] = seen > t ? seen - t : 0;
    f->next++;
    return 0;
}

/* One scan: from the last key seen to the end of this run's keys. Returns
 * how many new records it read, or -1 on an error or a wrong record. */
static long scan_once(follower *f)
{
    fc_txn *t;
    fc_iter *it;
    if (fc_txn_begin(f->store, &t) != 0)
        return -1;
    if (fc_iter_new(t, &it) != 0) {
        fc_txn_end(t);
        return -1;
    }
    char from[KEY_BUF];
    make_key(f->cfg, f->next, from);
    long got = 0;
    int rc;
    for (rc = fc_iter_seek(it, from, KEY_LEN); rc == 0; rc = fc_iter_next(it)) {
        fc_val k = fc_iter_key(it);
        if (k.size < PREFIX_LEN || memcmp(k.data, f->cfg->prefix, PREFIX_LEN) != 0)
            break; /* past this run's keys */
        if (f->next >= f->cfg->records || check_record(f, k, fc_iter_value(it), now_ns()) != 0) {
            got = -1;
            break;
        }
        got++;
    }
    if (rc != 0 && rc != FC_ENOTFOUND) {
        fprintf(stderr, "ipc_pipeline: consumer %d: scan: %s\n", f->id, fc_errmsg(f->store));
        got = -1;
    }
    fc_iter_free(it);
    fc_txn_end(t);
    return got;
}

/* A consumer's pause when a scan found nothing new. */
static void pause_us(long us)
{
    if (us <= 0) {
        sched_yield();
        return;
    }
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

/* A consumer's one result line (sorts lat in place). */
static void report(const follower *f, uint64_t *lat)
{
    sort_u64(lat, f->cfg->records);
    printf("consumer %d: %" PRIu64 " records, in order and intact; put->read latency "
           "median %.1f us, p99 %.1f us, max %.1f us; %" PRIu64 " scans (%" PRIu64 " found nothing new)\n",
           f->id, f->cfg->records, (double)percentile(lat, f->cfg->records, 0.5) / 1e3,
           (double)percentile(lat, f->cfg->records, 0.99) / 1e3,
           (double)lat[f->cfg->records - 1] / 1e3, f->scans, f->empty_scans);
    fflush(stdout);
}

/* When a scan found nothing new: fc_wait until something was published
 * after seen (read before the scan, so a record that landed during it
 * wakes us at once), or the --poll-us pause. 0, or -1 on an error. */
static int idle(follower *f, uint64_t seen)
{
    if (f->cfg->poll_us >= 0) {
        pause_us(f->cfg->poll_us);
        return 0;
    }
    int rc = fc_wait(f->store, seen, 1000, NULL);
    if (rc == 0 || rc == FC_ETIMEDOUT) /* the caller's --timeout decides */
        return 0;
    fprintf(stderr, "ipc_pipeline: consumer %d: fc_wait: %s\n", f->id, fc_errmsg(f->store));
    return -1;
}

/* Follows the stream until it has every record, or until nothing new came
 * for --timeout seconds (the producer died or the writer stalled). */
static int consumer(fc_store *s, const pipeline_config *cfg, int id)
{
    follower f = { s, cfg, id, 0, calloc(cfg->records, sizeof(uint64_t)), 0, 0 };
    if (f.lat_ns == NULL)
        return 3;
    /* The default 50 us timer slack would double a short --poll-us pause. */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    uint64_t last_progress = now_ns();
    while (f.next < cfg->records) {
        uint64_t seen = fc_last_sequence(s);
        long got = scan_once(&f);
        if (got < 0)
            return 1;
        f.scans++;
        if (got > 0) {
            last_progress = now_ns();
            continue;
        }
        f.empty_scans++;
        if (now_ns() - last_progress > (uint64_t)cfg->timeout_s * 1000000000u) {
            fprintf(stderr, "ipc_pipeline: consumer %d: nothing new for %d s after %" PRIu64
                    " of %" PRIu64 " records\n", id, cfg->timeout_s, f.next, cfg->records);
            return 1;
        }
        if (idle(&f, seen) != 0)
            return 1;
    }
    report(&f, f.lat_ns);
    free(f.lat_ns);
    return 0;
}

/* ---- the parent ---------------------------------------------------------------- */

/* A child's life: its share of the store, its role, its share closed. It
 * dies with the parent, which holds the writer role. */
static void child(fc_store *s, const pipeline_config *cfg, int id)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(5);
    int rc = fc_after_fork(s);
    if (rc != 0) {
        fprintf(stderr, "ipc_pipeline: fc_after_fork: %s\n", fc_errmsg(s));
        _exit(5);
    }
    rc = id < 0 ? producer(s, cfg) : consumer(s, cfg, id);
    fc_close(s);
    _exit(rc);
}

/* Forks one child: a consumer (id >= 0) or the producer (id < 0), with
 * fc_fork so liburcu's hooks run around the fork. */
static int start(fc_store *s, const pipeline_config *cfg, int id, pid_t *pid)
{
    fflush(NULL);
    *pid = fc_fork();
    if (*pid < 0) {
        perror("ipc_pipeline: fork");
        return -1;
    }
    if (*pid == 0)
        child(s, cfg, id);
    return 0;
}

/* Consumers first, so they are following before the first record is put;
 * then the producer. Waits for all; 0 only if each exited 0. */
static int run(fc_store *s, const pipeline_config *cfg)
{
    int n = cfg->consumers + 1, failed = 0;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (pids == NULL)
        return 1;
    for (int i = 0; i < n && !failed; i++)
        failed = start(s, cfg, i < cfg->consumers ? i : -1, &pids[i]) != 0;
    for (int i = 0; i < n; i++) {
        int status;
        if (pids[i] <= 0 || waitpid(pids[i], &status, 0) != pids[i])
            continue;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "ipc_pipeline: %s %d (pid %d) failed: %s %d\n",
                    i < cfg->consumers ? "consumer" : "producer", i < cfg->consumers ? i : 0,
                    (int)pids[i], WIFSIGNALED(status) ? "signal" : "status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            failed = 1;
        }
    }
    free(pids);
    return failed;
}

/* ---- command line ----------------------------------------------------------------- */

static void help(void)
{
    fputs(
        "NAME\n"
        "    ipc_pipeline - a producer and consumers exchanging records through forkcache\n"
        "\n"
        "SYNOPSIS\n"
        "    ipc_pipeline --dir DIR [--records N] [--consumers C] [--rate R]\n"
        "                 [--value-size B] [--poll-us U] [--timeout S]\n"
        "\n"
        "DESCRIPTION\n"
        "    The parent opens (creating if needed) the store in DIR as its writer and\n"
        "    forks C consumers and one producer. The producer puts N records, keys\n"
        "    RUN/SEQUENCE (RUN: 16 hex digits unique to this run, SEQUENCE: %016llu,\n"
        "    so keys sort in production order), values of B bytes starting with the\n"
        "    sequence and the CLOCK_MONOTONIC time of the put; its puts go through\n"
        "    the store's write queue to the parent. Each consumer repeatedly opens a\n"
        "    read transaction, seeks an iterator to the next key it expects and reads\n"
        "    every record that is there, checking key, order, gaps and every byte.\n"
        "    When a scan finds nothing new it sleeps in fc_wait until the store's\n"
        "    last sequence passes the one it read before the scan (with --poll-us,\n"
        "    it pauses that many microseconds and scans again instead).\n"
        "    At the end the producer prints its rate and fc_put latency, and each\n"
        "    consumer the put->read latency of its records (median, p99, max): the\n"
        "    time from just before the producer's fc_put to the consumer's iterator\n"
        "    standing on the record, which includes the consumer's wake-up (or\n"
        "    polling pause).\n"
        "\n"
        "OPTIONS\n"
        "    --dir DIR          the store directory (required)\n"
        "    --records N        records to produce (default 100000)\n"
        "    --consumers C      consumer processes, 1..64 (default 3)\n"
        "    --rate R           records per second; 0 = as fast as possible (default 10000)\n"
        "    --value-size B     bytes per value, 16..65536 (default 100)\n"
        "    --poll-us U        poll instead of fc_wait: a consumer's pause when nothing\n"
        "                       is new, 0 = sched_yield (default: fc_wait, no polling)\n"
        "    --timeout S        a consumer gives up after S seconds without a new record\n"
        "                       (default 30)\n"
        "    --help             this text\n"
        "\n"
        "EXIT STATUS\n"
        "    0 when every consumer read every record in order and intact; 1 when a\n"
        "    process failed (the reason is on standard error); 2 for a bad command line.\n"
        "\n"
        "EXAMPLE\n"
        "    ipc_pipeline --dir /tmp/pipe --records 200000 --consumers 3 --rate 20000\n",
        stdout);
}

/* A bad command line: one line on stderr and exit status 2. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "ipc_pipeline: %s%s%s\nTry 'ipc_pipeline --help'.\n", what, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

/* A number within [lo, hi] into *out; 0, or the usage error's exit code. */
static int number(const char *name, const char *arg, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !(*out >= lo && *out <= hi))
        return usage_error(name, arg);
    return 0;
}

enum { O_DIR = 256, O_RECORDS, O_CONSUMERS, O_RATE, O_VALUE_SIZE, O_POLL, O_TIMEOUT, O_HELP };

static const struct option long_opts[] = {
    { "dir", required_argument, NULL, O_DIR },
    { "records", required_argument, NULL, O_RECORDS },
    { "consumers", required_argument, NULL, O_CONSUMERS },
    { "rate", required_argument, NULL, O_RATE },
    { "value-size", required_argument, NULL, O_VALUE_SIZE },
    { "poll-us", required_argument, NULL, O_POLL },
    { "timeout", required_argument, NULL, O_TIMEOUT },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 }
};

/* Applies one command-line option to cfg; 0, or the exit status 2. */
static int parse_option(pipeline_config *cfg, int opt, const char *arg)
{
    double v = 0;
    int rc = 0;
    switch (opt) {
    case O_DIR: cfg->dir = arg; return 0;
    case O_RECORDS:
        if ((rc = number("bad --records", arg, 1, 100e6, &v)) == 0)
            cfg->records = (uint64_t)v;
        return rc;
    case O_CONSUMERS:
        if ((rc = number("bad --consumers", arg, 1, 64, &v)) == 0)
            cfg->consumers = (int)v;
        return rc;
    case O_RATE:
        if ((rc = number("bad --rate", arg, 0, 1e9, &v)) == 0)
            cfg->rate = v;
        return rc;
    case O_VALUE_SIZE:
        if ((rc = number("bad --value-size", arg, HEADER_BYTES, 65536, &v)) == 0)
            cfg->value_size = (size_t)v;
        return rc;
    case O_POLL:
        if ((rc = number("bad --poll-us", arg, 0, 1e6, &v)) == 0)
            cfg->poll_us = (long)v;
        return rc;
    case O_TIMEOUT:
        if ((rc = number("bad --timeout", arg, 1, 3600, &v)) == 0)
            cfg->timeout_s = (int)v;
        return rc;
    default: return usage_error("bad command line", NULL);
    }
}

/* Command line, the store, the processes: see help() for the contract. */
int main(int argc, char **argv)
{
    pipeline_config cfg = { .records = 100000, .consumers = 3, .rate = 10000,
                            .value_size = 100, .poll_us = -1, .timeout_s = 30 };
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt == O_HELP) {
            help();
            return 0;
        }
        int rc = parse_option(&cfg, opt, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (cfg.dir == NULL)
        return usage_error("--dir DIR is required", NULL);
    /* A run's own key prefix: earlier runs' records in the same store are
     * never mistaken for this run's. */
    snprintf(cfg.prefix, sizeof cfg.prefix, "%016" PRIx64 "/", now_ns() ^ ((uint64_t)getpid() << 40));
    fc_store *s;
    int rc = fc_open(cfg.dir, NULL, &s);
    if (rc != 0) {
        fprintf(stderr, "ipc_pipeline: opening %s: %s (%s)\n", cfg.dir, fc_strerror(rc),
                fc_errmsg(NULL));
        return 1;
    }
    char rate[32] = "unlimited";
    if (cfg.rate > 0)
        snprintf(rate, sizeof rate, "%.0f/s", cfg.rate);
    char follow[48] = "fc_wait";
    if (cfg.poll_us >= 0)
        snprintf(follow, sizeof follow, "polling every %ld us", cfg.poll_us);
    printf("ipc_pipeline: run %.16s: %" PRIu64 " records of %zu bytes, %d consumers, rate %s, "
           "consumers follow by %s\n",
           cfg.prefix, cfg.records, cfg.value_size, cfg.consumers, rate, follow);
    int failed = run(s, &cfg);
    rc = fc_close(s);
    if (rc != 0)
        fprintf(stderr, "ipc_pipeline: closing the store: %s\n", fc_strerror(rc));
    return failed || rc != 0 ? 1 : 0;
}

/* qsort's order for uint64_t. */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* qsort of n latencies (qsort(NULL, 0) is undefined, hence the check). */
static void sort_u64(uint64_t *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_u64);
}
