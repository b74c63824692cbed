/*
 * compute.c - the expensive computation of prefork_http's /compute/<n>
 * route and its shared counters (see compute.h).
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#include "compute.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* MAP_SHARED: a forked worker's increments land in the parent's page too;
 * anonymous memory is zeroed, which is every counter's start. No fd, so
 * nothing to close on exec. */
compute_stats *compute_stats_map(void)
{
    void *p = mmap(NULL, sizeof(compute_stats), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* One step of the chain: xor-shifts and odd multipliers, so every bit of
 * the input reaches every bit of the output and no step can be skipped or
 * vectorised (each needs the one before). */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93u;
    x ^= x >> 29;
    x *= 0x9e3779b97f4a7c15u;
    x ^= x >> 32;
    return x;
}

/* Monotonic milliseconds: the padding must not stretch or shrink when the
 * wall clock is set. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Busy work until pad_ms have passed since start_ms: the CPU stays busy, as
 * in a real computation, and the result does not depend on how long. */
static void pad_until(int64_t start_ms, int pad_ms)
{
    volatile uint64_t sink = 0;
    while (mono_ms() - start_ms < pad_ms)
        for (int i = 0; i < 10000; i++)
            sink = mix(sink + (uint64_t)i);
}

/* The chain of compute.h: COMPUTE_ROUNDS steps from n, then the padding. */
uint64_t compute_value(uint64_t n, int pad_ms)
{
    int64_t start = pad_ms > 0 ? mono_ms() : 0;
    uint64_t x = n;
    for (uint32_t i = 0; i < COMPUTE_ROUNDS; i++)
        x = mix(x + i);
    if (pad_ms > 0)
        pad_until(start, pad_ms);
    return x;
}

/* The body is text so that curl, wrk scripts and people read it as is. */
size_t compute_format(char *buf, uint64_t n, uint64_t value)
{
    int len = snprintf(buf, COMPUTE_BODY_MAX, "compute(%" PRIu64 ") = %016" PRIx64 "\n", n, value);
    return len > 0 ? (size_t)len : 0;
}

/* Strict digits, so "/compute/7x" is a 400 rather than another key; leading
 * zeros name the same n (and the same store key, "compute/7"). */
int compute_parse(const char *s, size_t len, uint64_t *n)
{
    if (len == 0 || len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *n = v;
    return 0;
}

/* Appends the pids of the workers computing right now, as a JSON array. */
static size_t format_computing(const compute_stats *st, int workers, char *buf, size_t cap)
{
    size_t len = 0;
    int first = 1;
    for (int i = 0; i < workers && i < COMPUTE_MAX_WORKERS && len < cap; i++) {
        /* relaxed: a snapshot of who computes, for people and tests */
        int32_t pid = atomic_load_explicit(&st->computing[i], memory_order_relaxed);
        if (pid == 0)
            continue;
        int n = snprintf(buf + len, cap - len, "%s%d", first ? "" : ",", (int)pid);
        if (n < 0)
            break;
        len += (size_t)n;
        first = 0;
    }
    return len < cap ? len : cap - 1;
}

/* One counter, read on its own (relaxed: see compute_stats). */
static unsigned long long get(const _Atomic uint64_t *c)
{
    return (unsigned long long)atomic_load_explicit(c, memory_order_relaxed);
}

/* JSON, so that a script can pick a field with sed or jq. */
size_t compute_stats_format(const compute_stats *st, int workers, const char *mode,
                            uint64_t ttl_s, char *buf)
{
    char pids[COMPUTE_MAX_WORKERS * 12];
    pids[format_computing(st, workers, pids, sizeof pids)] = '\0';
    int len = snprintf(buf, COMPUTE_STATS_MAX,
                       "{\"mode\": \"%s\", \"ttl_s\": %llu, \"requests\": %llu, \"hits\": %llu, "
                       "\"waits\": %llu, \"computations\": %llu, \"completed\": %llu, "
                       "\"errors\": %llu, \"computing\": [%s]}\n",
                       mode, (unsigned long long)ttl_s, get(&st->requests), get(&st->hits),
                       get(&st->waits), get(&st->started), get(&st->completed), get(&st->errors),
                       pids);
    return len > 0 && len < COMPUTE_STATS_MAX ? (size_t)len : 0;
}
