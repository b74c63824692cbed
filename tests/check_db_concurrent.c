/*
 * check_db_concurrent.c - one writer process writing, flushing and
 * compacting without pause while 8 forked readers read against a model.
 *
 * The model: keys come in groups of GROUP; the writer always rewrites (or
 * deletes) a whole group in one batch, stamping every value with the
 * group's generation. So in any one transaction a reader must see a group
 * either wholly absent or wholly at one generation (batches are atomic),
 * the generation it sees for a group never goes back across its
 * transactions (snapshots only move forward), and every value must be the
 * exact bytes the writer wrote for that key and generation (nothing torn).
 * Scans see the same: whole groups, in key order, exact bytes.
 * Run once with table mappings and once with the Limiter at 2, which sends
 * most table reads through pread (and the shared block cache).
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define GROUPS 400
#define GROUP 8
#define READERS 8
#define VALUE_MIN 24

/* Member `member` of group `group`: members of a group sort together. */
static void group_key(char *buf, int group, int member)
{
    sprintf(buf, "g%05d.%d", group, member);
}

/* "gen=<gen> key=<key>" padded with bytes derived from both, to a length
 * that varies with the generation, so a torn or misplaced value shows. */
static size_t value_of(char *buf, int group, int member, uint32_t gen)
{
    char key[32];
    group_key(key, group, member);
    int n = sprintf(buf, "gen=%u key=%s ", gen, key);
    size_t len = (size_t)n + 10 + gen % 200;
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + (gen * 31 + i + (size_t)group) % 26);
    return len;
}

/* Values are not NUL-terminated (they point into blocks and the arena):
 * parse from a terminated copy of the head, never from the value itself. */
static int parse_gen(const fc_val *v, uint32_t *gen)
{
    char head[VALUE_MIN + 1];
    if (v->size < VALUE_MIN)
        return 0;
    memcpy(head, v->data, VALUE_MIN);
    head[VALUE_MIN] = '\0';
    return sscanf(head, "gen=%u ", gen) == 1;
}

/* One transaction over one group; returns 0, or a reason code. */
static int check_group(fc_store *s, int group, uint32_t *last_gen)
{
    fc_txn *t;
    if (fc_txn_begin(s, &t) != 0)
        return 10;
    int present = -1, rc = 0;
    uint32_t group_gen = 0;
    for (int m = 0; m < GROUP && rc == 0; m++) {
        char key[32], want[512];
        fc_val v;
        group_key(key, group, m);
        int got = fc_get(t, key, strlen(key), &v);
        if (got != 0 && got != FC_ENOTFOUND) {
            rc = 11;
            break;
        }
        int here = got == 0;
        if (present >= 0 && here != present) {
            rc = 12; /* part of a batch visible */
            break;
        }
        present = here;
        if (!here)
            continue;
        uint32_t gen;
        if (!parse_gen(&v, &gen)) {
            rc = 13;
            break;
        }
        if (m == 0)
            group_gen = gen;
        size_t len = value_of(want, group, m, gen);
        if (gen != group_gen)
            rc = 14; /* two generations in one transaction */
        else if (v.size != len || memcmp(v.data, want, len) != 0)
            rc = 15; /* torn or wrong bytes */
    }
    if (rc == 0 && present == 1) {
        if (group_gen < *last_gen)
            rc = 16; /* went back in time */
        *last_gen = group_gen;
    }
    fc_txn_end(t);
    return rc;
}

/* A scan over a random window of groups in one transaction: every group it
 * meets is whole at one generation (batches are atomic), keys come in
 * strictly increasing order, and every value is the exact bytes written. */
static int check_scan(fc_store *s, int first_group, int reverse)
{
    fc_txn *t;
    fc_iter *it;
    if (fc_txn_begin(s, &t) != 0)
        return 20;
    if (fc_iter_new(t, &it) != 0) {
        fc_txn_end(t);
        return 21;
    }
    char from[32], prev[32] = "";
    group_key(from, first_group, 0);
    int rc = reverse ? fc_iter_last(it) : fc_iter_seek(it, from, strlen(from));
    int group = -1, members = 0, steps = 0, bad = 0;
    uint32_t gen = 0;
    for (; rc == 0 && steps < 20 * GROUP && !bad; steps++) {
        fc_val k = fc_iter_key(it), v = fc_iter_value(it);
        char key[32];
        int g, m;
        uint32_t vgen;
        if (k.size >= sizeof key || !parse_gen(&v, &vgen)) {
            bad = 22;
            break;
        }
        memcpy(key, k.data, k.size);
        key[k.size] = '\0';
        if (sscanf(key, "g%d.%d", &g, &m) != 2)
            bad = 23;
        else if (prev[0] && (reverse ? strcmp(key, prev) >= 0 : strcmp(key, prev) <= 0))
            bad = 24; /* out of order */
        char want[512];
        if (!bad && (v.size != value_of(want, g, m, vgen) || memcmp(v.data, want, v.size) != 0))
            bad = 25; /* torn value */
        if (!bad && g != group) {
            if (group >= 0 && members != GROUP)
                bad = 26; /* part of a batch */
            group = g;
            gen = vgen;
            members = 0;
        }
        if (!bad && vgen != gen)
            bad = 27; /* two generations in one group */
        members++;
        strcpy(prev, key);
        rc = reverse ? fc_iter_prev(it) : fc_iter_next(it);
    }
    if (!bad && rc != 0 && rc != FC_ENOTFOUND)
        bad = 28;
    fc_iter_free(it);
    fc_txn_end(t);
    return bad;
}

