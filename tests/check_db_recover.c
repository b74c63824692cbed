/*
 * check_db_recover.c - recovery at open: a reopened store replays its WAL
 * (puts and deletes, across several reopens); a damaged WAL fails the open
 * naming the file and offset unless FC_BEST_EFFORT keeps the records around
 * the damage; and a record torn by a crash in the middle of a synced append
 * into the zero fill is dropped cleanly, with every write before it kept.
 * The kill -9 torture itself is check_crash.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

START_TEST(reopen_recovers_from_wal)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fct_put_str(s, "k1", "v1");
    fct_put_str(s, "k2", "v2");
    ck_assert_int_eq(fc_del(s, "k1", 2), 0);
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    fct_expect(s, "k1", NULL);
    fct_expect(s, "k2", "v2");
    fct_put_str(s, "k3", "v3");
    fc_close(s);
    s = fct_open_in(&o);
    fct_expect(s, "k2", "v2");
    fct_expect(s, "k3", "v3");
    fc_close(s);
}
END_TEST

/* Flips a byte in the middle of the WAL: the open fails naming the file
 * and the offset; FC_BEST_EFFORT opens and keeps the records around it. */
START_TEST(wal_damage_fails_open_unless_best_effort)
{
    fc_options o = fct_small_opts();
    o.write_buffer_size = 4u << 20; /* everything stays in the WAL */
    fc_store *s = fct_open_in(&o);
    char k[32], v[2048];
    for (int i = 0; i < 100; i++) {
        fct_key_of(k, "key", 6, i);
        memset(v, 'a' + i % 26, sizeof v - 1);
        v[sizeof v - 1] = '\0';
        fct_put_str(s, k, v);
    }
    /* Find the WAL before closing: close keeps it (nothing was flushed). */
    fc_close(s);
    char cmd[4300], wal[4200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep 'log$' | head -n 1", fct_dir);
    FILE *p = popen(cmd, "re");
    ck_assert_ptr_nonnull(p);
    char name[64] = "";
    ck_assert_ptr_nonnull(fgets(name, sizeof name, p));
    pclose(p);
    name[strcspn(name, "\n")] = '\0';
    snprintf(wal, sizeof wal, "%s/%s", fct_dir, name);
    int fd = open(wal, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    char byte;
    ck_assert_int_eq(pread(fd, &byte, 1, 50000), 1);
    byte ^= 0x40;
    ck_assert_int_eq(pwrite(fd, &byte, 1, 50000), 1);
    close(fd);
    fc_store *bad = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &bad), FC_ECORRUPT);
    ck_assert_msg(strstr(fc_errmsg(NULL), name) != NULL, "message names no file: %s", fc_errmsg(NULL));
    ck_assert_msg(strstr(fc_errmsg(NULL), "offset") != NULL, "message names no offset: %s", fc_errmsg(NULL));
    o.flags |= FC_BEST_EFFORT;
    s = fct_open_in(&o);
    fct_key_of(k, "key", 6, 0);
    memset(v, 'a', sizeof v - 1);
    fct_expect(s, k, v); /* the first block's records survive */
    fct_key_of(k, "key", 6, 99);
    memset(v, 'a' + 99 % 26, sizeof v - 1);
    fct_expect(s, k, v); /* and so do those after the damaged block */
    fc_close(s);
}
END_TEST

/* The live WAL's path (the only .log file) and the end of its records: the
 * file past them is the zero fill written ahead. */
static uint64_t wal_data_end(char *path, size_t cap)
{
    ck_assert_int_eq(fct_find_suffix(fct_dir, ".log", path, cap), 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, (size_t)size, 0), (ssize_t)size);
    close(fd);
    uint64_t end = (uint64_t)size;
    while (end > 0 && buf[end - 1] == 0)
        end--;
    free(buf);
    ck_assert_msg(end < (uint64_t)size, "%s has no zero fill", path);
    return end;
}

/* A machine crash in the middle of a synced append into the preallocated
 * WAL leaves the first part of the record and the zeros that were there.
 * The writer is a child that dies without closing; its last record (a
 * 20000-byte value) loses its second half to zeros. Recovery, strict, must
 * open the store with exactly the writes before it, and verify finds no
 * damage. */
START_TEST(torn_record_before_zero_fill)
{
    enum { N = 100, BIG = 20000 };
    static char big[BIG];
    memset(big, 'b', sizeof big);
    fc_options o = fct_small_opts();
    o.write_buffer_size = 4u << 20;   /* everything stays in the one WAL */
    o.flags |= FC_CREATE;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_store *s = NULL;
        int rc = fc_open(fct_dir, &o, &s);
        for (int i = 0; rc == 0 && i <= N; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "k%05d", i);
            fc_batch *b = NULL;
            rc = fc_batch_new(&b);
            if (rc == 0)
                rc = fc_batch_put(b, k, (size_t)kl, i < N ? k : big, i < N ? (size_t)kl : BIG);
            if (rc == 0)
                rc = fc_write(s, b, FC_WRITE_SYNC);
            fc_batch_free(b);
        }
        _exit(rc == 0 ? 0 : 1);   /* no close: the zero fill stays */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[4300];
    uint64_t end = wal_data_end(path, sizeof path);
    static char zeros[BIG / 2];
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, zeros, sizeof zeros, (off_t)(end - sizeof zeros)),
                     (ssize_t)sizeof zeros);
    close(fd);

    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
    fc_store *s = NULL;
    ck_assert_msg(fc_open(fct_dir, &o, &s) == 0, "open: %s", fc_errmsg(NULL));
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i <= N; i++) {
        char k[16], v[16];
        int kl = snprintf(k, sizeof k, "k%05d", i);
        size_t vl = 0;
        int rc = fc_get_copy(t, k, (size_t)kl, v, sizeof v, &vl);
        if (i < N)
            ck_assert_msg(rc == 0 && vl == (size_t)kl && memcmp(v, k, vl) == 0,
                          "%s: rc %d", k, rc);
        else
            ck_assert_int_eq(rc, FC_ENOTFOUND);
    }
    fc_txn_end(t);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *recover_suite(void)
{
    Suite *s = suite_create("db_recover");
    TCase *tc = tcase_create("recover");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reopen_recovers_from_wal);
    tcase_add_test(tc, wal_damage_fails_open_unless_best_effort);
    tcase_add_test(tc, torn_record_before_zero_fill);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(recover_suite)
