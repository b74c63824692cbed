/*
 * check_shm_wqueue.c - the write queue's protocol on its own, in a
 * MAP_SHARED region: order, answers, full queue, producers killed at each
 * step, and a writer that is gone.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "shm/wqueue.h"

static fci_wq *new_queue(uint32_t slots, uint32_t bytes)
{
    size_t size = fci_wq_bytes(slots, bytes);
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(mem, MAP_FAILED);
    fci_wq_init(mem, slots, bytes);
    ck_assert_int_eq(fci_wq_check(mem, size), 0);
    return mem;
}

static int always_alive(void *arg)
{
    (void)arg;
    return 1;
}

static int never_alive(void *arg)
{
    (void)arg;
    return 0;
}

/* The consumer side of a test: answer every ready entry with its first
 * byte negated, so producers can check they got their own answer. */
static int answer_all(fci_wq *q)
{
    fci_wq_slot *slot;
    const char *data;
    int n = 0;
    while (fci_wq_peek(q, 0, &slot, &data)) {
        fci_wq_complete(q, slot, slot->len ? -(int)(unsigned char)data[0] : 0);
        n++;
    }
    return n;
}

/* A child that submits one entry per value in [from, to) and checks each
 * answer; the parent consumes. */
static pid_t producer(fci_wq *q, int from, int to)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = from; i < to; i++) {
            unsigned char b[3] = { (unsigned char)(i % 200 + 1), (unsigned char)i, 7 };
            int result = 0;
            if (fci_wq_submit(q, b, sizeof b, 0, 0, always_alive, NULL, &result, NULL) != 0 ||
                result != -(int)b[0])
                _exit(1);
        }
        _exit(0);
    }
    return pid;
}

static void reap_ok(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "producer status %d", status);
}

START_TEST(entries_answered_in_order)
{
    fci_wq *q = new_queue(4, 4096);
    pid_t p = producer(q, 0, 50);
    int answered = 0;
    while (answered < 50) {
        uint32_t seen = atomic_load(&q->work);
        int n = answer_all(q);
        answered += n;
        if (n == 0)
            fci_wq_wait_work(q, seen, 50);
    }
    reap_ok(p);
    ck_assert_uint_eq(atomic_load(&q->applied), 50);
    ck_assert_uint_eq(atomic_load(&q->head), 50);
    ck_assert_uint_eq(atomic_load(&q->tail), 50);
}
END_TEST

/* Eight producers, a queue of 4: they block on a full ring, never drop,
 * and each gets its own answer. */
START_TEST(many_producers_small_ring)
{
    fci_wq *q = new_queue(4, 4096);
    pid_t kids[8];
    for (int k = 0; k < 8; k++)
        kids[k] = producer(q, k * 1000, k * 1000 + 300);
    int answered = 0;
    while (answered < 8 * 300) {
        uint32_t seen = atomic_load(&q->work);
        int n = answer_all(q);
        answered += n;
        if (n == 0)
            fci_wq_wait_work(q, seen, 20);
    }
    for (int k = 0; k < 8; k++)
        reap_ok(kids[k]);
    ck_assert_uint_eq(atomic_load(&q->applied), 2400);
}
END_TEST

START_TEST(too_big_and_timeout_and_no_writer)
{
    fci_wq *q = new_queue(2, 4096);
    char big[8192] = { 0 };
    int result;
    fci_err err;
    ck_assert_int_eq(fci_wq_submit(q, big, sizeof big, 0, 0, always_alive, NULL, &result, &err),
                     FC_ETOOBIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "4096"));
    /* Nobody consumes: the wait ends at the timeout, not before. */
    ck_assert_int_eq(fci_wq_submit(q, "x", 1, 0, 150, always_alive, NULL, &result, &err),
                     FC_ETIMEDOUT);
    /* The writer is gone: the producer stops waiting. */
    ck_assert_int_eq(fci_wq_submit(q, "y", 1, 0, 0, never_alive, NULL, &result, &err), FC_EAGAIN);
    /* Both abandoned entries are still answered in order, and their slots
     * come back to the next round of producers. */
    ck_assert_int_eq(answer_all(q), 2);
    pid_t p = producer(q, 1, 6);
    int answered = 0;
    while (answered < 5)
        answered += answer_all(q);
    reap_ok(p);
}
END_TEST

/* A producer killed after taking its ticket but before its entry is READY:
 * the consumer recovers the slot and the ring goes on. */
START_TEST(producer_killed_before_ready)
{
    fci_wq *q = new_queue(2, 4096);
    int pipefd[2];
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t t;
        if (fci_wq_claim(q, 0, always_alive, NULL, &t, NULL) != 0 || write(pipefd[1], "c", 1) != 1)
            _exit(1);
        pause(); /* killed here, holding ticket t */
        _exit(2);
    }
    char c;
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_uint_eq(atomic_load(&q->head), 1);
    pid_t p = producer(q, 10, 20);
    int answered = 0;
    while (answered < 10)
        answered += answer_all(q);
    reap_ok(p);
    ck_assert_uint_eq(atomic_load(&q->recovered), 1);
    ck_assert_uint_eq(atomic_load(&q->tail), 11);
}
END_TEST

/* A producer killed after its entry was answered but before it freed the
 * slot: the next producer of that slot frees it. */
