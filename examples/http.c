/*
 * http.c - the HTTP/1.1 side of examples/prefork_http: parsing requests
 * (keep-alive, pipelining, Expect: 100-continue), sending answers without
 * copying their bodies when the kernel takes them at once, and one
 * process's poll() loop over its connections on a shared listening socket.
 * What each request means is the handler's business (prefork_http.c).
 */
#define _GNU_SOURCE /* accept4, ppoll, MSG_NOSIGNAL */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define IN_INITIAL 16384              /* a connection's first input buffer */
#define LINGER_MS 2000                /* reading what follows a final answer */
#define ACCEPT_BURST 64               /* accepts per wake-up at most */
#define ACCEPT_PAUSE_MS 100           /* out of descriptors: wait this long */
#define ACCEPT_LOG_MS 10000           /* one accept4 error line per 10 s */

enum {
    PARSE_OK = 0,
    PARSE_MORE = 1,         /* wait for more bytes */
    PARSE_BAD = -1,         /* 400 */
    PARSE_HEAD_TOO_BIG = -2,/* 400 as well: headers past HTTP_HEAD_MAX */
    PARSE_BODY_TOO_BIG = -3,/* 413 */
    PARSE_CHUNKED = -4      /* 501 */
};

/* ---- small helpers -------------------------------------------------------- */

/* Monotonic milliseconds: timeouts must not jump with the wall clock. */
int64_t http_now_ms(void)
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
long http_url_decode(const char *in, size_t len, char *out)
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
int http_grow(char **buf, size_t *cap, size_t need)
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

