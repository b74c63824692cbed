/*
 * check_db_store.c - the store end to end in one writer process and its
 * forked readers: writes, recovery from the WAL, flushes, compactions,
 * the LOCK, and reads from children while the parent writes.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

static void put_str(fc_store *s, const char *k, const char *v)
{
    int rc = fc_put(s, k, strlen(k), v, strlen(v));
    ck_assert_msg(rc == 0, "put %s: %s", k, fc_errmsg(s));
}

/* Returns 1 and checks the value when want != NULL, else checks absence. */
static void expect(fc_store *s, const char *k, const char *want)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    int rc = fc_get(t, k, strlen(k), &v);
    if (want == NULL) {
        ck_assert_msg(rc == FC_ENOTFOUND, "%s: expected absent, got %d", k, rc);
    } else {
        ck_assert_msg(rc == 0, "%s: %s (%s)", k, fc_strerror(rc), fc_errmsg(s));
        ck_assert_uint_eq(v.size, strlen(want));
        ck_assert_int_eq(memcmp(v.data, want, v.size), 0);
    }
    fc_txn_end(t);
}

static void val_of(char *buf, int i, int gen)
{
    sprintf(buf, "value-%d-%d-%0*d", i, gen, 40 + i % 50, i);
}

START_TEST(put_get_delete)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    expect(s, "a", NULL);
    put_str(s, "a", "1");
    put_str(s, "b", "2");
    expect(s, "a", "1");
    put_str(s, "a", "3");
    expect(s, "a", "3");
    ck_assert_int_eq(fc_del(s, "b", 1), 0);
    expect(s, "b", NULL);
    put_str(s, "", "empty key");
    expect(s, "", "empty key");
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

START_TEST(batch_is_atomic_and_ordered)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "x", 1, "1", 1), 0);
    ck_assert_int_eq(fc_batch_put(b, "x", 1, "2", 1), 0);
    ck_assert_int_eq(fc_batch_put(b, "y", 1, "3", 1), 0);
    ck_assert_int_eq(fc_batch_del(b, "y", 1), 0);
    ck_assert_uint_eq(fc_batch_count(b), 4);
    ck_assert_int_eq(fc_write(s, b, FC_WRITE_SYNC), 0);
    expect(s, "x", "2");
    expect(s, "y", NULL);
    ck_assert_int_eq(fc_write(s, b, 0x80), FC_EINVAL);
    fc_batch_free(b);
    fc_close(s);
}
END_TEST

START_TEST(limits_and_bad_arguments)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    static char big[FC_MAX_KEY_SIZE + 1];
    ck_assert_int_eq(fc_put(s, big, sizeof big, "v", 1), FC_ETOOBIG);
    ck_assert_int_eq(fc_put(s, big, FC_MAX_KEY_SIZE, "v", 1), 0);
    ck_assert_int_eq(fc_put(s, NULL, 3, "v", 1), FC_EINVAL);
    ck_assert_int_eq(fc_put(NULL, "k", 1, "v", 1), FC_EINVAL);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    ck_assert_int_eq(fc_get(t, big, sizeof big, &v), FC_ETOOBIG);
    ck_assert_int_eq(fc_get(t, NULL, 1, &v), FC_EINVAL);
    ck_assert_int_eq(fc_get(t, "k", 1, NULL), FC_EINVAL);
    fc_txn_end(t);
    ck_assert_int_eq(fc_txn_begin(NULL, &t), FC_EINVAL);
    fc_close(s);
    ck_assert_int_eq(fc_open(NULL, &o, &s), FC_EINVAL);
    o.block_size = 1;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EINVAL);
}
END_TEST

START_TEST(reopen_recovers_from_wal)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    put_str(s, "k1", "v1");
    put_str(s, "k2", "v2");
    ck_assert_int_eq(fc_del(s, "k1", 2), 0);
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    expect(s, "k1", NULL);
    expect(s, "k2", "v2");
    put_str(s, "k3", "v3");
    fc_close(s);
    s = fct_open_in(&o);
    expect(s, "k2", "v2");
    expect(s, "k3", "v3");
    fc_close(s);
}
END_TEST

