/*
 * prefork_http.c - a small pre-fork HTTP/1.1 server over a forkcache store.
 *
 * The parent opens the store (it becomes the store's writer), binds one
 * listening socket and forks the workers. Each worker runs its own poll()
 * loop: it accepts from the shared socket, reads requests (keep-alive and
 * pipelining), and answers GET /k/<key> by handing the kernel the value
 * straight from the shared mapping (sendmsg with a header iovec and a value
 * iovec, inside a read transaction). PUT and DELETE from a worker go
 * through the store's write queue to the parent's writer threads. GET
 * /compute/<n> answers an expensive computation cached in the store with a
 * TTL through fc_get_or_compute (one computation per key per TTL across all
 * workers), and /stats the counters the workers share. The parent only
 * supervises: it replaces workers that die and stops them all on SIGTERM
 * or SIGINT. `prefork_http --help` is the manual.
 *
 * This file is the forkcache side: the routes, the workers and the parent.
 * Parsing, answers and the connection loop are in http.c.
 */
#define _GNU_SOURCE /* sigtimedwait */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compute.h"
#include "nearcache.h"
#include "forkcache.h"
#include "http.h"

#define DEFAULT_MAX_BODY (1u << 20)   /* largest PUT body */
#define LIMIT_MAX_BODY (4u << 20)     /* the write queue's entries must hold it */
#define DEFAULT_MAX_CONNS 1024        /* connections per worker */
#define DEFAULT_IDLE_S 60             /* idle keep-alive connections close */
#define DEFAULT_HEAD_TIMEOUT_S 10     /* a request head must be whole by then */
#define DEFAULT_WRITE_TIMEOUT_MS 2000 /* a PUT waits this long for the writer */
#define STOP_GRACE_MS 5000            /* workers get this long after SIGTERM */
#define RESPAWN_DELAY_MS 1000         /* a worker that died young waits this */
#define DEFAULT_COMPUTE_TTL_S 5       /* /compute results expire after this */

/* ---- configuration -------------------------------------------------------- */

typedef struct server_config {
    const char *dir;
    const char *bind;
    int port;
    int workers;
    int copy_mode;          /* 1: --mode copy */
    int arena_file;         /* 1: --arena-file, other processes may attach */
    size_t max_body;
    int max_conns;
    int idle_s;
    int head_timeout_s;
    int write_timeout_ms;   /* fc_options.write_timeout_ms of the workers */
    uint64_t compute_ttl_s; /* /compute results live this long (0: forever) */
    int compute_ms;         /* --compute-ms: a computation lasts at least this */
    int no_cache;           /* --no-cache: /compute computes every time */
    int framed;             /* the store has ttl_framing (set when opened) */
    const char *print_compute; /* --print-compute N: no server */
    const char *follow;     /* --follow URL: a near cache in front of that Redis */
} server_config;

/* One worker process: its connections, and what its routes need. */
typedef struct worker {
    fc_store *store;
    const server_config *cfg;
    http_loop loop;
    char *copy_buf;         /* --mode copy: the private copy of a value */
    size_t copy_cap;
    char key[HTTP_HEAD_MAX]; /* a decoded key (never longer than the target) */
    compute_stats *stats;   /* the page every process shares (/stats) */
    int index;              /* this worker's slot in stats->computing */
} worker;

/* A route: a path prefix and what answers it. To add an endpoint, write a
 * handler and add one row to `routes`. */
typedef void (*route_fn)(worker *w, http_conn *c, const http_request *rq, const char *rest,
                         size_t rest_len);
typedef struct route {
    const char *prefix;
    route_fn fn;
} route;

static void route_key(worker *w, http_conn *c, const http_request *rq, const char *rest,
                      size_t len);
static void route_compute(worker *w, http_conn *c, const http_request *rq, const char *rest,
                          size_t len);
static void route_stats(worker *w, http_conn *c, const http_request *rq, const char *rest,
                        size_t len);
static void route_metrics(worker *w, http_conn *c, const http_request *rq, const char *rest,
                          size_t len);

static const route routes[] = {
    { "/k/", route_key },
    { "/compute/", route_compute },
    { "/stats", route_stats },
    { "/metrics", route_metrics },
};

/* Set by the workers' SIGTERM/SIGINT handler, read by their poll loop. The
 * parent never sets it (it takes signals with sigtimedwait), so a fresh
 * worker always starts with 0: fork-safe. */
static volatile sig_atomic_t worker_stop;

/* ---- the /k/<key> route ----------------------------------------------------- */

/* Copies the value into the worker's private buffer (--mode copy), growing
 * it when the store says it is too small. */
static int get_copied(worker *w, fc_txn *t, size_t klen, fc_val *v)
{
    size_t vlen = 0;
    int rc = fc_get_copy(t, w->key, klen, w->copy_buf, w->copy_cap, &vlen);
    if (rc == FC_ELIMIT) {
        if (http_grow(&w->copy_buf, &w->copy_cap, vlen) != 0)
            return FC_ENOMEM;
        rc = fc_get_copy(t, w->key, klen, w->copy_buf, w->copy_cap, &vlen);
    }
    v->data = w->copy_buf;
    v->size = vlen;
    return rc;
}

