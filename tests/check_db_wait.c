/*
 * check_db_wait.c - fc_wait and fc_last_sequence: a process sleeps until
 * another one's write is published, in forked workers, in the writer and
 * in an attached process; it times out when nothing is written, never
 * sleeps through a write, and tells an attached process whose writer was
 * replaced to reopen (FC_ESTALE).
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

static fc_options base_opts(void)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 64u << 20;
    o.write_buffer_size = 64 * 1024;
    o.queue_slots = 8;
    return o;
}

static fc_store *open_writer(void)
{
    fc_options o = base_opts();
    return fct_open_in(&o);
}

/* The value of k as a number, -1 when absent. */
static long read_num(fc_store *s, const char *k)
{
    fc_txn *t;
    char buf[32];
    size_t n = 0;
    long v = -1;
    if (fc_txn_begin(s, &t) != 0)
        return -2;
    if (fc_get_copy(t, k, strlen(k), buf, sizeof buf - 1, &n) == 0) {
        buf[n] = '\0';
        v = strtol(buf, NULL, 10);
    }
    fc_txn_end(t);
    return v;
}

static int put_num(fc_store *s, const char *k, long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", v);
    return fc_put(s, k, strlen(k), buf, (size_t)n);
}

/* A waiter forked from the writer: says it is ready (returns then), then
 * waits (at most 20 s) for the sequence to pass the one it read before,
 * and checks that the write is visible once fc_wait returns. */
static pid_t fork_waiter(fc_store *s)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid != 0) {
        close(p[1]);
        fct_wait_byte(p[0]);
        close(p[0]);
        return pid;
    }
    if (fc_after_fork(s) != 0)
        _exit(2);
    uint64_t seen = fc_last_sequence(s), now = 0;
    if (read_num(s, "k") != -1 || write(p[1], "r", 1) != 1)
        _exit(3);
    int rc = fc_wait(s, seen, 20000, &now);
    if (rc != 0)
        _exit(4);
    if (now <= seen || fc_last_sequence(s) < now)
        _exit(5);
    _exit(read_num(s, "k") == 7 ? 0 : 6);
}

/* A worker that puts k = v and exits (0 when the put returned 0). */
static pid_t fork_putter(fc_store *s, const char *k, long v)
{
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fc_after_fork(s) == 0 && put_num(s, k, v) == 0 ? 0 : 1);
    return pid;
}

