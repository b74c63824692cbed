/*
 * prefork_http.c - a small pre-fork HTTP/1.1 server over a forkcache store.
 *
 * The parent opens the store (it becomes the store's writer), binds one
 * listening socket and forks the workers. Each worker runs its own poll()
 * loop: it accepts from the shared socket, reads requests (keep-alive and
 * pipelining), and answers GET /k/<key> by handing the kernel the value
 * straight from the shared mapping (sendmsg with a header iovec and a value
 * iovec, inside a read transaction). PUT and DELETE from a worker go
 * through the store's write queue to the parent's writer threads. The
 * parent only supervises: it replaces workers that die and stops them all
 * on SIGTERM or SIGINT. `prefork_http --help` is the manual.
 */
#define _GNU_SOURCE /* accept4, ppoll, sigtimedwait, MSG_NOSIGNAL */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

#define HEAD_MAX 8192                 /* request line + headers, bytes */
#define IN_INITIAL 16384              /* a connection's first input buffer */
#define DEFAULT_MAX_BODY (1u << 20)   /* largest PUT body */
#define LIMIT_MAX_BODY (4u << 20)     /* the write queue's entries must hold it */
#define DEFAULT_MAX_CONNS 1024        /* connections per worker */
#define DEFAULT_IDLE_S 60             /* idle keep-alive connections close */
#define LINGER_MS 2000                /* reading what follows a final answer */
#define STOP_GRACE_MS 5000            /* workers get this long after SIGTERM */
#define RESPAWN_DELAY_MS 1000         /* a worker that died young waits this */
#define ACCEPT_BURST 64               /* accepts per wake-up at most */

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
} server_config;

/* ---- connections ---------------------------------------------------------- */

typedef struct conn {
    int fd;
    char *in;               /* bytes received, [in_off, in_len) not consumed */
    size_t in_off, in_len, in_cap;
    size_t in_want;         /* bytes the request at in_off needs in all */
    char *out;              /* answer bytes the kernel did not take yet */
    size_t out_off, out_len, out_cap;
    int eof;                /* the peer shut its sending side */
    int close_after;        /* close once out is drained */
    int lingering;          /* answered and shut our side: discard input */
    int dead;               /* close at the end of this event */
    int continued;          /* "100 Continue" sent for the request at in_off */
    int64_t last_ms;        /* last activity, for the idle and linger timeouts */
} conn;

/* One parsed request; pointers point into the connection's input. */
enum { M_OTHER, M_GET, M_HEAD, M_PUT, M_DELETE };

typedef struct request {
    int method;
    const char *target;
    size_t target_len;
    int http11;
    int keep_alive;
    int expect_continue;
    int chunked;            /* any Transfer-Encoding: not implemented */
    int has_length;
    uint64_t content_length;
    size_t head_len;        /* request line and headers, with the blank line */
    const char *body;
} request;

enum {
    PARSE_OK = 0,
    PARSE_MORE = 1,         /* wait for more bytes */
    PARSE_BAD = -1,         /* 400 */
    PARSE_HEAD_TOO_BIG = -2,/* 400 as well: headers past HEAD_MAX */
    PARSE_BODY_TOO_BIG = -3,/* 413 */
    PARSE_CHUNKED = -4      /* 501 */
};

typedef struct worker {
    fc_store *store;
    const server_config *cfg;
    int lfd;
    conn *conns;
    int nconns;
    struct pollfd *pfds;
    char *copy_buf;         /* --mode copy: the private copy of a value */
    size_t copy_cap;
    char key[HEAD_MAX];     /* a decoded key (never longer than the target) */
    char date[64];          /* the Date header, rebuilt once a second */
    time_t date_at;
} worker;

/* A route: a path prefix and what answers it. To add an endpoint (issue 10
 * plans /compute/<n>), write a handler and add one row to `routes`. */
typedef void (*route_fn)(worker *w, conn *c, const request *rq, const char *rest,
                         size_t rest_len);