/* The answer to a store call that failed with rc: 503 when the writer was
 * too busy to answer in time (the client may retry), else 500 and a log
 * line naming what failed. */
static void send_failure(worker *w, http_conn *c, const http_request *rq, int rc, const char *what)
{
    if (rc == FC_ETIMEDOUT || rc == FC_EAGAIN) {
        http_send_text(c, rq, 503, "the writer is busy\n");
        return;
    }
    fprintf(stderr, "prefork_http[%d]: %s: %s\n", (int)getpid(), what, fc_errmsg(w->store));
    http_send_text(c, rq, 500, "the store failed\n");
}

/* One read transaction for w->key (klen bytes): a value found is answered
 * 200 (text/plain when text, else octet-stream) and 0 returned; on a miss
 * (FC_ENOTFOUND) or an error nothing is answered and the caller decides.
 * In mmap mode the body iovec points into the shared mapping and the
 * transaction ends only once the kernel has the bytes (or http_send_reply
 * copied the rest); in copy mode the value is copied out first, as a
 * design without shared memory would. */
static int serve_stored(worker *w, http_conn *c, const http_request *rq, size_t klen, int text)
{
    fc_txn *t;
    fc_val v;
    int rc = fc_txn_begin(w->store, &t);
    if (rc != 0)
        return rc;
    rc = w->cfg->copy_mode ? get_copied(w, t, klen, &v) : fc_get(t, w->key, klen, &v);
    if (rc == 0) {
        http_reply r = { 200, NULL, v.data, v.size, text };
        http_send_reply(c, rq, &r, rq->keep_alive);
    }
    fc_txn_end(t);
    return rc;
}

/* --follow: a miss asks Redis (nearcache.c); its value is cached unless
 * an invalidation of the key came meanwhile. */
static int key_from_redis(worker *w, http_conn *c, const http_request *rq, size_t klen)
{
    void *v = NULL;
    size_t n = 0;
    int rc = nearcache_get(w->store, w->cfg->follow, w->key, klen, &v, &n);
    if (rc == 0) {
        http_reply r = { 200, NULL, v, n, 0 };
        http_send_reply(c, rq, &r, rq->keep_alive);
    }
    free(v);
    return rc;
}

/* GET and HEAD of /k/: the value, or 404. */
static void key_get(worker *w, http_conn *c, const http_request *rq, size_t klen)
{
    int rc = serve_stored(w, c, rq, klen, 0);
    if (rc == FC_ENOTFOUND && w->cfg->follow != NULL)
        rc = key_from_redis(w, c, rq, klen);
    if (rc == FC_ENOTFOUND)
        http_send_text(c, rq, 404, "not found\n");
    else if (rc != 0)
        send_failure(w, c, rq, rc, "read");
}

/* PUT and DELETE: fc_put/fc_del from a worker go through the write queue
 * and return once the parent's writer applied them, so a 204 means every
 * worker's next read sees the change. */
static void key_write(worker *w, http_conn *c, const http_request *rq, size_t klen)
{
    int rc = rq->method == HTTP_PUT
                 ? fc_put(w->store, w->key, klen, rq->body, (size_t)rq->content_length)
                 : fc_del(w->store, w->key, klen);
    if (rc == 0)
        http_send_text(c, rq, 204, NULL);
    else if (rc == FC_ETOOBIG)
        http_send_text(c, rq, 413, "key or value too large\n");
    else
        send_failure(w, c, rq, rc, "write");
}

/* /k/<key>: decodes the key, then reads, writes or refuses the method. */
static void route_key(worker *w, http_conn *c, const http_request *rq, const char *rest,
                      size_t len)
{
    long klen = http_url_decode(rest, len, w->key);
    if (klen < 0) {
        http_send_text(c, rq, 400, "bad percent-encoding in the key\n");
        return;
    }
    if (klen == 0) {
        http_send_text(c, rq, 400, "empty key\n");
        return;
    }
    switch (rq->method) {
    case HTTP_GET:
    case HTTP_HEAD:
        key_get(w, c, rq, (size_t)klen);
        break;
    case HTTP_PUT:
    case HTTP_DELETE:
        key_write(w, c, rq, (size_t)klen);
        break;
    default:
        http_send_not_allowed(c, rq, "Allow: GET, HEAD, PUT, DELETE\r\n");
    }
}

/* ---- the /compute/<n> and /stats routes -------------------------------------- */

/* What fc_get_or_compute's callback needs, and what it tells the route. */
typedef struct compute_call {
    worker *w;
    uint64_t n;
    int ran;                /* 1: this process computed the value */
} compute_call;

/* The expensive computation, counted in the shared page; while it runs the
 * worker's pid is in its computing slot (the parent clears the slot of a
 * worker that dies). Returns the body's length in body. */
static size_t run_computation(worker *w, uint64_t n, char *body)
{
    compute_stats *st = w->stats;
    /* relaxed, here and below: counters and a pid read one by one (compute.h) */
    atomic_fetch_add_explicit(&st->started, 1, memory_order_relaxed);
    atomic_store_explicit(&st->computing[w->index], (int32_t)getpid(), memory_order_relaxed);
    uint64_t value = compute_value(n, w->cfg->compute_ms);
    atomic_store_explicit(&st->computing[w->index], 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->completed, 1, memory_order_relaxed);
    return compute_format(body, n, value);
}