/* The cap on mapped bytes of the run (0: the default), which every
 * reader checks every 64 reads (set before the readers fork). */
static uint64_t g_mapped_cap;

static void reader(fc_store *s, int id, int stop_fd)
{
    uint32_t last[GROUPS];
    memset(last, 0, sizeof last);
    if (fc_after_fork(s) != 0)
        _exit(2);
    uint32_t x = 0x9e3779b9u * (uint32_t)(id + 1);
    int flags = fcntl(stop_fd, F_GETFL);
    fcntl(stop_fd, F_SETFL, flags | O_NONBLOCK);
    for (long n = 0;; n++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        int group = (int)(x % GROUPS);
        int rc = (n % 16 == 15) ? check_scan(s, group, (n / 16) % 2)
                                : check_group(s, group, &last[group]);
        if (rc != 0)
            _exit(rc);
        char c;
        fc_stats st;
        if ((n & 63) == 0 && g_mapped_cap != 0 &&
            (fc_stats_get(s, &st) != 0 || st.mapped_bytes_in_use > g_mapped_cap))
            _exit(20);   /* the byte cap was passed */
        if ((n & 63) == 0 && read(stop_fd, &c, 1) == 0)
            break; /* the writer closed the pipe: done */
    }
    fc_stats st;
    if (g_mapped_cap != 0 && (fc_stats_get(s, &st) != 0 || st.tables_pread == 0))
        _exit(21);   /* the cap sent no table to pread: the test tested nothing */
    fc_close(s);
    _exit(0);
}

static int write_group(fc_store *s, fc_batch *b, int group, uint32_t gen, int del)
{
    char key[32], val[512];
    fc_batch_clear(b);
    for (int m = 0; m < GROUP; m++) {
        group_key(key, group, m);
        size_t len = value_of(val, group, m, gen);
        int rc = del ? fc_batch_del(b, key, strlen(key)) : fc_batch_put(b, key, strlen(key), val, len);
        if (rc != 0)
            return rc;
    }
    return fc_write(s, b, 0);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


static void run(int max_mappings, double duration)
{
    const char *tmp = fct_tmpdir();
    char *dir = strdup(tmp);
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = 64 * 1024;
    o.max_file_size = 64 * 1024;
    o.arena_size = 256u << 20;
    o.block_cache_size = 1u << 20;
    o.max_mappings = max_mappings;
    o.max_mapped_bytes = g_mapped_cap;
    fc_store *s;
    ck_assert_int_eq(fc_open(dir, &o, &s), 0);
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    uint32_t gen = 1;
    for (int g = 0; g < GROUPS; g++)
        ck_assert_int_eq(write_group(s, b, g, gen, 0), 0);
    int stop[2];
    ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
    pid_t kids[READERS];
    for (int r = 0; r < READERS; r++) {
        kids[r] = fc_fork();
        ck_assert_int_ge(kids[r], 0);
        if (kids[r] == 0) {
            close(stop[1]);
            reader(s, r, stop[0]);
        }
    }
    close(stop[0]);
    double end = seconds() + duration;
    uint32_t x = 12345;
    long writes = 0;
    while (seconds() < end) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        gen++;
        ck_assert_int_eq(write_group(s, b, (int)(x % GROUPS), gen, x % 11 == 0), 0);
        writes++;
        if (writes % 2000 == 0)
            ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    }
    close(stop[1]);
    for (int r = 0; r < READERS; r++) {
        int status;
        waitpid(kids[r], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "reader %d failed: status %d (exit code %d: see check_group)", r, status,
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    fprintf(stderr, "concurrent (max_mappings %d): %ld batches, %llu flushes, %llu compactions\n",
            max_mappings, writes, (unsigned long long)st.flushes,
            (unsigned long long)st.compactions);
    ck_assert_uint_gt(st.flushes, 2);
    fc_batch_free(b);
    ck_assert_int_eq(fc_close(s), 0);
    fct_rmtree(dir);
    free(dir);
}

START_TEST(readers_against_model_with_mappings)
{
    run(1000, 2.0);
}
END_TEST

START_TEST(readers_against_model_through_pread)
{
    g_mapped_cap = 0;
    run(2, 2.0);
}
END_TEST

/* Mappings allowed, but the tables' bytes are past the cap on mapped
 * bytes: the rest is read with pread, every read still exact, and the sum
 * of mapped bytes never passes the cap. */
START_TEST(readers_against_model_past_the_byte_cap)
{
    g_mapped_cap = 192u << 10;
    run(1000, 2.0);
    g_mapped_cap = 0;
}
END_TEST

static Suite *concurrent_suite(void)
{
    Suite *s = suite_create("db_concurrent");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, readers_against_model_with_mappings);
    tcase_add_test(tc, readers_against_model_past_the_byte_cap);
    tcase_add_test(tc, readers_against_model_through_pread);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(concurrent_suite)
