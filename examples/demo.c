/*
 * demo.c - the program behind `make demo`: one parent creates a store and
 * loads it, then forks workers that read it the way pre-fork web server
 * workers would - one short transaction per request - first zero-copy
 * (fc_get: a pointer into the shared mapping) and then copying each value
 * out (fc_get_copy), and prints what each worker measured.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

#define VALUE_SIZE 256

typedef struct demo_config {
    const char *dir;
    int rows;
    int workers;
    int lookups;
} demo_config;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_key(char *buf, size_t cap, uint32_t i)
{
    snprintf(buf, cap, "user:%08u", i);
}

/* A value whose bytes can be checked by any reader without the writer. */
static void make_value(char *buf, uint32_t i)
{
    for (int k = 0; k < VALUE_SIZE; k++)
        buf[k] = (char)('a' + (i * 7 + (uint32_t)k) % 26);
}

static int fail(const char *what, fc_store *s, int rc)
{
    fprintf(stderr, "demo: %s: %s (%s)\n", what, fc_strerror(rc), fc_errmsg(s));
    return 1;
}

static int load(fc_store *s, const demo_config *c)
{
    fc_batch *b;
    char key[32], val[VALUE_SIZE];
    int rc = fc_batch_new(&b);
    if (rc != 0)
        return fail("batch", s, rc);
    double t0 = now_seconds();
    for (int i = 0; i < c->rows && rc == 0; i++) {
        make_key(key, sizeof key, (uint32_t)i);
        make_value(val, (uint32_t)i);
        rc = fc_batch_put(b, key, strlen(key), val, VALUE_SIZE);
        if (rc == 0 && (fc_batch_count(b) == 1000 || i == c->rows - 1)) {
            rc = fc_write(s, b, 0);
            fc_batch_clear(b);
        }
    }
    fc_batch_free(b);
    if (rc != 0)
        return fail("load", s, rc);
    double t1 = now_seconds();
    if ((rc = fc_compact_range(s, NULL, 0, NULL, 0)) != 0)
        return fail("compact", s, rc);
    printf("parent: loaded %d rows of %d bytes in %.2f s (%.0f rows/s), compacted in %.2f s\n",
           c->rows, VALUE_SIZE, t1 - t0, c->rows / (t1 - t0), now_seconds() - t1);
    return 0;
}

/* One "request": a transaction, one lookup, a check of the bytes. */
static int serve(fc_store *s, uint32_t i, int copy, char *buf)
{
    char key[32], want[VALUE_SIZE];
    fc_txn *t;
    make_key(key, sizeof key, i);
    make_value(want, i);
    int rc = fc_txn_begin(s, &t);
    if (rc != 0)
        return rc;
    const void *data;
    size_t len;
    if (copy) {
        rc = fc_get_copy(t, key, strlen(key), buf, VALUE_SIZE, &len);
        data = buf;
    } else {
        fc_val v;
        rc = fc_get(t, key, strlen(key), &v);
        data = v.data;
        len = v.size;
    }
    if (rc == 0 && (len != VALUE_SIZE || memcmp(data, want, VALUE_SIZE) != 0))
        rc = FC_ECORRUPT;
    fc_txn_end(t);
    return rc;
}

/* A worker's rates are written to a pipe as text: "zero copy/s copy/s". */
static void worker(fc_store *s, const demo_config *c, int id, int out)
{
    char buf[VALUE_SIZE];
    double rate[2];
    if (fc_after_fork(s) != 0)
        _exit(3);
    uint32_t x = 2463534242u + (uint32_t)id;
    for (int copy = 0; copy < 2; copy++) {
        double t0 = now_seconds();
        for (int n = 0; n < c->lookups; n++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            if (serve(s, x % (uint32_t)c->rows, copy, buf) != 0)
                _exit(4);
        }
        rate[copy] = c->lookups / (now_seconds() - t0);
    }
    char line[64];
    int n = snprintf(line, sizeof line, "%.0f %.0f\n", rate[0], rate[1]);
    if (write(out, line, (size_t)n) != n)
        _exit(5);
    fc_close(s);
    _exit(0);
}

static int run_workers(fc_store *s, const demo_config *c)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("demo: pipe2");
        return 1;
    }
    fflush(stdout);
    for (int w = 0; w < c->workers; w++) {
        /* fc_fork, not fork: liburcu's threads and locks behind the table
         * cache need their fork hooks (see forkcache.h, "Forking"). */
        pid_t pid = fc_fork();
        if (pid < 0) {
            perror("demo: fork");
            return 1;
        }
        if (pid == 0) {
            close(fds[0]);
            worker(s, c, w, fds[1]);
        }
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "re");
    double zero = 0, copy = 0, z, cp;
    int got = 0;
    while (in && fscanf(in, "%lf %lf", &z, &cp) == 2) {
        printf("worker %d: %9.0f lookups/s zero-copy   %9.0f lookups/s copied\n", got, z, cp);
        zero += z;
        copy += cp;
        got++;
    }
    if (in)
        fclose(in);
    int ok = 1, status;
    while (wait(&status) > 0)
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok || got != c->workers) {
        fprintf(stderr, "demo: a worker failed (bad value or error)\n");
        return 1;
    }
    printf("all %d workers: %.0f lookups/s zero-copy, %.0f copied (ratio %.2f); "
           "one transaction per lookup, every value checked\n",
           c->workers, zero, copy, copy > 0 ? zero / copy : 0);
    return 0;
}

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--rows N] [--workers N] [--lookups N] STORE_DIR\n"
            "Creates a forkcache store in STORE_DIR (which must not hold another\n"
            "store), loads N rows (default 100000), forks workers (default 4) that\n"
            "each do --lookups random gets (default 200000), zero-copy then copied.\n",
            prog);
    return 2;
}

int main(int argc, char **argv)
{
    demo_config c = { NULL, 100000, 4, 200000 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return usage(argv[0]) == 2 ? 0 : 1;
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            c.rows = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--workers") == 0)
            c.workers = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--lookups") == 0)
            c.lookups = atoi(argv[++i]);
        else if (argv[i][0] != '-' && c.dir == NULL)
            c.dir = argv[i];
        else
            return usage(argv[0]);
    }
    if (c.dir == NULL || c.rows < 1 || c.workers < 1 || c.workers > 64 || c.lookups < 1)
        return usage(argv[0]);
    fc_options opts;
    fc_options_init(&opts);
    opts.arena_size = (size_t)256 << 20;
    fc_store *s;
    int rc = fc_open(c.dir, &opts, &s);
    if (rc != 0)
        return fail("open", NULL, rc);
    printf("forkcache %s: store %s, %d workers\n", fc_version(NULL, NULL, NULL), c.dir, c.workers);
    rc = load(s, &c) || run_workers(s, &c);
    int crc = fc_close(s);
    if (crc != 0)
        return fail("close", NULL, crc);
    return rc;
}
