/*
 * lane.c - the write lane's two robust locks (see lane.h).
 *
 * glibc's process-shared robust mutexes are used, as LMDB's MDB_USE_ROBUST
 * does, rather than a futex word of our own naming the holder: the kernel
 * walks a dying thread's robust list and hands the lock on with
 * EOWNERDEAD, whatever killed the holder, so no process polls /proc and no
 * pid can be reused under a lock. An uncontended lock and unlock are one
 * compare-and-swap each, with no system call.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "forkcache.h"
#include "shm/lane.h"
#include "util/clock.h"

static int init_robust(pthread_mutex_t *mu)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0)
        return FC_EIO;
    int rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(mu, &a);
    pthread_mutexattr_destroy(&a);
    return rc == 0 ? 0 : FC_EIO;
}

int fci_lane_init(fci_lane *l)
{
    memset(l, 0, sizeof *l);
    int rc = init_robust(&l->lock.mu);
    return rc != 0 ? rc : init_robust(&l->presence.mu);
}

int fci_lane_lock(fci_lane *l, int timeout_ms)
{
    int rc;
    if (timeout_ms <= 0) {
        rc = pthread_mutex_lock(&l->lock.mu);
    } else {
        struct timespec ts = fci_realtime_deadline(timeout_ms);
        rc = pthread_mutex_timedlock(&l->lock.mu, &ts);
    }
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD)
        return FCI_LANE_OWNER_DIED;
    return rc == ETIMEDOUT ? FC_ETIMEDOUT : FC_EIO;
}

int fci_lane_trylock(fci_lane *l)
{
    int rc = pthread_mutex_trylock(&l->lock.mu);
    if (rc == 0)
        return 0;
    if (rc == EOWNERDEAD)
        return FCI_LANE_OWNER_DIED;
    return rc == EBUSY ? FC_EAGAIN : FC_EIO;
}

void fci_lane_consistent(fci_lane *l)
{
    pthread_mutex_consistent(&l->lock.mu);
}

void fci_lane_unlock(fci_lane *l)
{
    pthread_mutex_unlock(&l->lock.mu);
}

int fci_lane_presence_take(fci_lane *l)
{
    int rc = pthread_mutex_lock(&l->presence.mu);
    if (rc == EOWNERDEAD) /* an earlier writer thread died holding it */
        rc = pthread_mutex_consistent(&l->presence.mu);
    return rc == 0 ? 0 : FC_EIO;
}

void fci_lane_presence_drop(fci_lane *l)
{
    pthread_mutex_unlock(&l->presence.mu);
}

/* Held means present. Taken by us means nobody held it: give it back.
 * Taken from a dead thread: mark it consistent so the next look says
 * "absent" without another EOWNERDEAD, and give it back. */
int fci_lane_writer_present(fci_lane *l)
{
    int rc = pthread_mutex_trylock(&l->presence.mu);
    if (rc == EBUSY)
        return 1;
    if (rc == EOWNERDEAD)
        pthread_mutex_consistent(&l->presence.mu);
    if (rc == 0 || rc == EOWNERDEAD)
        pthread_mutex_unlock(&l->presence.mu);
    return 0;
}
