/*
 * check_db_ttl.c - expiry in a ttl_framing store, judged by the injectable
 * test clock (fci_ttl_set_clock) so nothing sleeps: gets, copies, fc_ttl,
 * iterators both ways and seeks, with the data in the memtable, in tables
 * and after compaction; a forked reader sees the clock move; writes through
 * the write queue; batches; compaction drops expired entries without
 * bringing older versions back; a wholly expired table is dropped unread;
 * the FORKCACHE option file.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/ttl.h"
#include "db/write/write.h"

#define T0 UINT64_C(1700000000000) /* a fixed "now", ms since the epoch */

static fc_options ttl_opts(void)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = 1;
    return o;
}

static fc_store *open_ttl(void)
{
    fc_options o = ttl_opts();
    fc_store *s = fct_open_in(&o);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0), 0);
    return s;
}

static int ttl_of(fc_store *s, const char *key, uint64_t *left)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    int rc = fc_ttl(t, key, strlen(key), left);
    ck_assert_int_eq(fc_txn_end(t), 0);
    return rc;
}

static void put_ttl(fc_store *s, const char *key, const char *val, uint64_t ttl)
{
    int rc = fc_put_ttl(s, key, strlen(key), val, strlen(val), ttl);
    ck_assert_msg(rc == 0, "fc_put_ttl %s: %s: %s", key, fc_strerror(rc), fc_errmsg(s));
}

static void stats_of(fc_store *s, fc_stats *st)
{
    ck_assert_int_eq(fc_stats_get(s, st), 0);
}

