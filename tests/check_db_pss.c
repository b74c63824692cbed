/*
 * check_db_pss.c - memory is shared, not multiplied: 8 forked workers read
 * every key zero-copy, then each reports the proportional set size (PSS) of
 * its mappings of the store (tables and arena). Shared pages are split
 * between the processes that map them, so the sum over workers is the
 * memory the data really costs; a design that copies values per worker pays
 * roughly 8 times the data instead. The bound asserted is 1.2x.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fc_test.h"
#include "forkcache.h"
#include "tool/bench_pss.h"

#define ROWS 60000
#define VALUE 512
#define WORKERS 8

static void key_of(char *buf, int i)
{
    sprintf(buf, "row%07d", i);
}

static void value_of(char *buf, int i)
{
    for (int k = 0; k < VALUE; k++)
        buf[k] = (char)('A' + (i + k * 13) % 57);
}

/* PSS in KiB of this process's mappings of the store: its tables and the
 * anonymous shared arena (tool/bench_pss.c reads smaps). */
static long store_pss_kib(void)
{
    const tool_pss_match m = { NULL, ".ldb", 1 };
    long ldb = 0, arena = 0;
    long total = tool_pss_kib(0, &m, &ldb, &arena);
    if (getenv("FC_PSS_DEBUG"))
        fprintf(stderr, "worker %d: tables %ld KiB, arena %ld KiB\n", (int)getpid(), ldb, arena);
    return total;
}

/* Two phases, so every worker measures only once all of them have mapped
 * and touched the data (a share depends on how many map a page *now*):
 * read everything, say so, wait for "measure", measure, then wait for the
 * end so no page is unmapped while others still measure. */
static void worker(fc_store *s, int out, int measure, int go)
{
    char k[32], want[VALUE];
    if (fc_after_fork(s) != 0)
        _exit(2);
    fc_txn *t;
    if (fc_txn_begin(s, &t) != 0)
        _exit(3);
    for (int i = 0; i < ROWS; i++) {
        fc_val v;
        key_of(k, i);
        value_of(want, i);
        if (fc_get(t, k, strlen(k), &v) != 0 || v.size != VALUE || memcmp(v.data, want, VALUE) != 0)
            _exit(4);
    }
    long ready = -2;
    char c;
    if (write(out, &ready, sizeof ready) != sizeof ready || read(measure, &c, 1) != 1)
        _exit(7);
    long pss = store_pss_kib();
    fc_txn_end(t);
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

START_TEST(workers_share_the_data)
{
    const char *dir = fc_test_tmpdir();
    char *path = strdup(dir);
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 128u << 20;
    o.block_cache_size = 1u << 20;
    fc_store *s;
    ck_assert_int_eq(fc_open(path, &o, &s), 0);
    char k[32], v[VALUE];
    for (int i = 0; i < ROWS; i++) {
        key_of(k, i);
        value_of(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, VALUE), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    uint64_t data = table_bytes(path);
    ck_assert_uint_gt(data, (uint64_t)ROWS * VALUE);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    data += st.arena_in_use;
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
    double ratio = (double)sum * 1024 / (double)data;
    fflush(stdout);
    fprintf(stderr, "pss: %d workers read %d values of %d bytes: sum of PSS %ld KiB for %.0f KiB "
           "of store data (tables + arena in use): %.2fx\n",
           WORKERS, ROWS, VALUE, sum, data / 1024.0, ratio);
    ck_assert_msg(ratio <= 1.2, "workers' PSS is %.2fx the data (bound 1.2x)", ratio);
    /* The other side: the data really was read from the shared mappings
     * (reading every key touches nearly every page). Were the values read
     * into private memory instead, this share would be near zero. */
    ck_assert_msg(ratio >= 0.5, "workers' PSS is only %.2fx the data: not read from the "
                  "shared mappings?", ratio);
    fc_close(s);
    fc_test_rmtree(path);
    free(path);
}
END_TEST

static Suite *pss_suite(void)
{
    Suite *s = suite_create("db_pss");
    TCase *tc = tcase_create("pss");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workers_share_the_data);
    suite_add_tcase(s, tc);
    return s;
}

FC_TEST_MAIN(pss_suite)