/* fc_get_or_compute's callback: runs only in the process holding the
 * key's lease (or in a waiter that gave up waiting). */
static int compute_cb(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    (void)key;
    (void)klen;
    compute_call *cc = arg;
    char body[COMPUTE_BODY_MAX];
    size_t len = run_computation(cc->w, cc->n, body);
    cc->ran = 1;
    if ((*value = malloc(len)) == NULL)
        return FC_ENOMEM;
    memcpy(*value, body, len);
    *vlen = len;
    return 0;
}

/* Counts a failed /compute request and answers it. */
static void compute_failed(worker *w, http_conn *c, const http_request *rq, int rc,
                           const char *what)
{
    atomic_fetch_add_explicit(&w->stats->errors, 1, memory_order_relaxed); /* a counter */
    send_failure(w, c, rq, rc, what);
}

/* A miss: fc_get_or_compute makes one process of the store compute while
 * the others wait on its lease, then store the value with the TTL. */
static void compute_miss(worker *w, http_conn *c, const http_request *rq, uint64_t n, size_t klen)
{
    compute_call cc = { w, n, 0 };
    uint64_t ttl_ms = w->cfg->framed ? w->cfg->compute_ttl_s * 1000 : 0;
    void *value = NULL;
    size_t vlen = 0;
    int rc = fc_get_or_compute(w->store, w->key, klen, ttl_ms, 0, compute_cb, &cc, &value,
                               &vlen);
    if (rc != 0) {
        compute_failed(w, c, rq, rc, "get_or_compute");
        return;
    }
    if (!cc.ran) /* relaxed: a counter */
        atomic_fetch_add_explicit(&w->stats->waits, 1, memory_order_relaxed);
    http_send_body(c, rq, value, vlen);
    free(value);
}

/* The cached path: a hit is one read transaction, answered from the
 * mapping like GET /k/ (the store key is "compute/N"); a miss computes. */
static void compute_cached(worker *w, http_conn *c, const http_request *rq, uint64_t n)
{
    size_t klen = (size_t)snprintf(w->key, sizeof w->key, "compute/%llu", (unsigned long long)n);
    int rc = serve_stored(w, c, rq, klen, 1);
    if (rc == 0) /* relaxed: a counter */
        atomic_fetch_add_explicit(&w->stats->hits, 1, memory_order_relaxed);
    else if (rc == FC_ENOTFOUND)
        compute_miss(w, c, rq, n, klen);
    else
        compute_failed(w, c, rq, rc, "read");
}

/* /compute/<n>: the value of an expensive computation of n, cached in the
 * store for --compute-ttl seconds, or computed every time (--no-cache). */
static void route_compute(worker *w, http_conn *c, const http_request *rq, const char *rest,
                          size_t len)
{
    uint64_t n;
    if (rq->method != HTTP_GET && rq->method != HTTP_HEAD) {
        http_send_not_allowed(c, rq, "Allow: GET, HEAD\r\n");
        return;
    }
    if (compute_parse(rest, len, &n) != 0) {
        http_send_text(c, rq, 400, "n must be a decimal number below 2^64\n");
        return;
    }
    atomic_fetch_add_explicit(&w->stats->requests, 1, memory_order_relaxed); /* a counter */
    if (!w->cfg->no_cache) {
        compute_cached(w, c, rq, n);
        return;
    }
    char body[COMPUTE_BODY_MAX];
    size_t blen = run_computation(w, n, body);
    http_send_body(c, rq, body, blen);
}

/* Whether the request is a GET or HEAD of the route's own path (nothing
 * after it); else it is answered here with 404 or 405. */
static int exact_get(http_conn *c, const http_request *rq, size_t len)
{
    if (len != 0) {
        http_send_text(c, rq, 404, "no such route\n");
        return 0;
    }
    if (rq->method != HTTP_GET && rq->method != HTTP_HEAD) {
        http_send_not_allowed(c, rq, "Allow: GET, HEAD\r\n");
        return 0;
    }
    return 1;
}

/* /stats: the shared counters of /compute as one line of JSON. */
static void route_stats(worker *w, http_conn *c, const http_request *rq, const char *rest,
                        size_t len)
{
    (void)rest;
    if (!exact_get(c, rq, len))
        return;
    char text[COMPUTE_STATS_MAX];
    uint64_t ttl_s = w->cfg->framed ? w->cfg->compute_ttl_s : 0;
    size_t n = compute_stats_format(w->stats, w->cfg->workers,
                                    w->cfg->no_cache ? "no-cache" : "cache", ttl_s, text);
    http_send_body(c, rq, text, n);
}

/* /metrics: the store's counters, every process's, in Prometheus's text
 * format (fc_stats_prometheus), sized by a first call. */
static void route_metrics(worker *w, http_conn *c, const http_request *rq, const char *rest,
                          size_t len)
{
    (void)rest;
    if (!exact_get(c, rq, len))
        return;
    size_t need = 0;
    int rc = fc_stats_prometheus(w->store, NULL, 0, &need);
    char *text = rc == 0 || rc == FC_ELIMIT ? malloc(need + 1024) : NULL;
    if (text != NULL)
        rc = fc_stats_prometheus(w->store, text, need + 1024, &need);
    if (text == NULL || rc != 0) {
        http_send_text(c, rq, 500, "no figures\n");
        free(text);
        return;
    }
    http_send_body(c, rq, text, need);
    free(text);
}