START_TEST(test_get_and_ttl)
{
    fc_store *s = open_ttl();
    char buf[64];
    uint64_t left;
    put_ttl(s, "a", "alpha", 1000);
    ck_assert_int_eq(fc_put(s, "b", 1, "beta", 4), 0);
    put_ttl(s, "c", "gamma", 5000);
    ck_assert_int_eq(fc_put(s, "d", 1, "old", 3), 0);
    put_ttl(s, "d", "new", 10);

    ck_assert_int_eq(fct_get_str(s, "a", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "alpha");
    ck_assert_int_eq(ttl_of(s, "a", &left), 0);
    ck_assert_uint_eq(left, 1000);
    ck_assert_int_eq(ttl_of(s, "b", &left), 0);
    ck_assert_uint_eq(left, FC_TTL_FOREVER);
    ck_assert_int_eq(ttl_of(s, "zz", &left), FC_ENOTFOUND);

    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 999), 0);
    ck_assert_int_eq(ttl_of(s, "a", &left), 0);
    ck_assert_uint_eq(left, 1);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    ck_assert_int_eq(fct_get_str(s, "a", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(ttl_of(s, "a", &left), FC_ENOTFOUND);
    /* The expired newer version hides the older one, like a deletion. */
    ck_assert_int_eq(fct_get_str(s, "d", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "beta");
    ck_assert_int_eq(ttl_of(s, "c", &left), 0);
    ck_assert_uint_eq(left, 4000);

    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    size_t vlen = 0;
    ck_assert_int_eq(fc_get_copy(t, "a", 1, buf, sizeof buf, &vlen), FC_ENOTFOUND);
    ck_assert_int_eq(fc_get_copy(t, "c", 1, buf, sizeof buf, &vlen), 0);
    ck_assert_uint_eq(vlen, 5);
    ck_assert_int_eq(memcmp(buf, "gamma", 5), 0);
    ck_assert_int_eq(fc_get_copy(t, "c", 1, buf, 4, &vlen), FC_ELIMIT);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- iterators: keys k000..k199; even ones expire at T0+1000 ------------- */

#define NK 200

/* Older never-expiring versions, then the newest ones; with flush_between
 * they sit in two overlapping tables, so compaction really merges them. */
static void fill(fc_store *s, int flush_between)
{
    char k[16], v[32];
    for (int i = 0; i < NK; i++) {
        fct_key_of(k, "k", 3, i);
        snprintf(v, sizeof v, "old%03d", i);
        ck_assert_int_eq(fc_put(s, k, 4, v, strlen(v)), 0);
    }
    if (flush_between)
        ck_assert_int_eq(fc_flush(s), 0);
    for (int i = 0; i < NK; i++) {
        fct_key_of(k, "k", 3, i);
        snprintf(v, sizeof v, "value%03d", i);
        put_ttl(s, k, v, i % 2 == 0 ? 1000 : 0);
    }
}

/* Walks the whole store forwards and backwards after the even keys
 * expired: exactly the odd keys with their newest values, frames off. */
static void check_scans(fc_store *s)
{
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    char k[16], v[32];
    int i = 1, rc;
    for (rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it), i += 2) {
        fct_key_of(k, "k", 3, i);
        snprintf(v, sizeof v, "value%03d", i);
        fc_val kv = fc_iter_key(it), vv = fc_iter_value(it);
        ck_assert_uint_eq(kv.size, 4);
        ck_assert_int_eq(memcmp(kv.data, k, 4), 0);
        ck_assert_uint_eq(vv.size, strlen(v));
        ck_assert_int_eq(memcmp(vv.data, v, vv.size), 0);
    }
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(i, NK + 1);
    i = NK - 1;
    for (rc = fc_iter_last(it); rc == 0; rc = fc_iter_prev(it), i -= 2) {
        fct_key_of(k, "k", 3, i);
        snprintf(v, sizeof v, "value%03d", i);
        fc_val kv = fc_iter_key(it), vv = fc_iter_value(it);
        ck_assert_int_eq(memcmp(kv.data, k, 4), 0);
        ck_assert_uint_eq(vv.size, strlen(v));
        ck_assert_int_eq(memcmp(vv.data, v, vv.size), 0);
    }
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(i, -1);
    /* A seek to an expired key lands on the next live one; a step back
     * from there skips the expired key too. */
    ck_assert_int_eq(fc_iter_seek(it, "k100", 4), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "k101", 4), 0);
    ck_assert_int_eq(fc_iter_prev(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "k099", 4), 0);
    ck_assert_int_eq(fc_iter_next(it), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "k101", 4), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
}

/* Before expiry every key shows its newest value. */
static void check_all_live(fc_store *s)
{
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    int n = 0, rc;
    for (rc = fc_iter_first(it); rc == 0; rc = fc_iter_next(it), n++)
        ck_assert_int_eq(memcmp(fc_iter_value(it).data, "value", 5), 0);
    ck_assert_int_eq(rc, FC_ENOTFOUND);
    ck_assert_int_eq(n, NK);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
}

START_TEST(test_iterators_memtable_tables_compacted)
{
    fc_store *s = open_ttl();
    fill(s, 0);
    check_all_live(s);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    check_scans(s);                 /* in the memtable */
    ck_assert_int_eq(fc_close(s), 0);
    fct_rmtree(fct_dir);
    s = open_ttl();
    fill(s, 1);                     /* old versions in a table, new ones in the memtable */
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    check_scans(s);
    ck_assert_int_eq(fc_flush(s), 0);
    check_scans(s);                 /* in a level-0 table */
    fc_stats st;
    stats_of(s, &st);
    ck_assert_uint_eq(st.expired_entries, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    check_scans(s);                 /* compacted: expired entries dropped */
    stats_of(s, &st);
    ck_assert_uint_eq(st.expired_entries, NK / 2);
    char buf[32];
    ck_assert_int_eq(fct_get_str(s, "k010", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "k011", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "value011");
    /* Back in time (tests only): the dropped entries are gone for good,
     * and the older versions they hid did not come back. */
    ck_assert_int_eq(fci_ttl_set_clock(s, T0), 0);
    ck_assert_int_eq(fct_get_str(s, "k010", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fc_close(s), 0);

    /* Reopened: the framing comes from the FORKCACHE file, the data from
     * the tables. */
    fc_options o = fct_small_opts();
    s = fct_open_in(&o);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    check_scans(s);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A forked reader judges expiry by the same clock: it sees the key, the
 * parent moves the clock, it no longer does (nor in a scan). */
START_TEST(test_forked_reader)
{
    fc_store *s = open_ttl();
    put_ttl(s, "x", "soon", 500);
    put_ttl(s, "y", "later", 5000);
    int go[2], done[2];
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(done, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c = 0, buf[16];
        int ok = fc_after_fork(s) == 0;
        ok = ok && fct_get_str(s, "x", buf, sizeof buf) == 0 && strcmp(buf, "soon") == 0;
        if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
            ok = 0;
        ok = ok && fct_get_str(s, "x", buf, sizeof buf) == FC_ENOTFOUND;
        ok = ok && fct_get_str(s, "y", buf, sizeof buf) == 0 && strcmp(buf, "later") == 0;
        fc_txn *t;
        fc_iter *it;
        ok = ok && fc_txn_begin(s, &t) == 0 && fc_iter_new(t, &it) == 0;
        ok = ok && fc_iter_first(it) == 0 && fc_iter_key(it).size == 1 &&
             ((const char *)fc_iter_key(it).data)[0] == 'y' && fc_iter_next(it) == FC_ENOTFOUND;
        if (ok) {
            fc_iter_free(it);
            ok = fc_txn_end(t) == 0;
        }
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    char c = 0;
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 500), 0);
    ck_assert_int_eq(write(done[1], &c, 1), 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A worker's ttl'd puts and batches go through the write queue with
 * their frames fixed by the shared clock in the worker. */
START_TEST(test_through_queue)
{
    fc_store *s = open_ttl();
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = fc_after_fork(s) == 0;
        ok = ok && fc_put_ttl(s, "q1", 2, "one", 3, 100) == 0;
        ok = ok && fc_put(s, "q2", 2, "two", 3) == 0;
        fc_batch *b;
        ok = ok && fc_batch_new(&b) == 0;
        ok = ok && fc_batch_put(b, "q3", 2, "three", 5) == 0;
        ok = ok && fc_batch_put_ttl(b, "q4", 2, "four", 4, 300) == 0;
        ok = ok && fc_write(s, b, 0) == 0;
        fc_batch_free(b);
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint64_t left;
    ck_assert_int_eq(ttl_of(s, "q1", &left), 0);
    ck_assert_uint_eq(left, 100);
    ck_assert_int_eq(ttl_of(s, "q2", &left), 0);
    ck_assert_uint_eq(left, FC_TTL_FOREVER);
    ck_assert_int_eq(ttl_of(s, "q3", &left), 0);
    ck_assert_uint_eq(left, FC_TTL_FOREVER);
    ck_assert_int_eq(ttl_of(s, "q4", &left), 0);
    ck_assert_uint_eq(left, 300);
    char buf[16];
    ck_assert_int_eq(fct_get_str(s, "q3", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "three");
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 300), 0);
    ck_assert_int_eq(fct_get_str(s, "q1", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "q4", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "q2", buf, sizeof buf), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A batch mixing plain and ttl'd puts and a delete; written twice, its
 * expiries are fixed from the clock at each write. */
START_TEST(test_batches)
{
    fc_store *s = open_ttl();
    ck_assert_int_eq(fc_put(s, "gone", 4, "x", 1), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "plain", 5, "p", 1), 0);  /* framed later */
    ck_assert_int_eq(fc_batch_put_ttl(b, "short", 5, "s", 1, 50), 0);
    ck_assert_int_eq(fc_batch_del(b, "gone", 4), 0);
    ck_assert_int_eq(fc_batch_put(b, "plain2", 6, "p2", 2), 0);
    ck_assert_uint_eq(fc_batch_count(b), 4);
    ck_assert_int_eq(fc_write(s, b, 0), 0);
    uint64_t left;
    char buf[16];
    ck_assert_int_eq(ttl_of(s, "short", &left), 0);
    ck_assert_uint_eq(left, 50);
    ck_assert_int_eq(fct_get_str(s, "plain", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "p");
    ck_assert_int_eq(fct_get_str(s, "plain2", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "p2");
    ck_assert_int_eq(fct_get_str(s, "gone", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 50), 0);
    ck_assert_int_eq(fct_get_str(s, "short", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fc_write(s, b, 0), 0); /* again: 50 ms from T0 + 50 */
    ck_assert_int_eq(ttl_of(s, "short", &left), 0);
    ck_assert_uint_eq(left, 50);
    ck_assert_int_eq(fct_get_str(s, "plain", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "p");
    fc_batch_free(b);

    /* A plain batch written to a framed store gets never-expiring frames. */
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "pb", 2, "vv", 2), 0);
    ck_assert_int_eq(fc_write(s, b, 0), 0);
    ck_assert_int_eq(fct_get_str(s, "pb", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "vv");
    fc_batch_free(b);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Without ttl_framing: ttl'd writes are refused, ttl 0 is a plain put and
 * values carry no frame. */
START_TEST(test_unframed_store_refuses)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    ck_assert_int_eq(fc_put_ttl(s, "a", 1, "v", 1, 10), FC_EUNSUPPORTED);
    ck_assert_int_eq(fc_put_ttl(s, "a", 1, "v", 1, 0), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put_ttl(b, "b", 1, "w", 1, 10), 0);
    ck_assert_int_eq(fc_write(s, b, 0), FC_EUNSUPPORTED);
    fc_batch_clear(b);
    ck_assert_int_eq(fc_batch_put_ttl(b, "b", 1, "w", 1, 0), 0);
    ck_assert_int_eq(fc_write(s, b, 0), 0);
    fc_batch_free(b);
    fc_txn *t;
    fc_val v;
    uint64_t left;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_get(t, "a", 1, &v), 0);
    ck_assert_uint_eq(v.size, 1);
    ck_assert_int_eq(fc_get(t, "b", 1, &v), 0);
    ck_assert_uint_eq(v.size, 1);
    ck_assert_int_eq(fc_ttl(t, "a", 1, &left), 0);
    ck_assert_uint_eq(left, FC_TTL_FOREVER);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
    /* Framing cannot be added to a store made without it. */
    o.ttl_framing = 1;
    fc_store *s2 = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s2), FC_EINVAL);
    ck_assert_ptr_null(s2);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "ttl_framing"));
}
END_TEST

static void write_file(const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fct_dir, name);
    FILE *f = fopen(path, "we");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The FORKCACHE file: written at creation, followed by every open
 * (read-only included), refused when damaged or naming an unknown option. */
START_TEST(test_options_file)
{
    fc_store *s = open_ttl();
    put_ttl(s, "k", "v", 0);
    ck_assert_int_eq(fc_close(s), 0);
    char path[4200], text[128] = { 0 };
    snprintf(path, sizeof path, "%s/FORKCACHE", fct_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_gt(fread(text, 1, sizeof text - 1, f), 0);
    fclose(f);
    ck_assert_str_eq(text, "forkcache-options 1\nttl_framing 1\n");

    fc_options o = fct_small_opts();
    o.flags = FC_READONLY;
    s = fct_open_in(&o);
    char buf[8];
    ck_assert_int_eq(fct_get_str(s, "k", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v");
    ck_assert_int_eq(fc_close(s), 0);

    o = fct_small_opts();
    write_file("FORKCACHE", "forkcache-options 1\nttl_framing 1\ncolour 3\n");
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "colour"));
    write_file("FORKCACHE", "forkcache-options 9\n");
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_ECORRUPT);
    write_file("FORKCACHE", "forkcache-options 1\nttl_framing 1\n");
    s = fct_open_in(&o);
    ck_assert_int_eq(fct_get_str(s, "k", buf, sizeof buf), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* Overwrites a table's first bytes (its first data block). */
static void damage_table(uint64_t number)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%06llu.ldb", fct_dir, (unsigned long long)number);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    char junk[64];
    memset(junk, 0x5a, sizeof junk);
    ck_assert_int_eq(pwrite(fd, junk, sizeof junk, 0), (ssize_t)sizeof junk);
    close(fd);
}

/* The newest table file in the directory (the one just flushed). */
static uint64_t newest_table(void)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep 'ldb$' | sort | tail -1", fct_dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    unsigned long long n = 0;
    ck_assert_int_eq(fscanf(p, "%llu", &n), 1);
    pclose(p);
    return n;
}

static void put_range(fc_store *s, const char *prefix, int n, uint64_t ttl)
{
    char k[32];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "%s%04d", prefix, i);
        put_ttl(s, k, "some value bytes", ttl);
    }
}

/* A table whose entries have all expired goes whole: its data is damaged
 * first, so reading it in any way would fail. A newer expired table over
 * an older live one stays (dropping it would bring the older values back). */
START_TEST(test_expired_table_dropped_unread)
{
    fc_store *s = open_ttl();
    put_range(s, "a", 100, 1000);        /* table A: all expire at T0+1000 */
    ck_assert_int_eq(fc_flush(s), 0);
    uint64_t a = newest_table();
    put_range(s, "b", 100, 0);           /* table B: never */
    ck_assert_int_eq(fc_flush(s), 0);
    put_range(s, "b", 100, 1000);        /* table C: newer versions of B's keys */
    ck_assert_int_eq(fc_flush(s), 0);
    fc_stats st;
    stats_of(s, &st);
    ck_assert_uint_eq(st.files[0], 3);
    uint64_t a_size = 0;
    {
        char path[4200];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%06llu.ldb", fct_dir, (unsigned long long)a);
        ck_assert_int_eq(stat(path, &sb), 0);
        a_size = (uint64_t)sb.st_size;
    }
    damage_table(a);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    put_ttl(s, "z", "trigger", 0);       /* a flush runs the drop rules */
    ck_assert_int_eq(fc_flush(s), 0);
    stats_of(s, &st);
    ck_assert_uint_eq(st.expired_tables, 1);
    ck_assert_uint_eq(st.expired_bytes, a_size);
    ck_assert_uint_eq(st.files[0], 3);   /* B, C and the new one */
    ck_assert_int_eq(st.stall, FC_STALL_NONE);
    char buf[32];
    ck_assert_int_eq(fct_get_str(s, "a0007", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fct_get_str(s, "b0007", buf, sizeof buf), FC_ENOTFOUND); /* not resurrected */
    ck_assert_int_eq(fct_get_str(s, "z", buf, sizeof buf), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* An expired table in level 1 with nothing under it goes too, found by
 * the background thread's own periodic look (no write wakes it): polled
 * in 10 ms steps, with a generous guard instead of a timing assertion. */
START_TEST(test_expired_table_in_level1_idle)
{
    fc_store *s = open_ttl();
    put_range(s, "m", 200, 1000);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    fc_stats st;
    stats_of(s, &st);
    ck_assert_uint_eq(st.files[0], 0);
    ck_assert_uint_eq(st.files[1], 1);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 1000), 0);
    for (int tries = 0; tries < 3000; tries++) {
        stats_of(s, &st);
        if (st.expired_tables > 0)
            break;
        usleep(10 * 1000);
    }
    ck_assert_uint_eq(st.expired_tables, 1);
    ck_assert_uint_eq(st.files[1], 0);
    char buf[32];
    ck_assert_int_eq(fct_get_str(s, "m0001", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A compaction meeting an expired value while an older version of its key
 * lies in a deeper level keeps a tombstone in its place: found by filling
 * the store until tables reach level 2, then expiring keys there. */
START_TEST(test_compaction_keeps_older_versions_hidden)
{
    fc_store *s = open_ttl();
    char k[32], v[600];
    memset(v, 'o', sizeof v);
    fc_stats st;
    int n = 0;
    /* Enough never-expiring data that leveled compaction fills level 2
     * (level 1 holds 10 MiB); a generous guard ends the loop. */
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 2000; i++, n++) {
            snprintf(k, sizeof k, "key%06d", n % 30000);
            ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
        }
        stats_of(s, &st);
        if (st.files[2] > 0 && n >= 30000)
            break;
    }
    ck_assert_uint_gt(st.files[2], 0);
    for (int i = 0; i < 30000; i += 7) {
        snprintf(k, sizeof k, "key%06d", i);
        put_ttl(s, k, "short-lived", 100);
    }
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 100), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    stats_of(s, &st);
    ck_assert_uint_gt(st.expired_entries, 0);
    fc_txn *t;
    fc_val got;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < 30000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        int rc = fc_get(t, k, strlen(k), &got);
        if (i % 7 == 0)
            ck_assert_msg(rc == FC_ENOTFOUND, "%s came back: %s", k, fc_strerror(rc));
        else
            ck_assert_msg(rc == 0 && got.size == sizeof v, "%s: %s", k, fc_strerror(rc));
    }
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A plain batch holding a value of FC_MAX_VALUE_SIZE bytes, written to a
 * framed store: its frame makes it 8 bytes too long for the memtable, so
 * fc_write must refuse it whole, before the WAL holds it, and the store
 * must go on working and reopen. */
START_TEST(test_batch_too_big_once_framed)
{
    fc_store *s = open_ttl();
    size_t n = FC_MAX_VALUE_SIZE;
    char *big = calloc(1, n);
    ck_assert_ptr_nonnull(big);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "small", 5, "v", 1), 0);
    ck_assert_int_eq(fc_batch_put(b, "big", 3, big, n), 0);
    ck_assert_int_eq(fc_write(s, b, 0), FC_ETOOBIG);
    fc_batch_free(b);
    free(big);
    char buf[16];
    ck_assert_int_eq(fct_get_str(s, "small", buf, sizeof buf), FC_ENOTFOUND); /* all or nothing */
    put_ttl(s, "after", "a", 0);
    ck_assert_int_eq(fct_get_str(s, "after", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a");
    ck_assert_int_eq(fc_close(s), 0);
    fc_options o = ttl_opts();
    s = fct_open_in(&o);
    ck_assert_int_eq(fct_get_str(s, "after", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a");
    ck_assert_int_eq(fct_get_str(s, "small", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A batch filled only with fc_batch_put is written to a framed store and
 * then to a plain one: the second store must get the plain values (the
 * frames the first write added are the library's, not the caller's). */
START_TEST(test_plain_batch_reused_across_stores)
{
    fc_store *framed = open_ttl();
    const char *dir2 = strdup(fct_tmpdir());
    fc_options o = fct_small_opts();
    fc_store *plain = NULL;
    ck_assert_int_eq(fc_open(dir2, &o, &plain), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    ck_assert_int_eq(fc_batch_put(b, "k", 1, "value", 5), 0);
    ck_assert_int_eq(fc_batch_del(b, "d", 1), 0);
    ck_assert_int_eq(fc_write(framed, b, 0), 0);
    int rc = fc_write(plain, b, 0);
    ck_assert_msg(rc == 0, "plain store refused a plain batch: %s: %s", fc_strerror(rc),
                  fc_errmsg(plain));
    ck_assert_int_eq(fc_batch_put(b, "k2", 2, "v2", 2), 0);
    ck_assert_int_eq(fc_write(plain, b, 0), 0);
    ck_assert_int_eq(fc_write(framed, b, 0), 0);
    fc_batch_free(b);
    char buf[16];
    ck_assert_int_eq(fct_get_str(plain, "k", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "value");
    ck_assert_int_eq(fct_get_str(plain, "k2", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v2");
    ck_assert_int_eq(fct_get_str(framed, "k", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "value");
    ck_assert_int_eq(fct_get_str(framed, "k2", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "v2");
    ck_assert_int_eq(fc_close(plain), 0);
    ck_assert_int_eq(fc_close(framed), 0);
    fct_rmtree(dir2);
    free((void *)dir2);
}
END_TEST

/* Reads of a store holding a value shorter than a frame (as LevelDB or
 * damage could leave): gets, fc_ttl and scans both ways report
 * FC_ECORRUPT for it and do not crash, in the memtable, in a table and
 * after compaction (which keeps it: it has no expiry to judge). */
static void check_short_value(fc_store *s)
{
    char buf[16];
    uint64_t left;
    ck_assert_int_eq(fct_get_str(s, "m", buf, sizeof buf), FC_ECORRUPT);
    ck_assert_int_eq(ttl_of(s, "m", &left), FC_ECORRUPT);
    ck_assert_int_eq(fct_get_str(s, "a", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "alpha");
    ck_assert_int_eq(fct_get_str(s, "z", buf, sizeof buf), 0);
    fc_txn *t;
    fc_iter *it;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    int rc, n = 0;
    for (rc = fc_iter_first(it); rc == 0 && n < 10; rc = fc_iter_next(it))
        n++;
    ck_assert_int_eq(rc, FC_ECORRUPT);
    ck_assert_int_eq(n, 1);                 /* "a", then the damaged "m" */
    ck_assert_int_eq(fc_iter_status(it), FC_ECORRUPT);
    fc_iter_free(it);                       /* an iterator's error stays */
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_last(it), 0);  /* "z" */
    ck_assert_int_eq(fc_iter_prev(it), FC_ECORRUPT);
    fc_iter_free(it);
    ck_assert_int_eq(fc_iter_new(t, &it), 0);
    ck_assert_int_eq(fc_iter_seek(it, "n", 1), 0);
    ck_assert_int_eq(memcmp(fc_iter_key(it).data, "z", 1), 0);
    ck_assert_int_eq(memcmp(fc_iter_value(it).data, "zeta", 4), 0);
    fc_iter_free(it);
    ck_assert_int_eq(fc_txn_end(t), 0);
}

START_TEST(test_value_shorter_than_frame)
{
    fc_store *s = open_ttl();
    put_ttl(s, "a", "alpha", 0);
    ck_assert_int_eq(fci_write_one(s, 1 /* a value */, "m", 1, "abc", 3), 0); /* unframed */
    put_ttl(s, "z", "zeta", 1000);
    check_short_value(s);
    ck_assert_int_eq(fc_flush(s), 0);
    check_short_value(s);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 500), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    check_short_value(s);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A process that attaches on its own (FC_ATTACH, not a forked handle,
 * without asking for framing) learns the framing from the FORKCACHE file
 * and the clock from the arena: it reads the frames off, judges expiry by
 * the writer's test clock as it moves, and its ttl'd puts, through the
 * queue, carry expiries from that clock. */
static int attached_child(int go_fd, int done_fd)
{
    fc_options a = fct_small_opts();
    a.flags = FC_ATTACH;
    fc_store *s = NULL;
    if (fc_open(fct_dir, &a, &s) != 0)
        return 1;
    char buf[16], c = 0;
    uint64_t left = 0;
    int ok = fct_get_str(s, "x", buf, sizeof buf) == 0 && strcmp(buf, "soon") == 0;
    ok = ok && ttl_of(s, "x", &left) == 0 && left == 500;
    ok = ok && fc_put_ttl(s, "w", 1, "worker", 6, 800) == 0;
    if (write(go_fd, &c, 1) != 1 || read(done_fd, &c, 1) != 1)
        ok = 0;
    ok = ok && fct_get_str(s, "x", buf, sizeof buf) == FC_ENOTFOUND;
    ok = ok && fct_get_str(s, "w", buf, sizeof buf) == 0 && strcmp(buf, "worker") == 0;
    ok = ok && ttl_of(s, "w", &left) == 0 && left == 300;
    ok = fc_close(s) == 0 && ok;
    return ok ? 0 : 2;
}

START_TEST(test_attached_process)
{
    fc_options o = ttl_opts();
    o.arena_path = ""; /* DIR/forkcache.arena, where FC_ATTACH looks */
    fc_store *s = fct_open_in(&o);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0), 0);
    put_ttl(s, "x", "soon", 500);
    int go[2], done[2];
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(done, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(attached_child(go[1], done[0]));
    char c = 0, buf[16];
    ck_assert_int_eq(read(go[0], &c, 1), 1);
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 500), 0);
    ck_assert_int_eq(write(done[1], &c, 1), 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "attached process: status %d",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    ck_assert_int_eq(fct_get_str(s, "w", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "worker");
    ck_assert_int_eq(fci_ttl_set_clock(s, T0 + 800), 0);
    ck_assert_int_eq(fct_get_str(s, "w", buf, sizeof buf), FC_ENOTFOUND);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *ttl_suite(void)
{
    Suite *su = suite_create("db_ttl");
    TCase *tc = tcase_create("ttl");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_get_and_ttl);
    tcase_add_test(tc, test_iterators_memtable_tables_compacted);
    tcase_add_test(tc, test_forked_reader);
    tcase_add_test(tc, test_through_queue);
    tcase_add_test(tc, test_batches);
    tcase_add_test(tc, test_unframed_store_refuses);
    tcase_add_test(tc, test_options_file);
    tcase_add_test(tc, test_expired_table_dropped_unread);
    tcase_add_test(tc, test_expired_table_in_level1_idle);
    tcase_add_test(tc, test_compaction_keeps_older_versions_hidden);
    tcase_add_test(tc, test_batch_too_big_once_framed);
    tcase_add_test(tc, test_plain_batch_reused_across_stores);
    tcase_add_test(tc, test_value_shorter_than_frame);
    tcase_add_test(tc, test_attached_process);
    suite_add_tcase(su, tc);
    return su;
}

FCT_MAIN(ttl_suite)
