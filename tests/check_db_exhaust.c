/*
 * check_db_exhaust.c - resource exhaustion on the read side: a store with
 * many tables is read whole under a file descriptor limit of 64, and
 * forked workers read everything with the Limiter at 0 (no table mapped at
 * all). A file-backed arena on a full file system is refused with
 * FC_ENOSPC when the store opens. Writes that stall on a full arena are in
 * check_db_write.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

/* `ulimit -n 64`: a store of a few hundred tables is opened and read
 * whole, by point reads and a scan, with 64 descriptors. */
START_TEST(many_tables_under_fd_limit_64)
{
    fc_options o = fct_small_opts();
    o.max_file_size = 64 * 1024;
    fc_store *s = fct_open_in(&o);
    char k[32], v[2000];
    memset(v, 'f', sizeof v);
    const int n = 12000;   /* ~24 MB: about 350 tables of 64 KiB */
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    struct rlimit rl = { 64, 64 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    s = fct_open_in(&o);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    uint32_t tables = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        tables += st.files[l];
    ck_assert_uint_gt(tables, 128); /* twice the descriptors there are */
    fc_txn *t;
    fc_val got;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        ck_assert_msg(fc_get(t, k, strlen(k), &got) == 0, "get %s: %s", k, fc_errmsg(s));
        ck_assert_uint_eq(got.size, sizeof v);
    }
    fc_iter *it;
    int seen = 0;
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    for (int rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it))
        seen++;
    ck_assert_int_eq(fc_iter_status(it), 0);
    ck_assert_int_eq(seen, n);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
    /* And it still writes, flushes and compacts. */
    ck_assert_int_eq(fc_put(s, "after", 5, "x", 1), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* Limiter at 0: no process may map a table, so forked workers read every
 * table through pread and the shared block cache, and still see all. */
START_TEST(limiter_zero_workers_read_everything)
{
    fc_options o = fct_small_opts();
    o.max_mappings = 0;
    fc_store *s = fct_open_in(&o);
    char k[32], v[300];
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, i);
        memset(v, 'a' + i % 26, sizeof v);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    pid_t pids[2];
    for (int w = 0; w < 2; w++) {
        pids[w] = fc_fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] != 0)
            continue;
        fc_txn *t;
        fc_val got;
        fc_stats st;
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        for (int i = w; i < n; i += 2) {
            fct_key_of(k, "key", 8, i);
            if (fc_get(t, k, strlen(k), &got) != 0 || got.size != sizeof v ||
                ((const char *)got.data)[0] != 'a' + i % 26)
                _exit(3);
        }
        if (fc_txn_end(t) != 0 || fc_stats_get(s, &st) != 0)
            _exit(4);
        /* nothing mapped, all read by pread, and the cache was used */
        _exit(st.tables_mapped == 0 && st.tables_pread > 0 &&
                      st.block_cache_hits + st.block_cache_misses > 0 ? 0 : 5);
    }
    for (int w = 0; w < 2; w++) {
        int status;
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d status %#x", w,
                      status);
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.mappings_in_use, 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- a full file system under a file-backed arena ---- */

#define SKIPPED 77

/* Writes s to path (a /proc file of a new user namespace). */
static int write_proc(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* A mount namespace of this process's own, so that a mount made in it
 * goes when the process does, whatever happens to the test: a plain one
 * for root, else one inside a user namespace that maps our own ids (where
 * the kernel lets unprivileged users have one). */
static int own_mount_namespace(char *why, size_t cap)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWNS) == 0)
        return 0;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        snprintf(why, cap, "no mount namespace: unshare: %s", strerror(errno));
        return -1;
    }
    char map[64];
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    int rc = write_proc("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (rc == 0 && write_proc("/proc/self/setgroups", "deny") == 0 &&
        write_proc("/proc/self/gid_map", map) == 0)
        return 0;
    snprintf(why, cap, "user namespace: cannot map ids: %s", strerror(errno));
    return -1;
}