START_TEST(flush_and_compaction_keep_every_key)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    const int n = 6000;
    for (int gen = 0; gen < 2; gen++)
        for (int i = 0; i < n; i++) {
            fct_key_of(k, "key", 6, i);
            val_of(v, i, gen);
            ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
        }
    for (int i = 0; i < n; i += 3) {
        fct_key_of(k, "key", 6, i);
        ck_assert_int_eq(fc_del(s, k, strlen(k)), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++) {
            fct_key_of(k, "key", 6, i);
            val_of(v, i, 1);
            expect(s, k, i % 3 == 0 ? NULL : v);
        }
        ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    s = fct_open_in(&o);
    for (int i = 1; i < n; i += 7) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 1);
        expect(s, k, i % 3 == 0 ? NULL : v);
    }
    fc_close(s);
}
END_TEST

START_TEST(second_writer_is_busy)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A different process, so the fcntl lock really conflicts. */
        fc_store *other = NULL;
        int rc = fc_open(fct_dir, &o, &other);
        _exit(rc == FC_EBUSY && strstr(fc_errmsg(NULL), "locked by process") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fc_close(s);
}
END_TEST

START_TEST(missing_store_without_create)
{
    fc_options o = fct_small_opts();
    o.flags = 0;
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_ENOTFOUND);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "CURRENT"));
}
END_TEST

START_TEST(files_are_private_by_default)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    put_str(s, "k", "v");
    ck_assert_int_eq(fc_flush(s), 0);
    fc_close(s);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "find '%s' -type f ! -perm 600 | grep -q .", fct_dir);
    ck_assert_msg(system(cmd) != 0, "a store file is not mode 0600");
}
END_TEST

/* Forked children read what the parent wrote, zero-copy through the arena
 * and the tables, while the parent keeps writing and flushing. */
START_TEST(forked_readers_see_writes)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    pid_t kids[4];
    for (int c = 0; c < 4; c++) {
        kids[c] = fc_fork();
        ck_assert_int_ge(kids[c], 0);
        if (kids[c] == 0) {
            if (fc_after_fork(s) != 0)
                _exit(3);
            for (int round = 0; round < 3; round++)
                for (int i = c; i < 3000; i += 4) {
                    fc_txn *t;
                    fc_val got;
                    fct_key_of(k, "key", 6, i);
                    if (fc_txn_begin(s, &t) != 0)
                        _exit(4);
                    int rc = fc_get(t, k, strlen(k), &got);
                    int bad = rc != 0 || got.size < 8 || memcmp(got.data, "value-", 6) != 0;
                    fc_txn_end(t);
                    if (bad)
                        _exit(5);
                }
            fc_close(s);
            _exit(0);
        }
    }
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 1);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    for (int c = 0; c < 4; c++) {
        int status;
        waitpid(kids[c], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d: status %d", c, status);
    }
    fc_close(s);
}
END_TEST

/* A child holds a transaction open across a compaction in the parent: the
 * tables its version uses must stay on disk (the parent waits for its pin)
 * and every read through the old version must still work. Once the child
 * ends the transaction, the next reclamation unlinks them. */
START_TEST(pinned_version_keeps_its_tables)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    for (int i = 0; i < 4000; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
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
            val_of(v, i, 0);
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
    for (int i = 0; i < 4000; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 1);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
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
    put_str(s, "after", "x");
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int i = 0; i < 4000; i += 97) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 1);
        expect(s, k, v);
    }
    fc_close(s);
}
END_TEST

/* Flips a byte in the middle of the WAL: the open fails naming the file
 * and the offset; FC_BEST_EFFORT opens and keeps the records around it. */
/* The live WAL: the .log file with the highest number. Its number, its
 * size, and whether its last byte is zero (the zero fill written ahead). */