typedef struct route {
    const char *prefix;
    route_fn fn;
} route;

static void route_key(worker *w, conn *c, const request *rq, const char *rest, size_t len);

static const route routes[] = {
    { "/k/", route_key },
};

/* Set by the workers' SIGTERM/SIGINT handler, read by their poll loop. The
 * parent never sets it (it takes signals with sigtimedwait), so a fresh
 * worker always starts with 0: fork-safe. */
static volatile sig_atomic_t worker_stop;

/* ---- small helpers -------------------------------------------------------- */

/* Monotonic milliseconds: timeouts must not jump with the wall clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Case-insensitive compare of a byte run with a NUL-terminated lowercase
 * word: header names and tokens are case-insensitive in HTTP. */
static int same_word(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != word[i])
            return 0;
    }
    return 1;
}

/* The value of one hex digit of a %XX escape, or -1. */
static int hex_digit(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the %XX escapes of a path segment into out (room for len bytes:
 * decoding never lengthens). Returns the decoded length, or -1 for a '%'
 * not followed by two hex digits, so a key can hold any byte. */
static long url_decode(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        if (len - i < 3)
            return -1;
        int hi = hex_digit((unsigned char)in[i + 1]), lo = hex_digit((unsigned char)in[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    return (long)o;
}

/* Grows *buf to hold at least need bytes; 0 or -1 (out of memory). */
static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* ---- request parsing -------------------------------------------------------- */

/* The next line of p[0, n) starting at *pos, without its CRLF (a bare LF is
 * accepted too). Returns 0 when no full line is there yet. */
static int next_line(const char *p, size_t n, size_t *pos, const char **line, size_t *len)
{
    const char *nl = memchr(p + *pos, '\n', n - *pos);
    if (nl == NULL)
        return 0;
    *line = p + *pos;
    *len = (size_t)(nl - *line);
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    *pos = (size_t)(nl - p) + 1;
    return 1;
}

/* tchar of RFC 9110: what a method or header name may be made of. */
static int is_tchar(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* The methods the routes tell apart; any other token is M_OTHER (405). */
static int method_of(const char *m, size_t len)
{
    static const struct { const char *name; int id; } known[] = {
        { "GET", M_GET }, { "HEAD", M_HEAD }, { "PUT", M_PUT }, { "DELETE", M_DELETE },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, m, len) == 0)
            return known[i].id;
    return M_OTHER;
}

/* "METHOD SP target SP HTTP/1.x": anything else is a bad request. */
static int parse_request_line(const char *line, size_t len, request *rq)
{
    const char *sp1 = memchr(line, ' ', len);
    if (sp1 == NULL || sp1 == line)
        return PARSE_BAD;
    for (const char *q = line; q < sp1; q++)
        if (!is_tchar((unsigned char)*q))
            return PARSE_BAD;
    rq->method = method_of(line, (size_t)(sp1 - line));
    const char *t = sp1 + 1, *end = line + len;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (sp2 == NULL || sp2 == t || *t != '/')
        return PARSE_BAD;
    for (const char *q = t; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return PARSE_BAD;
    rq->target = t;
    rq->target_len = (size_t)(sp2 - t);
    size_t vlen = (size_t)(end - sp2 - 1);
    if (vlen == 8 && memcmp(sp2 + 1, "HTTP/1.1", 8) == 0)
        rq->http11 = 1;
    else if (!(vlen == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0))
        return PARSE_BAD;
    return PARSE_OK;
}

/* Content-Length: digits only; a second, different value is an attack on
 * framing (request smuggling) and refused. */
static int parse_length(const char *v, size_t len, request *rq)
{
    if (len == 0)
        return PARSE_BAD;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return PARSE_BAD;
        if (n > (UINT64_MAX - 9) / 10)
            return PARSE_BODY_TOO_BIG;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    if (rq->has_length && rq->content_length != n)
        return PARSE_BAD;
    rq->has_length = 1;
    rq->content_length = n;
    return PARSE_OK;
}

/* Connection: a comma-separated list of tokens; close and keep-alive count. */
static void parse_connection(const char *v, size_t len, int *close, int *keep)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (same_word(v + a, b - a, "close"))
            *close = 1;
        else if (same_word(v + a, b - a, "keep-alive"))
            *keep = 1;
        i = j + 1;
    }
}

/* One "name: value" line; only the headers that frame or steer a request
 * are looked at. */
static int parse_header(const char *line, size_t len, request *rq, int *close, int *keep)
{
    const char *colon = memchr(line, ':', len);
    if (colon == NULL || colon == line)
        return PARSE_BAD; /* also refuses obsolete line folding */
    size_t nlen = (size_t)(colon - line);
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)line[i]))
            return PARSE_BAD;
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (same_word(line, nlen, "content-length"))
        return parse_length(v, vlen, rq);
    if (same_word(line, nlen, "transfer-encoding"))
        rq->chunked = 1;
    else if (same_word(line, nlen, "connection"))
        parse_connection(v, vlen, close, keep);
    else if (same_word(line, nlen, "expect") && same_word(v, vlen, "100-continue"))
        rq->expect_continue = 1;
    return PARSE_OK;
}

