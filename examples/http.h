/*
 * http.h - the HTTP/1.1 layer of examples/prefork_http: request parsing,
 * answers, one process's poll() loop over its connections, and the
 * listening socket. It knows nothing of forkcache: each whole request is
 * handed to the loop's handler, which answers it with http_send_*.
 */
#ifndef FC_EXAMPLES_HTTP_H
#define FC_EXAMPLES_HTTP_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 8192     /* request line + headers, bytes */
#define HTTP_HEAD_TIMEOUT_MS 10000 /* default deadline of a request head */

/* One connection's buffers and state. */
typedef struct http_conn {
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
    int64_t head_ms;        /* when the request head being awaited began: the
                               accept, or the first byte after the previous
                               request; 0 while idle between requests */
} http_conn;

/* The methods the handlers tell apart; any other token is HTTP_OTHER. */
enum { HTTP_OTHER, HTTP_GET, HTTP_HEAD, HTTP_PUT, HTTP_DELETE };

/* One parsed request; pointers point into the connection's input. */
typedef struct http_request {
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
} http_request;

/* An answer: status line and headers in one iovec, the body (borrowed, for
 * a GET straight from the store's mapping) in a second one. */
typedef struct http_reply {
    int status;
    const char *extra;      /* more header lines, each ending in CRLF, or NULL */
    const void *body;
    size_t len;
    int text;               /* 1: the body is a text/plain message */
} http_reply;

/* Answers one whole request (its body is in rq->body). */
typedef void (*http_handler)(void *ctx, http_conn *c, const http_request *rq);

/* One process's connections. Set the fields above `conns`, then
 * http_loop_init. */
typedef struct http_loop {
    const char *name;       /* the program, for log lines */
    int lfd;                /* the listening socket, shared by every worker */
    size_t max_body;
    int max_conns;          /* when full, the oldest idle (else the oldest
                               unfinished head) is closed for a new one */
    int idle_s;
    int head_timeout_ms;    /* a request head must be whole this soon */
    http_handler handler;
    void *ctx;              /* the handler's first argument */
    http_conn *conns;
    int nconns;
    struct pollfd *pfds;
    int reserve_fd;         /* kept open to accept-and-close on EMFILE */
    int64_t accept_resume_ms; /* out of descriptors: listener unpolled until */
    int64_t accept_log_ms;  /* the last accept4 error line, at most 1 per 10 s */
    unsigned long accept_errors; /* accept4 errors since that line */
} http_loop;

int64_t http_now_ms(void);
int http_grow(char **buf, size_t *cap, size_t need);
long http_url_decode(const char *in, size_t len, char *out);

void http_send_reply(http_conn *c, const http_request *rq, const http_reply *r, int keep);
void http_send_text(http_conn *c, const http_request *rq, int status, const char *text);
void http_send_body(http_conn *c, const http_request *rq, const void *body, size_t len);
void http_send_not_allowed(http_conn *c, const http_request *rq, const char *allow);

int http_loop_init(http_loop *l);
int http_loop_turn(http_loop *l, const sigset_t *wait_mask);
void http_loop_free(http_loop *l);

int http_open_listener(const char *name, const char *bind_addr, int port);
int http_bound_port(int fd);

#endif
