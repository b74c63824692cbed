/*
 * bench_queue.c - writes from worker processes through the write queue:
 * put latency (median and p99, with and without sync) and throughput with
 * 1, 2 and 4 producer processes, beside Redis SET over a unix socket (run
 * in the same invocation when redis-server is installed). A benchmark: it
 * prints figures and asserts nothing about speed.
 *
 *   bench/bench_queue [--ops N] [--sync-ops N] [--seconds S] [--dir D]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "bench_common.h"

#define VALUE_SIZE 100

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One way to put a key: forkcache through the queue, or Redis SET. */
typedef struct target {
    fc_store *store;
    int sync;
    int redis_fd;         /* >= 0: Redis connection */
} target;

/* SET key value, one round trip, reply "+OK\r\n". */
static int redis_set(int fd, const char *key, size_t klen, const char *val, size_t vlen)
{
    char buf[512], reply[16];
    int n = snprintf(buf, sizeof buf, "*3\r\n$3\r\nSET\r\n$%zu\r\n%.*s\r\n$%zu\r\n", klen,
                     (int)klen, key, vlen);
    memcpy(buf + n, val, vlen);
    memcpy(buf + n + vlen, "\r\n", 2);
    ssize_t got = redis_roundtrip(fd, buf, (size_t)n + vlen + 2, reply, sizeof reply, 5);
    return got == 5 && memcmp(reply, "+OK\r\n", 5) == 0 ? 0 : -1;
}

static int put(target *t, int id, long i, const char *val)
{
    char key[48];
    int kl = snprintf(key, sizeof key, "p%d:%012ld", id, i);
    if (t->redis_fd >= 0)
        return redis_set(t->redis_fd, key, (size_t)kl, val, VALUE_SIZE);
    if (!t->sync)
        return fc_put(t->store, key, (size_t)kl, val, VALUE_SIZE);
    fc_batch *b;
    int rc = fc_batch_new(&b);
    if (rc == 0)
        rc = fc_batch_put(b, key, (size_t)kl, val, VALUE_SIZE);
    if (rc == 0)
        rc = fc_write(t->store, b, FC_WRITE_SYNC);
    fc_batch_free(b);
    return rc;
}

/* In a child: n timed puts; writes median and p99 in microseconds. */
static void latency_child(target *t, long n, int out)
{
    char val[VALUE_SIZE];
    memset(val, 'v', sizeof val);
    double *lat = malloc((size_t)n * sizeof *lat);
    if (lat == NULL)
        _exit(2);
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        if (put(t, 0, i, val) != 0)
            _exit(3);
        lat[i] = (bench_now() - t0) * 1e6;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    double res[2] = { lat[n / 2], lat[(long)(n * 0.99)] };
    if (write(out, res, sizeof res) != sizeof res)
        _exit(4);
    _exit(0);
}

/* In a child: puts until the deadline; writes its count. */
static void throughput_child(target *t, int id, double seconds, int out)
{
    char val[VALUE_SIZE];
    memset(val, 'w', sizeof val);
    double end = bench_now() + seconds;
    long n = 0;
    while ((n & 63) != 0 || bench_now() < end) {
        if (put(t, id, n, val) != 0)
            _exit(3);
        n++;
    }
    if (write(out, &n, sizeof n) != sizeof n)
        _exit(4);
    _exit(0);
}

/* Forks procs children running fn-specific work; the child first becomes a
 * store reader or opens its own Redis connection. */
static int spawn(fc_store *s, const char *redis, int sync, int procs, long ops, double seconds,
                 int latency, double *res)
{
    int p[2];
    pid_t kids[8];
    if (procs > 8 || pipe2(p, O_CLOEXEC) != 0)
        return -1;
    for (int c = 0; c < procs; c++) {
        pid_t pid = kids[c] = fc_fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            close(p[0]);
            target t = { s, sync, -1 };
            if (redis != NULL) {
                if ((t.redis_fd = redis_connect(redis)) < 0)
                    _exit(5);
            } else if (fc_after_fork(s) != 0) {
                _exit(6);
            }
            if (latency)
                latency_child(&t, ops, p[1]);
            throughput_child(&t, c, seconds, p[1]);
        }
    }
    close(p[1]);
    double total = 0;
    int ok = 1;
    for (int c = 0; c < procs; c++) {
        if (latency) {
            ok &= read(p[0], res, 2 * sizeof *res) == 2 * (ssize_t)sizeof *res;
        } else {
            long n = 0;
            ok &= read(p[0], &n, sizeof n) == (ssize_t)sizeof n;
            total += (double)n;
        }
    }
    close(p[0]);
    for (int c = 0; c < procs; c++) { /* only ours: redis-server is a child too */
        int status;
        ok &= waitpid(kids[c], &status, 0) == kids[c] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0;
    }
    if (!latency)
        res[0] = total / seconds;
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    long ops = 20000, sync_ops = 2000;
    double seconds = 2.0;
    const char *base = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--ops") == 0)
            ops = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--sync-ops") == 0)
            sync_ops = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--ops N] [--sync-ops N] [--seconds S] [--dir D]\n", argv[0]);
            return 2;
        }
    }
    if (ops < 100 || sync_ops < 100 || seconds <= 0) {
        fprintf(stderr, "bench_queue: --ops and --sync-ops >= 100, --seconds > 0\n");
        return 2;
    }
    char dir[4096];
    fc_store *s = bench_open(base, "queue", dir);
    if (s == NULL)
        return 1;
    char sock[4300];
    pid_t redis = redis_start(dir, sock, sizeof sock);
    printf("write queue benchmark: %d-byte values, 1 writer process, producers forked from it\n",
           VALUE_SIZE);
    double r[2];
    if (spawn(s, NULL, 0, 1, ops, 0, 1, r) == 0)
        printf("latency  forkcache put          median %7.1f us   p99 %7.1f us  (%ld puts)\n",
               r[0], r[1], ops);
    if (spawn(s, NULL, 1, 1, sync_ops, 0, 1, r) == 0)
        printf("latency  forkcache put, sync    median %7.1f us   p99 %7.1f us  (%ld puts)\n",
               r[0], r[1], sync_ops);
    if (redis > 0 && spawn(s, sock, 0, 1, ops, 0, 1, r) == 0)
        printf("latency  redis SET (unix)       median %7.1f us   p99 %7.1f us  (%ld sets)\n",
               r[0], r[1], ops);
    const int procs[3] = { 1, 2, 4 };
    for (int k = 0; k < 3; k++) {
        double fc = 0, rd = 0;
        spawn(s, NULL, 0, procs[k], 0, seconds, 0, &fc);
        if (redis > 0)
            spawn(s, sock, 0, procs[k], 0, seconds, 0, &rd);
        printf("throughput producers=%d  forkcache %9.0f puts/s", procs[k], fc);
        if (redis > 0)
            printf("   redis %9.0f sets/s   ratio %.2f", rd, rd > 0 ? fc / rd : 0);
        printf("\n");
    }
    if (redis <= 0)
        printf("(redis-server not found or did not start: no Redis anchor)\n");
    fc_stats st;
    if (fc_stats_get(s, &st) == 0)
        printf("writer: %llu batches applied from the queue, %llu flushes, %llu compactions\n",
               (unsigned long long)st.queue_writes, (unsigned long long)st.flushes,
               (unsigned long long)st.compactions);
    fc_close(s);
    redis_stop(redis);
    return bench_remove(dir) == 0 ? 0 : 1;
}