/* The loop's handler: finds the route for the request's path (the target
 * without its query). */
static void dispatch(void *ctx, http_conn *c, const http_request *rq)
{
    worker *w = ctx;
    const char *q = memchr(rq->target, '?', rq->target_len);
    size_t plen = q ? (size_t)(q - rq->target) : rq->target_len;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].prefix);
        if (plen >= n && memcmp(rq->target, routes[i].prefix, n) == 0) {
            routes[i].fn(w, c, rq, rq->target + n, plen - n);
            return;
        }
    }
    http_send_text(c, rq, 404, "no such route\n");
}

/* ---- the worker ----------------------------------------------------------- */

/* A worker's SIGTERM/SIGINT handler: only sets the flag its loop reads. */
static void on_stop(int sig)
{
    (void)sig;
    worker_stop = 1;
}

/* Signals of a worker: SIGTERM/SIGINT stop it (they stay blocked outside
 * ppoll), a closed peer must not kill it (SIGPIPE), and it dies with the
 * parent. Returns the mask ppoll waits with. */
static int worker_signals(pid_t parent, sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        return -1; /* the parent is already gone */
    return 0;
}

/* The worker's routes and its loop over the connections it accepts from
 * the shared listening socket; 0, or -1 when out of memory. */
static int worker_init(worker *w, fc_store *s, const server_config *cfg, int lfd)
{
    memset(w, 0, sizeof *w);
    w->store = s;
    w->cfg = cfg;
    w->loop = (http_loop){ .name = "prefork_http", .lfd = lfd, .max_body = cfg->max_body,
                           .max_conns = cfg->max_conns, .idle_s = cfg->idle_s,
                           .head_timeout_ms = cfg->head_timeout_s * 1000,
                           .handler = dispatch, .ctx = w };
    return http_loop_init(&w->loop);
}

/* A worker process (slot index of the parent's table): its share of the
 * store, its loop, a clean exit. */
static int worker_main(fc_store *s, const server_config *cfg, int lfd, pid_t parent,
                       compute_stats *stats, int index)
{
    sigset_t wait_mask;
    if (worker_signals(parent, &wait_mask) != 0)
        return 71;
    int rc = fc_after_fork(s);
    if (rc != 0) {
        fprintf(stderr, "prefork_http[%d]: fc_after_fork: %s\n", (int)getpid(), fc_errmsg(s));
        return 70;
    }
    worker w;
    int status = worker_init(&w, s, cfg, lfd) == 0 ? 0 : 72;
    w.stats = stats;
    w.index = index;
    while (status == 0 && !worker_stop)
        if (http_loop_turn(&w.loop, &wait_mask) != 0) {
            fprintf(stderr, "prefork_http[%d]: ppoll: %s\n", (int)getpid(), strerror(errno));
            status = 73;
        }
    http_loop_free(&w.loop);
    free(w.copy_buf);
    close(lfd);
    fc_close(s);
    return status;
}

/* ---- the parent ------------------------------------------------------------- */

typedef struct slot {
    pid_t pid;              /* 0: not running */
    int64_t started_ms;
    int64_t respawn_ms;     /* when to start it again (pid == 0) */
} slot;

typedef struct server {
    server_config cfg;
    fc_store *store;
    int lfd;
    slot *slots;
    pid_t self;
    compute_stats *stats;   /* shared with the workers, mapped before they fork */
} server;


/* Forks worker i; the child never returns from worker_main. A failed fork
 * is retried later, like a worker that died. fc_fork, not fork: liburcu's
 * threads and locks behind the table cache need its hooks around fork. */
static int spawn(server *srv, int i)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fc_fork();
    if (pid < 0) {
        fprintf(stderr, "prefork_http: fork: %s\n", strerror(errno));
        srv->slots[i].respawn_ms = http_now_ms() + RESPAWN_DELAY_MS;
        return -1;
    }
    if (pid == 0)
        _exit(worker_main(srv->store, &srv->cfg, srv->lfd, srv->self, srv->stats, i));
    srv->slots[i].pid = pid;
    srv->slots[i].started_ms = http_now_ms();
    return 0;
}

/* How a worker ended, for the log line. */
static void describe_exit(char *buf, size_t cap, int status)
{
    if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
}

/* Collects dead workers, logs each, and schedules its replacement: at once,
 * or after a pause when it died within a second of starting (a worker that
 * cannot start must not make the parent fork in a tight loop). */
static void reap(server *srv, int stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < srv->cfg.workers; i++) {
            slot *sl = &srv->slots[i];
            if (sl->pid != pid)
                continue;
            int64_t now = http_now_ms(), lived = now - sl->started_ms;
            char how[64];
            describe_exit(how, sizeof how, status);
            if (!stopping)
                fprintf(stderr, "prefork_http: worker %d (pid %d) %s after %.1f s; replacing it\n",
                        i, (int)pid, how, (double)lived / 1000);
            sl->pid = 0;
            /* a worker killed while computing leaves its pid there;
             * relaxed: the slot is read on its own (compute.h) */
            atomic_store_explicit(&srv->stats->computing[i], 0, memory_order_relaxed);
            sl->respawn_ms = lived < 1000 ? now + RESPAWN_DELAY_MS : now;
        }
    }
}