/* Parses the request at the start of p[0, n). PARSE_OK when it is whole
 * (head and body), PARSE_MORE with rq->head_len set once the head is whole
 * but the body is not, or a PARSE_* error. Empty lines before a request
 * line are skipped (RFC 9112 2.2) but count against HEAD_MAX. */
static int parse_request(const char *p, size_t n, size_t max_body, request *rq)
{
    memset(rq, 0, sizeof *rq);
    size_t pos = 0, len;
    const char *line;
    int got_line = 0, close = 0, keep = 0, rc;
    for (;;) {
        if (!next_line(p, n > HEAD_MAX ? HEAD_MAX : n, &pos, &line, &len))
            return n >= HEAD_MAX ? PARSE_HEAD_TOO_BIG : PARSE_MORE;
        if (!got_line) {
            if (len == 0)
                continue;
            if ((rc = parse_request_line(line, len, rq)) != PARSE_OK)
                return rc;
            got_line = 1;
        } else if (len == 0) {
            break;
        } else if ((rc = parse_header(line, len, rq, &close, &keep)) != PARSE_OK) {
            return rc;
        }
    }
    rq->head_len = pos;
    rq->keep_alive = !close && (rq->http11 || keep);
    if (rq->chunked)
        return PARSE_CHUNKED;
    if (rq->content_length > max_body)
        return PARSE_BODY_TOO_BIG;
    if (n - pos < rq->content_length)
        return PARSE_MORE;
    rq->body = p + pos;
    return PARSE_OK;
}

/* ---- sending answers -------------------------------------------------------- */

/* Keeps the bytes of iov past the first `sent` for later (POLLOUT). */
static void keep_unsent(conn *c, const struct iovec *iov, int n, size_t sent)
{
    for (int i = 0; i < n && !c->dead; i++) {
        size_t len = iov[i].iov_len;
        if (sent >= len) {
            sent -= len;
            continue;
        }
        size_t rest = len - sent;
        if (grow(&c->out, &c->out_cap, c->out_len + rest) != 0) {
            c->dead = 1;
            return;
        }
        memcpy(c->out + c->out_len, (const char *)iov[i].iov_base + sent, rest);
        c->out_len += rest;
        sent = 0;
    }
}

/* Hands iov to the kernel. Whatever it does not take at once is copied to
 * the connection's buffer, so the caller may end its read transaction as
 * soon as this returns: a slow client never pins a version of the store. */
static void conn_send(conn *c, struct iovec *iov, int n)
{
    size_t sent = 0;
    if (c->out_off == c->out_len) {
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)n;
        ssize_t r;
        do
            r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            c->dead = 1;
            return;
        }
        sent = r > 0 ? (size_t)r : 0;
    }
    keep_unsent(c, iov, n, sent);
}

