/*
 * futex.c - the library's only futex system calls (see futex.h).
 */
#include "config.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/futex.h"

/* The result is ignored: a timeout, EAGAIN (the word already moved) and
 * EINTR all mean "look again", which every caller does. */
void fci_futex_wait(_Atomic uint32_t *word, uint32_t seen, int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

/* The increment comes first, so a waiter that has not slept yet finds the
 * word changed and does not sleep through this wake. */
void fci_futex_bump(_Atomic uint32_t *word)
{
    /* release: what was written before the bump is seen by the woken */
    atomic_fetch_add_explicit(word, 1, memory_order_release);
    fci_futex_wake_all(word);
}

void fci_futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}