static unsigned long long live_wal(off_t *size, int *ends_in_zero)
{
    DIR *d = opendir(fct_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    unsigned long long best = 0;
    while ((e = readdir(d)) != NULL) {
        unsigned long long n;
        char tail[8];
        if (sscanf(e->d_name, "%llu.%7s", &n, tail) == 2 && strcmp(tail, "log") == 0 && n > best)
            best = n;
    }
    closedir(d);
    ck_assert_uint_gt(best, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/%06llu.log", fct_dir, best);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    *size = lseek(fd, 0, SEEK_END);
    char last = 1;
    if (*size > 0)
        ck_assert_int_eq(pread(fd, &last, 1, *size - 1), 1);
    close(fd);
    *ends_in_zero = *size > 0 && last == 0;
    return best;
}

/* Puts until the live WAL is another one (a memtable switch happened). */
static void fill_until_new_wal(fc_store *s, int *next, unsigned flags)
{
    off_t size;
    int zero;
    unsigned long long first = live_wal(&size, &zero);
    for (int guard = 0; live_wal(&size, &zero) == first; guard++) {
        char k[32], v[200];
        int kl = snprintf(k, sizeof k, "key%08d", (*next)++);
        memset(v, 'a' + *next % 26, sizeof v);
        fc_batch *b;
        ck_assert_int_eq(fc_batch_new(&b), 0);
        ck_assert_int_eq(fc_batch_put(b, k, (size_t)kl, v, sizeof v), 0);
        ck_assert_int_eq(fc_write(s, b, flags), 0);
        fc_batch_free(b);
        ck_assert_int_lt(guard, 100000);
    }
}

/* WALs are preallocated (zeros written ahead) only where synced writes
 * are expected: from the first synced write on, and a WAL that replaces
 * one that had a synced write. An open writes no zeros, and a store that
 * never syncs appends plainly; a clean close cuts the zeros off. */
START_TEST(wal_prealloc_follows_sync)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    int zero, next = 0;
    off_t size;
    live_wal(&size, &zero);
    ck_assert_msg(size == 0, "an open wrote %lld bytes of zeros before any write",
                  (long long)size);
    fill_until_new_wal(s, &next, 0);
    live_wal(&size, &zero);
    ck_assert_msg(size > 0 && !zero, "an unsynced store's later WAL (%lld bytes) has zeros",
                  (long long)size);
    /* The first synced write preallocates the live WAL. */
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "synced", 6, "v", 1), 0);
    ck_assert_int_eq(fc_write(s, b, FC_WRITE_SYNC), 0);
    fc_batch_free(b);
    live_wal(&size, &zero);
    ck_assert_msg(size >= 64 * 1024 && zero, "the first synced write preallocates (%lld bytes)",
                  (long long)size);
    fill_until_new_wal(s, &next, FC_WRITE_SYNC);
    live_wal(&size, &zero);
    ck_assert_msg(size >= 64 * 1024 && zero, "a WAL after synced writes is preallocated");
    ck_assert_int_eq(fc_close(s), 0);
    live_wal(&size, &zero);
    ck_assert_msg(size > 0 && !zero, "close leaves the zero fill (%lld bytes)", (long long)size);
}
END_TEST

/* Records written before a WAL's first synced write stay: its zero fill
 * starts after them (it once started at offset 0 and zeroed them). Both
 * after a crash (the child exits without closing) and a clean close. */
START_TEST(first_synced_write_keeps_earlier_records)
{
    for (int crash = 1; crash >= 0; crash--) {
        fct_rmtree(fct_dir);
        pid_t pid = fc_fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            fc_options o = fct_small_opts();
            o.write_buffer_size = 4u << 20; /* everything stays in the WAL */
            fc_store *s;
            if (fc_open(fct_dir, &o, &s) != 0) {
                fprintf(stderr, "open: %s\n", fc_errmsg(NULL));
                _exit(2);
            }
            char k[32];
            for (int i = 0; i < 101; i++) {
                fct_key_of(k, "key", 6, i);
                fc_batch *b;
                if (fc_batch_new(&b) != 0 || fc_batch_put(b, k, strlen(k), k, strlen(k)) != 0 ||
                    fc_write(s, b, i == 100 ? FC_WRITE_SYNC : 0) != 0)
                    _exit(3);
                fc_batch_free(b);
            }
            _exit(crash ? 0 : (fc_close(s) == 0 ? 0 : 4));
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer: %#x", status);
        ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
        fc_options o = fct_small_opts();
        fc_store *s = fct_open_in(&o);
        fc_txn *t;
        ck_assert_int_eq(fc_txn_begin(s, &t), 0);
        for (int i = 0; i < 101; i++) {
            char k[32], v[32];
            size_t n = 0;
            fct_key_of(k, "key", 6, i);
            ck_assert_msg(fc_get_copy(t, k, strlen(k), v, sizeof v, &n) == 0 && n == strlen(k) &&
                          memcmp(v, k, n) == 0, "%s: key %d lost", crash ? "crash" : "close", i);
        }
        ck_assert_int_eq(fc_txn_end(t), 0);
        ck_assert_int_eq(fc_close(s), 0);
    }
}
END_TEST

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
        put_str(s, k, v);
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
    expect(s, k, v); /* the first block's records survive */
    fct_key_of(k, "key", 6, 99);
    memset(v, 'a' + 99 % 26, sizeof v - 1);
    expect(s, k, v); /* and so do those after the damaged block */
    fc_close(s);
}
END_TEST

