/*
 * check_db_queue.c - writes from forked workers: they go through the write
 * queue to the writer, return only once applied, and are visible to every
 * reader in every process when they return.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "util/io.h"

static fc_store *open_small(void)
{
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = 64 * 1024;
    o.max_file_size = 64 * 1024;
    o.arena_size = 128u << 20;
    o.block_cache_size = 1u << 20;
    o.queue_slots = 8;
    o.queue_entry_size = 64 * 1024;
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    return s;
}

static int read_back(fc_store *s, const char *k, const char *want)
{
    fc_txn *t;
    fc_val v;
    if (fc_txn_begin(s, &t) != 0)
        return -1;
    int rc = fc_get(t, k, strlen(k), &v);
    int ok = want == NULL ? rc == FC_ENOTFOUND
                          : rc == 0 && v.size == strlen(want) && memcmp(v.data, want, v.size) == 0;
    fc_txn_end(t);
    return ok;
}

/* Worker w writes its keys, deletes every third, batches pairs, and after
 * each call reads its own write back: a returned write is visible. */
static int worker(fc_store *s, int w, int n)
{
    char k[32], v[64];
    if (fc_after_fork(s) != 0)
        return 2;
    fc_batch *b;
    if (fc_batch_new(&b) != 0)
        return 3;
    for (int i = 0; i < n; i++) {
        sprintf(k, "w%d-%05d", w, i);
        sprintf(v, "value %d %d", w, i);
        if (i % 5 == 4) {
            fc_batch_clear(b);
            fc_batch_put(b, k, strlen(k), v, strlen(v));
            fc_batch_put(b, "shared", 6, v, strlen(v));
            if (fc_write(s, b, i % 10 == 9 ? FC_WRITE_SYNC : 0) != 0)
                return 4;
        } else if (fc_put(s, k, strlen(k), v, strlen(v)) != 0) {
            return 5;
        }
        if (read_back(s, k, v) != 1)
            return 6;
        if (i % 3 == 0) {
            if (fc_del(s, k, strlen(k)) != 0 || read_back(s, k, NULL) != 1)
                return 7;
        }
    }
    fc_batch_free(b);
    fc_close(s);
    return 0;
}

START_TEST(workers_write_through_the_queue)
{
    fc_store *s = open_small();
    const int workers = 6, n = 600;
    pid_t kids[6];
    for (int w = 0; w < workers; w++) {
        kids[w] = fc_fork();
        ck_assert_int_ge(kids[w], 0);
        if (kids[w] == 0)
            _exit(worker(s, w, n));
    }
    for (int w = 0; w < workers; w++) {
        int status;
        waitpid(kids[w], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d: status %d", w,
                      status);
    }
    char k[32], v[64];
    for (int w = 0; w < workers; w++)
        for (int i = 0; i < n; i++) {
            sprintf(k, "w%d-%05d", w, i);
            sprintf(v, "value %d %d", w, i);
            ck_assert_int_eq(read_back(s, k, i % 3 == 0 ? NULL : v), 1);
        }
    ck_assert_int_eq(fc_close(s), 0);
    /* Everything a worker was told is written survived the close. */
    s = open_small();
    sprintf(k, "w%d-%05d", 3, 599);
    sprintf(v, "value %d %d", 3, 599);
    ck_assert_int_eq(read_back(s, k, v), 1);
    fc_close(s);
}
END_TEST