/* Writes what the kernel did not take before; called on POLLOUT. */
static void flush_out(conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = 1;
            return;
        }
        c->out_off += (size_t)r;
    }
    c->out_off = c->out_len = 0;
}

/* The reason phrase of each status this server sends. */
static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* The Date header HTTP/1.1 asks for, formatted once a second. */
static const char *http_date(worker *w)
{
    time_t now = time(NULL);
    if (now != w->date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_at = now;
    }
    return w->date;
}

/* An answer: status line and headers in one iovec, the body (borrowed, for
 * a GET straight from the store's mapping) in a second one. With keep == 0
 * the connection closes once the answer is out. A HEAD gets the headers of
 * the GET without its body. */
typedef struct reply {
    int status;
    const char *extra;      /* more header lines, each ending in CRLF, or NULL */
    const void *body;
    size_t len;
    int text;               /* 1: the body is a text/plain message */
} reply;

/* Formats the head of r and sends it with r's body (see reply). */
static void send_reply(worker *w, conn *c, const request *rq, const reply *r, int keep)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     r->status, reason(r->status), http_date(w), r->len,
                     r->len == 0 ? ""
                     : r->text   ? "Content-Type: text/plain\r\n"
                                 : "Content-Type: application/octet-stream\r\n",
                     !keep ? "Connection: close\r\n"
                           : (rq != NULL && !rq->http11 ? "Connection: keep-alive\r\n" : ""),
                     r->extra ? r->extra : "");
    struct iovec iov[2] = { { head, (size_t)n }, { (void *)r->body, r->len } };
    int with_body = r->len > 0 && (rq == NULL || rq->method != M_HEAD);
    conn_send(c, iov, with_body ? 2 : 1);
    if (!keep)
        c->close_after = 1;
}

/* A short text answer (errors, 204). */
static void send_text(worker *w, conn *c, const request *rq, int status, const char *text)
{
    reply r = { status, NULL, text, text ? strlen(text) : 0, 1 };
    send_reply(w, c, rq, &r, rq != NULL && rq->keep_alive);
}

/* ---- the /k/<key> route ----------------------------------------------------- */

/* Copies the value into the worker's private buffer (--mode copy), growing
 * it when the store says it is too small. */
static int get_copied(worker *w, fc_txn *t, size_t klen, fc_val *v)
{
    size_t vlen = 0;
    int rc = fc_get_copy(t, w->key, klen, w->copy_buf, w->copy_cap, &vlen);
    if (rc == FC_ELIMIT) {
        if (grow(&w->copy_buf, &w->copy_cap, vlen) != 0)
            return FC_ENOMEM;
        rc = fc_get_copy(t, w->key, klen, w->copy_buf, w->copy_cap, &vlen);
    }
    v->data = w->copy_buf;
    v->size = vlen;
    return rc;
}

/* GET and HEAD: one read transaction per request. In mmap mode the body
 * iovec points into the shared mapping and the transaction ends only once
 * the kernel has the bytes (or conn_send copied the rest); in copy mode the
 * value is copied out first, as a design without shared memory would. */
static void key_get(worker *w, conn *c, const request *rq, size_t klen)
{
    fc_txn *t;
    fc_val v;
    int rc = fc_txn_begin(w->store, &t);
    if (rc != 0) {
        fprintf(stderr, "prefork_http[%d]: txn: %s\n", (int)getpid(), fc_errmsg(w->store));
        send_text(w, c, rq, 500, "cannot read the store\n");
        return;
    }
    rc = w->cfg->copy_mode ? get_copied(w, t, klen, &v) : fc_get(t, w->key, klen, &v);
    if (rc == 0) {
        reply r = { 200, NULL, v.data, v.size, 0 };
        send_reply(w, c, rq, &r, rq->keep_alive);
    } else if (rc == FC_ENOTFOUND) {
        send_text(w, c, rq, 404, "not found\n");
    } else {
        fprintf(stderr, "prefork_http[%d]: get: %s\n", (int)getpid(), fc_errmsg(w->store));
        send_text(w, c, rq, 500, "cannot read the store\n");
    }
    fc_txn_end(t);
}