/* Starts the workers whose time has come; returns ms until the next one
 * is due (-1: none waiting). */
static int64_t respawn_due(server *srv)
{
    int64_t next = -1, now = http_now_ms();
    for (int i = 0; i < srv->cfg.workers; i++) {
        slot *sl = &srv->slots[i];
        if (sl->pid != 0)
            continue;
        if (sl->respawn_ms <= now && spawn(srv, i) == 0) {
            fprintf(stderr, "prefork_http: worker %d is pid %d\n", i, (int)sl->pid);
            continue;
        }
        int64_t wait = sl->respawn_ms - now;
        if (next < 0 || wait < next)
            next = wait < 1 ? 1 : wait;
    }
    return next;
}

/* The parent's loop: SIGINT, SIGTERM and SIGCHLD are blocked and taken
 * here with sigtimedwait, so no handler runs between fork and exec and
 * no signal is lost between a check and a wait. Returns the stop signal. */
static int supervise(server *srv, const sigset_t *set)
{
    for (;;) {
        int64_t next = respawn_due(srv);
        struct timespec ts = { 1, 0 };
        if (next >= 0 && next < 1000)
            ts = (struct timespec){ 0, (long)next * 1000000L };
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM)
            return sig;
        reap(srv, 0);
    }
}

/* Workers not yet reaped. */
static int live_workers(const server *srv)
{
    int n = 0;
    for (int i = 0; i < srv->cfg.workers; i++)
        n += srv->slots[i].pid != 0;
    return n;
}

/* SIGTERM to every worker, up to STOP_GRACE_MS for them to finish, then
 * SIGKILL for any left; every child is waited for. */
static void stop_workers(server *srv, const sigset_t *set)
{
    for (int i = 0; i < srv->cfg.workers; i++)
        if (srv->slots[i].pid != 0)
            kill(srv->slots[i].pid, SIGTERM);
    int64_t deadline = http_now_ms() + STOP_GRACE_MS;
    while (live_workers(srv) > 0 && http_now_ms() < deadline) {
        struct timespec ts = { 0, 100 * 1000000L };
        sigtimedwait(set, NULL, &ts);
        reap(srv, 1);
    }
    for (int i = 0; i < srv->cfg.workers; i++)
        if (srv->slots[i].pid != 0) {
            fprintf(stderr, "prefork_http: worker %d (pid %d) ignored SIGTERM; killing it\n", i,
                    (int)srv->slots[i].pid);
            kill(srv->slots[i].pid, SIGKILL);
            waitpid(srv->slots[i].pid, NULL, 0);
            srv->slots[i].pid = 0;
        }
}

/* Opens the store as its writer, asking for ttl_framing or not. The write
 * queue's entries must hold the largest PUT a worker accepts (key + body +
 * batch framing). */
static int open_framed(server *srv, int framing)
{
    fc_options o;
    fc_options_init(&o);
    size_t entry = srv->cfg.max_body + HTTP_HEAD_MAX + 64;
    if (entry > o.queue_entry_size)
        o.queue_entry_size = entry;
    if (srv->cfg.arena_file)
        o.arena_path = "";
    o.ttl_framing = framing;
    /* A stopped or stalled writer must not hold a worker (and the GETs
     * behind its PUT) for ever: the PUT gives up and answers 503. */
    o.write_timeout_ms = srv->cfg.write_timeout_ms;
    o.follow = srv->cfg.follow; /* every key: no prefixes */
    return fc_open(srv->cfg.dir, &o, &srv->store);
}

/* Opens the store with ttl_framing, so /compute results can expire: a new
 * store is created framed, a framed one opens as it is. A store created
 * without framing refuses it (FC_EINVAL; framing is chosen at creation):
 * it is opened as it is and /compute results never expire, which a log
 * line says. */
static int open_store(server *srv)
{
    int rc = open_framed(srv, 1);
    srv->cfg.framed = rc == 0;
    if (rc == FC_EINVAL && (rc = open_framed(srv, 0)) == 0 && !srv->cfg.no_cache)
        fprintf(stderr, "prefork_http: %s was created without ttl_framing: /compute results "
                        "are stored without expiry\n", srv->cfg.dir);
    if (rc != 0)
        fprintf(stderr, "prefork_http: opening %s: %s (%s)\n", srv->cfg.dir, fc_strerror(rc),
                fc_errmsg(NULL));
    return rc;
}

