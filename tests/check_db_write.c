/*
 * check_db_write.c - the write path: puts, deletes and batches, the WAL
 * they go through (preallocated only where writes are synced, and never
 * over records already written), memtable switches, and writes that stall
 * when a pinning reader fills the arena (then resume once it lets go, or
 * dies) or fail when the writer pins it itself.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define VAL_SIZE 1000
#define TOTAL_PUTS 40000   /* about 40 MB through a 16 MiB arena */

START_TEST(put_get_delete)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    fct_expect(s, "a", NULL);
    fct_put_str(s, "a", "1");
    fct_put_str(s, "b", "2");
    fct_expect(s, "a", "1");
    fct_put_str(s, "a", "3");
    fct_expect(s, "a", "3");
    ck_assert_int_eq(fc_del(s, "b", 1), 0);
    fct_expect(s, "b", NULL);
    fct_put_str(s, "", "empty key");
    fct_expect(s, "", "empty key");
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
    fct_expect(s, "x", "2");
    fct_expect(s, "y", NULL);
    ck_assert_int_eq(fc_write(s, b, 0x80), FC_EINVAL);
    fc_batch_free(b);
    fc_close(s);
}
END_TEST

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

/* A 16 MiB arena: a few hundred 64 KiB memtables pinned fill it. */
static fc_options stall_opts(void)
{
    fc_options o = fct_small_opts();
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

static void *writer_main(void *p)
{
    writer_arg *w = p;
    char k[32], v[VAL_SIZE];
    for (int i = 0; i < TOTAL_PUTS; i++) {
        fct_key_of(k, "key", 8, i);
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
        fct_key_of(k, "key", 8, i);
        ck_assert_int_eq(fc_get(t, k, strlen(k), &v), 0);
        ck_assert_uint_eq(v.size, VAL_SIZE);
        ck_assert_int_eq(((const char *)v.data)[0], 'a' + i % 26);
    }
    ck_assert_int_eq(fc_txn_end(t), 0);
}

static void run_stall(int kill_reader)
{
    fc_options o = stall_opts();
    fc_store *s = fct_open_in(&o);
    int release;
    pid_t reader = fct_pin_reader(s, &release);
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
    int crc = fc_close(s);
    ck_assert_msg(crc == 0, "fc_close: %s: %s", fc_strerror(crc), fc_errmsg(NULL));
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
    fc_store *s = fct_open_in(&o);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    char k[32], v[VAL_SIZE];
    memset(v, 'x', sizeof v);
    int rc = 0, i;
    for (i = 0; i < TOTAL_PUTS && rc == 0; i++) {
        fct_key_of(k, "key", 8, i);
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
    s = fct_open_in(&o);
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, k, strlen(k), &got), 0);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *write_suite(void)
{
    Suite *s = suite_create("db_write");
    TCase *tc = tcase_create("write");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, put_get_delete);
    tcase_add_test(tc, batch_is_atomic_and_ordered);
    tcase_add_test(tc, wal_prealloc_follows_sync);
    tcase_add_test(tc, first_synced_write_keeps_earlier_records);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("arena_full");
    tcase_add_checked_fixture(ta, fct_setup, fct_teardown);
    tcase_set_timeout(ta, 180);
    tcase_add_test(ta, arena_full_stalls_until_the_reader_ends);
    tcase_add_test(ta, arena_full_stalls_until_the_reader_dies);
    tcase_add_test(ta, arena_full_pinned_by_the_writer_fails);
    suite_add_tcase(s, ta);
    return s;
}

FCT_MAIN(write_suite)
