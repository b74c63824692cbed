/*
 * forkgate.h - forkcache's own threads stand still while a process forks.
 */
#ifndef FC_DB_FORKGATE_H
#define FC_DB_FORKGATE_H

#include <pthread.h>
#include <time.h>

/* pthread_create for a writer's background or drain thread, which counts
 * as working from before it exists until fci_gate_reap has joined it,
 * except while it sleeps in fci_gate_wait or between idle_begin and
 * idle_end. The thread calls fci_gate_adopt first. The caller holds no
 * store mutex (it may wait for a fork). Returns pthread_create's code. */
int fci_gate_spawn(pthread_t *t, void *(*fn)(void *), void *arg);
void fci_gate_adopt(void);
/* pthread_join, then the thread stops counting: its exit (the runtime
 * frees its thread caches) is over before a fork may go. */
void fci_gate_reap(pthread_t t);
/* Around a sleep that is not a fci_gate_wait (a futex wait): the thread
 * does not count as working in between. idle_end may park it, so the
 * caller holds no store mutex there. */
void fci_gate_idle_begin(void);
void fci_gate_idle_end(void);
/* A point in long work (a compaction) where a waiting fork may go first;
 * the caller holds no store mutex. Costs one atomic load otherwise. */
void fci_gate_yield(void);
/* pthread_cond_wait, or pthread_cond_timedwait with `until`, for a thread
 * that may be in the gate: it does not count as working while it sleeps.
 * Woken while a fork is under way, it releases mu until the fork is done
 * and takes it again, so callers must look at their condition again, as
 * after any wake-up. */
int fci_gate_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *until);

/* fork.c: closes the gate and waits until every member sleeps or is
 * parked; reopens it in the parent; resets it in the child. */
void fci_gate_close(void);
void fci_gate_open(void);
void fci_gate_reset_child(void);
/* Members working right now (for tests). */
int fci_gate_working(void);

#endif