/* PUT and DELETE: fc_put/fc_del from a worker go through the write queue
 * and return once the parent's writer applied them, so a 204 means every
 * worker's next read sees the change. */
static void key_write(worker *w, conn *c, const request *rq, size_t klen)
{
    int rc = rq->method == M_PUT
                 ? fc_put(w->store, w->key, klen, rq->body, (size_t)rq->content_length)
                 : fc_del(w->store, w->key, klen);
    if (rc == 0)
        send_text(w, c, rq, 204, NULL);
    else if (rc == FC_ETOOBIG)
        send_text(w, c, rq, 413, "key or value too large\n");
    else if (rc == FC_ETIMEDOUT || rc == FC_EAGAIN)
        send_text(w, c, rq, 503, "the writer is busy\n");
    else {
        fprintf(stderr, "prefork_http[%d]: write: %s\n", (int)getpid(), fc_errmsg(w->store));
        send_text(w, c, rq, 500, "write failed\n");
    }
}

/* /k/<key>: decodes the key, then reads, writes or refuses the method. */
static void route_key(worker *w, conn *c, const request *rq, const char *rest, size_t len)
{
    long klen = url_decode(rest, len, w->key);
    if (klen < 0) {
        send_text(w, c, rq, 400, "bad percent-encoding in the key\n");
        return;
    }
    if (klen == 0) {
        send_text(w, c, rq, 400, "empty key\n");
        return;
    }
    switch (rq->method) {
    case M_GET:
    case M_HEAD:
        key_get(w, c, rq, (size_t)klen);
        break;
    case M_PUT:
    case M_DELETE:
        key_write(w, c, rq, (size_t)klen);
        break;
    default: {
        static const char text[] = "method not allowed\n";
        reply r = { 405, "Allow: GET, HEAD, PUT, DELETE\r\n", text, sizeof text - 1, 1 };
        send_reply(w, c, rq, &r, rq->keep_alive);
    }
    }
}

/* Finds the route for the request's path (the target without its query). */
static void dispatch(worker *w, conn *c, const request *rq)
{
    const char *q = memchr(rq->target, '?', rq->target_len);
    size_t plen = q ? (size_t)(q - rq->target) : rq->target_len;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        size_t n = strlen(routes[i].prefix);
        if (plen >= n && memcmp(rq->target, routes[i].prefix, n) == 0) {
            routes[i].fn(w, c, rq, rq->target + n, plen - n);
            return;
        }
    }
    send_text(w, c, rq, 404, "no such route\n");
}

/* ---- one connection's life --------------------------------------------------- */

/* The answer to a request that cannot be framed; the connection closes. */
static void reject(worker *w, conn *c, int pr)
{
    int status = pr == PARSE_BODY_TOO_BIG ? 413 : pr == PARSE_CHUNKED ? 501 : 400;
    const char *text = pr == PARSE_HEAD_TOO_BIG ? "request head too large\n"
                       : pr == PARSE_BODY_TOO_BIG ? "body too large\n"
                       : pr == PARSE_CHUNKED      ? "transfer codings are not supported\n"
                                                  : "malformed request\n";
    reply r = { status, NULL, text, strlen(text), 1 };
    send_reply(w, c, NULL, &r, 0);
}

/* A client that sent "Expect: 100-continue" waits for this before the body. */
static void send_continue(conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = { (void *)line, sizeof line - 1 };
    conn_send(c, &iov, 1);
    c->continued = 1;
}

/* Answers the buffered requests in order. A request is answered only when
 * the previous answer is wholly out, so pipelined answers keep their order
 * and a client that does not read is not buffered for without bound. */
