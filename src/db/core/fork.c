/*
 * fork.c - forking a process that uses forkcache.
 *
 * The per-process table cache runs on liburcu's bp flavour (urcu-bp), whose
 * readers register themselves on first use: any thread of a worker,
 * including threads the application made, may read without calling into
 * liburcu first. liburcu keeps threads of its own (call_rcu, which unmaps
 * evicted tables, and the hash table's resize worker) and locks that those
 * threads hold during a grace period. fork() copies only the calling
 * thread, so liburcu must be told: before the fork its threads are paused
 * at a safe point and its locks taken; after it the parent resumes them
 * and the child rebuilds them and forgets the reader registrations of
 * threads it does not have. Without that, a child's first grace period can
 * wait forever. The hooks free memory (call_rcu callbacks call free()), so
 * liburcu advises against pthread_atfork for them: we call them from
 * fc_fork, or the caller does through fc_prefork/fc_postfork_*.
 *
 * urcu_pid is process-wide mutable state: the pid of the process whose
 * liburcu state is known sound. It is fork-safe by construction: a child
 * inherits its parent's value, which is not the child's pid, until
 * fc_postfork_child stores the child's own.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include <urcu-bp.h>

#include "forkcache.h"
#include "db/core/forkgate.h"
#include "db/core/fork.h"
#include "util/proc.h"

static _Atomic pid_t urcu_pid; /* 0: liburcu not used by forkcache yet */

/* relaxed: every thread of a process stores the same value, and the
 * value is only compared with this process's pid */
void fci_urcu_mark(void)
{
    pid_t none = 0;
    atomic_compare_exchange_strong_explicit(&urcu_pid, &none, fci_getpid(),
                                            memory_order_relaxed, memory_order_relaxed);
}

int fci_urcu_usable(void)
{
    pid_t p = atomic_load_explicit(&urcu_pid, memory_order_relaxed); /* see mark */
    return p == 0 || p == fci_getpid();
}

int fc_prefork(void)
{
    if (!fci_urcu_usable())
        return FC_EINVAL; /* this process came from a plain fork() */
    if (urcu_bp_read_ongoing())
        return FC_EBUSY;  /* a transaction open in this thread would wait for itself */
    fci_gate_close();         /* the writers' threads stand still (forkgate.c) */
    call_rcu_before_fork();   /* call_rcu threads finish their grace period, pause */
    urcu_bp_before_fork();    /* then the grace-period locks and the resize worker */
    return 0;
}

void fc_postfork_parent(void)
{
    urcu_bp_after_fork_parent();
    call_rcu_after_fork_parent();
    fci_gate_open();
}

void fc_postfork_child(void)
{
    fci_gate_reset_child();
    urcu_bp_after_fork_child();   /* only this thread's registration is left */
    call_rcu_after_fork_child();  /* a fresh call_rcu thread takes the callbacks */
    atomic_store_explicit(&urcu_pid, getpid(), memory_order_relaxed); /* see mark */
}

pid_t fc_fork(void)
{
    int rc = fc_prefork();
    if (rc != 0) {
        errno = rc == FC_EBUSY ? EDEADLK : EINVAL;
        return -1;
    }
    pid_t pid = fork();
    int saved = errno;
    if (pid == 0)
        fc_postfork_child();
    else
        fc_postfork_parent();
    errno = saved;
    return pid;
}
