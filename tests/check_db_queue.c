/*
 * check_db_queue.c - writes from forked workers: they go through the write
 * queue to the writer, return only once applied, and are visible to every
 * reader in every process when they return.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"
#include "forkcache.h"

static const char *DIR_;

static void setup(void)
{
    DIR_ = strdup(fc_test_tmpdir());
}

static void teardown(void)
{
    fc_test_rmtree(DIR_);
    free((void *)DIR_);
}

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
    ck_assert_int_eq(fc_open(DIR_, &o, &s), 0);
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
        kids[w] = fork();
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
    pid_t pid = fork();
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
    pid_t pid = fork();
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

static Suite *queue_suite(void)
{
    Suite *s = suite_create("db_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workers_write_through_the_queue);
    tcase_add_test(tc, queue_limits_and_errors);
    tcase_add_test(tc, writer_gone_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

FC_TEST_MAIN(queue_suite)
