/*
 * bench_data.c - the bench's data sets: keys and values every engine
 * holds, the progress bar while one is built, and where each lives in the
 * bench directory.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "tool/tool.h"

#define PROGRESS_INTERVAL 0.1   /* seconds between redraws */
#define BAR_WIDTH 30

/* A web worker formats its keys too, and the bench times that with the
 * get, for every engine alike. By hand rather than snprintf, whose format
 * parsing took about 40 ns a get, a fifth of a mapped get from the cache:
 * the bench measures the engines, not libc. --keys stops at 2^40, 13
 * digits, so every key fits the 16. */
int bench_key(char *out, uint64_t i)
{
    /* two 8-digit halves side by side: two short chains of divisions
     * instead of one long one */
    uint32_t hi = (uint32_t)(i / 100000000u), lo = (uint32_t)(i % 100000000u);
    for (int k = 7; k >= 0; k--, hi /= 10, lo /= 10) {
        out[k] = (char)('0' + hi % 10);
        out[k + 8] = (char)('0' + lo % 10);
    }
    out[BENCH_KEY_LEN] = '\0';
    return BENCH_KEY_LEN;
}

int bench_verify_init(bench_verify *v, size_t value_size)
{
    v->value_size = value_size;
    v->pattern = malloc(value_size + BENCH_PATTERN_STRIDE);
    if (v->pattern == NULL)
        return -1;
    for (size_t k = 0; k < value_size + BENCH_PATTERN_STRIDE; k++)
        v->pattern[k] = (char)('a' + k % BENCH_PATTERN_STRIDE);
    return 0;
}

void bench_verify_free(bench_verify *v)
{
    free(v->pattern);
    v->pattern = NULL;
}

void bench_value(const bench_verify *v, uint64_t i, char *out)
{
    char key[BENCH_KEY_LEN + 1];
    bench_key(key, i);
    size_t head = v->value_size < BENCH_KEY_LEN ? v->value_size : BENCH_KEY_LEN;
    memcpy(out, key, head);
    if (v->value_size > head)
        memcpy(out + head, v->pattern + i % BENCH_PATTERN_STRIDE + head, v->value_size - head);
}

/* The cheap check touches the value's first bytes, as a server writing it
 * out would; the full one (every 64th get, untimed) compares every byte. */
int bench_value_ok(const bench_verify *v, uint64_t i, const char *key, const void *data,
                   size_t len, int full)
{
    if (len != v->value_size)
        return 0;
    size_t head = len < BENCH_KEY_LEN ? len : BENCH_KEY_LEN;
    if (memcmp(data, key, head) != 0)
        return 0;
    if (!full || len == head)
        return 1;
    return memcmp((const char *)data + head, v->pattern + i % BENCH_PATTERN_STRIDE + head,
                  len - head) == 0;
}

/* The warm-up's read of a value: enough to fault in every page of it. */
unsigned bench_touch(const void *data, size_t len)
{
    const volatile unsigned char *p = data;
    unsigned sum = 0;
    for (size_t o = 0; o < len; o += 512)
        sum += p[o];
    return len ? sum + p[len - 1] : sum;
}

/* ---- progress -------------------------------------------------------------- */

void bench_progress_start(bench_progress *p, const char *what, uint64_t total)
{
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->start = p->last = tool_now();
    p->tty = isatty(STDERR_FILENO);
}

static void draw(const bench_progress *p, uint64_t done, double now)
{
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    int fill = (int)(frac * BAR_WIDTH + 0.5);
    char bar[BAR_WIDTH + 1];
    for (int k = 0; k < BAR_WIDTH; k++)
        bar[k] = k < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    double secs = now - p->start;
    fprintf(stderr, "\rforkcache: bench: %s [%s] %3.0f%% %llu/%llu keys, %.0f keys/s  ", p->what,
            bar, frac * 100, (unsigned long long)done, (unsigned long long)p->total,
            secs > 0 ? (double)done / secs : 0.0);
    fflush(stderr);
}

void bench_progress_update(bench_progress *p, uint64_t done)
{
    if (!p->tty)
        return;
    double now = tool_now();
    if (now - p->last < PROGRESS_INTERVAL)
        return;
    p->last = now;
    draw(p, done, now);
}

void bench_progress_end(bench_progress *p, uint64_t done)
{
    double secs = tool_now() - p->start;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "forkcache: bench: %s: %llu keys in %.1f s\n", p->what,
            (unsigned long long)done, secs);
}

/* ---- data sets in the bench directory --------------------------------------- */

int bench_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (bench_rmtree(sub) != 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(path) == 0 ? rc : -1;
}

/* A data set appears under its final name only once complete, so an
 * interrupted build is never mistaken for a finished one. */
static int build(const bench_dataset *d, int (*fill)(const bench_dataset *, const char *))
{
    struct stat st;
    if (stat(d->path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.building", d->path);
    if (bench_rmtree(tmp) != 0) {
        tool_fail("bench", tmp, "cannot remove a leftover: %s", strerror(errno));
        return -1;
    }
    if (mkdir(tmp, 0755) != 0) {
        tool_fail("bench", tmp, "mkdir: %s", strerror(errno));
        return -1;
    }
    if (fill(d, tmp) != 0)
        return -1;
    if (rename(tmp, d->path) != 0) {
        tool_fail("bench", d->path, "rename from %s: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

int bench_dataset_ready(bench_dataset *d, const char *dir, const char *engine,
                        const char *label, const bench_shape *shape,
                        int (*fill)(const bench_dataset *d, const char *tmp))
{
    memset(d, 0, sizeof *d);
    d->shape = shape;
    snprintf(d->path, sizeof d->path, "%s/%s-%llu-%zu", dir, engine,
             (unsigned long long)shape->keys, shape->value_size);
    snprintf(d->name, sizeof d->name, "%s %s", label, strrchr(d->path, '/') + 1);
    if (build(d, fill) != 0)
        return -1;
    if (realpath(d->path, d->real) == NULL) {
        tool_fail("bench", d->path, "realpath: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int bench_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

ssize_t bench_read_some(int fd, void *buf, size_t cap)
{
    ssize_t n;
    do
        n = read(fd, buf, cap);
    while (n < 0 && errno == EINTR);
    return n;
}

int bench_io_all(int fd, void *buf, size_t len, char how)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = how == 'r' ? read(fd, p, len)
                    : how == 's' ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

uint64_t bench_dir_bytes(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    uint64_t total = 0;
    size_t sl = suffix ? strlen(suffix) : 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (suffix && (n < sl || strcmp(e->d_name + n - sl, suffix) != 0))
            continue;
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}