START_TEST(queue_limits_and_errors)
{
    fc_store *s = open_small();
    pid_t pid = fc_fork();
    if (pid == 0) {
        static char big[100 * 1024];
        if (fc_after_fork(s) != 0)
            _exit(2);
        /* Over the queue's entry size: refused with a clear code and message. */
        int rc = fc_put(s, "big", 3, big, sizeof big);
        if (rc != FC_ETOOBIG || strstr(fc_errmsg(s), "queue") == NULL)
            _exit(3);
        /* Over the key limit: refused before the queue. */
        if (fc_put(s, big, FC_MAX_KEY_SIZE + 1, "v", 1) != FC_ETOOBIG)
            _exit(4);
        /* Still usable afterwards. */
        if (fc_put(s, "small", 5, "ok", 2) != 0)
            _exit(5);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    ck_assert_int_eq(read_back(s, "small", "ok"), 1);
    fc_close(s);
}
END_TEST

/* A child still writing when the writer closes gets an error, not a hang. */
START_TEST(writer_gone_is_an_error)
{
    fc_store *s = open_small();
    int go[2];
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (fc_after_fork(s) != 0 || read(go[0], &c, 1) != 0)
            _exit(2);
        int rc = fc_put(s, "late", 4, "x", 1);
        _exit(rc == FC_EAGAIN ? 0 : 3);
    }
    close(go[0]);
    ck_assert_int_eq(fc_close(s), 0);
    close(go[1]); /* the child writes only now, with no writer left */
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
}
END_TEST

/* A batch the writer refuses because its own I/O failed (here every WAL
 * append fails with EMFILE, as when the writer runs out of descriptors)
 * reaches the producer with the writer's reason: the error's text and the
 * file, not a bare "input/output error". */
START_TEST(writer_refusal_says_why)
{
    fc_store *s = open_small();
    int go[2];
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    /* Every WAL append fails, in the writer and in the producer (armed
     * before the fork): whoever leads the group refuses it. */
    fci_io_fault f = { .kind = FCI_IO_ANY, .site = FCI_IO_SITE_LOG_APPEND, .nth = 1,
                       .count = 0, .err = EMFILE };
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        char c;
        close(go[1]);
        if (fc_after_fork(s) != 0 || read(go[0], &c, 1) != 0)
            _exit(2);
        int rc = fc_put(s, "k", 1, "v", 1);
        const char *msg = fc_errmsg(s);
        if (rc == 0)
            _exit(3);
        if (strstr(msg, strerror(EMFILE)) == NULL || strstr(msg, ".log") == NULL) {
            fprintf(stderr, "producer's message: %s\n", msg);
            _exit(4);
        }
        _exit(0);
    }
    close(go[0]);
    close(go[1]);
    int status;
    waitpid(pid, &status, 0);
    fci_io_fault_clear();
    fci_io_hooks_enable(0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    fc_close(s);   /* may report the failed appends: not what is tested */
}
END_TEST

/* A put that returned is visible to a get in another process at once:
 * a child puts key i and tells the parent i through a pipe; the parent's
 * very next transaction must find it. 2000 times. */
START_TEST(visible_in_another_process_when_put_returns)
{
    fc_store *s = open_small();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        close(p[0]);
        if (fc_after_fork(s) != 0)
            _exit(2);
        char k[32];
        for (int i = 0; i < 2000; i++) {
            sprintf(k, "vis%05d", i);
            if (fc_put(s, k, strlen(k), k, strlen(k)) != 0 || write(p[1], &i, sizeof i) != sizeof i)
                _exit(3);
        }
        _exit(0);
    }
    close(p[1]);
    int i, seen = 0;
    char k[32];
    while (read(p[0], &i, sizeof i) == (ssize_t)sizeof i) {
        sprintf(k, "vis%05d", i);
        ck_assert_msg(read_back(s, k, k) == 1, "put of %s returned but the key is not visible", k);
        seen++;
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(seen, 2000);
    fc_close(s);
}
END_TEST

/* Eight producers write disjoint key ranges through the queue while the
 * parent SIGKILLs and restarts them at random; each reports every acked
 * write by index. Afterwards every acked write is in the store. A writer
 * stalled on a dead producer would make the restarted producers time out
 * (write_timeout_ms), failing them. */
#define PRODUCERS 8

static void producer_run(fc_store *s, int w, int from, int ack_fd)
{
    char k[32], v[48];
    if (fc_after_fork(s) != 0)
        _exit(2);
    for (int i = from;; i++) {
        sprintf(k, "p%d-%06d", w, i);
        sprintf(v, "v%d-%06d", w, i);
        if (fc_put(s, k, strlen(k), v, strlen(v)) != 0)
            _exit(3);
        int msg[2] = { w, i };
        if (write(ack_fd, msg, sizeof msg) != sizeof msg)
            _exit(4);
    }
}