static void serve_buffered(worker *w, conn *c)
{
    while (!c->dead && !c->close_after && c->out_off == c->out_len) {
        request rq;
        size_t avail = c->in_len - c->in_off;
        int pr = parse_request(c->in + c->in_off, avail, w->cfg->max_body, &rq);
        if (pr == PARSE_MORE) {
            /* content_length is checked against max_body only once the
             * head is whole */
            c->in_want = rq.head_len > 0 ? rq.head_len + (size_t)rq.content_length : 0;
            if (rq.head_len > 0 && rq.expect_continue && !c->continued)
                send_continue(c);
            return;
        }
        if (pr != PARSE_OK) {
            reject(w, c, pr);
            return;
        }
        dispatch(w, c, &rq);
        c->in_off += rq.head_len + (size_t)rq.content_length;
        c->in_want = 0;
        c->continued = 0;
    }
}

/* Reads what the socket has into the input buffer, making room for the
 * request being received (up to its head and body). */
static void read_in(conn *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    size_t need = c->in_want > IN_INITIAL ? c->in_want : IN_INITIAL;
    if (grow(&c->in, &c->in_cap, need) != 0) {
        c->dead = 1;
        return;
    }
    if (c->in_len == c->in_cap)
        return; /* full: the parser decides (head too large) */
    ssize_t r;
    do
        r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        c->in_len += (size_t)r;
    else if (r == 0)
        c->eof = 1;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
        c->dead = 1;
}

/* After a final answer on a connection that closes: shut our side and read
 * (discarding) what the client still sends, so that closing does not send
 * a reset that could destroy the answer before the client read it. */
static void linger_step(conn *c)
{
    char sink[4096];
    ssize_t r;
    do
        r = read(c->fd, sink, sizeof sink);
    while (r < 0 && errno == EINTR);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        c->dead = 1;
}

/* Starts the lingering close described above once the answer is out. */
static void start_linger(conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    c->last_ms = now_ms();
    if (c->eof)
        c->dead = 1;
}

/* Everything one poll wake-up means for one connection. */
static void conn_event(worker *w, conn *c, short revents)
{
    if (revents & POLLNVAL) {
        c->dead = 1;
        return;
    }
    if (c->lingering) {
        linger_step(c); /* its clock is not reset: lingering is bounded */
        return;
    }
    c->last_ms = now_ms();
    if (revents & (POLLOUT | POLLERR | POLLHUP))
        flush_out(c);
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->dead && c->out_off == c->out_len)
        read_in(c);
    serve_buffered(w, c);
    if (c->dead || c->out_off != c->out_len)
        return;
    if (c->close_after)
        start_linger(c);
    else if (c->eof)
        c->dead = 1; /* the peer is done and every whole request was answered */
}

/* ---- the worker ----------------------------------------------------------- */

static void conn_free(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
}

/* Takes new connections from the shared socket while this worker has room.
 * Every worker polls the socket; those that lose the race get EAGAIN. */
