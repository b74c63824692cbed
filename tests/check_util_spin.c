/*
 * check_util_spin.c - the read transactions' lock: it excludes, a waiter
 * gets it once the holder lets go (even a holder that sleeps meanwhile),
 * and a child of fork takes it after fci_spin_init even when a thread of
 * its parent held it at the fork.
 */
#include "config.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "util/spin.h"

#define THREADS 4
#define ROUNDS 100000

static fci_spin lock;
static long counter;   /* plain: only the lock keeps increments whole */

static void *add_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        fci_spin_lock(&lock);
        long v = counter;
        if (i % 4096 == 0)
            sched_yield();   /* widen the window a broken lock would lose */
        counter = v + 1;
        fci_spin_unlock(&lock);
    }
    return NULL;
}

START_TEST(excludes)
{
    fci_spin_init(&lock);
    counter = 0;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, add_many, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(counter, (long)THREADS * ROUNDS);
}
END_TEST

static atomic_int holder_done;

static void *hold_then_sleep(void *arg)
{
    (void)arg;
    usleep(50000);   /* the waiter spins, then yields, meanwhile */
    atomic_store(&holder_done, 1);
    fci_spin_unlock(&lock);
    return NULL;
}

START_TEST(waiter_gets_it_after_the_holder)
{
    fci_spin_init(&lock);
    atomic_store(&holder_done, 0);
    fci_spin_lock(&lock);   /* handed to the thread, which lets it go */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_then_sleep, NULL), 0);
    fci_spin_lock(&lock);
    ck_assert_int_eq(atomic_load(&holder_done), 1);
    fci_spin_unlock(&lock);
    pthread_join(th, NULL);
}
END_TEST

static atomic_int held_by_thread, may_exit;

static void *hold_across_fork(void *arg)
{
    (void)arg;
    fci_spin_lock(&lock);
    atomic_store(&held_by_thread, 1);
    while (!atomic_load(&may_exit))
        usleep(1000);
    fci_spin_unlock(&lock);
    return NULL;
}

START_TEST(child_reinit_frees_a_parent_thread_hold)
{
    fci_spin_init(&lock);
    atomic_store(&held_by_thread, 0);
    atomic_store(&may_exit, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_across_fork, NULL), 0);
    while (!atomic_load(&held_by_thread))
        usleep(1000);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(10);   /* a hang is a failure, not a stuck suite */
        fci_spin_init(&lock);
        fci_spin_lock(&lock);
        fci_spin_unlock(&lock);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    atomic_store(&may_exit, 1);
    pthread_join(th, NULL);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static Suite *spin_suite(void)
{
    Suite *s = suite_create("util_spin");
    TCase *tc = tcase_create("spin");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, excludes);
    tcase_add_test(tc, waiter_gets_it_after_the_holder);
    tcase_add_test(tc, child_reinit_frees_a_parent_thread_hold);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(spin_suite)
