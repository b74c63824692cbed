/*
 * check_db_attach.c - processes that are not children of the writer join
 * the store through its file-backed arena (FC_ATTACH): they read zero-copy
 * and write through the writer's queue. The helper runs in a process the
 * test exec's (this same program, with --helper), so nothing is inherited
 * by fork.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

static fc_options base_opts(void)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 64u << 20;
    o.block_cache_size = 1u << 20;
    o.write_buffer_size = 64 * 1024;
    return o;
}

static int has(fc_store *s, const char *k, const char *want)
{
    fc_txn *t;
    fc_val v;
    if (fc_txn_begin(s, &t) != 0)
        return 0;
    int rc = fc_get(t, k, strlen(k), &v);
    int ok = rc == 0 && v.size == strlen(want) && memcmp(v.data, want, v.size) == 0;
    fc_txn_end(t);
    return ok;
}

/* The exec'd side: attach, read what the writer wrote, write through the
 * queue, report by exit code. */
static int helper(const char *dir, const char *mode)
{
    fc_options o = base_opts();
    o.flags = FC_ATTACH | (strcmp(mode, "readonly") == 0 ? FC_READONLY : 0);
    fc_store *s;
    int rc = fc_open(dir, &o, &s);
    if (rc != 0) {
        fprintf(stderr, "helper: open: %s\n", fc_errmsg(NULL));
        return 10;
    }
    fc_stats st;
    if (fc_stats_get(s, &st) != 0 || st.writer_pid != (int)getppid())
        return 11;
    if (!has(s, "from-writer", "w"))
        return 12;
    if (fc_put(s, "from-helper", 11, "h", 1) != 0) {
        fprintf(stderr, "helper: put: %s\n", fc_errmsg(s));
        return 13;
    }
    if (!has(s, "from-helper", "h")) /* visible as soon as the put returns */
        return 14;
    return fc_close(s) == 0 ? 0 : 15;
}