static void accept_some(worker *w)
{
    for (int i = 0; i < ACCEPT_BURST && w->nconns < w->cfg->max_conns; i++) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                fprintf(stderr, "prefork_http[%d]: accept4: %s\n", (int)getpid(),
                        strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = &w->conns[w->nconns++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->last_ms = now_ms();
    }
}

/* What to wait for on each connection, and on the listening socket. */
static int fill_pollfds(worker *w)
{
    int n = 0;
    for (int i = 0; i < w->nconns; i++) {
        conn *c = &w->conns[i];
        short ev = POLLIN;
        if (!c->lingering && c->out_off != c->out_len)
            ev = POLLOUT;
        w->pfds[n++] = (struct pollfd){ c->fd, ev, 0 };
    }
    if (w->nconns < w->cfg->max_conns)
        w->pfds[n++] = (struct pollfd){ w->lfd, POLLIN, 0 };
    return n;
}

/* Closes dead, idle and finished-lingering connections. */
static void sweep(worker *w)
{
    int64_t now = now_ms();
    for (int i = 0; i < w->nconns;) {
        conn *c = &w->conns[i];
        int64_t idle = now - c->last_ms;
        if (c->dead || (c->lingering && idle > LINGER_MS) ||
            (!c->lingering && idle > (int64_t)w->cfg->idle_s * 1000)) {
            conn_free(c);
            w->conns[i] = w->conns[--w->nconns];
            continue;
        }
        i++;
    }
}

/* One turn of the loop: wait (signals are let in only inside ppoll, so a
 * SIGTERM cannot slip between the check of worker_stop and the wait), then
 * handle what happened. */
static int worker_turn(worker *w, const sigset_t *wait_mask)
{
    int n = fill_pollfds(w);
    struct timespec tick = { 1, 0 };
    int ready = ppoll(w->pfds, (nfds_t)n, &tick, wait_mask);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    int listening = n > w->nconns;
    int nc = w->nconns;
    for (int i = 0; i < nc; i++)
        if (w->pfds[i].revents)
            conn_event(w, &w->conns[i], w->pfds[i].revents);
    if (listening && (w->pfds[n - 1].revents & POLLIN))
        accept_some(w);
    sweep(w);
    return 0;
}

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

/* A worker process: its share of the store, its loop, a clean exit. */
static int worker_main(fc_store *s, const server_config *cfg, int lfd, pid_t parent)
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
    memset(&w, 0, sizeof w);
    w.store = s;
    w.cfg = cfg;
    w.lfd = lfd;
    w.conns = calloc((size_t)cfg->max_conns, sizeof *w.conns);
    w.pfds = calloc((size_t)cfg->max_conns + 1, sizeof *w.pfds);
    int status = w.conns && w.pfds ? 0 : 72;
    while (status == 0 && !worker_stop)
        if (worker_turn(&w, &wait_mask) != 0) {
            fprintf(stderr, "prefork_http[%d]: ppoll: %s\n", (int)getpid(), strerror(errno));
            status = 73;
        }
    for (int i = 0; i < w.nconns; i++)
        conn_free(&w.conns[i]);
    free(w.conns);
    free(w.pfds);
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
} server;

/* Binds the listening socket (close-on-exec) and prints where it listens:
 * with --port 0 the kernel picks the port, and this line is how a script
 * learns it. */
static int open_listener(const server_config *cfg)
{
    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int rc = getaddrinfo(cfg->bind, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "prefork_http: --bind %s: %s\n", cfg->bind, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        fprintf(stderr, "prefork_http: listening on %s port %d: %s\n", cfg->bind, cfg->port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The port the kernel gave the socket (for --port 0). */
static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Forks worker i; the child never returns from worker_main. A failed fork
 * is retried later, like a worker that died. */
static int spawn(server *srv, int i)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "prefork_http: fork: %s\n", strerror(errno));
        srv->slots[i].respawn_ms = now_ms() + RESPAWN_DELAY_MS;
        return -1;
    }
    if (pid == 0)
        _exit(worker_main(srv->store, &srv->cfg, srv->lfd, srv->self));
    srv->slots[i].pid = pid;
    srv->slots[i].started_ms = now_ms();
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
            int64_t now = now_ms(), lived = now - sl->started_ms;
            char how[64];
            describe_exit(how, sizeof how, status);
            if (!stopping)
                fprintf(stderr, "prefork_http: worker %d (pid %d) %s after %.1f s; replacing it\n",
                        i, (int)pid, how, (double)lived / 1000);
            sl->pid = 0;
            sl->respawn_ms = lived < 1000 ? now + RESPAWN_DELAY_MS : now;
        }
    }
}

/* Starts the workers whose time has come; returns ms until the next one
 * is due (-1: none waiting). */
