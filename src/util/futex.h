/*
 * futex.h - waiting on a 32-bit word of a shared mapping, across processes.
 *
 * The calls use no FUTEX_PRIVATE_FLAG, so a bump in one process wakes a
 * waiter in another that maps the same memory. Every wait is bounded: the
 * caller checks whether the process it waits for is still alive between
 * waits, since a dead process never bumps.
 */
#ifndef FC_UTIL_FUTEX_H
#define FC_UTIL_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *word equals seen, at most ms milliseconds; a wake, a
 * signal or a changed word returns early (callers re-check). */
void fci_futex_wait(_Atomic uint32_t *word, uint32_t seen, int ms);

/* Adds one to *word (release) and wakes every waiter in every process. */
void fci_futex_bump(_Atomic uint32_t *word);

/* Wakes every waiter on *word in every process, for a caller that
 * changed the word itself (with the memory order it needs). */
void fci_futex_wake_all(_Atomic uint32_t *word);

#endif
