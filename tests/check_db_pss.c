/*
 * check_db_pss.c - memory is shared, not multiplied: 8 forked workers read
 * every key zero-copy, then each reports the proportional set size (PSS) of
 * its mappings of the store (tables and arena). Shared pages are split
 * between the processes that map them, so the sum over workers is the
 * memory the data really costs; a design that copies values per worker pays
 * roughly 8 times the data instead. The bound asserted is 1.2x, for reads
 * from the mapped tables and for reads from the shared block cache.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"

#define ROWS 60000
#define VALUE 512
#define WORKERS 8

static void value_of(char *buf, int i)
{
    for (int k = 0; k < VALUE; k++)
        buf[k] = (char)('A' + (i + k * 13) % 57);
}

/* PSS in KiB of this process's mappings of the store: its tables and the
 * anonymous shared arena. */
static long store_pss_kib(void)
{
    long ldb = 0, arena = 0;
    long total = fct_pss_kib(".ldb", &ldb, &arena);
    if (getenv("FC_PSS_DEBUG"))
        fprintf(stderr, "worker %d: tables %ld KiB, arena %ld KiB\n", (int)getpid(), ldb, arena);
    return total;
}

/* Two phases, so every worker measures only once all of them have mapped
 * and touched the data (a share depends on how many map a page *now*):
 * read everything, say so, wait for "measure", measure, then wait for the
 * end so no page is unmapped while others still measure. */
/* Reads every key, a transaction per 32 gets: a transaction keeps each
 * block it returned from pinned in the shared cache, and a process has 63
 * pin records (past them a block is read privately). */
static void read_all(fc_store *s)
{
    char k[32], want[VALUE];
    fc_txn *t = NULL;
    for (int i = 0; i < ROWS; i++) {
        if (i % 32 == 0 && ((t != NULL && fc_txn_end(t) != 0) || fc_txn_begin(s, &t) != 0))
            _exit(3);
        fc_val v;
        fct_key_of(k, "row", 7, i);
        value_of(want, i);
        if (fc_get(t, k, strlen(k), &v) != 0 || v.size != VALUE || memcmp(v.data, want, VALUE) != 0)
            _exit(4);
    }
    if (fc_txn_end(t) != 0)
        _exit(3);
}

static void worker(fc_store *s, int out, int measure, int go)
{
    if (fc_after_fork(s) != 0)
        _exit(2);
    read_all(s);
    long ready = -2;
    char c;
    if (write(out, &ready, sizeof ready) != sizeof ready || read(measure, &c, 1) != 1)
        _exit(7);
    long pss = store_pss_kib();
    if (write(out, &pss, sizeof pss) != sizeof pss)
        _exit(5);
    /* Stay alive until every worker has measured, so pages stay shared:
     * the parent closes the go pipe when all results are in. */
    if (read(go, &c, 1) < 0)
        _exit(6);
    _exit(0);
}

static uint64_t table_bytes(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "cat '%s'/*.ldb | wc -c", dir);
    FILE *p = popen(cmd, "re");
    unsigned long long n = 0;
    if (p == NULL || fscanf(p, "%llu", &n) != 1)
        n = 0;
    if (p)
        pclose(p);
    return n;
}

/* Builds the store: ROWS values, compacted, closed. */
static void build(const char *path)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 128u << 20;
    fc_store *s;
    ck_assert_int_eq(fc_open(path, &o, &s), 0);
    char k[32], v[VALUE];
    for (int i = 0; i < ROWS; i++) {
        fct_key_of(k, "row", 7, i);
        value_of(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, VALUE), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
}

