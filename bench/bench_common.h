/*
 * bench_common.h - what the benchmarks share: a monotonic clock and the
 * Redis anchor (a private redis-server on a unix socket in a scratch
 * directory, without persistence; connections; one request/reply round
 * trip).
 */
#ifndef FC_BENCH_COMMON_H
#define FC_BENCH_COMMON_H

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

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int redis_connect(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends len bytes of a request and reads a reply of at least min bytes
 * ending in "\r\n" into reply (cap bytes). Returns its length or -1. */
static inline ssize_t redis_roundtrip(int fd, const char *req, size_t len, char *reply,
                                      size_t cap, size_t min)
{
    if (write(fd, req, len) != (ssize_t)len)
        return -1;
    size_t got = 0;
    while (got < min || got < 2 || memcmp(reply + got - 2, "\r\n", 2) != 0) {
        ssize_t r = read(fd, reply + got, cap - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        if (got == cap)
            return -1;
    }
    return (ssize_t)got;
}

/* Starts redis-server on a unix socket in dir (and on loopback TCP port
 * port, unless 0), without persistence; -1 when it is not installed or did
 * not come up within 5 s. */
static inline pid_t redis_start_port(const char *dir, char *sock, size_t cap, int port)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(sock, cap, "%s/redis.sock", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("redis-server", "redis-server", "--port", ports, "--bind", "127.0.0.1",
               "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir,
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        int fd = redis_connect(sock);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

static inline pid_t redis_start(const char *dir, char *sock, size_t cap)
{
    return redis_start_port(dir, sock, cap, 0);
}

static inline void redis_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* A scratch directory <base or /tmp>/fc-bench-<name>.XXXXXX (dir, 4096
 * bytes) and the store <dir>/store opened in it as the writer, with room
 * for forked producers (512 MiB arena, 64 queue slots). NULL on failure,
 * reported on stderr. */
static inline fc_store *bench_open(const char *base, const char *name, char *dir)
{
    char store_dir[4200];
    snprintf(dir, 4096, "%s/fc-bench-%s.XXXXXX", base ? base : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
        perror("bench: mkdtemp");
        return NULL;
    }
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);
    fc_options o;
    fc_options_init(&o);
    o.arena_size = (size_t)512 << 20;
    o.queue_slots = 64;
    fc_store *s;
    if (fc_open(store_dir, &o, &s) != 0) {
        fprintf(stderr, "bench %s: open: %s\n", name, fc_errmsg(NULL));
        return NULL;
    }
    return s;
}

/* The shared counter "ctr" of the increment benchmarks, -1 when absent. */
static inline int64_t bench_fc_counter(fc_store *s)
{
    fc_txn *t;
    char buf[32];
    size_t n = 0;
    int64_t v = -1;
    if (fc_txn_begin(s, &t) != 0)
        return -1;
    if (fc_get_copy(t, "ctr", 3, buf, sizeof buf - 1, &n) == 0) {
        buf[n] = '\0';
        v = strtoll(buf, NULL, 10);
    }
    fc_txn_end(t);
    return v;
}

/* Removes the scratch directory: 0, or -1 when rm failed. */
static inline int bench_remove(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
