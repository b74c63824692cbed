/*
 * metrics_http.c - `forkcache writer --metrics-port`: a thread that serves
 * GET /metrics (fc_stats_prometheus) over HTTP/1.0 for a Prometheus server.
 *
 * Bounded on purpose: one connection at a time, a request of at most 4 KiB
 * read within 2 s, the answer written within 2 s, then the connection is
 * closed. Every descriptor is close-on-exec; writes use MSG_NOSIGNAL so a
 * scraper that hangs up cannot raise SIGPIPE; the thread blocks the
 * signals the command stops on, so they reach the main thread.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool/tool.h"

#define REQ_MAX    4096
#define IO_MS      2000

struct tool_metrics {
    fc_store *store;
    int lfd;          /* listening socket */
    int stop[2];      /* a byte written to stop[1] ends the thread */
    pthread_t thread;
};

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for ev on fd until the deadline: 1 ready, 0 timed out or hung up. */
static int wait_fd(int fd, short ev, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = { fd, ev, 0 };
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && (p.revents & ev) != 0;
    }
}

/* The request head, up to its blank line: 0, or -1 when too long or slow. */
static int read_head(int fd, char *req, size_t cap, long deadline)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (!wait_fd(fd, POLLIN, deadline))
            return -1;
        ssize_t r = recv(fd, req + n, cap - 1 - n, 0);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
            return 0;
    }
    return -1;
}

static void write_all(int fd, const char *p, size_t n, long deadline)
{
    while (n > 0 && wait_fd(fd, POLLOUT, deadline)) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, int code, const char *reason, const char *type, const char *body,
                   size_t len, long deadline)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", code, reason, type, len);
    write_all(fd, head, (size_t)n, deadline);
    write_all(fd, body, len, deadline);
}

/* One connection: GET /metrics gets the text, anything else a 404 (or
 * 405); a request that is too long or too slow gets nothing. */
static void handle(tool_metrics *m, int fd)
{
    char req[REQ_MAX];
    long deadline = now_ms() + IO_MS;
    if (read_head(fd, req, sizeof req, deadline) != 0)
        return;
    static const char text[] = "text/plain; charset=utf-8";
    if (strncmp(req, "GET ", 4) != 0 && strncmp(req, "HEAD ", 5) != 0) {
        answer(fd, 405, "Method Not Allowed", text, "only GET\n", 9, deadline);
        return;
    }
    const char *path = strchr(req, ' ') + 1;
    size_t plen = strcspn(path, " ?\r\n");
    if (plen != 8 || strncmp(path, "/metrics", 8) != 0) {
        answer(fd, 404, "Not Found", text, "try /metrics\n", 13, deadline);
        return;
    }
    size_t len = 0;
    int rc;
    char *body = tool_prometheus_text(m->store, &len, &rc);
    if (body == NULL) {
        answer(fd, 500, "Internal Server Error", text, "no figures\n", 11, deadline);
        return;
    }
    answer(fd, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body,
           req[0] == 'H' ? 0 : len, deadline);
    free(body);
}

static void *serve(void *arg)
{
    tool_metrics *m = arg;
    for (;;) {
        struct pollfd p[2] = { { m->lfd, POLLIN, 0 }, { m->stop[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents != 0)
            break;
        int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;   /* a connection that went away, or out of descriptors */
        handle(m, fd);
        close(fd);
    }
    return NULL;
}

/* A listening socket on addr:port (IPv4), close-on-exec; *port gets the
 * port bound (port 0 takes a free one). */
static int listen_on(const char *addr, int *port, const char **why)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)*port);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
        *why = "not an IPv4 address";
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    socklen_t sl = sizeof sin;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) != 0) {
        *why = strerror(errno);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

int tool_metrics_start(fc_store *s, const char *addr, int *port, tool_metrics **out,
                       const char **why)
{
    tool_metrics *m = calloc(1, sizeof *m);
    if (m == NULL) {
        *why = "out of memory";
        return -1;
    }
    m->store = s;
    m->lfd = listen_on(addr, port, why);
    if (m->lfd < 0 || pipe2(m->stop, O_CLOEXEC) != 0) {
        if (m->lfd >= 0) {
            *why = strerror(errno);
            close(m->lfd);
        }
        free(m);
        return -1;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);  /* the thread inherits the mask */
    int rc = pthread_create(&m->thread, NULL, serve, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        *why = strerror(rc);
        close(m->lfd);
        close(m->stop[0]);
        close(m->stop[1]);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void tool_metrics_stop(tool_metrics *m)
{
    if (m == NULL)
        return;
    char b = 1;
    while (write(m->stop[1], &b, 1) < 0 && errno == EINTR)
        ;
    pthread_join(m->thread, NULL);
    close(m->lfd);
    close(m->stop[0]);
    close(m->stop[1]);
    free(m);
}
