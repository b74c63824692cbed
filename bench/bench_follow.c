/*
 * bench_follow.c - forkcache as a near cache in front of Redis (issue 20).
 * One run, side by side: gets/s from 2 worker processes reading through a
 * store that follows a private redis-server (a zero-copy get; a miss goes
 * to fc_get_through, which asks Redis on the worker's own connection), at
 * a 95% hit ratio (1 request in 20 asks for a key Redis does not have, so
 * it costs a Redis GET every time), beside the same 2 workers sending
 * every GET to Redis over loopback TCP and over the unix socket. Then the
 * staleness after a SET: the time from Redis's acknowledgement until the
 * store no longer holds the old value (p50, p99, max of 1000 SETs). A
 * benchmark: it prints figures and asserts nothing about speed.
 *
 *   bench/bench_follow [--seconds S] [--dir D]
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "forkcache.h"
#include "bench_common.h"

#define KEYS 10000
#define VALUE_SIZE 100
#define WORKERS 2
#define SETS 1000

static char sock_path[4200];
static int tcp_port;

static redisContext *connect_redis(int tcp)
{
    struct timeval tv = { 5, 0 };
    redisContext *c = tcp ? redisConnectWithTimeout("127.0.0.1", tcp_port, tv)
                          : redisConnectUnixWithTimeout(sock_path, tv);
    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int fetch(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    redisReply *r = redisCommand(arg, "GET %b", key, klen);
    if (r == NULL)
        return FC_EIO;
    int rc = FC_ENOTFOUND;
    if (r->type == REDIS_REPLY_STRING && (*value = malloc(r->len + 1)) != NULL) {
        memcpy(*value, r->str, r->len);
        *vlen = r->len;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

/* The key of request n of worker w: 1 in 20 is absent from Redis. */
static size_t key_of(char *buf, int w, long n)
{
    unsigned long x = (unsigned long)(n * 2654435761u + (unsigned long)w * 40503u);
    if (n % 20 == 19)
        return (size_t)sprintf(buf, "u:absent:%lu", x % KEYS);
    return (size_t)sprintf(buf, "u:%lu", x % KEYS);
}

/* mode 0: through the store; 1: GET over TCP; 2: GET over the socket. */
static void worker(fc_store *s, int w, int mode, double seconds, int out)
{
    if (mode == 0 && fc_after_fork(s) != 0)
        _exit(5);
    redisContext *c = connect_redis(mode == 1);
    if (c == NULL)
        _exit(6);
    long n = 0, hits = 0;
    unsigned sum = 0;
    char key[64];
    double end = bench_now() + seconds;
    for (; (n & 255) != 0 || bench_now() < end; n++) {
        size_t klen = key_of(key, w, n);
        if (mode != 0) {
            redisReply *r = redisCommand(c, "GET %b", key, klen);
            if (r == NULL)
                _exit(3);
            sum += r->type == REDIS_REPLY_STRING ? (unsigned char)r->str[0] : 0;
            freeReplyObject(r);
            continue;
        }
        fc_txn *t;
        fc_val v;
        if (fc_txn_begin(s, &t) != 0)
            _exit(3);
        int rc = fc_get(t, key, klen, &v);
        if (rc == 0)
            sum += ((const unsigned char *)v.data)[0];
        fc_txn_end(t);
        if (rc == 0) {
            hits++;
            continue;
        }
        void *val = NULL;
        size_t vlen;
        rc = fc_get_through(s, key, klen, 0, 0, fetch, c, &val, &vlen);
        if (rc != 0 && rc != FC_ENOTFOUND)
            _exit(4);
        free(val);
    }
    long res[3] = { n, hits, (long)(sum & 1) };
    if (write(out, res, sizeof res) != (ssize_t)sizeof res)
        _exit(4);
    _exit(0);
}

