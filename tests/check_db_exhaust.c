/*
 * check_db_exhaust.c - resource exhaustion: a reader that holds a snapshot
 * while the writer keeps writing fills the arena with memory only that
 * snapshot still reaches. Writes must stall (not fail), fc_stats must say
 * so and name the pinning reader's pid, and the writes must resume once
 * the reader lets go, or dies. A store with many tables is read whole under
 * a file descriptor limit of 64, and forked workers read everything with
 * the Limiter at 0 (no table mapped at all). A file-backed arena on a
 * full file system is refused with FC_ENOSPC when the store opens.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fc_test.h"
#include "store_test.h"
#include "forkcache.h"

#define VAL_SIZE 1000
#define TOTAL_PUTS 40000   /* about 40 MB through a 16 MiB arena */

/* A 16 MiB arena: a few hundred 64 KiB memtables pinned fill it. */
static fc_options stall_opts(void)
{
    fc_options o = small_opts();
    o.arena_size = 16u << 20;
    o.block_cache_size = 256u << 10;
    o.queue_slots = 4;
    o.queue_entry_size = 64u << 10;
    return o;
}

typedef struct writer_arg {
    fc_store *s;
    atomic_int done;       /* puts acknowledged */
    int rc;                /* first error, 0 if none */
} writer_arg;

static void key_of(char *k, int i)
{
    sprintf(k, "key%08d", i);
}

static void *writer_main(void *p)
{
    writer_arg *w = p;
    char k[32], v[VAL_SIZE];
    for (int i = 0; i < TOTAL_PUTS; i++) {
        key_of(k, i);
        memset(v, 'a' + i % 26, sizeof v);
        int rc = fc_put(w->s, k, strlen(k), v, sizeof v);
        if (rc == 0 && i % 1000 == 999)
            rc = fc_flush(w->s); /* a flush stalls like a write */
        if (rc != 0) {
            w->rc = rc;
            break;
        }
        atomic_store(&w->done, i + 1);
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Forks a reader that pins the current version until it reads a byte from
 * *release (or is killed). Returns its pid once the pin is held. */
static pid_t pinning_reader(fc_store *s, int *release)
{
    int ready[2], go[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_txn *t;
        char c = 'r';
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        if (read(go[0], &c, 1) != 1)
            _exit(4);
        _exit(fc_txn_end(t) == 0 ? 0 : 5);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *release = go[1];
    return pid;
}

/* Polls fc_stats until writes stall on the arena, naming `pid`; returns
 * the acknowledged puts then. The guard is generous: only a stall that
 * never comes fails. */
static int wait_for_stall(fc_store *s, writer_arg *w, pid_t pid)
{
    fc_stats st;
    for (int tries = 0; tries < 12000; tries++) {
        ck_assert_int_eq(fc_stats_get(s, &st), 0);
        if (st.stall == FC_STALL_ARENA) {
            ck_assert_int_eq(st.oldest_pin_pid, pid);
            ck_assert_uint_gt(st.oldest_pinned_version, 0);
            ck_assert_uint_gt(st.stalls, 0);
            return atomic_load(&w->done);
        }
        ck_assert_msg(w->rc == 0, "a write failed instead of stalling: %s: %s",
                      fc_strerror(w->rc), fc_errmsg(s));
        ck_assert_msg(atomic_load(&w->done) < TOTAL_PUTS,
                      "every write went through: the arena never filled");
        sleep_ms(5);
    }
    ck_abort_msg("no arena stall seen in a minute (%d puts done)", atomic_load(&w->done));
    return 0;
}

/* While stalled, the writes stay stalled: the count does not run away. */
static void still_stalled(fc_store *s, writer_arg *w, int at_stall)
{
    sleep_ms(200);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_int_eq(st.stall, FC_STALL_ARENA);
    /* A put or two may finish in a chunk it had already; not hundreds. */
    ck_assert_int_lt(atomic_load(&w->done), at_stall + 200);
}

static void check_all_there(fc_store *s)
{
    fc_txn *t;
    fc_val v;
    char k[32];
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < TOTAL_PUTS; i += 97) {
        key_of(k, i);
        ck_assert_int_eq(fc_get(t, k, strlen(k), &v), 0);
        ck_assert_uint_eq(v.size, VAL_SIZE);
        ck_assert_int_eq(((const char *)v.data)[0], 'a' + i % 26);
    }
    ck_assert_int_eq(fc_txn_end(t), 0);
}

static void run_stall(int kill_reader)
{
    fc_options o = stall_opts();
    fc_store *s = open_in(&o);
    int release;
    pid_t reader = pinning_reader(s, &release);
    writer_arg w = { .s = s };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    int at_stall = wait_for_stall(s, &w, reader);
    still_stalled(s, &w, at_stall);
    if (kill_reader) {
        kill(reader, SIGKILL);
    } else {
        char c = 'g';
        ck_assert_int_eq(write(release, &c, 1), 1);
    }
    int status;
    ck_assert_int_eq(waitpid(reader, &status, 0), reader);
    if (!kill_reader)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader status %#x", status);
    close(release);
    pthread_join(th, NULL);
    ck_assert_msg(w.rc == 0, "write after the reader let go: %s: %s", fc_strerror(w.rc),
                  fc_errmsg(s));
    ck_assert_int_eq(atomic_load(&w.done), TOTAL_PUTS);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_int_ne(st.stall, FC_STALL_ARENA);
    check_all_there(s);
    ck_assert_int_eq(fc_close(s), 0);
}

START_TEST(arena_full_stalls_until_the_reader_ends)
{
    run_stall(0);
}
END_TEST

/* A reader killed while pinning: its slot is swept, the writes resume. */
START_TEST(arena_full_stalls_until_the_reader_dies)
{
    run_stall(1);
}
END_TEST

/* The writer's own open transaction pins the arena: waiting would never
 * end, so the write fails with FC_ENOMEM naming this process. */
START_TEST(arena_full_pinned_by_the_writer_fails)
{
    fc_options o = stall_opts();
    fc_store *s = open_in(&o);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    char k[32], v[VAL_SIZE];
    memset(v, 'x', sizeof v);
    int rc = 0, i;
    for (i = 0; i < TOTAL_PUTS && rc == 0; i++) {
        key_of(k, i);
        rc = fc_put(s, k, strlen(k), v, sizeof v);
    }
    ck_assert_int_eq(rc, FC_ENOMEM);
    char pid[32];
    snprintf(pid, sizeof pid, "pid %d", (int)getpid());
    ck_assert_msg(strstr(fc_errmsg(s), pid) != NULL, "%s", fc_errmsg(s));
    /* The failed put left nothing behind; once the txn ends, writes go on. */
    fc_val got;
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, k, strlen(k), &got), FC_ENOTFOUND);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    ck_assert_int_eq(fc_close(s), 0);
    s = open_in(&o);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, k, strlen(k), &got), 0);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* `ulimit -n 64`: a store of a few hundred tables is opened and read
 * whole, by point reads and a scan, with 64 descriptors. */