/* A put in one forked worker wakes a waiter in another. */
START_TEST(waiter_wakes_after_a_put_by_another_process)
{
    fc_store *s = open_writer();
    pid_t waiter = fork_waiter(s);
    pid_t putter = fork_putter(s, "k", 7);
    fct_wait_ok(putter, "putter");
    fct_wait_ok(waiter, "waiter");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* The writer's own put wakes a worker; a worker's put wakes the writer. */
START_TEST(writer_and_workers_wake_each_other)
{
    fc_store *s = open_writer();
    pid_t waiter = fork_waiter(s);
    ck_assert_int_eq(put_num(s, "k", 7), 0);
    fct_wait_ok(waiter, "waiter");

    uint64_t seen = fc_last_sequence(s), now = 0;
    pid_t putter = fork_putter(s, "k2", 8);
    ck_assert_int_eq(fc_wait(s, seen, 20000, &now), 0);
    ck_assert_uint_gt(now, seen);
    ck_assert_int_eq(read_num(s, "k2"), 8);
    fct_wait_ok(putter, "putter");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Nothing written: FC_ETIMEDOUT after the timeout, not before; a sequence
 * already passed returns at once; bad calls are refused. */
START_TEST(times_out_when_nothing_happens)
{
    fc_store *s = open_writer();
    ck_assert_int_eq(put_num(s, "k", 1), 0);
    uint64_t last = fc_last_sequence(s), now = 0;
    ck_assert_uint_gt(last, 0);
    double t0 = fct_now();
    ck_assert_int_eq(fc_wait(s, last, 300, &now), FC_ETIMEDOUT);
    ck_assert_msg(fct_now() - t0 >= 0.299, "returned after %.3f s", fct_now() - t0);
    ck_assert_uint_eq(now, last);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(s), "fc_wait"));
    ck_assert_int_eq(fc_wait(s, last, 0, &now), FC_ETIMEDOUT);
    ck_assert_int_eq(fc_wait(s, last - 1, 0, &now), 0);
    ck_assert_uint_eq(now, last);
    ck_assert_int_eq(fc_wait(s, last - 1, -1, NULL), 0);
    ck_assert_int_eq(fc_wait(NULL, 0, 0, &now), FC_EINVAL);
    ck_assert_uint_eq(fc_last_sequence(NULL), 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.last_sequence, last);
    /* A child that skipped fc_after_fork is refused, not served. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(fc_wait(s, 0, 0, NULL) == FC_EINVAL ? 0 : 1);
    fct_wait_ok(pid, "child without fc_after_fork");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- never sleeping through a write ---- */

#define ROUNDS 3000
#define LATE_NS 500000000ull   /* half of wait.c's longest sleep */

typedef struct pingpong {
    _Atomic uint64_t put_start[2];   /* when each side last began its put */
    _Atomic int late[2];             /* waits that ended LATE_NS after the put */
} pingpong;

/* Waits until key reads as want, the way a follower should: the sequence
 * read before looking at the data is the one fc_wait is given. */
static int await_value(fc_store *s, const char *key, long want, pingpong *pp, int peer)
{
    for (;;) {
        uint64_t seen = fc_last_sequence(s);
        long v = read_num(s, key);
        if (v == want)
            break;
        if (v > want || fc_wait(s, seen, 20000, NULL) != 0)
            return -1;
    }
    /* relaxed: a figure; the put's start was stamped before the put */
    uint64_t put = atomic_load_explicit(&pp->put_start[peer], memory_order_relaxed);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (now > put && now - put > LATE_NS) {
        atomic_fetch_add_explicit(&pp->late[1 - peer], 1, memory_order_relaxed);
        return -1; /* stop now: the other side's wait then times out too */
    }
    return 0;
}

static int stamp_and_put(fc_store *s, const char *key, long v, pingpong *pp, int me)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* relaxed: a figure for the other side's lateness check */
    atomic_store_explicit(&pp->put_start[me], (uint64_t)ts.tv_sec * 1000000000u +
                          (uint64_t)ts.tv_nsec, memory_order_relaxed);
    return put_num(s, key, v);
}

/* Side 0 puts ping i and waits for pong i; side 1 waits for ping i and
 * puts pong i. */
static int pingpong_side(fc_store *s, int me, void *arg)
{
    pingpong *pp = arg;
    for (long i = 0; i < ROUNDS; i++) {
        if (me == 0 && (stamp_and_put(s, "ping", i, pp, 0) != 0 ||
                        await_value(s, "pong", i, pp, 1) != 0))
            return 1;
        if (me == 1 && (await_value(s, "ping", i, pp, 0) != 0 ||
                        stamp_and_put(s, "pong", i, pp, 1) != 0))
            return 2;
    }
    return 0;
}

/* Thousands of put/wait rounds between two processes: each wait ends with
 * the other side's put, none waits for the longest sleep to run out (a
 * lost wake-up would show as a wait of about a second; a round takes well
 * under a millisecond). */
