/*
 * clock.h - the clocks the library reads, as plain numbers.
 *
 * CLOCK_MONOTONIC measures waits and ages (it never jumps); CLOCK_REALTIME
 * dates entries (TTLs, the arena's creation) and is the clock
 * pthread_cond_timedwait counts its deadline in by default.
 */
#ifndef FC_UTIL_CLOCK_H
#define FC_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on clock id. */
static inline uint64_t fci_clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t fci_mono_ns(void)
{
    return fci_clock_ns(CLOCK_MONOTONIC);
}

static inline uint64_t fci_mono_ms(void)
{
    return fci_mono_ns() / 1000000u;
}

/* Milliseconds since the epoch. */
static inline uint64_t fci_realtime_ms(void)
{
    return fci_clock_ns(CLOCK_REALTIME) / 1000000u;
}

/* The CLOCK_REALTIME instant ms milliseconds from now, as the absolute
 * deadline pthread_cond_timedwait takes. */
static inline struct timespec fci_realtime_deadline(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