/* Figures agree with what was done, and a forked reader sees the same
 * store-wide ones (they live in the arena) plus its own slot. */
START_TEST(stats_in_writer_and_reader)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[128];
    for (int i = 0; i < 3000; i++) {
        fct_key_of(k, "key", 6, i);
        val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, strlen(v)), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    fct_key_of(k, "key", 6, 5);
    val_of(v, 5, 0);
    expect(s, k, v); /* maps a table */
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_int_eq(st.writer_pid, getpid());
    ck_assert_uint_eq(st.last_sequence, 3000);
    ck_assert_uint_ge(st.flushes, 1);
    ck_assert_uint_ge(st.compactions + st.files[1] + st.files[2], 1);
    uint32_t files = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        files += st.files[l];
    ck_assert_uint_ge(files, 2);
    ck_assert_uint_eq(st.files[0], 0); /* a full compaction empties L0 */
    ck_assert_uint_ge(st.tables_mapped, 1);
    ck_assert_uint_ge(st.mappings_in_use, 1);
    ck_assert_uint_eq(st.mappings_capacity, 1000);
    ck_assert_uint_ge(st.readers, 1);
    ck_assert_int_eq(st.stall, FC_STALL_NONE);
    ck_assert_uint_gt(st.arena_in_use, 0);
    ck_assert_uint_gt(st.block_cache_size, 0);       /* the writer carved one */
    ck_assert_uint_eq(st.block_cache_misses, 0);     /* mapped, uncompressed: unused */
    pid_t pid = fc_fork();
    if (pid == 0) {
        fc_stats cs;
        fc_reader_stat rs[16];
        size_t n = 0;
        int mine = 0;
        if (fc_after_fork(s) != 0 || fc_stats_get(s, &cs) != 0 ||
            fc_stats_readers(s, rs, 16, &n) != 0)
            _exit(2);
        for (size_t i = 0; i < n; i++)
            mine |= rs[i].pid == getpid();
        _exit(cs.writer_pid == getppid() && cs.last_sequence == 3000 && cs.flushes == st.flushes &&
              cs.tables_mapped == 0 && n >= 2 && mine ? 0 : 3);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_eq(fc_stats_get(NULL, &st), FC_EINVAL);
    fc_close(s);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("db_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, put_get_delete);
    tcase_add_test(tc, batch_is_atomic_and_ordered);
    tcase_add_test(tc, limits_and_bad_arguments);
    tcase_add_test(tc, reopen_recovers_from_wal);
    tcase_add_test(tc, flush_and_compaction_keep_every_key);
    tcase_add_test(tc, second_writer_is_busy);
    tcase_add_test(tc, missing_store_without_create);
    tcase_add_test(tc, files_are_private_by_default);
    tcase_add_test(tc, forked_readers_see_writes);
    tcase_add_test(tc, pinned_version_keeps_its_tables);
    tcase_add_test(tc, wal_damage_fails_open_unless_best_effort);
    tcase_add_test(tc, wal_prealloc_follows_sync);
    tcase_add_test(tc, first_synced_write_keeps_earlier_records);
    tcase_add_test(tc, stats_in_writer_and_reader);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(store_suite)