/* Forks the workers on the open store s; returns the sum of their PSS. */
static long workers_pss(fc_store *s)
{
    int results[2], measure[2], go[2];
    pid_t pids[WORKERS];
    ck_assert_int_eq(pipe2(results, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(measure, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fc_fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0) {
            close(results[0]);
            close(measure[1]);
            close(go[1]);
            worker(s, results[1], measure[0], go[0]);
        }
    }
    close(results[1]);
    close(measure[0]);
    close(go[0]);
    for (int w = 0; w < WORKERS; w++) {
        long ready = 0;
        ck_assert_int_eq(read(results[0], &ready, sizeof ready), (ssize_t)sizeof ready);
        ck_assert_int_eq(ready, -2);
    }
    ck_assert_int_eq(write(measure[1], "mmmmmmmm", WORKERS), WORKERS);
    close(measure[1]);
    long sum = 0;
    for (int w = 0; w < WORKERS; w++) {
        long pss = -1;
        ck_assert_int_eq(read(results[0], &pss, sizeof pss), (ssize_t)sizeof pss);
        ck_assert_int_ge(pss, 0);
        sum += pss;
    }
    close(go[1]); /* end of file: the workers exit */
    close(results[0]);
    for (int w = 0; w < WORKERS; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d: %d", w, status);
    }
    return sum;
}

/* The bound, and the other side: the data really was read from shared
 * memory (reading every key touches nearly every page). Were the values
 * read into private memory instead, the share would be near zero. */
static void check_ratio(const char *mode, long sum, double data)
{
    double ratio = (double)sum * 1024 / data;
    fflush(stdout);
    fprintf(stderr, "pss (%s): %d workers read %d values of %d bytes: sum of PSS %ld KiB for "
            "%.0f KiB of store data: %.2fx\n", mode, WORKERS, ROWS, VALUE, sum, data / 1024.0, ratio);
    ck_assert_msg(ratio <= 1.2, "%s: workers' PSS is %.2fx the data (bound 1.2x)", mode, ratio);
    ck_assert_msg(ratio >= 0.5, "%s: workers' PSS is only %.2fx the data: not read from "
                  "shared memory?", mode, ratio);
}

/* Zero-copy from the mapped tables: the data is the tables and the arena
 * in use. */
START_TEST(workers_share_the_mapped_tables)
{
    char *path = strdup(fct_tmpdir());
    build(path);
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 128u << 20;
    o.block_cache_size = 1u << 20;
    fc_store *s;
    ck_assert_int_eq(fc_open(path, &o, &s), 0);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    long sum = workers_pss(s);
    check_ratio("mmap", sum, (double)table_bytes(path) + (double)st.arena_in_use);
    fc_close(s);
    fct_rmtree(path);
    free(path);
}
END_TEST

/* No table mapped (Limiter at 0): every block is read once into the shared
 * block cache, and the frames cost about what the blocks hold. Frames of
 * twice the block size made this 1.9x. The data is the tables: what the
 * workers touch is the frames, and a little of the arena besides (the
 * cache is carved whole at open, so "arena in use" would count it all). */
START_TEST(workers_share_the_block_cache)
{
    char *path = strdup(fct_tmpdir());
    build(path);
    uint64_t tables = table_bytes(path);
    fc_options o;
    fc_options_init(&o);
    o.max_mappings = 0;
    o.block_cache_size = ((size_t)(tables * 13 / 10) + (4u << 20)) & ~(size_t)4095;
    o.arena_size = o.block_cache_size + (64u << 20);
    fc_store *s;
    int rc = fc_open(path, &o, &s);
    ck_assert_msg(rc == 0, "open: %s", fc_errmsg(NULL));
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_gt(st.block_cache_size, tables);
    long sum = workers_pss(s);
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    ck_assert_uint_eq(st.tables_mapped, 0);
    check_ratio("cache", sum, (double)tables);
    fc_close(s);
    fct_rmtree(path);
    free(path);
}
END_TEST

static Suite *pss_suite(void)
{
    Suite *s = suite_create("db_pss");
    TCase *tc = tcase_create("pss");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workers_share_the_mapped_tables);
    tcase_add_test(tc, workers_share_the_block_cache);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(pss_suite)