START_TEST(many_tables_under_fd_limit_64)
{
    fc_options o = small_opts();
    o.max_file_size = 64 * 1024;
    fc_store *s = open_in(&o);
    char k[32], v[2000];
    memset(v, 'f', sizeof v);
    const int n = 12000;   /* ~24 MB: about 350 tables of 64 KiB */
    for (int i = 0; i < n; i++) {
        key_of(k, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    struct rlimit rl = { 64, 64 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    s = open_in(&o);
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
        key_of(k, i);
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
    ck_assert_int_eq(fc_verify(DIR_, NULL, NULL), 0);
}
END_TEST

/* max_snapshot_age_ms: a reader pinning one version while the writer
 * keeps writing is named as stale once the writer has seen its pin longer
 * than the limit, and no longer once it lets go. */
START_TEST(stale_snapshot_is_reported)
{
    fc_options o = small_opts();
    o.max_snapshot_age_ms = 20;
    fc_store *s = open_in(&o);
    int release;
    pid_t reader = pinning_reader(s, &release);
    char k[32], v[VAL_SIZE];
    memset(v, 's', sizeof v);
    fc_stats st;
    int i = 0;
    /* Writes until the stats name the reader (a generous guard). */
    for (;; i++) {
        ck_assert_int_lt(i, 2000000);
        key_of(k, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
        ck_assert_int_eq(fc_stats_get(s, &st), 0);
        if (st.stale_reader_pid != 0)
            break;
    }
    ck_assert_int_eq(st.stale_reader_pid, reader);
    ck_assert_int_eq(st.oldest_pin_pid, reader);
    char c = 'g';
    ck_assert_int_eq(write(release, &c, 1), 1);
    int status;
    ck_assert_int_eq(waitpid(reader, &status, 0), reader);
    close(release);
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_int_eq(st.stale_reader_pid, 0);
    ck_assert_int_ne(st.oldest_pin_pid, reader);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Limiter at 0: no process may map a table, so forked workers read every
 * table through pread and the shared block cache, and still see all. */
START_TEST(limiter_zero_workers_read_everything)
{
    fc_options o = small_opts();
    o.max_mappings = 0;
    fc_store *s = open_in(&o);
    char k[32], v[300];
    const int n = 4000;
    for (int i = 0; i < n; i++) {
        key_of(k, i);
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
            key_of(k, i);
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
    fc_options o = small_opts();
    o.arena_path = path;
    o.arena_size = 64u << 20;
    o.write_buffer_size = 8u << 20;
    fc_store *s = NULL;
    int rc = fc_open(DIR_, &o, &s), ok = 0;
    if (rc == 0) {
        char k[32], v[1000];
        memset(v, 'z', sizeof v);
        for (int i = 0; i < 6000 && rc == 0; i++) {
            key_of(k, i);
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
    snprintf(mnt, sizeof mnt, "%s.fs", DIR_);
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
    TCase *tc = tcase_create("arena_full");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, arena_full_stalls_until_the_reader_ends);
    tcase_add_test(tc, arena_full_stalls_until_the_reader_dies);
    tcase_add_test(tc, arena_full_pinned_by_the_writer_fails);
    tcase_add_test(tc, stale_snapshot_is_reported);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("fd_limit");
    tcase_add_checked_fixture(tf, setup, teardown);
    tcase_set_timeout(tf, 180);
    tcase_add_test(tf, many_tables_under_fd_limit_64);
    tcase_add_test(tf, limiter_zero_workers_read_everything);
    suite_add_tcase(s, tf);
    TCase *td = tcase_create("disk_full");
    tcase_add_checked_fixture(td, setup, teardown);
    tcase_add_test(td, full_fs_under_file_arena_is_enospc_not_sigbus);
    suite_add_tcase(s, td);
    return s;
}

FC_TEST_MAIN(exhaust_suite)