/* The parent from start to clean stop; the exit status of the program. */
static int run(server *srv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    /* Blocked before fc_open, so the store's threads inherit the mask and
     * never take a process-directed SIGTERM themselves. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv->self = getpid();
    if ((srv->lfd = http_open_listener("prefork_http", srv->cfg.bind, srv->cfg.port)) < 0)
        return 1;
    if (open_store(srv) != 0)
        return 1;
    if ((srv->stats = compute_stats_map()) == NULL) {
        fprintf(stderr, "prefork_http: mmap of the shared counters: %s\n", strerror(errno));
        fc_close(srv->store);
        return 1;
    }
    srv->slots = calloc((size_t)srv->cfg.workers, sizeof *srv->slots);
    if (srv->slots == NULL)
        return 1;
    for (int i = 0; i < srv->cfg.workers; i++)
        spawn(srv, i);
    printf("prefork_http: listening on %s port %d, %d workers, mode %s, store %s, pid %d\n",
           srv->cfg.bind, http_bound_port(srv->lfd), srv->cfg.workers,
           srv->cfg.copy_mode ? "copy" : "mmap", srv->cfg.dir, (int)srv->self);
    fflush(stdout);
    int sig = supervise(srv, &set);
    stop_workers(srv, &set);
    close(srv->lfd);
    int rc = fc_close(srv->store);
    fprintf(stderr, "prefork_http: stopped by %s; store closed%s\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", rc == 0 ? "" : " with an error");
    free(srv->slots);
    return rc == 0 ? 0 : 1;
}

/* ---- command line ----------------------------------------------------------- */

/* --help: the program's manual (routes, options, exit codes), since it has
 * no man page of its own. */
static void help(void)
{
    fputs(
        "NAME\n"
        "    prefork_http - a pre-fork HTTP/1.1 server whose workers share one forkcache store\n"
        "\n"
        "SYNOPSIS\n"
        "    prefork_http --dir DIR [--port P] [--workers N] [--mode mmap|copy]\n"
        "                 [--bind ADDR] [--max-body BYTES] [--max-conns N]\n"
        "                 [--idle-timeout SECONDS] [--head-timeout SECONDS]\n"
        "                 [--write-timeout MS] [--arena-file]\n"
        "                 [--compute-ttl SECONDS] [--compute-ms MS] [--no-cache]\n"
        "                 [--follow redis://HOST:PORT | unix:///PATH]\n"
        "    prefork_http --print-compute N [--compute-ms MS]\n"
        "\n"
        "DESCRIPTION\n"
        "    The parent process opens (creating if needed) the forkcache store in DIR\n"
        "    and becomes its writer, binds one listening socket and forks N workers.\n"
        "    Each worker accepts connections from the shared socket in its own poll()\n"
        "    loop and serves them with keep-alive and pipelining. A GET is one read\n"
        "    transaction: in mmap mode the value goes to the socket straight from the\n"
        "    store's shared mapping (sendmsg with the header and the value as two\n"
        "    iovecs, no copy in user space); in copy mode it is first copied into\n"
        "    the worker's private buffer (fc_get_copy), which is what a server\n"
        "    without shared memory pays. A PUT or DELETE from a worker goes through\n"
        "    the store's write queue to the parent's writer and is answered once\n"
        "    every worker can read it. A worker that dies is replaced and a line is\n"
        "    logged on standard error; SIGTERM or SIGINT stops every worker, closes\n"
        "    the store and exits 0.\n"
        "\n"
        "    On start the parent prints one line on standard output:\n"
        "        prefork_http: listening on ADDR port P, N workers, mode M, store DIR, pid PID\n"
        "\n"
        "ROUTES\n"
        "    GET /k/KEY      200 with the value as the body (application/octet-stream);\n"
        "                    404 when KEY is absent. HEAD gives the same headers.\n"
        "                    With --follow the store is a near cache in front of that\n"
        "                    Redis: the parent follows its invalidations, and a miss\n"
        "                    asks Redis (GET) on the worker's own connection and caches\n"
        "                    the answer for every worker (fc_get_through).\n"
        "    PUT /k/KEY      the body (Content-Length required; no chunked bodies)\n"
        "                    becomes KEY's value; 204 once visible to every worker.\n"
        "    DELETE /k/KEY   deletes KEY; 204.\n"
        "    KEY is percent-decoded (%XX gives any byte, so keys may be binary); a\n"
        "    query string is ignored. Other paths give 404, other methods on /k/\n"
        "    405, a malformed request (bad request line or header, bad %XX, empty key,\n"
        "    head over 8 KiB) 400, a body over --max-body 413, Transfer-Encoding 501.\n"
        "    After 400, 413 and 501 the connection closes. HTTP/1.1 connections stay\n"
        "    open unless the client sends \"Connection: close\"; HTTP/1.0 ones only\n"
        "    with \"Connection: keep-alive\". \"Expect: 100-continue\" is honoured.\n"
        "\n"
        "    GET /compute/N  200 with \"compute(N) = HEX\\n\" (text/plain): N is a decimal\n"
        "                    number below 2^64, HEX 16 hex digits. The computation is\n"
        "                    deliberately expensive and deterministic: 2^23 steps of\n"
        "                    a 64-bit mixing function seeded with N, about 30 ms of\n"
        "                    CPU (sleep-free), padded with busy work to at least\n"
        "                    --compute-ms. Its result is cached in the store under\n"
        "                    the key \"compute/N\" for --compute-ttl seconds through\n"
        "                    fc_get_or_compute: however many connections of however\n"
        "                    many workers ask at once, one process computes each key\n"
        "                    once per TTL while the others wait for its value (a\n"
        "                    lease in the arena; if the computing worker dies, a\n"
        "                    waiter computes instead). A worker waiting or computing\n"
        "                    serves none of its other connections meanwhile. A hit\n"
        "                    is answered like GET /k/ (--mode applies). 400 for a\n"
        "                    bad N; methods other than GET and HEAD 405.\n"
        "    GET /stats      200 with one line of JSON, counted over all workers since\n"
        "                    the server started: mode (cache or no-cache), ttl_s (0:\n"
        "                    never expires), requests (to /compute), hits (found at\n"
        "                    the first read), waits (misses answered with another\n"
        "                    process's computation, after waiting on its lease or\n"
        "                    finding its value at the second read), computations\n"
        "                    (begun, one killed midway included), completed, errors\n"
        "                    (500 and 503 answers), computing (pids computing now).\n"
        "                    The counters live in a MAP_SHARED page the parent maps\n"
        "                    before it forks.\n"
        "    GET /metrics    200 with the store's counters in Prometheus's text format\n"
        "                    (fc_stats_prometheus): gets, hits and misses of every\n"
        "                    process, puts, computations, write latency, bytes.\n"
        "\n"
        "OPTIONS\n"
        "    --dir DIR             the store directory (required)\n"
        "    --port P              TCP port; 0 lets the kernel pick one (default 8080)\n"
        "    --bind ADDR           numeric IPv4 or IPv6 address (default 127.0.0.1)\n"
        "    --workers N           worker processes, 1..256 (default 2)\n"
        "    --mode mmap|copy      zero-copy answers, or copy each value first (default mmap)\n"
        "    --max-body BYTES      largest PUT body (default 1048576, at most 4194304)\n"
        "    --max-conns N         connections per worker (default 1024); when a worker\n"
        "                          is full, a new connection closes its oldest idle one\n"
        "                          or, failing that, the oldest unfinished request head\n"
        "    --idle-timeout S      close connections idle this long (default 60)\n"
        "    --head-timeout S      a request head (line and headers) must arrive whole\n"
        "                          within S seconds of its first byte, or of the\n"
        "                          connection's accept; else 408 and close (default 10)\n"
        "    --write-timeout MS    a PUT or DELETE waits at most MS milliseconds for the\n"
        "                          store's writer, then answers 503 (its outcome is then\n"
        "                          unknown); 0 waits for ever (default 2000)\n"
        "    --arena-file          keep the arena in DIR/forkcache.arena, so that\n"
        "                          `forkcache get|put|scan DIR ...` attach while it runs\n"
        "    --compute-ttl S       /compute results expire after S seconds; 0: never\n"
        "                          (default 5). Needs a store with ttl_framing: a new\n"
        "                          store is created with it; in a store created without\n"
        "                          it results never expire (a line on stderr says so)\n"
        "    --compute-ms MS       each computation lasts at least MS milliseconds,\n"
        "                          same result (default 0: just the 2^23 steps)\n"
        "    --no-cache            /compute computes on every request (to compare)\n"
        "    --print-compute N     print what /compute/N answers and exit\n"
        "    --help                this text\n"
        "\n"
        "NOTES\n"
        "    A value the kernel does not take in one sendmsg (a slow client, a full\n"
        "    socket buffer) has its unsent tail copied into the connection's buffer,\n"
        "    so no read transaction outlives the request that opened it. Answers to\n"
        "    pipelined requests are written in order, one at a time.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 after a clean stop; 1 when the store cannot be opened or the address\n"
        "    bound; 2 for a bad command line.\n"
        "\n"
        "EXAMPLES\n"
        "    prefork_http --dir /tmp/store --port 8080 --workers 2 &\n"
        "    curl -X PUT --data-binary @photo.jpg http://127.0.0.1:8080/k/photo\n"
        "    curl http://127.0.0.1:8080/k/photo >copy.jpg\n"
        "    wrk -t2 -c32 -d10s http://127.0.0.1:8080/k/0000000000000042\n"
        "    wrk -t2 -c32 -d10s http://127.0.0.1:8080/compute/7\n"
        "    curl http://127.0.0.1:8080/stats\n",
        stdout);
}

/* A whole number within [lo, hi], or -1. */
static long long number_arg(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

/* A bad command line: one line on stderr and exit status 2. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "prefork_http: %s%s%s\nTry 'prefork_http --help'.\n", what,
            arg ? ": " : "", arg ? arg : "");
    return 2;
}

enum { O_DIR = 256, O_PORT, O_BIND, O_WORKERS, O_MODE, O_MAX_BODY, O_MAX_CONNS, O_IDLE,
       O_HEAD_TIMEOUT, O_WRITE_TIMEOUT,
       O_ARENA_FILE, O_HELP, O_COMPUTE_TTL, O_COMPUTE_MS, O_NO_CACHE, O_PRINT_COMPUTE,
       O_FOLLOW };

static const struct option long_opts[] = {
    { "dir", required_argument, NULL, O_DIR },
    { "port", required_argument, NULL, O_PORT },
    { "bind", required_argument, NULL, O_BIND },
    { "workers", required_argument, NULL, O_WORKERS },
    { "mode", required_argument, NULL, O_MODE },
    { "max-body", required_argument, NULL, O_MAX_BODY },
    { "max-conns", required_argument, NULL, O_MAX_CONNS },
    { "idle-timeout", required_argument, NULL, O_IDLE },
    { "head-timeout", required_argument, NULL, O_HEAD_TIMEOUT },
    { "write-timeout", required_argument, NULL, O_WRITE_TIMEOUT },
    { "arena-file", no_argument, NULL, O_ARENA_FILE },
    { "help", no_argument, NULL, O_HELP },
    { "compute-ttl", required_argument, NULL, O_COMPUTE_TTL },
    { "compute-ms", required_argument, NULL, O_COMPUTE_MS },
    { "no-cache", no_argument, NULL, O_NO_CACHE },
    { "print-compute", required_argument, NULL, O_PRINT_COMPUTE },
    { "follow", required_argument, NULL, O_FOLLOW },
    { NULL, 0, NULL, 0 }
};

/* One numeric option into *out; 0, or the usage error's exit code. */
static int set_number(const char *name, const char *arg, long long lo, long long hi,
                      long long *out)
{
    *out = number_arg(arg, lo, hi);
    return *out < 0 ? usage_error(name, arg) : 0;
}

/* Applies one command-line option to cfg; 0, or the exit status 2. */
static int parse_option(server_config *cfg, int opt, const char *arg)
{
    long long v = 0;
    int rc = 0;
    switch (opt) {
    case O_DIR: cfg->dir = arg; break;
    case O_BIND: cfg->bind = arg; break;
    case O_ARENA_FILE: cfg->arena_file = 1; break;
    case O_PORT:
        if ((rc = set_number("bad --port", arg, 0, 65535, &v)) == 0)
            cfg->port = (int)v;
        break;
    case O_WORKERS:
        if ((rc = set_number("bad --workers", arg, 1, 256, &v)) == 0)
            cfg->workers = (int)v;
        break;
    case O_MAX_BODY:
        if ((rc = set_number("bad --max-body", arg, 0, LIMIT_MAX_BODY, &v)) == 0)
            cfg->max_body = (size_t)v;
        break;
    case O_MAX_CONNS:
        if ((rc = set_number("bad --max-conns", arg, 1, 65536, &v)) == 0)
            cfg->max_conns = (int)v;
        break;
    case O_IDLE:
        if ((rc = set_number("bad --idle-timeout", arg, 1, 86400, &v)) == 0)
            cfg->idle_s = (int)v;
        break;
    case O_HEAD_TIMEOUT:
        if ((rc = set_number("bad --head-timeout", arg, 1, 3600, &v)) == 0)
            cfg->head_timeout_s = (int)v;
        break;
    case O_WRITE_TIMEOUT:
        if ((rc = set_number("bad --write-timeout", arg, 0, 3600 * 1000, &v)) == 0)
            cfg->write_timeout_ms = (int)v;
        break;
    case O_COMPUTE_TTL: /* at most a year: ttl * 1000 stays far from overflow */
        if ((rc = set_number("bad --compute-ttl", arg, 0, 366LL * 86400, &v)) == 0)
            cfg->compute_ttl_s = (uint64_t)v;
        break;
    case O_COMPUTE_MS:
        if ((rc = set_number("bad --compute-ms", arg, 0, 3600 * 1000, &v)) == 0)
            cfg->compute_ms = (int)v;
        break;
    case O_NO_CACHE: cfg->no_cache = 1; break;
    case O_PRINT_COMPUTE: cfg->print_compute = arg; break;
    case O_FOLLOW: cfg->follow = arg; break;
    case O_MODE:
        if (strcmp(arg, "mmap") != 0 && strcmp(arg, "copy") != 0)
            return usage_error("--mode must be mmap or copy", arg);
        cfg->copy_mode = strcmp(arg, "copy") == 0;
        break;
    default: return usage_error("unknown option", NULL);
    }
    return rc;
}

/* --print-compute N: the body /compute/N answers, computed here, so a test
 * or a person can check the server's answers without a server. */
static int print_compute(const char *arg, int pad_ms)
{
    uint64_t n;
    if (compute_parse(arg, strlen(arg), &n) != 0)
        return usage_error("bad --print-compute", arg);
    char body[COMPUTE_BODY_MAX];
    size_t len = compute_format(body, n, compute_value(n, pad_ms));
    fwrite(body, 1, len, stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Command line, then run(): see help() for the whole contract. */
int main(int argc, char **argv)
{
    server srv;
    memset(&srv, 0, sizeof srv);
    server_config *cfg = &srv.cfg;
    *cfg = (server_config){ .bind = "127.0.0.1", .port = 8080, .workers = 2,
                            .max_body = DEFAULT_MAX_BODY, .max_conns = DEFAULT_MAX_CONNS,
                            .idle_s = DEFAULT_IDLE_S, .head_timeout_s = DEFAULT_HEAD_TIMEOUT_S,
                            .write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS,
                            .compute_ttl_s = DEFAULT_COMPUTE_TTL_S };
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt == O_HELP) {
            help();
            return 0;
        }
        if (opt == '?')
            return usage_error("bad command line", NULL);
        int rc = parse_option(cfg, opt, optarg);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (cfg->print_compute != NULL)
        return print_compute(cfg->print_compute, cfg->compute_ms);
    if (cfg->dir == NULL)
        return usage_error("--dir DIR is required", NULL);
    return run(&srv);
}