/* A 2 MiB tmpfs at mnt that only this process sees; 0, or -1 and why. */
static int mount_full_fs(const char *mnt, char *why, size_t cap)
{
    if (own_mount_namespace(why, cap) != 0)
        return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("none", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700") != 0) {
        snprintf(why, cap, "mount tmpfs on %.200s: %s", mnt, strerror(errno));
        return -1;
    }
    return 0;
}

/* In a child: open a writer whose 64 MiB arena file lies on a 2 MiB file
 * system, then write 6 MB into one memtable. 0 when the open is refused
 * with FC_ENOSPC and a message naming the file and the size. */
static int writer_on_full_fs(const char *mnt)
{
    char path[4300], why[512];
    if (mount_full_fs(mnt, why, sizeof why) != 0) {
        printf("skipped: a full file system needs a mount: %s\n", why);
        return SKIPPED;
    }
    snprintf(path, sizeof path, "%s/forkcache.arena", mnt);
    fc_options o = fct_small_opts();
    o.arena_path = path;
    o.arena_size = 64u << 20;
    o.write_buffer_size = 8u << 20;
    fc_store *s = NULL;
    int rc = fc_open(fct_dir, &o, &s), ok = 0;
    if (rc == 0) {
        char k[32], v[1000];
        memset(v, 'z', sizeof v);
        for (int i = 0; i < 6000 && rc == 0; i++) {
            fct_key_of(k, "key", 8, i);
            rc = fc_put(s, k, strlen(k), v, sizeof v);
        }
        printf("the writer opened on a full file system; puts: %s\n", fc_strerror(rc));
        fc_close(s);
    } else {
        const char *msg = fc_errmsg(NULL);
        ok = rc == FC_ENOSPC && strstr(msg, path) != NULL && strstr(msg, "67108864") != NULL;
        printf("fc_open: %s: %s\n", fc_strerror(rc), msg);
    }
    fflush(stdout);
    umount2(mnt, MNT_DETACH);
    return ok ? 0 : 1;
}

/* A file-backed arena is written through its mapping: on a sparse file a
 * full file system made the page fault a SIGBUS that killed the writer.
 * Its blocks are allocated when it is created, so the open fails with
 * FC_ENOSPC instead. The file system is a 2 MiB tmpfs in a mount
 * namespace of the child's own (gone with it); where no namespace can be
 * had, the test says so and passes. */
START_TEST(full_fs_under_file_arena_is_enospc_not_sigbus)
{
    char mnt[4200];
    snprintf(mnt, sizeof mnt, "%s.fs", fct_dir);
    ck_assert_int_eq(mkdir(mnt, 0700), 0);
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(writer_on_full_fs(mnt));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    rmdir(mnt);
    ck_assert_msg(!WIFSIGNALED(status), "the writer was killed by signal %d (%s)",
                  WTERMSIG(status), strsignal(WTERMSIG(status)));
    ck_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == SKIPPED)
        return;
    ck_assert_msg(WEXITSTATUS(status) == 0, "the open was not refused with FC_ENOSPC");
}
END_TEST

static Suite *exhaust_suite(void)
{
    Suite *s = suite_create("db_exhaust");
    TCase *tf = tcase_create("fd_limit");
    tcase_add_checked_fixture(tf, fct_setup, fct_teardown);
    tcase_set_timeout(tf, 180);
    tcase_add_test(tf, many_tables_under_fd_limit_64);
    tcase_add_test(tf, limiter_zero_workers_read_everything);
    suite_add_tcase(s, tf);
    TCase *td = tcase_create("disk_full");
    tcase_add_checked_fixture(td, fct_setup, fct_teardown);
    tcase_add_test(td, full_fs_under_file_arena_is_enospc_not_sigbus);
    suite_add_tcase(s, td);
    return s;
}

FCT_MAIN(exhaust_suite)
