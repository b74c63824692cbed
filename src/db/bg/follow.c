/*
 * follow.c - the writer's thread that keeps the store coherent with Redis.
 *
 * Redis's two-connection client-side caching, in RESP2 (what Debian 12's
 * hiredis 0.14 speaks): the invalidation connection asks CLIENT ID, then
 * SUBSCRIBEs to __redis__:invalidate; the data connection turns on
 * CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX p ... . From then on
 * every write to a followed key, by any client, sends that key to the
 * invalidation connection; a FLUSHALL or FLUSHDB sends a null instead.
 *
 * A session: connect both, set tracking up, clear the followed prefixes
 * (whatever changed while nobody listened is gone), then loop: apply each
 * invalidation (bucket epochs bumped, keys deleted in one batch: clear.c),
 * and PING the invalidation connection every max_stale_ms / 4. The answer
 * to a PING comes after every invalidation Redis queued before it, so once
 * it is read, everything written to Redis before the PING was sent has
 * been applied here: the followed prefixes may be served until that
 * moment plus max_stale_ms (link_ok_until, which readers check). A PING
 * unanswered for 2 x max_stale_ms (at least 200 ms), a connection that
 * breaks (Redis restarted, CLIENT KILL) or an invalidation that cannot be
 * applied ends the session; the next one starts with a clear. While no
 * session is up, link_ok_until stays in the past: followed keys are
 * misses in every process and fills are refused.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/bg/follow.h"
#include "db/core/follow.h"
#include "db/core/forkgate.h"
#include "db/write/clear.h"
#include "util/clock.h"

#ifdef HAVE_HIREDIS

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#define INVALIDATE_CHANNEL "__redis__:invalidate"
#define RETRY_MS 100        /* between attempts to reconnect */
#define POLL_MAX_MS 50      /* the stop flag is looked at this often */

typedef struct fci_follower {
    fc_store *s;
    fci_follow_shared *f;
    pthread_t thread;
    atomic_int stop;          /* relaxed: a request, polled */
    int is_unix, port;
    char where[PATH_MAX];     /* host, or the socket's path */
    uint64_t max_stale_ms, ping_ms, lost_ms;
    redisContext *inv, *data;
    /* descriptors a forked child closes (fci_follower_forget_child);
     * relaxed: the child reads them after fork copied them */
    atomic_int inv_fd, data_fd;
    uint64_t ping_sent, next_ping;
    int ping_out;
    int was_up;               /* the session's link was proved once */
} fci_follower;

/* "redis://HOST[:PORT]" or "unix:///PATH" (validated by fc_options_validate). */
static int parse_url(fci_follower *fl, const char *url, fci_err *err)
{
    if (strncmp(url, "unix://", 7) == 0) {
        fl->is_unix = 1;
        snprintf(fl->where, sizeof fl->where, "%s", url + 7);
        return fl->where[0] == '/' ? 0 : fci_err_set(err, FC_EINVAL, "follow: %s: not "
                                                     "unix:///PATH", url);
    }
    const char *host = url + 8, *colon = strrchr(host, ':');
    size_t hlen = colon ? (size_t)(colon - host) : strlen(host);
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    if (hlen == 0 || hlen >= sizeof fl->where || port <= 0 || port > 65535 ||
        (colon && (end == colon + 1 || *end != '\0')))
        return fci_err_set(err, FC_EINVAL, "follow: %s: not redis://HOST:PORT", url);
    memcpy(fl->where, host, hlen);
    fl->where[hlen] = '\0';
    fl->port = (int)port;
    return 0;
}

static int stopping(fci_follower *fl)
{
    return atomic_load_explicit(&fl->stop, memory_order_relaxed);
}