START_TEST(producers_killed_and_restarted)
{
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = 64 * 1024;
    o.max_file_size = 64 * 1024;
    o.arena_size = 128u << 20;
    o.block_cache_size = 1u << 20;
    o.queue_slots = 8;
    o.queue_entry_size = 16 * 1024;
    o.write_timeout_ms = 10000;
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    int acks[2];
    ck_assert_int_eq(pipe2(acks, O_CLOEXEC), 0);
    fcntl(acks[0], F_SETFL, O_NONBLOCK);
    int acked[PRODUCERS];
    pid_t pids[PRODUCERS];
    for (int w = 0; w < PRODUCERS; w++) {
        acked[w] = -1;
        pids[w] = fc_fork();
        if (pids[w] == 0)
            producer_run(s, w, 0, acks[1]);
    }
    uint32_t x = 77;
    int kills = 0;
    for (int round = 0; round < 60; round++) {
        usleep(20000);
        int msg[2];
        while (read(acks[0], msg, sizeof msg) == (ssize_t)sizeof msg)
            if (msg[1] > acked[msg[0]])
                acked[msg[0]] = msg[1];
        /* The reader's model check, while the producers run: the newest
         * acked write of each producer is already visible here. */
        for (int p = 0; p < PRODUCERS; p++) {
            if (acked[p] < 0)
                continue;
            char mk[32], mv[48];
            sprintf(mk, "p%d-%06d", p, acked[p]);
            sprintf(mv, "v%d-%06d", p, acked[p]);
            ck_assert_msg(read_back(s, mk, mv) == 1, "acked %s not visible during the run", mk);
        }
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        int w = (int)(x % PRODUCERS);
        kill(pids[w], SIGKILL);
        int status;
        waitpid(pids[w], &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "producer %d ended by itself: status %d", w, status);
        kills++;
        while (read(acks[0], msg, sizeof msg) == (ssize_t)sizeof msg)
            if (msg[1] > acked[msg[0]])
                acked[msg[0]] = msg[1];
        pids[w] = fc_fork();
        if (pids[w] == 0)
            producer_run(s, w, acked[w] + 1, acks[1]);
    }
    for (int w = 0; w < PRODUCERS; w++) {
        kill(pids[w], SIGKILL);
        waitpid(pids[w], NULL, 0);
    }
    int msg[2];
    while (read(acks[0], msg, sizeof msg) == (ssize_t)sizeof msg)
        if (msg[1] > acked[msg[0]])
            acked[msg[0]] = msg[1];
    long total = 0;
    char k[32], v[48];
    for (int w = 0; w < PRODUCERS; w++) {
        ck_assert_msg(acked[w] > 0, "producer %d never got a write acked", w);
        for (int i = 0; i <= acked[w]; i++) {
            sprintf(k, "p%d-%06d", w, i);
            sprintf(v, "v%d-%06d", w, i);
            ck_assert_msg(read_back(s, k, v) == 1, "acked write %s is missing", k);
        }
        total += acked[w] + 1;
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    fprintf(stderr, "queue torture: %d producers killed and restarted, %ld acked writes all "
                    "present, %llu batches applied from the queue\n",
            kills, total, (unsigned long long)st.queue_writes);
    ck_assert_uint_ge(st.queue_writes, (uint64_t)total);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *queue_suite(void)
{
    Suite *s = suite_create("db_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workers_write_through_the_queue);
    tcase_add_test(tc, queue_limits_and_errors);
    tcase_add_test(tc, writer_gone_is_an_error);
    tcase_add_test(tc, writer_refusal_says_why);
    tcase_add_test(tc, visible_in_another_process_when_put_returns);
    tcase_add_test(tc, producers_killed_and_restarted);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(queue_suite)