START_TEST(never_misses_a_wake)
{
    fc_store *s = open_writer();
    pingpong *pp = fct_shared(sizeof *pp);
    pid_t kids[2];
    for (int w = 0; w < 2; w++)
        kids[w] = fct_fork_worker(s, w, pingpong_side, pp);
    int st0 = fct_reap(kids[0]), st1 = fct_reap(kids[1]);
    ck_assert_msg(pp->late[0] + pp->late[1] == 0, "a wait slept through a put");
    ck_assert_msg(st0 == 0 && st1 == 0, "sides exited %d and %d", st0, st1);
    ck_assert_int_eq(read_num(s, "pong"), ROUNDS - 1);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- an attached process ---- */

/* The exec'd writer: a file-backed arena; says "r" once open, then puts
 * k=<n> for every byte it reads, until end of input or SIGTERM. */
static int writer_helper(const char *dir)
{
    fc_options o = base_opts();
    o.arena_path = "";
    fc_store *s;
    if (fc_open(dir, &o, &s) != 0) {
        fprintf(stderr, "writer: open: %s\n", fc_errmsg(NULL));
        return 20;
    }
    if (write(1, "r", 1) != 1)
        return 21;
    char c;
    for (long n = 1; read(0, &c, 1) == 1; n++)
        if (put_num(s, "k", n) != 0)
            return 22;
    return fc_close(s) == 0 ? 0 : 23;
}

/* Starts the writer helper; *cmd is its input. */
static pid_t start_writer(int *cmd)
{
    int out[2], in[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        execl("/proc/self/exe", "check_db_wait", "--writer", fct_dir, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    fct_wait_byte(out[0]);
    close(out[0]);
    *cmd = in[1];
    return pid;
}

/* A child of the attached process waits at most timeout_ms; its exit
 * status says how fc_wait returned (0 passed, 1 stale, 2 other). */
static pid_t attached_waiter(fc_store *r, int timeout_ms, int ready_fd)
{
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid != 0)
        return pid;
    if (fc_after_fork(r) != 0)
        _exit(3);
    uint64_t seen = fc_last_sequence(r);
    if (write(ready_fd, "r", 1) != 1)
        _exit(4);
    int rc = fc_wait(r, seen, timeout_ms, NULL);
    _exit(rc == 0 ? (read_num(r, "k") >= 1 ? 0 : 5) : rc == FC_ESTALE ? 1 : 2);
}

/* An attached process (and its child) wakes on the writer's put; when the
 * writer is killed and another takes the store, a waiter with no time
 * limit returns FC_ESTALE instead of sleeping for ever. */
START_TEST(attached_process_wakes_and_learns_of_a_new_writer)
{
    int cmd;
    pid_t writer = start_writer(&cmd);
    fc_options o = base_opts();
    o.flags = FC_ATTACH;
    fc_store *r;
    ck_assert_msg(fc_open(fct_dir, &o, &r) == 0, "attach: %s", fc_errmsg(NULL));
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t waiter = attached_waiter(r, 20000, p[1]);
    fct_wait_byte(p[0]);
    ck_assert_int_eq(write(cmd, "p", 1), 1);
    ck_assert_int_eq(fct_reap(waiter), 0);
    /* the attached process itself */
    uint64_t seen = fc_last_sequence(r);
    ck_assert_int_eq(write(cmd, "p", 1), 1);
    ck_assert_int_eq(fc_wait(r, seen, 20000, NULL), 0);
    ck_assert_int_eq(read_num(r, "k"), 2);

    waiter = attached_waiter(r, -1, p[1]);
    fct_wait_byte(p[0]);
    fct_kill(writer);
    close(cmd);
    pid_t second = start_writer(&cmd);
    ck_assert_int_eq(fct_reap(waiter), 1);
    ck_assert_int_eq(fc_wait(r, fc_last_sequence(r), 20000, NULL), FC_ESTALE);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(r), "open the store again"));
    fc_close(r);
    close(cmd);
    ck_assert_int_eq(fct_reap(second), 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

static Suite *wait_suite(void)
{
    Suite *s = suite_create("db_wait");
    TCase *tc = tcase_create("wait");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, waiter_wakes_after_a_put_by_another_process);
    tcase_add_test(tc, writer_and_workers_wake_each_other);
    tcase_add_test(tc, times_out_when_nothing_happens);
    tcase_add_test(tc, never_misses_a_wake);
    tcase_add_test(tc, attached_process_wakes_and_learns_of_a_new_writer);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--writer") == 0)
        return writer_helper(argv[2]);
    SRunner *sr = srunner_create(wait_suite());
    srunner_set_fork_status(sr, CK_FORK_GETENV);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