/* One connection, close-on-exec (hiredis opens it without the flag). */
static redisContext *connect_one(fci_follower *fl)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = fl->is_unix ? redisConnectUnixWithTimeout(fl->where, tv)
                                  : redisConnectWithTimeout(fl->where, fl->port, tv);
    if (c != NULL && c->err == 0) {
        (void)fcntl(c->fd, F_SETFD, FD_CLOEXEC);
        if (redisSetTimeout(c, tv) == REDIS_OK)
            return c;
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

/* A blocking command's reply, checked for its type; NULL on anything else. */
static redisReply *command(redisContext *c, int type, int argc, const char **argv,
                           const size_t *len)
{
    redisReply *r = redisCommandArgv(c, argc, argv, len);
    if (r != NULL && r->type != type) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

/* CLIENT TRACKING ON REDIRECT id BCAST PREFIX p ... on the data connection. */
static int track(fci_follower *fl, long long id)
{
    const char *argv[6 + 2 * FCI_CLEAR_MAX];
    size_t len[6 + 2 * FCI_CLEAR_MAX];
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *head[] = { "CLIENT", "TRACKING", "ON", "REDIRECT", ids, "BCAST" };
    int argc = 0;
    for (; argc < 6; argc++) {
        argv[argc] = head[argc];
        len[argc] = strlen(head[argc]);
    }
    uint32_t n = atomic_load_explicit(&fl->f->nrec, memory_order_acquire);
    for (uint32_t i = 0; i < n && i < FCI_CLEAR_MAX; i++) {
        const fci_clear_rec *r = &fl->f->rec[i];
        if (!(r->flags & FCI_CLEAR_FOLLOWED) || r->plen == 0) /* "": every key */
            continue;
        argv[argc] = "PREFIX";
        len[argc++] = 6;
        argv[argc] = r->prefix;
        len[argc++] = r->plen;
    }
    redisReply *r = command(fl->data, REDIS_REPLY_STATUS, argc, argv, len);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

static void session_close(fci_follower *fl)
{
    atomic_store_explicit(&fl->inv_fd, -1, memory_order_relaxed);
    atomic_store_explicit(&fl->data_fd, -1, memory_order_relaxed);
    if (fl->inv != NULL)
        redisFree(fl->inv);
    if (fl->data != NULL)
        redisFree(fl->data);
    fl->inv = fl->data = NULL;
    /* relaxed: a figure; readers go by link_ok_until, which only ages */
    atomic_store_explicit(&fl->f->link, FC_LINK_DOWN, memory_order_relaxed);
    if (fl->was_up) /* relaxed: a figure */
        atomic_fetch_add_explicit(&fl->f->link_losses, 1, memory_order_relaxed);
    fl->was_up = 0;
}

/* Both connections, tracking on, then the clear. 0, or -1 (retry later). */
static int session_open(fci_follower *fl)
{
    if ((fl->inv = connect_one(fl)) == NULL || (fl->data = connect_one(fl)) == NULL)
        return -1;
    atomic_store_explicit(&fl->inv_fd, fl->inv->fd, memory_order_relaxed);
    atomic_store_explicit(&fl->data_fd, fl->data->fd, memory_order_relaxed);
    const char *id_argv[] = { "CLIENT", "ID" }, *sub_argv[] = { "SUBSCRIBE", INVALIDATE_CHANNEL };
    size_t id_len[] = { 6, 2 }, sub_len[] = { 9, strlen(INVALIDATE_CHANNEL) };
    redisReply *r = command(fl->inv, REDIS_REPLY_INTEGER, 2, id_argv, id_len);
    if (r == NULL)
        return -1;
    long long id = r->integer;
    freeReplyObject(r);
    if ((r = command(fl->inv, REDIS_REPLY_ARRAY, 2, sub_argv, sub_len)) == NULL)
        return -1;
    freeReplyObject(r);
    if (track(fl, id) != 0 || fci_clear_followed(fl->s) != 0)
        return -1;
    fl->ping_out = 0;
    fl->next_ping = 0;
    return 0;
}

static int send_ping(fci_follower *fl)
{
    int done = 0;
    if (redisAppendCommand(fl->inv, "PING") != REDIS_OK)
        return -1;
    while (!done)
        if (redisBufferWrite(fl->inv, &done) != REDIS_OK)
            return -1;
    fl->ping_sent = fci_mono_ms();
    fl->ping_out = 1;
    return 0;
}

/* A PING's answer: everything Redis sent before it has been applied. */
static void pong(fci_follower *fl)
{
    fl->ping_out = 0;
    fl->next_ping = fl->ping_sent + fl->ping_ms;
    fl->was_up = 1;
    /* release: the deletes applied before the answer are published first */
    atomic_store_explicit(&fl->f->link_ok_until, fl->ping_sent + fl->max_stale_ms,
                          memory_order_release);
    /* relaxed: a figure (and fci_fill_check's hint) */
    atomic_store_explicit(&fl->f->link, FC_LINK_UP, memory_order_relaxed);
}

/* The keys of one invalidation message, applied at once. */
static int invalidate(fci_follower *fl, const redisReply *keys)
{
    if (keys->type == REDIS_REPLY_NIL)
        return fci_clear_followed(fl->s); /* FLUSHALL / FLUSHDB */
    if (keys->type != REDIS_REPLY_ARRAY || keys->elements == 0)
        return 0;
    fci_slice *ks = malloc(keys->elements * sizeof *ks);
    if (ks == NULL)
        return FC_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            ks[n++] = fci_slice_make(keys->element[i]->str, keys->element[i]->len);
    int rc = fci_follow_invalidate(fl->s, ks, n);
    free(ks);
    return rc;
}

static int is_str(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* One reply on the invalidation connection; -1 ends the session. */
static int handle(fci_follower *fl, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return 0;
    if (is_str(r->element[0], "pong")) {
        pong(fl);
        return 0;
    }
    if (r->elements == 3 && is_str(r->element[0], "message") &&
        is_str(r->element[1], INVALIDATE_CHANNEL))
        return invalidate(fl, r->element[2]) == 0 ? 0 : -1;
    return 0;
}

/* Reads what one connection has; -1 when it broke. Replies on the data
 * connection are not expected (RESP2 pushes nothing there) and dropped. */
static int drain_conn(fci_follower *fl, redisContext *c)
{
    if (redisBufferRead(c) != REDIS_OK)
        return -1;
    void *r;
    int rc = 0;
    while (rc == 0 && redisGetReplyFromReader(c, &r) == REDIS_OK && r != NULL) {
        if (c == fl->inv)
            rc = handle(fl, r);
        freeReplyObject(r);
    }
    return rc == 0 && c->err == 0 ? 0 : -1;
}

/* Milliseconds until the next thing to do, at most POLL_MAX_MS. */
static int next_wait(const fci_follower *fl, uint64_t now)
{
    uint64_t at = fl->ping_out ? fl->ping_sent + fl->lost_ms : fl->next_ping;
    uint64_t w = at > now ? at - now : 0;
    return w < POLL_MAX_MS ? (int)w : POLL_MAX_MS;
}

/* A session's loop; returns when it ends (stop asked, or the link lost). */
static void session_run(fci_follower *fl)
{
    while (!stopping(fl)) {
        uint64_t now = fci_mono_ms();
        if (!fl->ping_out && now >= fl->next_ping && send_ping(fl) != 0)
            return;
        if (fl->ping_out && now > fl->ping_sent + fl->lost_ms)
            return; /* Redis is not answering (DEBUG SLEEP, a hung host) */
        struct pollfd p[2] = { { fl->inv->fd, POLLIN, 0 }, { fl->data->fd, POLLIN, 0 } };
        fci_gate_idle_begin();
        int n = poll(p, 2, next_wait(fl, fci_mono_ms()));
        fci_gate_idle_end();
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0 && ((p[0].revents && drain_conn(fl, fl->inv) != 0) ||
                      (p[1].revents && drain_conn(fl, fl->data) != 0)))
            return;
    }
}

/* Sleeps ms in short slices, idle for the fork gate. */
static void pause_ms(fci_follower *fl, int ms)
{
    for (int left = ms; left > 0 && !stopping(fl); left -= 10) {
        struct timespec ts = { 0, 10 * 1000000L };
        fci_gate_idle_begin();
        nanosleep(&ts, NULL);
        fci_gate_idle_end();
    }
}

static void *follow_main(void *arg)
{
    fci_follower *fl = arg;
    fci_gate_adopt();
    while (!stopping(fl)) {
        if (session_open(fl) == 0)
            session_run(fl);
        session_close(fl);
        pause_ms(fl, RETRY_MS);
    }
    return NULL;
}

int fci_follower_start(fc_store *s, fci_err *err)
{
    if (s->opts.follow == NULL)
        return 0;
    fci_follower *fl = calloc(1, sizeof *fl);
    if (fl == NULL)
        return fci_err_set(err, FC_ENOMEM, "out of memory");
    int rc = parse_url(fl, s->opts.follow, err);
    if (rc != 0) {
        free(fl);
        return rc;
    }
    fl->s = s;
    fl->f = s->follow;
    fl->max_stale_ms = (uint64_t)s->opts.max_stale_ms;
    fl->ping_ms = fl->max_stale_ms / 4 > 0 ? fl->max_stale_ms / 4 : 1;
    fl->lost_ms = 2 * fl->max_stale_ms > 200 ? 2 * fl->max_stale_ms : 200;
    atomic_init(&fl->stop, 0);
    atomic_init(&fl->inv_fd, -1);
    atomic_init(&fl->data_fd, -1);
    if (fci_gate_spawn(&fl->thread, follow_main, fl) != 0) {
        free(fl);
        return fci_err_set(err, FC_EIO, "follow: cannot start its thread");
    }
    s->follower = fl;
    return 0;
}

void fci_follower_stop(fc_store *s)
{
    fci_follower *fl = s->follower;
    if (fl == NULL)
        return;
    atomic_store_explicit(&fl->stop, 1, memory_order_relaxed);
    fci_gate_reap(fl->thread);
    session_close(fl);
    free(fl);
    s->follower = NULL;
}

/* The child of a fork has copies of the connections' descriptors: closed,
 * so that Redis sees the writer's connections end when the writer's do. */
void fci_follower_forget_child(fc_store *s)
{
    fci_follower *fl = s->follower;
    if (fl == NULL)
        return;
    int a = atomic_load_explicit(&fl->inv_fd, memory_order_relaxed);
    int b = atomic_load_explicit(&fl->data_fd, memory_order_relaxed);
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    s->follower = NULL; /* the parent's; its memory is the child's copy, leaked once */
}

#else /* !HAVE_HIREDIS */

int fci_follower_start(fc_store *s, fci_err *err)
{
    if (s->opts.follow == NULL)
        return 0;
    return fci_err_set(err, FC_EUNSUPPORTED, "follow: this build has no hiredis");
}

void fci_follower_stop(fc_store *s)
{
    (void)s;
}

void fci_follower_forget_child(fc_store *s)
{
    (void)s;
}

#endif
