/*
 * check_db_reclaim.c - reclamation: what a reader pins stays. A version a
 * child's transaction holds keeps its tables on disk across a compaction
 * and they are unlinked once it ends; a reader that pins one version too
 * long is named as stale, and no longer once it lets go; a reader killed
 * while pinning lets go of its tables even when no write follows.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define VAL_SIZE 1000
#define KEYS 4000

/* Every key, with the values of generation gen. */
static void write_all(fc_store *s, int gen)
{
    char k[32], v[128];
    for (int i = 0; i < KEYS; i++) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, gen);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
}

/* A child holds a transaction open across a compaction in the parent: the
 * tables its version uses must stay on disk (the parent waits for its pin)
 * and every read through the old version must still work. Once the child
 * ends the transaction, the next reclamation unlinks them. */
START_TEST(pinned_version_keeps_its_tables)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    write_all(s, 0);
    ck_assert_int_eq(fc_flush(s), 0);
    int to_child[2], to_parent[2];
    ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(to_parent, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c = 0;
        fc_txn *t;
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        if (write(to_parent[1], "p", 1) != 1 || read(to_child[0], &c, 1) != 1)
            _exit(3);
        for (int i = 0; i < 4000; i++) { /* the old version, after the compaction */
            fc_val got;
            fct_key_of(k, "key", 6, i);
            fct_val_of(v, i, 0);
            if (fc_get(t, k, strlen(k), &got) != 0 || got.size != strlen(v) ||
                memcmp(got.data, v, got.size) != 0)
                _exit(4);
        }
        fc_txn_end(t);
        if (write(to_parent[1], "d", 1) != 1)
            _exit(5);
        _exit(0);
    }
    close(to_parent[1]); /* so a child that dies shows as end of file */
    close(to_child[0]);
    char c;
    ck_assert_int_eq(read(to_parent[0], &c, 1), 1);
    /* Rewrite everything and compact: the child's tables leave the version. */
    write_all(s, 1);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c 'ldb$') -gt 1", fct_dir);
    ck_assert_msg(system(cmd) == 0, "old tables were unlinked while pinned");
    ck_assert_int_eq(write(to_child[1], "g", 1), 1);
    int done = (int)read(to_parent[0], &c, 1);
    int status;
    waitpid(pid, &status, 0);
    ck_assert_int_eq(done, 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    /* The pin is gone: the next change reclaims the old tables. */
    fct_put_str(s, "after", "x");
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int i = 0; i < 4000; i += 97) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 1);
        fct_expect(s, k, v);
    }
    fc_close(s);
}
END_TEST

/* The numbers of fct_dir's tables (at most cap), and how many. */
static int table_numbers(unsigned long *num, int cap)
{
    DIR *d = opendir(fct_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".ldb") == 0)
            num[n++] = strtoul(e->d_name, NULL, 10);
    }
    closedir(d);
    return n;
}

/* A reader killed while it pins an old version: with no write after its
 * death, its tables still go (the writer's idle reclamation sweeps its
 * slot); before, they stayed until the next write. */
START_TEST(killed_reader_tables_go_while_idle)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    write_all(s, 0);
    ck_assert_int_eq(fc_flush(s), 0);
    unsigned long old[256];
    int nold = table_numbers(old, 256);
    ck_assert_int_gt(nold, 0);
    int release;
    pid_t reader = fct_pin_reader(s, &release);
    write_all(s, 1);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/%06lu.ldb", fct_dir, old[0]);
    ck_assert_msg(access(path, F_OK) == 0, "%s went while pinned", path);
    kill(reader, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(reader, &status, 0), reader);
    close(release);
    /* No write from here on. The sweep runs each second; allow 30. */
    int left = nold;
    for (int tries = 0; tries < 300 && left > 0; tries++) {
        usleep(100 * 1000);
        left = 0;
        for (int i = 0; i < nold; i++) {
            snprintf(path, sizeof path, "%s/%06lu.ldb", fct_dir, old[i]);
            left += access(path, F_OK) == 0;
        }
    }
    ck_assert_msg(left == 0, "%d of %d old tables still on disk 30 s after their reader died",
                  left, nold);
    for (int i = 0; i < 4000; i += 97) {
        fct_key_of(k, "key", 6, i);
        fct_val_of(v, i, 1);
        fct_expect(s, k, v);
    }
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* max_snapshot_age_ms: a reader pinning one version while the writer
 * keeps writing is named as stale once the writer has seen its pin longer
 * than the limit, and no longer once it lets go. */
START_TEST(stale_snapshot_is_reported)
{
    fc_options o = fct_small_opts();
    o.max_snapshot_age_ms = 20;
    fc_store *s = fct_open_in(&o);
    int release;
    pid_t reader = fct_pin_reader(s, &release);
    char k[32], v[VAL_SIZE];
    memset(v, 's', sizeof v);
    fc_stats st;
    int i = 0;
    /* Writes until the stats name the reader (a generous guard). */
    for (;; i++) {
        ck_assert_int_lt(i, 2000000);
        fct_key_of(k, "key", 8, i);
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

static Suite *reclaim_suite(void)
{
    Suite *s = suite_create("db_reclaim");
    TCase *tc = tcase_create("reclaim");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pinned_version_keeps_its_tables);
    tcase_add_test(tc, stale_snapshot_is_reported);
    tcase_add_test(tc, killed_reader_tables_go_while_idle);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(reclaim_suite)
