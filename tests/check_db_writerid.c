/*
 * check_db_writerid.c - a writer stays the only writer when its LOCK file
 * is removed under it (a /tmp cleaner deletes old empty files): a second
 * writer is refused, naming the first one's pid; the first writer takes a
 * removed LOCK back; and a writer that finds another process holding a new
 * LOCK stops writing instead of writing beside it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define KEYS 3000

static void put_range(fc_store *s, char prefix, int n)
{
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%c%05d", prefix, i);
        snprintf(v, sizeof v, "value-%c-%05d-padding-padding", prefix, i);
        int rc = fc_put(s, k, strlen(k), v, strlen(v));
        ck_assert_msg(rc == 0, "put %s: %s", k, fc_errmsg(s));
    }
}

/* How many of prefix's n keys the store holds with their value. */
static int count_range(fc_store *s, char prefix, int n)
{
    char k[32], v[64];
    int found = 0;
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < n; i++) {
        fc_val got;
        snprintf(k, sizeof k, "%c%05d", prefix, i);
        snprintf(v, sizeof v, "value-%c-%05d-padding-padding", prefix, i);
        if (fc_get(t, k, strlen(k), &got) == 0 && got.size == strlen(v) &&
            memcmp(got.data, v, got.size) == 0)
            found++;
    }
    fc_txn_end(t);
    return found;
}

/* What a cleaner does; FORKCACHE-WRITER may be absent (older builds). */
static void unlink_in(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fct_dir, name);
    ck_assert_msg(unlink(path) == 0 || (errno == ENOENT && strcmp(name, "LOCK") != 0),
                  "unlink %s", path);
}

static int child_status(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* The child's open, as a second program started on the store would: if it
 * gets in (the bug), it writes like a writer. 0 when refused with FC_EBUSY
 * naming the parent. */
static int second_writer(void)
{
    fc_options o = fct_small_opts();
    fc_store *t;
    int rc = fc_open(fct_dir, &o, &t);
    if (rc == 0) {
        char k[32];
        for (int i = 0; i < KEYS; i++) {
            snprintf(k, sizeof k, "b%05d", i);
            fc_put(t, k, strlen(k), "second", 6);
        }
        fc_close(t);
        return 1;
    }
    char want[64];
    snprintf(want, sizeof want, "process %d", (int)getppid());
    if (rc != FC_EBUSY || strstr(fc_errmsg(NULL), want) == NULL) {
        fprintf(stderr, "second writer: %s: %s\n", fc_strerror(rc), fc_errmsg(NULL));
        return 2;
    }
    return 0;
}

START_TEST(second_writer_refused_when_lock_removed)
{
    fc_options o = fct_small_opts(); /* anonymous arena, the API's default */
    fc_store *s = fct_open_in(&o);
    put_range(s, 'a', KEYS);
    unlink_in("LOCK");
    pid_t pid = fc_fork();
    if (pid == 0)
        _exit(second_writer());
    ck_assert_int_eq(child_status(pid), 0);
    put_range(s, 'c', KEYS);
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    ck_assert_int_eq(count_range(s, 'a', KEYS), KEYS);
    ck_assert_int_eq(count_range(s, 'c', KEYS), KEYS);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* The child asks who holds LOCK: 0 when it is the parent. */
static int parent_holds_lock(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/LOCK", fct_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int rc = fcntl(fd, F_GETLK, &who);
    close(fd);
    return rc == 0 && who.l_type != F_UNLCK && who.l_pid == getppid() ? 0 : 2;
}

START_TEST(writer_takes_a_removed_lock_back)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    put_range(s, 'a', 100);
    unlink_in("LOCK");
    unlink_in("FORKCACHE-WRITER");
    /* the flush's MANIFEST edit checks LOCK first */
    ck_assert_msg(fc_flush(s) == 0, "flush: %s", fc_errmsg(s));
    pid_t pid = fc_fork();
    if (pid == 0)
        _exit(parent_holds_lock());
    ck_assert_int_eq(child_status(pid), 0);
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/FORKCACHE-WRITER", fct_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    /* a second writer now meets the lock itself */
    pid = fc_fork();
    if (pid == 0)
        _exit(second_writer());
    ck_assert_int_eq(child_status(pid), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(stat(path, &st), -1); /* a clean close takes its name away */
}
END_TEST

/* Both names removed: nothing can keep a second writer out at its open,
 * but the first one must stop at its next MANIFEST edit rather than write
 * beside it. */
START_TEST(writer_stops_when_another_holds_a_new_lock)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    put_range(s, 'a', 100);
    unlink_in("LOCK");
    unlink_in("FORKCACHE-WRITER");
    int ready[2], done[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(done, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    if (pid == 0) {
        fc_options c = fct_small_opts();
        fc_store *t;
        char b = fc_open(fct_dir, &c, &t) == 0 ? 'y' : 'n';
        if (write(ready[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
            _exit(3);
        _exit(b == 'y' && fc_close(t) == 0 ? 0 : 4);
    }
    char b = 0;
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    ck_assert_int_eq(b, 'y');
    int rc = fc_flush(s);
    ck_assert_int_eq(rc, FC_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "process %d", (int)pid);
    ck_assert_msg(strstr(fc_errmsg(s), want) != NULL, "message: %s", fc_errmsg(s));
    ck_assert_int_eq(fc_put(s, "late", 4, "x", 1), FC_EBUSY);
    ck_assert_int_eq(write(done[1], "y", 1), 1);
    ck_assert_int_eq(child_status(pid), 0);
    fc_close(s);
    close(ready[0]);
    close(ready[1]);
    close(done[0]);
    close(done[1]);
}
END_TEST

static Suite *writerid_suite(void)
{
    Suite *s = suite_create("db_writerid");
    TCase *tc = tcase_create("writerid");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, second_writer_refused_when_lock_removed);
    tcase_add_test(tc, writer_takes_a_removed_lock_back);
    tcase_add_test(tc, writer_stops_when_another_holds_a_new_lock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(writerid_suite());
    srunner_set_fork_status(sr, CK_FORK_GETENV);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
