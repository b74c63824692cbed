/*
 * compute.h - the deliberately expensive computation behind prefork_http's
 * /compute/<n> route, and the counters its workers share.
 *
 * The computation is a chain of COMPUTE_ROUNDS 64-bit mixing steps seeded
 * with n: deterministic, sleep-free CPU work (about 30 ms on a 2020s x86
 * core), so that a cache in front of it is worth having and a stampede
 * (every worker computing the same key at once) is plain to see.
 */
#ifndef FC_EXAMPLES_COMPUTE_H
#define FC_EXAMPLES_COMPUTE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define COMPUTE_ROUNDS (1u << 23)   /* mixing steps per computation */
#define COMPUTE_MAX_WORKERS 256     /* prefork_http --workers at most */
#define COMPUTE_BODY_MAX 64         /* "compute(N) = HEX\n" fits */
#define COMPUTE_STATS_MAX (512 + COMPUTE_MAX_WORKERS * 12) /* /stats text */

/*
 * Counters shared by the parent and every worker: one MAP_SHARED anonymous
 * mapping made by the parent before it forks, so each process updates the
 * same memory. Only counters and pids, each read and written on its own:
 * no ordering between them is needed (relaxed), and a reader of /stats
 * sees each value as some process last left it.
 */
typedef struct compute_stats {
    _Atomic uint64_t requests;     /* /compute requests answered or failed */
    _Atomic uint64_t hits;         /* served from the store at the first read */
    _Atomic uint64_t waits;        /* misses served by another process's computation */
    _Atomic uint64_t started;      /* computations begun (a killed one counts) */
    _Atomic uint64_t completed;    /* computations that ran to the end */
    _Atomic uint64_t errors;       /* requests answered 500 or 503 */
    _Atomic int32_t computing[COMPUTE_MAX_WORKERS]; /* worker i's pid while it computes, else 0 */
} compute_stats;

/* Processes share this page: it must fit one, and its atomics must be
 * lock-free (a lock inside a libc atomic would be private to a process). */
_Static_assert(sizeof(compute_stats) <= 4096, "compute_stats fits one page");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "compute_stats needs lock-free atomics to be shared between processes");

/* The shared page, zeroed; NULL (errno set) when mmap fails. */
compute_stats *compute_stats_map(void);

/* The result of the computation for n. pad_ms > 0 then keeps the CPU busy
 * (no sleep) until pad_ms milliseconds have passed since the start, which
 * lengthens the computation without changing its result. */
uint64_t compute_value(uint64_t n, int pad_ms);

/* The body /compute/<n> answers: "compute(N) = 16 hex digits\n" in buf
 * (COMPUTE_BODY_MAX bytes). Returns its length. */
size_t compute_format(char *buf, uint64_t n, uint64_t value);

/* Parses the decimal n of /compute/<n>: digits only, at most UINT64_MAX.
 * 0 with *n, or -1. */
int compute_parse(const char *s, size_t len, uint64_t *n);

/* /stats as one line of JSON in buf (COMPUTE_STATS_MAX bytes); its length. */
size_t compute_stats_format(const compute_stats *st, int workers, const char *mode,
                            uint64_t ttl_s, char *buf);

#endif /* FC_EXAMPLES_COMPUTE_H */
