/*
 * check_shm_exec.c - processes that share nothing but a path: a program
 * exec'd (not forked) attaches to a file-backed arena and reads what the
 * creator wrote; and an exec'd program inherits no descriptor of the arena.
 *
 * The exec'd program is this very test binary, re-run through
 * /proc/self/exe with a --helper-* first argument, so the build needs no
 * extra program and the helper is always the one just built.
 */
#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fct_internal.h"

/* ---- helper modes (run in the exec'd process) ---- */

/* Attaches by path, prints the string at the given offset, detaches. */
static int helper_attach(const char *path, const char *offs)
{
    fci_arena *a = NULL;
    fci_err e;
    int rc = fci_arena_attach(path, &a, &e);
    if (rc != 0) {
        printf("error=%d %s\n", rc, e.msg);
        return 1;
    }
    uint64_t off = strtoull(offs, NULL, 10);
    const char *v = fci_arena_ptr(a, off, 64);
    if (v == NULL) {
        printf("error=bad offset %s\n", offs);
        fci_arena_detach(a);
        return 1;
    }
    printf("value=%.64s dir=%s\n", v, fci_arena_store_dir(a));
    fci_arena_detach(a);
    return 0;
}

/* Prints every open descriptor and what it refers to. */
static int helper_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[300], target[PATH_MAX];
        snprintf(p, sizeof p, "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(p, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        struct stat st;
        if (stat(p, &st) != 0)
            memset(&st, 0, sizeof st);
        printf("%s -> %s [inode %llu:%llu]\n", de->d_name, target,
               (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    }
    closedir(d);
    return 0;
}

/* ---- test side ---- */

static char g_dir[4096];
static char g_path[4200];

static void setup(void)
{
    const char *d = fct_tmpdir();
    ck_assert_ptr_nonnull(d);
    snprintf(g_dir, sizeof g_dir, "%s", d);
    snprintf(g_path, sizeof g_path, "%s/arena", g_dir);
}

static void teardown(void)
{
    fct_rmtree(g_dir);
}

/* Runs this binary with args, returns its stdout (static buffer) and exit
 * status in *status (-1 if killed by a signal). */
static const char *run_helper(const char *mode, const char *arg1, const char *arg2,
                              int *status)
{
    static char out[65536];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt((int)n, 0);
    self[n] = '\0';
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);   /* the dup drops close-on-exec on fd 1 only */
        char *argv[] = { self, (char *)mode, (char *)arg1, (char *)arg2, NULL };
        execv(self, argv);
        _exit(127);
    }
    close(p[1]);
    size_t used = 0;
    while (used < sizeof out - 1 && (n = read(p[0], out + used, sizeof out - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(p[0]);
    *status = fct_reap(pid);
    return out;
}

static fci_arena *create_file(void)
{
    fci_arena_config cfg;
    fci_arena *a = NULL;
    fci_err e;
    fci_arena_config_init(&cfg);
    cfg.path = g_path;
    cfg.size = 4 << 20;
    cfg.reader_slots = 8;
    cfg.store_dir = "/var/cache/app";
    int rc = fci_arena_create(&cfg, &a, &e);
    ck_assert_msg(rc == 0, "%s", e.msg);
    return a;
}

START_TEST(exec_attach_reads_value)
{
    fci_arena *a = create_file();
    fci_err e;
    uint64_t off;
    ck_assert_int_eq(fci_arena_alloc(a, 64, &off, &e), 0);
    strcpy(fci_arena_ptr(a, off, 64), "written by the creator");
    char offs[32];
    snprintf(offs, sizeof offs, "%llu", (unsigned long long)off);
    int status;
    const char *out = run_helper("--helper-attach", g_path, offs, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_str_eq(out, "value=written by the creator dir=/var/cache/app\n");
    /* it detached: only our slot is left */
    fci_arena_stats st;
    fci_arena_stats_get(a, &st, NULL, 0);
    ck_assert_uint_eq(st.slots_live, 1);
    fci_arena_detach(a);
}
END_TEST

/* A spoiled file makes the exec'd attacher fail cleanly, never crash. */
START_TEST(exec_attach_bad_files_fail_cleanly)
{
    fci_arena *a = create_file();
    fci_arena_detach(a);
    int status;
    ck_assert_int_eq(truncate(g_path, 4000), 0);
    const char *out = run_helper("--helper-attach", g_path, "4096", &status);
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_nonnull(strstr(out, "error=-4 "));
    ck_assert_int_eq(truncate(g_path, 0), 0);
    out = run_helper("--helper-attach", g_path, "4096", &status);
    ck_assert_int_eq(status, 1);
    ck_assert_ptr_nonnull(strstr(out, "smaller than the"));
}
END_TEST

/* By inode, not name: the fd of a file built under a temporary name and
 * linked into place reads back as "<temp name> (deleted)". */
static int lists_arena(const char *out)
{
    struct stat st;
    ck_assert_int_eq(stat(g_path, &st), 0);
    char needle[80];
    snprintf(needle, sizeof needle, "[inode %llu:%llu]", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    return strstr(out, needle) != NULL || strstr(out, g_path) != NULL;
}

START_TEST(no_descriptor_leaks_into_exec)
{
    fci_arena *a = create_file(), *b = NULL;
    fci_err e;
    ck_assert_int_eq(fci_arena_attach(g_path, &b, &e), 0);
    ck_assert_int_ge(a->fd, 0);
    ck_assert_int_ge(b->fd, 0);
    int status;
    const char *out = run_helper("--helper-fds", NULL, NULL, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_msg(strstr(out, "1 -> pipe:") != NULL, "listing is not working: %s", out);
    ck_assert_msg(!lists_arena(out), "arena fd leaked into exec:\n%s", out);

    /* control: a descriptor without close-on-exec is seen by the listing */
    int leak = fcntl(a->fd, F_DUPFD, 100);
    ck_assert_int_ge(leak, 0);
    out = run_helper("--helper-fds", NULL, NULL, &status);
    ck_assert_msg(lists_arena(out), "control leak not seen:\n%s", out);
    close(leak);
    fci_arena_detach(b);
    fci_arena_detach(a);
}
END_TEST

/* A forked worker (holding the inherited handle and its own slot) that
 * execs leaks nothing either. */
START_TEST(forked_worker_exec_leaks_nothing)
{
    fci_arena *a = create_file();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t kid = fork();
    if (kid == 0) {
        if (fci_arena_after_fork(a, NULL) != 0)
            _exit(2);
        int status;
        const char *out = run_helper("--helper-fds", NULL, NULL, &status);
        if (write(p[1], out, strlen(out)) < 0)
            _exit(3);
        fci_arena_detach(a);
        _exit(status == 0 ? 0 : 4);
    }
    close(p[1]);
    char buf[8192];
    ssize_t n, used = 0;
    while ((n = read(p[0], buf + used, sizeof buf - 1 - (size_t)used)) > 0)
        used += n;
    buf[used] = '\0';
    close(p[0]);
    ck_assert_int_eq(fct_reap(kid), 0);
    ck_assert_ptr_nonnull(strstr(buf, "0 -> "));
    ck_assert_msg(!lists_arena(buf), "leaked:\n%s", buf);
    fci_arena_detach(a);
}
END_TEST

static Suite *exec_suite(void)
{
    Suite *s = suite_create("shm_exec");
    TCase *tc = tcase_create("exec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, exec_attach_reads_value);
    tcase_add_test(tc, exec_attach_bad_files_fail_cleanly);
    tcase_add_test(tc, no_descriptor_leaks_into_exec);
    tcase_add_test(tc, forked_worker_exec_leaks_nothing);
    suite_add_tcase(s, tc);
    return s;
}

/* FCT_MAIN's main becomes suite_main; the real main first routes the
 * --helper-* invocations made by the tests above. */
int suite_main(void);
#define main suite_main
FCT_MAIN(exec_suite)
#undef main

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--helper-attach") == 0)
        return helper_attach(argv[2], argv[3]);
    if (argc >= 2 && strcmp(argv[1], "--helper-fds") == 0)
        return helper_fds();
    return suite_main();
}