START_TEST(producer_killed_after_done)
{
    fci_wq *q = new_queue(1, 4096);
    int pipefd[2];
    ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t t;
        if (fci_wq_claim(q, 0, always_alive, NULL, &t, NULL) != 0)
            _exit(1);
        fci_wq_publish(q, t, "a", 1, 0);
        if (write(pipefd[1], "p", 1) != 1)
            _exit(1);
        pause(); /* killed before reading its answer */
        _exit(2);
    }
    char c;
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    ck_assert_int_eq(answer_all(q), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    pid_t p = producer(q, 30, 40); /* a ring of one slot: only works if recovered */
    int answered = 0;
    while (answered < 10)
        answered += answer_all(q);
    reap_ok(p);
    ck_assert_uint_ge(atomic_load(&q->recovered), 1);
}
END_TEST

START_TEST(damaged_header_refused)
{
    fci_wq *q = new_queue(4, 4096);
    ck_assert_int_eq(fci_wq_check(q, 100), FC_ECORRUPT);
    q->nslots = 0;
    ck_assert_int_eq(fci_wq_check(q, fci_wq_bytes(4, 4096)), FC_ECORRUPT);
    q->nslots = 1u << 30;
    ck_assert_int_eq(fci_wq_check(q, fci_wq_bytes(4, 4096)), FC_ECORRUPT);
}
END_TEST

/* Recovery under fire: a ring of 2 slots, 6 producers submitting without
 * pause, the parent answering while it SIGKILLs and restarts a producer
 * every 10 ms, so deaths land at every step of the protocol. Afterwards the
 * ring must drain completely (tail reaches head: every dead claim
 * recovered) and still serve a new producer. */
static void endless_producer(fci_wq *q, int id)
{
    for (unsigned i = 0;; i++) {
        unsigned char b[2] = { (unsigned char)(id + 1), (unsigned char)i };
        int result;
        if (fci_wq_submit(q, b, sizeof b, 0, 0, always_alive, NULL, &result, NULL) != 0 ||
            result != -(int)b[0])
            _exit(1);
    }
}

START_TEST(kills_at_every_step_never_wedge_the_ring)
{
    fci_wq *q = new_queue(2, 4096);
    pid_t kids[6];
    for (int k = 0; k < 6; k++)
        if ((kids[k] = fork()) == 0)
            endless_producer(q, k);
    uint32_t x = 99;
    long answered = 0;
    for (int round = 0; round < 150; round++) {
        for (int spin = 0; spin < 50; spin++)
            answered += answer_all(q);
        usleep(10000);
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        int k = (int)(x % 6);
        kill(kids[k], SIGKILL);
        int status;
        waitpid(kids[k], &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "producer ended by itself: status %d", status);
        if ((kids[k] = fork()) == 0)
            endless_producer(q, k);
    }
    for (int k = 0; k < 6; k++) {
        kill(kids[k], SIGKILL);
        waitpid(kids[k], NULL, 0);
    }
    for (int spin = 0; spin < 1000 && atomic_load(&q->tail) < atomic_load(&q->head); spin++) {
        answered += answer_all(q);
        usleep(1000);
    }
    ck_assert_uint_eq(atomic_load(&q->tail), atomic_load(&q->head));
    ck_assert_int_gt(answered, 150);
    pid_t p = producer(q, 1, 50);
    int n = 0;
    while (n < 49)
        n += answer_all(q);
    reap_ok(p);
}
END_TEST

/* A leader killed inside fci_wq_complete, after DONE and before the tail
 * moved (any process answers since the write lane): the next leader's
 * peek moves the tail past the answered entry, also once its owner freed
 * the slot and a later ticket took it, instead of waiting for ever. */
START_TEST(leader_killed_between_done_and_tail)
{
    fci_wq *q = new_queue(2, 4096);
    uint64_t t;
    ck_assert_int_eq(fci_wq_claim(q, 0, always_alive, NULL, &t, NULL), 0);
    fci_wq_publish(q, t, "a", 1, 0);
    fci_wq_slot *slot;
    const char *data;
    ck_assert_int_eq(fci_wq_peek(q, 0, &slot, &data), 1);
    /* what fci_wq_complete had done when its caller died: DONE, no tail */
    atomic_store(&slot->result, 0);
    atomic_store(&slot->seq, t << 2 | FCI_WQ_DONE);
    ck_assert_uint_eq(atomic_load(&q->tail), t);
    int result = -1; /* its owner takes the answer and frees the slot */
    ck_assert_int_eq(fci_wq_finish(q, t, 0, always_alive, NULL, &result, NULL, 0, NULL), 0);
    ck_assert_int_eq(result, 0);
    pid_t p = producer(q, 50, 60); /* the ring wedges unless the tail moves */
    int answered = 0;
    while (answered < 10)
        answered += answer_all(q);
    reap_ok(p);
    ck_assert_uint_ge(atomic_load(&q->tail), t + 11);
}
END_TEST

static Suite *wqueue_suite(void)
{
    Suite *s = suite_create("shm_wqueue");
    TCase *tc = tcase_create("wqueue");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, entries_answered_in_order);
    tcase_add_test(tc, many_producers_small_ring);
    tcase_add_test(tc, too_big_and_timeout_and_no_writer);
    tcase_add_test(tc, producer_killed_before_ready);
    tcase_add_test(tc, producer_killed_after_done);
    tcase_add_test(tc, damaged_header_refused);
    tcase_add_test(tc, kills_at_every_step_never_wedge_the_ring);
    tcase_add_test(tc, leader_killed_between_done_and_tail);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(wqueue_suite)