/* Gets per second of WORKERS workers in mode; *hit_ratio for mode 0. */
static double run(fc_store *s, int mode, double seconds, double *hit_ratio)
{
    int p[2];
    pid_t kids[WORKERS];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    for (int w = 0; w < WORKERS; w++)
        if ((kids[w] = mode == 0 ? fc_fork() : fork()) == 0) {
            close(p[0]);
            worker(s, w, mode, seconds, p[1]);
        }
    close(p[1]);
    long n = 0, hits = 0, res[3];
    int ok = 1;
    for (int w = 0; w < WORKERS; w++) {
        ok &= read(p[0], res, sizeof res) == (ssize_t)sizeof res;
        n += res[0];
        hits += res[1];
    }
    close(p[0]);
    for (int w = 0; w < WORKERS; w++) {
        int status;
        ok &= waitpid(kids[w], &status, 0) == kids[w] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0;
    }
    *hit_ratio = n > 0 ? (double)hits / (double)n : 0;
    return ok ? (double)n / seconds : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Time from a SET's acknowledgement until the store no longer has the old
 * value, for SETS keys that were cached. */
static int staleness(fc_store *s, redisContext *c)
{
    static double us[SETS];
    char key[64], val[VALUE_SIZE + 1];
    memset(val, 'n', VALUE_SIZE);
    val[VALUE_SIZE] = '\0';
    for (int i = 0; i < SETS; i++) {
        size_t klen = (size_t)sprintf(key, "u:%d", i);
        void *v = NULL;
        size_t vlen;
        if (fc_get_through(s, key, klen, 0, 0, fetch, c, &v, &vlen) != 0)
            return -1;
        free(v);
        redisReply *r = redisCommand(c, "SET %b %s", key, klen, val);
        double t0 = bench_now();
        freeReplyObject(r);
        for (int rc = 0; rc == 0;) {
            fc_txn *t;
            fc_val fv;
            if (fc_txn_begin(s, &t) != 0)
                return -1;
            rc = fc_get(t, key, klen, &fv);
            fc_txn_end(t);
            if (bench_now() - t0 > 5)
                return -1;
        }
        us[i] = (bench_now() - t0) * 1e6;
    }
    qsort(us, SETS, sizeof us[0], cmp_double);
    printf("staleness after a SET (%d SETs of cached keys, time from the SET's reply until "
           "the store no longer has the old value): p50 %.0f us, p99 %.0f us, max %.0f us\n",
           SETS, us[SETS / 2], us[SETS * 99 / 100], us[SETS - 1]);
    return 0;
}

static int load_redis(redisContext *c)
{
    char val[VALUE_SIZE + 1];
    memset(val, 'v', VALUE_SIZE);
    val[VALUE_SIZE] = '\0';
    for (int i = 0; i < KEYS; i++)
        redisAppendCommand(c, "SET u:%d %s", i, val);
    for (int i = 0; i < KEYS; i++) {
        void *r;
        if (redisGetReply(c, &r) != REDIS_OK)
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 2;
    const char *base = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0)
            base = argv[i + 1];
    }
    char dir[4096], store_dir[4200], url[4300];
    snprintf(dir, sizeof dir, "%s/fc-bench-follow.XXXXXX", base ? base : "/tmp");
    if (mkdtemp(dir) == NULL)
        return 1;
    tcp_port = 20000 + getpid() % 20000;
    pid_t redis = redis_start_port(dir, sock_path, sizeof sock_path, tcp_port);
    if (redis < 0) {
        printf("bench_follow: no redis-server: skipped\n");
        bench_remove(dir);
        return 0;
    }
    redisContext *c = connect_redis(0);
    int rc = c != NULL ? load_redis(c) : -1;
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);
    snprintf(url, sizeof url, "unix://%s", sock_path);
    static const char *const prefixes[] = { "u:" };
    fc_options o;
    fc_options_init(&o);
    o.arena_size = (size_t)512 << 20;
    o.follow = url;
    o.follow_prefixes = prefixes;
    o.follow_nprefixes = 1;
    fc_store *s = NULL;
    if (rc == 0 && fc_open(store_dir, &o, &s) != 0) {
        fprintf(stderr, "bench_follow: open: %s\n", fc_errmsg(NULL));
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < 400; i++) { /* the link comes up */
        fc_stats st;
        if (fc_stats_get(s, &st) == 0 && st.follow_link == FC_LINK_UP)
            break;
        usleep(10000);
    }
    double hit;
    if (rc == 0) {
        run(s, 0, seconds / 2, &hit); /* warm the near cache */
        double hit_near;
        double near = run(s, 0, seconds, &hit_near);
        double tcp = run(s, 1, seconds, &hit);
        double unix_ = run(s, 2, seconds, &hit);
        printf("gets/s, %d workers, %d keys of %d bytes: near cache %.0f (hit ratio %.3f), "
               "Redis GET over TCP loopback %.0f, over the unix socket %.0f; near/TCP %.1fx, "
               "near/unix %.1fx\n", WORKERS, KEYS, VALUE_SIZE, near, hit_near, tcp, unix_,
               near / tcp, near / unix_);
        rc = staleness(s, c);
        fc_stats st;
        if (fc_stats_get(s, &st) == 0)
            printf("follow stats: invalidations %llu, fills %llu, refused as stale %llu, "
                   "clears %llu, lag %llu ms\n", (unsigned long long)st.follow_invalidations,
                   (unsigned long long)st.follow_fills, (unsigned long long)st.follow_fills_stale,
                   (unsigned long long)st.clears, (unsigned long long)st.follow_lag_ms);
    }
    if (s != NULL)
        fc_close(s);
    if (c != NULL)
        redisFree(c);
    redis_stop(redis);
    bench_remove(dir);
    return rc == 0 ? 0 : 1;
}
