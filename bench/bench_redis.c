/*
 * bench_redis.c - the Redis anchor of `forkcache bench`: a private
 * redis-server (found in PATH when the bench runs) on a unix socket in a
 * temporary directory, loaded with the same keys by pipelined SETs, and
 * read by the same number of client processes, each doing one GET round
 * trip per get with the small RESP client below. The server is stopped
 * and its directory removed afterwards. Its memory (the PSS of the whole
 * server) is what the line reports as pss_mib.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_pss.h"
#include "tool/tool.h"

#define PIPELINE 10000        /* SETs per round trip while loading, at most */
#define PIPELINE_BYTES ((size_t)1 << 20)   /* ... and about this many bytes */
#define START_TRIES 100       /* 50 ms apart: up to 5 s for the socket */
#define REPLY_SLACK 64        /* "$<len>\r\n" and the final "\r\n" */

typedef struct redis_server {
    char dir[256];
    char sock[300];
    pid_t pid;
} redis_server;

static int redis_connect(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Forks redis-server without persistence; 0 once its socket answers,
 * 1 when it is not installed, -1 when it would not start. */
static int server_start(redis_server *rs)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(rs->dir, sizeof rs->dir, "%s/fc-bench-redis.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(rs->dir) == NULL) {
        tool_fail("bench", rs->dir, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(rs->sock, sizeof rs->sock, "%s/redis.sock", rs->dir);
    fflush(NULL);
    rs->pid = fork();
    if (rs->pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", rs->sock,
               "--save", "", "--appendonly", "no", "--dir", rs->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; rs->pid > 0 && i < START_TRIES; i++) {
        int fd = redis_connect(rs->sock), status;
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(rs->pid, &status, WNOHANG) == rs->pid) {
            rs->pid = 0;
            return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? 1 : -1;
        }
        usleep(50000);
    }
    return -1;
}

static void server_stop(redis_server *rs)
{
    if (rs->pid > 0) {
        kill(rs->pid, SIGTERM); /* our own child, by its pid */
        waitpid(rs->pid, NULL, 0);
    }
    bench_rmtree(rs->dir);
}

/* Appends "SET key value" in RESP to out (room checked by the caller). */
static size_t resp_set(char *out, const char *key, const char *val, size_t vlen)
{
    size_t n = (size_t)sprintf(out, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n", BENCH_KEY_LEN,
                               key, vlen);
    memcpy(out + n, val, vlen);
    memcpy(out + n + vlen, "\r\n", 2);
    return n + vlen + 2;
}

/* Reads count "+OK\r\n" replies. */
static int read_oks(int fd, size_t count)
{
    char buf[4096];
    size_t want = count * 5;
    while (want > 0) {
        size_t n = want < sizeof buf ? want : sizeof buf;
        if (bench_io_all(fd, buf, n, 'r') != 0)
            return -1;
        for (size_t k = 0; k < n; k++)
            if (buf[k] != "+OK\r\n"[(count * 5 - want + k) % 5])
                return -1;
        want -= n;
    }
    return 0;
}

static int load(const redis_server *rs, const bench_shape *sh)
{
    int fd = redis_connect(rs->sock);
    size_t per = sh->value_size + BENCH_KEY_LEN + 64;
    size_t batch = PIPELINE_BYTES / per < 1 ? 1 : PIPELINE_BYTES / per;
    if (batch > PIPELINE)
        batch = PIPELINE;
    char *buf = malloc(per * batch), *val = malloc(sh->value_size + 1);
    bench_verify v = { 0, NULL };
    int rc = fd >= 0 && buf && val && bench_verify_init(&v, sh->value_size) == 0 ? 0 : -1;
    char what[96], key[BENCH_KEY_LEN + 1];
    snprintf(what, sizeof what, "Redis %llu keys x %zu B", (unsigned long long)sh->keys,
             sh->value_size);
    bench_progress pr;
    bench_progress_start(&pr, what, sh->keys);
    size_t len = 0, queued = 0;
    for (uint64_t i = 0; rc == 0 && i < sh->keys; i++) {
        bench_key(key, i);
        bench_value(&v, i, val);
        len += resp_set(buf + len, key, val, sh->value_size);
        if (++queued == batch || i + 1 == sh->keys) {
            rc = bench_io_all(fd, buf, len, 's') == 0 && read_oks(fd, queued) == 0 ? 0 : -1;
            len = queued = 0;
            bench_progress_update(&pr, i + 1);
        }
    }
    bench_progress_end(&pr, rc == 0 ? sh->keys : 0);
    if (rc != 0)
        tool_fail("bench", rs->sock, "loading Redis failed");
    if (fd >= 0)
        close(fd);
    bench_verify_free(&v);
    free(buf);
    free(val);
    return rc;
}

typedef struct redis_reader {
    const redis_server *rs;
    size_t value_size;
    int fd;
    char *buf;
    size_t cap;
} redis_reader;

static int redis_attach(void *ctx, char *err, size_t cap)
{
    redis_reader *r = ctx;
    r->cap = r->value_size + REPLY_SLACK;
    r->buf = malloc(r->cap);
    r->fd = redis_connect(r->rs->sock);
    if (r->buf != NULL && r->fd >= 0)
        return 0;
    snprintf(err, cap, "cannot connect to %s", r->rs->sock);
    return -1;
}

/* Reads one bulk reply: "$<len>\r\n<bytes>\r\n", or "$-1\r\n" (no key).
 * data and len point into r->buf. 0 found, 1 missing, -1 error. */
static int read_bulk(redis_reader *r, const char **data, size_t *len)
{
    size_t have = 0, need = 0;
    const char *body = NULL;
    long n = -1;
    while (body == NULL || have < need) {
        if (have == r->cap)
            return -1;
        ssize_t got = bench_read_some(r->fd, r->buf + have, r->cap - have);
        if (got <= 0)
            return -1;
        have += (size_t)got;
        const char *crlf = body ? NULL : memchr(r->buf, '\n', have);
        if (crlf != NULL) {
            if (r->buf[0] != '$')
                return -1;
            n = strtol(r->buf + 1, NULL, 10);
            if (n < 0)
                return 1;
            body = crlf + 1;
            need = (size_t)(body - r->buf) + (size_t)n + 2;
            if (need > r->cap)
                return -1;
        }
    }
    *data = body;
    *len = (size_t)n;
    return 0;
}

static int redis_get(void *ctx, const char *key, size_t klen, uint64_t i, int full,
                     const bench_verify *v, char *err, size_t cap)
{
    redis_reader *r = ctx;
    char cmd[64];
    int n = snprintf(cmd, sizeof cmd, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", klen, key);
    const char *data;
    size_t len;
    int rc = bench_io_all(r->fd, cmd, (size_t)n, 's');
    if (rc == 0)
        rc = read_bulk(r, &data, &len);
    if (rc < 0)
        return bench_err(err, cap, "GET %s: broken or unexpected reply", key);
    return rc == 0 && bench_value_ok(v, i, key, data, len, full) ? 0 : 1;
}

static void redis_detach(void *ctx)
{
    redis_reader *r = ctx;
    close(r->fd);
    free(r->buf);
}

static long redis_server_pss(void *ctx)
{
    redis_reader *r = ctx;
    long kib = tool_pss_kib(r->rs->pid, NULL, NULL, NULL);
    return kib > 0 ? kib : 0;
}

/* The server lives for a whole set of rounds: started and loaded once. */
struct bench_redis_server {
    redis_server rs;
    bench_shape shape;
};

int bench_redis_start(const bench_shape *shape, bench_redis_server **out)
{
    bench_redis_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        tool_fail("bench", NULL, "out of memory");
        return -1;
    }
    srv->shape = *shape;
    int rc = server_start(&srv->rs);
    if (rc == 0)
        rc = load(&srv->rs, shape);
    else if (rc < 0)
        tool_fail("bench", NULL, "redis-server did not start");
    if (rc != 0) {
        bench_redis_stop(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

void bench_redis_stop(bench_redis_server *srv)
{
    if (srv == NULL)
        return;
    server_stop(&srv->rs);
    free(srv);
}

int bench_redis(bench_redis_server *srv, const bench_params *p, bench_result *r)
{
    memset(r, 0, sizeof *r);
    redis_reader rd = { .rs = &srv->rs, .value_size = p->shape.value_size, .fd = -1 };
    bench_target t = { .mode = "redis", .ctx = &rd, .attach = redis_attach, .get = redis_get,
                       .detach = redis_detach, .parent_pss_kib = redis_server_pss };
    snprintf(r->note, sizeof r->note, "GET over a unix socket; PSS is the server's");
    return bench_run(&t, p, r);
}
