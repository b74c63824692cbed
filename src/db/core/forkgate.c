/*
 * forkgate.c - forkcache's own threads stand still while a process forks.
 *
 * fork() copies only the calling thread. Whatever another thread held at
 * that instant stays held forever in the child: a store's mutex, or the
 * allocator's lock when the thread was inside malloc. glibc's malloc
 * protects itself around fork, but not every allocator does (GCC 12's
 * AddressSanitizer runtime does not, and a child forked mid-malloc hangs),
 * and a copied half-done step of the writer's threads is never what a
 * child should see. So the writer's background and drain threads work
 * inside a gate: fc_prefork closes it and waits until each of them is
 * asleep (in fci_gate_wait) or parked at its entrance, and the fork
 * happens with all of them standing still.
 *
 * A thread enters the gate only while it holds no store mutex, so a
 * parked thread never blocks one that is still working, and a working
 * thread waits only in fci_gate_wait: closing always finishes. The state
 * below is process-wide and fork-safe: the child resets it, since none of
 * the parent's threads exist there.
 */
#include "config.h"

#include <stdatomic.h>

#include "db/core/forkgate.h"

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_working;          /* members inside, not asleep; under gate_mu */
static _Atomic int gate_closers;  /* forks under way; written under gate_mu */
static _Thread_local int gate_member;

/* relaxed: a hint for fci_gate_yield; enter() reads it again under gate_mu */
static int closed_hint(void)
{
    return atomic_load_explicit(&gate_closers, memory_order_relaxed) != 0;
}

static void enter(void)
{
    pthread_mutex_lock(&gate_mu);
    while (atomic_load_explicit(&gate_closers, memory_order_relaxed) != 0)
        pthread_cond_wait(&gate_cv, &gate_mu);
    gate_working++;
    pthread_mutex_unlock(&gate_mu);
}

/* enter() when the gate is open, without waiting; 0 when it is closed. */
static int try_enter(void)
{
    pthread_mutex_lock(&gate_mu);
    int open = atomic_load_explicit(&gate_closers, memory_order_relaxed) == 0;
    gate_working += open;
    pthread_mutex_unlock(&gate_mu);
    return open;
}

static void leave(void)
{
    pthread_mutex_lock(&gate_mu);
    if (--gate_working == 0)
        pthread_cond_broadcast(&gate_cv); /* a closer may be waiting for this */
    pthread_mutex_unlock(&gate_mu);
}

/* Counted before pthread_create, not by the thread itself: a thread's
 * start and its exit allocate in the runtime, and a fork in between
 * would copy the allocator's lock held. */
int fci_gate_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    enter();
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc != 0)
        leave();
    return rc;
}

void fci_gate_adopt(void)
{
    gate_member = 1;
}

void fci_gate_reap(pthread_t t)
{
    pthread_join(t, NULL);
    leave();
}

void fci_gate_idle_begin(void)
{
    if (gate_member)
        leave();
}

void fci_gate_idle_end(void)
{
    if (gate_member)
        enter();
}

void fci_gate_yield(void)
{
    if (gate_member && closed_hint()) {
        leave();
        enter();
    }
}

int fci_gate_wait(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *until)
{
    fci_gate_idle_begin();
    int rc = until ? pthread_cond_timedwait(cv, mu, until) : pthread_cond_wait(cv, mu);
    if (gate_member && !try_enter()) {
        /* Never parked under mu: this thread could block a working one
         * that needs mu, and the fork would wait for ever. */
        pthread_mutex_unlock(mu);
        enter();
        pthread_mutex_lock(mu);
    }
    return rc;
}

void fci_gate_close(void)
{
    pthread_mutex_lock(&gate_mu);
    atomic_fetch_add_explicit(&gate_closers, 1, memory_order_relaxed); /* see closed_hint */
    while (gate_working > 0)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

void fci_gate_open(void)
{
    pthread_mutex_lock(&gate_mu);
    atomic_fetch_sub_explicit(&gate_closers, 1, memory_order_relaxed); /* see closed_hint */
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* The child has only the forking thread, which is no member: nobody is
 * inside (the parent's members are not copied, and it reaps them), and
 * the mutex and condition variable start afresh. */
void fci_gate_reset_child(void)
{
    pthread_mutex_init(&gate_mu, NULL);
    pthread_cond_init(&gate_cv, NULL);
    gate_working = 0;
    atomic_store_explicit(&gate_closers, 0, memory_order_relaxed);
    gate_member = 0;
}

int fci_gate_working(void)
{
    pthread_mutex_lock(&gate_mu);
    int n = gate_working;
    pthread_mutex_unlock(&gate_mu);
    return n;
}