/* The methods the routes tell apart; any other token is HTTP_OTHER (405). */
static int method_of(const char *m, size_t len)
{
    static const struct { const char *name; int id; } known[] = {
        { "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "PUT", HTTP_PUT }, { "DELETE", HTTP_DELETE },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && memcmp(known[i].name, m, len) == 0)
            return known[i].id;
    return HTTP_OTHER;
}

/* "METHOD SP target SP HTTP/1.x": anything else is a bad request. */
static int parse_request_line(const char *line, size_t len, http_request *rq)
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
static int parse_length(const char *v, size_t len, http_request *rq)
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
static int parse_header(const char *line, size_t len, http_request *rq, int *close, int *keep)
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
 * line are skipped (RFC 9112 2.2) but count against HTTP_HEAD_MAX. */
static int parse_request(const char *p, size_t n, size_t max_body, http_request *rq)
{
    memset(rq, 0, sizeof *rq);
    size_t pos = 0, len;
    const char *line;
    int got_line = 0, close = 0, keep = 0, rc;
    for (;;) {
        if (!next_line(p, n > HTTP_HEAD_MAX ? HTTP_HEAD_MAX : n, &pos, &line, &len))
            return n >= HTTP_HEAD_MAX ? PARSE_HEAD_TOO_BIG : PARSE_MORE;
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
static void keep_unsent(http_conn *c, const struct iovec *iov, int n, size_t sent)
{
    for (int i = 0; i < n && !c->dead; i++) {
        size_t len = iov[i].iov_len;
        if (sent >= len) {
            sent -= len;
            continue;
        }
        size_t rest = len - sent;
        if (http_grow(&c->out, &c->out_cap, c->out_len + rest) != 0) {
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
static void conn_send(http_conn *c, struct iovec *iov, int n)
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
static void flush_out(http_conn *c)
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
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* The Date header HTTP/1.1 asks for, formatted once a second. Each
 * worker is its own process, so this cache is each worker's own. */
static const char *http_date(void)
{
    static char date[64];
    static time_t date_at;
    time_t now = time(NULL);
    if (now != date_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_at = now;
    }
    return date;
}

/* Formats the head of r and sends it with r's body (see http_reply). With
 * keep == 0 the connection closes once the answer is out. A HEAD gets the
 * headers of the GET without its body. */
void http_send_reply(http_conn *c, const http_request *rq, const http_reply *r, int keep)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     r->status, reason(r->status), http_date(), r->len,
                     r->len == 0 ? ""
                     : r->text   ? "Content-Type: text/plain\r\n"
                                 : "Content-Type: application/octet-stream\r\n",
                     !keep ? "Connection: close\r\n"
                           : (rq != NULL && !rq->http11 ? "Connection: keep-alive\r\n" : ""),
                     r->extra ? r->extra : "");
    struct iovec iov[2] = { { head, (size_t)n }, { (void *)r->body, r->len } };
    int with_body = r->len > 0 && (rq == NULL || rq->method != HTTP_HEAD);
    conn_send(c, iov, with_body ? 2 : 1);
    if (!keep)
        c->close_after = 1;
}

/* A short text answer (errors, 204). */
void http_send_text(http_conn *c, const http_request *rq, int status, const char *text)
{
    http_reply r = { status, NULL, text, text ? strlen(text) : 0, 1 };
    http_send_reply(c, rq, &r, rq != NULL && rq->keep_alive);
}

/* 405 with the Allow header line given (ending in CRLF). */
void http_send_not_allowed(http_conn *c, const http_request *rq, const char *allow)
{
    static const char text[] = "method not allowed\n";
    http_reply r = { 405, allow, text, sizeof text - 1, 1 };
    http_send_reply(c, rq, &r, rq->keep_alive);
}

/* A 200 with a text body (computed answers, /stats). */
void http_send_body(http_conn *c, const http_request *rq, const void *body, size_t len)
{
    http_reply r = { 200, NULL, body, len, 1 };
    http_send_reply(c, rq, &r, rq->keep_alive);
}

/* ---- one connection's life --------------------------------------------------- */

/* The answer to a request that cannot be framed; the connection closes. */
static void reject(http_conn *c, int pr)
{
    int status = pr == PARSE_BODY_TOO_BIG ? 413 : pr == PARSE_CHUNKED ? 501 : 400;
    const char *text = pr == PARSE_HEAD_TOO_BIG ? "request head too large\n"
                       : pr == PARSE_BODY_TOO_BIG ? "body too large\n"
                       : pr == PARSE_CHUNKED      ? "transfer codings are not supported\n"
                                                  : "malformed request\n";
    http_reply r = { status, NULL, text, strlen(text), 1 };
    http_send_reply(c, NULL, &r, 0);
}

/* A client that sent "Expect: 100-continue" waits for this before the body. */
static void send_continue(http_conn *c)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = { (void *)line, sizeof line - 1 };
    conn_send(c, &iov, 1);
    c->continued = 1;
}

/* Keeps head_ms, the start of the head being awaited: set by the first
 * byte of a head (a new connection has it from its accept), cleared once
 * the head is whole or nothing is buffered (idle between requests). Each
 * byte resets the idle clock, not this one, so a head trickled a byte at a
 * time still meets its deadline. */
static void note_head(http_conn *c, size_t avail, int head_partial)
{
    if (!head_partial)
        c->head_ms = 0;
    else if (avail > 0 && c->head_ms == 0)
        c->head_ms = http_now_ms();
}

/* Answers the buffered requests in order. A request is answered only when
 * the previous answer is wholly out, so pipelined answers keep their order
 * and a client that does not read is not buffered for without bound. */
static void serve_buffered(http_loop *l, http_conn *c)
{
    while (!c->dead && !c->close_after && c->out_off == c->out_len) {
        http_request rq;
        size_t avail = c->in_len - c->in_off;
        int pr = parse_request(c->in + c->in_off, avail, l->max_body, &rq);
        note_head(c, avail, pr == PARSE_MORE && rq.head_len == 0);
        if (pr == PARSE_MORE) {
            /* content_length is checked against max_body only once the
             * head is whole */
            c->in_want = rq.head_len > 0 ? rq.head_len + (size_t)rq.content_length : 0;
            if (rq.head_len > 0 && rq.expect_continue && !c->continued)
                send_continue(c);
            return;
        }
        if (pr != PARSE_OK) {
            reject(c, pr);
            return;
        }
        l->handler(l->ctx, c, &rq);
        c->in_off += rq.head_len + (size_t)rq.content_length;
        c->in_want = 0;
        c->continued = 0;
    }
}

/* Reads what the socket has into the input buffer, making room for the
 * request being received (up to its head and body). */
static void read_in(http_conn *c)
{
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    size_t need = c->in_want > IN_INITIAL ? c->in_want : IN_INITIAL;
    if (http_grow(&c->in, &c->in_cap, need) != 0) {
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
static void linger_step(http_conn *c)
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
static void start_linger(http_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->lingering = 1;
    c->last_ms = http_now_ms();
    if (c->eof)
        c->dead = 1;
}

/* Everything one poll wake-up means for one connection. */
static void conn_event(http_loop *l, http_conn *c, short revents)
{
    if (revents & POLLNVAL) {
        c->dead = 1;
        return;
    }
    if (c->lingering) {
        linger_step(c); /* its clock is not reset: lingering is bounded */
        return;
    }
    c->last_ms = http_now_ms();
    if (revents & (POLLOUT | POLLERR | POLLHUP))
        flush_out(c);
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->dead && c->out_off == c->out_len)
        read_in(c);
    serve_buffered(l, c);
    if (c->dead || c->out_off != c->out_len)
        return;
    if (c->close_after)
        start_linger(c);
    else if (c->eof)
        c->dead = 1; /* the peer is done and every whole request was answered */
}

/* ---- the loop ------------------------------------------------------------- */

/* A connection's socket and buffers go when it is done. */
static void conn_free(http_conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
}

/* Whether c may be closed to make room for a new connection, and how
 * much it is worth keeping: 0 = not closable (an answer or a body is on
 * its way), 1 = answered and lingering, 2 = idle between requests, 3 = an
 * unfinished head. */
static int close_rank(const http_conn *c)
{
    if (c->dead || c->lingering)
        return 1;
    if (c->out_off != c->out_len || c->in_want != 0 || c->close_after)
        return 0;
    return c->head_ms == 0 ? 2 : 3;
}

/* The connection to close when the table is full: the lowest rank, and
 * within a rank the oldest (idle: least recently active; head: the
 * earliest begun, so a fresh connection is the last to go). -1: none. */
static int victim(const http_loop *l)
{
    int best = -1, best_rank = 4;
    int64_t best_age = 0;
    for (int i = 0; i < l->nconns; i++) {
        const http_conn *c = &l->conns[i];
        int rank = close_rank(c);
        int64_t age = rank == 3 ? c->head_ms : c->last_ms;
        if (rank != 0 && (rank < best_rank || (rank == best_rank && age < best_age))) {
            best = i;
            best_rank = rank;
            best_age = age;
        }
    }
    return best;
}

/* Frees table entry i (swapping the last one in). */
static void drop_conn(http_loop *l, int i)
{
    conn_free(&l->conns[i]);
    l->conns[i] = l->conns[--l->nconns];
}

/* Out of descriptors (EMFILE, ENFILE): the pending connection would make
 * the listener readable again at once, so a worker that only returned
 * would spin. Refuse it instead (the reserve descriptor, given up for a
 * moment, makes room to accept and close it) and leave the listener alone
 * for ACCEPT_PAUSE_MS. */
static void out_of_fds(http_loop *l)
{
    if (l->reserve_fd >= 0) {
        close(l->reserve_fd);
        int fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0)
            close(fd);
        l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    l->accept_resume_ms = http_now_ms() + ACCEPT_PAUSE_MS;
}

/* An accept4 error line, at most one per ACCEPT_LOG_MS, saying how many
 * errors went unlogged before it: the same error a million times says
 * nothing more and fills the disk. */
static void accept_error(http_loop *l, int err)
{
    int64_t now = http_now_ms();
    if (l->accept_log_ms != 0 && now - l->accept_log_ms < ACCEPT_LOG_MS) {
        l->accept_errors++;
        return;
    }
    fprintf(stderr, "%s[%d]: accept4: %s (%lu more not logged since the last such line)\n",
            l->name, (int)getpid(), strerror(err), l->accept_errors);
    l->accept_log_ms = now;
    l->accept_errors = 0;
}

/* Takes new connections from the shared socket. A full table makes room
 * by closing its least valuable connection (victim), so connections that
 * trickle their heads cannot keep new ones out. Every worker polls the
 * socket; those that lose the race get EAGAIN. */
static void accept_some(http_loop *l)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int v = l->nconns < l->max_conns ? -1 : victim(l);
        if (l->nconns == l->max_conns && v < 0)
            return;
        int fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED)
                return;
            accept_error(l, err);
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                out_of_fds(l);
            return;
        }
        if (v >= 0)
            drop_conn(l, v);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        http_conn *c = &l->conns[l->nconns++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->last_ms = c->head_ms = http_now_ms();
    }
}

/* Whether to poll the listening socket: not while paused for lack of
 * descriptors, nor while the table is full of connections none of which
 * may be closed for a new one. */
static int want_accept(const http_loop *l)
{
    if (l->accept_resume_ms != 0 && http_now_ms() < l->accept_resume_ms)
        return 0;
    return l->nconns < l->max_conns || victim(l) >= 0;
}

/* What to wait for on each connection, and on the listening socket. */
static int fill_pollfds(http_loop *l)
{
    int n = 0;
    for (int i = 0; i < l->nconns; i++) {
        http_conn *c = &l->conns[i];
        short ev = POLLIN;
        if (!c->lingering && c->out_off != c->out_len)
            ev = POLLOUT;
        l->pfds[n++] = (struct pollfd){ c->fd, ev, 0 };
    }
    if (want_accept(l))
        l->pfds[n++] = (struct pollfd){ l->lfd, POLLIN, 0 };
    return n;
}

/* A head not whole by its deadline: 408, and the connection closes once
 * the answer is out (lingering, itself bounded). */
static void head_late(http_conn *c)
{
    static const char text[] = "request head not received in time\n";
    http_reply r = { 408, NULL, text, sizeof text - 1, 1 };
    c->head_ms = 0;
    http_send_reply(c, NULL, &r, 0);
    if (!c->dead && c->out_off == c->out_len)
        start_linger(c);
}

/* Closes dead, idle and finished-lingering connections, and answers heads
 * past their deadline. */
static void sweep(http_loop *l)
{
    int64_t now = http_now_ms();
    for (int i = 0; i < l->nconns;) {
        http_conn *c = &l->conns[i];
        int64_t idle = now - c->last_ms;
        if (!c->dead && !c->lingering && c->head_ms != 0 && c->out_off == c->out_len &&
            now - c->head_ms > l->head_timeout_ms)
            head_late(c);
        if (c->dead || (c->lingering && idle > LINGER_MS) ||
            (!c->lingering && idle > (int64_t)l->idle_s * 1000)) {
            drop_conn(l, i);
            continue;
        }
        i++;
    }
}

/* One turn of the loop: wait (signals are let in only inside ppoll, so a
 * SIGTERM cannot slip between the caller's check of its stop flag and the
 * wait), then handle what happened. */
int http_loop_turn(http_loop *l, const sigset_t *wait_mask)
{
    int n = fill_pollfds(l);
    struct timespec tick = { 1, 0 };
    if (l->accept_resume_ms != 0) {   /* wake when the pause ends */
        int64_t left = l->accept_resume_ms - http_now_ms();
        if (left <= 0)
            l->accept_resume_ms = 0;
        else if (left < 1000)
            tick = (struct timespec){ 0, (long)left * 1000000L };
    }
    int ready = ppoll(l->pfds, (nfds_t)n, &tick, wait_mask);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    int listening = n > l->nconns;
    int nc = l->nconns;
    for (int i = 0; i < nc; i++)
        if (l->pfds[i].revents)
            conn_event(l, &l->conns[i], l->pfds[i].revents);
    if (listening && (l->pfds[n - 1].revents & POLLIN))
        accept_some(l);
    sweep(l);
    return 0;
}

/* The connection table and its pollfds (one more, for the listening
 * socket) are allocated once: a worker never grows past max_conns. */
int http_loop_init(http_loop *l)
{
    l->nconns = 0;
    if (l->head_timeout_ms <= 0)
        l->head_timeout_ms = HTTP_HEAD_TIMEOUT_MS;
    l->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    l->conns = calloc((size_t)l->max_conns, sizeof *l->conns);
    l->pfds = calloc((size_t)l->max_conns + 1, sizeof *l->pfds);
    return l->conns && l->pfds ? 0 : -1;
}

/* A stopping worker closes its connections (the listening socket is the
 * caller's). */
void http_loop_free(http_loop *l)
{
    for (int i = 0; i < l->nconns; i++)
        conn_free(&l->conns[i]);
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    l->reserve_fd = -1;
    free(l->conns);
    free(l->pfds);
    l->conns = NULL;
    l->pfds = NULL;
    l->nconns = 0;
}

/* ---- the listening socket ------------------------------------------------- */

/* Binds the listening socket (close-on-exec, non-blocking) before the
 * workers fork, so they all accept from it; name prefixes the log lines. */
int http_open_listener(const char *name, const char *bind_addr, int port_no)
{
    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char port[16];
    snprintf(port, sizeof port, "%d", port_no);
    int rc = getaddrinfo(bind_addr, port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "%s: --bind %s: %s\n", name, bind_addr, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        fprintf(stderr, "%s: listening on %s port %d: %s\n", name, bind_addr, port_no,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The port the kernel gave the socket: with --port 0 it picks one, and the
 * start line that prints it is how a script learns it. */
int http_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