static int run_helper(const char *mode)
{
    pid_t pid = fc_fork();
    if (pid == 0) {
        execl("/proc/self/exe", "check_db_attach", "--helper", fct_dir, mode, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

START_TEST(exec_process_attaches_reads_and_writes)
{
    fc_options o = base_opts();
    o.arena_path = ""; /* DIR/forkcache.arena */
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fct_dir, FC_ARENA_FILE);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(fc_put(s, "from-writer", 11, "w", 1), 0);
    ck_assert_int_eq(run_helper("attach"), 0);
    ck_assert(has(s, "from-helper", "h"));
    ck_assert_int_eq(fc_put(s, "from-helper", 11, "x", 1), 0);
    /* FC_READONLY | FC_ATTACH attaches too while a writer runs (it can
     * write through the queue: a plain read-only open could not). */
    ck_assert_int_eq(run_helper("readonly"), 0);
    ck_assert(has(s, "from-helper", "h"));
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(attach_needs_a_file_backed_arena)
{
    fc_options o = base_opts(); /* anonymous arena */
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        fc_options a = base_opts();
        a.flags = FC_ATTACH;
        fc_store *other;
        int rc = fc_open(fct_dir, &a, &other);
        _exit(rc == FC_EBUSY && strstr(fc_errmsg(NULL), "arena") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fc_close(s);
}
END_TEST

START_TEST(attach_without_a_writer)
{
    /* No writer: FC_ATTACH becomes the writer, FC_ATTACH|FC_READONLY reads. */
    fc_options o = base_opts();
    o.flags = FC_CREATE | FC_ATTACH;
    fc_store *s;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    ck_assert_int_eq(fc_put(s, "k", 1, "v", 1), 0);
    ck_assert_int_eq(fc_close(s), 0);
    o.flags = FC_ATTACH | FC_READONLY;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    ck_assert(has(s, "k", "v"));
    ck_assert_int_eq(fc_put(s, "k", 1, "w", 1), FC_EREADONLY);
    fc_close(s);
}
END_TEST

/* ---- a writer restarted under an attached process ---- */

static volatile sig_atomic_t writer_stop;

static void on_term(int sig)
{
    (void)sig;
    writer_stop = 1;
}

/* The exec'd writer: opens the store with its arena in a file, as
 * `forkcache writer` does, puts restart=value, says so on stdout and
 * serves until SIGTERM, then closes cleanly. */
static int writer_helper(const char *dir, const char *value)
{
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    fc_options o = base_opts();
    o.arena_path = "";
    fc_store *s;
    if (fc_open(dir, &o, &s) != 0) {
        fprintf(stderr, "writer: open: %s\n", fc_errmsg(NULL));
        return 20;
    }
    if (fc_put(s, "restart", 7, value, strlen(value)) != 0 || write(1, "r", 1) != 1)
        return 21;
    while (!writer_stop)
        sigsuspend(&old);
    return fc_close(s) == 0 ? 0 : 22;
}

static pid_t start_writer(const char *value)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        dup2(p[1], 1);
        execl("/proc/self/exe", "check_db_attach", "--writer", fct_dir, value, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char c = 0;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

static int reap(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* Killed (SIGKILL) or stopped cleanly (SIGTERM), then a new writer: the
 * process attached to the old arena gets the new value or FC_ESTALE, never
 * the old writer's last version; stats never name the dead writer. */
START_TEST(attached_process_after_writer_restart)
{
    int sig = _i == 0 ? SIGKILL : SIGTERM;
    pid_t first = start_writer("old");
    fc_options o = base_opts();
    o.flags = FC_ATTACH;
    fc_store *r;
    ck_assert_msg(fc_open(fct_dir, &o, &r) == 0, "attach: %s", fc_errmsg(NULL));
    ck_assert(has(r, "restart", "old"));
    ck_assert_int_eq(kill(first, sig), 0);
    ck_assert_int_eq(reap(first), sig == SIGKILL ? 100 + SIGKILL : 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(r, &st), 0);
    ck_assert_int_eq(st.writer_pid, 0); /* gone: not named as if alive */
    pid_t second = start_writer("new");
    fc_txn *t;
    int rc = fc_txn_begin(r, &t);
    if (rc == 0) {
        fc_val v;
        rc = fc_get(t, "restart", 7, &v);
        ck_assert_msg(rc == 0 && v.size == 3 && memcmp(v.data, "new", 3) == 0,
                      "the old writer's value was served");
        fc_txn_end(t);
    } else {
        ck_assert_int_eq(rc, FC_ESTALE);
        ck_assert_msg(strstr(fc_errmsg(r), "open the store again") != NULL, "message: %s",
                      fc_errmsg(r));
    }
    rc = fc_put(r, "from-old", 8, "x", 1);
    ck_assert_msg(rc == 0 || rc == FC_ESTALE, "put: %s", fc_errmsg(r));
    ck_assert_int_eq(fc_stats_get(r, &st), 0);
    ck_assert_int_ne(st.writer_pid, first);
    fc_close(r);
    ck_assert_msg(fc_open(fct_dir, &o, &r) == 0, "reattach: %s", fc_errmsg(NULL));
    ck_assert(has(r, "restart", "new"));
    ck_assert_int_eq(fc_stats_get(r, &st), 0);
    ck_assert_int_eq(st.writer_pid, second);
    ck_assert_int_eq(fc_close(r), 0);
    ck_assert_int_eq(kill(second, SIGTERM), 0);
    ck_assert_int_eq(reap(second), 0);
}
END_TEST

static Suite *attach_suite(void)
{
    Suite *s = suite_create("db_attach");
    TCase *tc = tcase_create("attach");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exec_process_attaches_reads_and_writes);
    tcase_add_test(tc, attach_needs_a_file_backed_arena);
    tcase_add_test(tc, attach_without_a_writer);
    tcase_add_loop_test(tc, attached_process_after_writer_restart, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--helper") == 0)
        return helper(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--writer") == 0)
        return writer_helper(argv[2], argv[3]);
    SRunner *sr = srunner_create(attach_suite());
    srunner_set_fork_status(sr, CK_FORK_GETENV);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