static int64_t respawn_due(server *srv)
{
    int64_t next = -1, now = now_ms();
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
    int64_t deadline = now_ms() + STOP_GRACE_MS;
    while (live_workers(srv) > 0 && now_ms() < deadline) {
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

/* Opens the store as its writer. The write queue's entries must hold the
 * largest PUT a worker accepts (key + body + batch framing). */
static int open_store(server *srv)
{
    fc_options o;
    fc_options_init(&o);
    size_t entry = srv->cfg.max_body + HEAD_MAX + 64;
    if (entry > o.queue_entry_size)
        o.queue_entry_size = entry;
    if (srv->cfg.arena_file)
        o.arena_path = "";
    int rc = fc_open(srv->cfg.dir, &o, &srv->store);
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
    if ((srv->lfd = open_listener(&srv->cfg)) < 0)
        return 1;
    if (open_store(srv) != 0)
        return 1;
    srv->slots = calloc((size_t)srv->cfg.workers, sizeof *srv->slots);
    if (srv->slots == NULL)
        return 1;
    for (int i = 0; i < srv->cfg.workers; i++)
        spawn(srv, i);
    printf("prefork_http: listening on %s port %d, %d workers, mode %s, store %s, pid %d\n",
           srv->cfg.bind, bound_port(srv->lfd), srv->cfg.workers,
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

static void help(void)
{
    fputs(
        "NAME\n"
        "    prefork_http - a pre-fork HTTP/1.1 server whose workers share one forkcache store\n"
        "\n"
        "SYNOPSIS\n"
        "    prefork_http --dir DIR [--port P] [--workers N] [--mode mmap|copy]\n"
        "                 [--bind ADDR] [--max-body BYTES] [--max-conns N]\n"
        "                 [--idle-timeout SECONDS] [--arena-file]\n"
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
        "OPTIONS\n"
        "    --dir DIR             the store directory (required)\n"
        "    --port P              TCP port; 0 lets the kernel pick one (default 8080)\n"
        "    --bind ADDR           numeric IPv4 or IPv6 address (default 127.0.0.1)\n"
        "    --workers N           worker processes, 1..256 (default 2)\n"
        "    --mode mmap|copy      zero-copy answers, or copy each value first (default mmap)\n"
        "    --max-body BYTES      largest PUT body (default 1048576, at most 4194304)\n"
        "    --max-conns N         connections per worker (default 1024)\n"
        "    --idle-timeout S      close connections idle this long (default 60)\n"
        "    --arena-file          keep the arena in DIR/forkcache.arena, so that\n"
        "                          `forkcache get|put|scan DIR ...` attach while it runs\n"
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
        "    wrk -t2 -c32 -d10s http://127.0.0.1:8080/k/0000000000000042\n",
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
       O_ARENA_FILE, O_HELP };

static const struct option long_opts[] = {
    { "dir", required_argument, NULL, O_DIR },
    { "port", required_argument, NULL, O_PORT },
    { "bind", required_argument, NULL, O_BIND },
    { "workers", required_argument, NULL, O_WORKERS },
    { "mode", required_argument, NULL, O_MODE },
    { "max-body", required_argument, NULL, O_MAX_BODY },
    { "max-conns", required_argument, NULL, O_MAX_CONNS },
    { "idle-timeout", required_argument, NULL, O_IDLE },
    { "arena-file", no_argument, NULL, O_ARENA_FILE },
    { "help", no_argument, NULL, O_HELP },
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
    case O_MODE:
        if (strcmp(arg, "mmap") != 0 && strcmp(arg, "copy") != 0)
            return usage_error("--mode must be mmap or copy", arg);
        cfg->copy_mode = strcmp(arg, "copy") == 0;
        break;
    default: return usage_error("unknown option", NULL);
    }
    return rc;
}

/* Command line, then run(): see help() for the whole contract. */
int main(int argc, char **argv)
{
    server srv;
    memset(&srv, 0, sizeof srv);
    server_config *cfg = &srv.cfg;
    *cfg = (server_config){ .bind = "127.0.0.1", .port = 8080, .workers = 2,
                            .max_body = DEFAULT_MAX_BODY, .max_conns = DEFAULT_MAX_CONNS,
                            .idle_s = DEFAULT_IDLE_S };
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
    if (cfg->dir == NULL)
        return usage_error("--dir DIR is required", NULL);
    return run(&srv);
}
