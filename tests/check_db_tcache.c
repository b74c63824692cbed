/*
 * check_db_tcache.c - the per-process table cache on liburcu: threads of
 * one process share it without locks while the writer flushes and
 * compacts underneath; evicted tables give their Limiter units back; a
 * table deleted from the directory is still read through its mapping (or
 * its kept descriptor); a child made by fc_fork runs call_rcu, while one
 * made by a plain fork() is refused instead of hanging; descriptors of
 * pread tables stay within a quarter of RLIMIT_NOFILE, and a table open
 * that meets EMFILE gives idle ones back and is tried again.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu-bp.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/store.h"
#include "shm/arena.h"
#include "util/io.h"

#define NKEYS 2000
#define NTHREADS 4
#define MIN_GETS 20000     /* per reader thread */
#define MIN_ROUNDS 12      /* writer rounds, a compaction every third */
#define MAX_ROUNDS 100000  /* guard: the readers stopped making progress */

/* Self-describing: the key's number, the round that wrote it, and a body
 * whose length and fill both depend on the two. */
static size_t val_of(char *buf, int i, unsigned gen)
{
    int n = sprintf(buf, "v%06d-g%08u-", i, gen);
    int len = 20 + (int)((unsigned)i * 7u + gen) % 80;
    for (int j = 0; j < len; j++)
        buf[n + j] = (char)('a' + (i + (int)gen + j) % 26);
    return (size_t)(n + len);
}

/* 1 when v is exactly what round gen wrote for key i; *gen gets the round. */
static int val_ok(const fc_val *v, int i, unsigned *gen)
{
    char copy[160], want[160];
    if (v->size < 18 || v->size >= sizeof copy)
        return 0;
    memcpy(copy, v->data, v->size);
    copy[v->size] = '\0';
    int ki;
    if (sscanf(copy, "v%06d-g%08u-", &ki, gen) != 2 || ki != i)
        return 0;
    size_t n = val_of(want, i, *gen);
    return n == v->size && memcmp(want, copy, n) == 0;
}

/* Writes round gen's value for every key. */
static void put_all(fc_store *s, unsigned gen)
{
    char k[16], v[160];
    for (int i = 0; i < NKEYS; i++) {
        fct_key_of(k, "k", 6, i);
        size_t n = val_of(v, i, gen);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, n), 0);
    }
}

static fc_store *fill(fc_options *o, unsigned gen)
{
    fc_store *s = fct_open_in(o);
    put_all(s, gen);
    return s;
}

static uint32_t next_rand(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*r >> 33);
}

/* ---- threads reading while the writer flushes and compacts ---- */

typedef struct shared {
    fc_store *s;
    _Atomic unsigned started;  /* round the writer is writing (upper bound) */
    _Atomic unsigned done;     /* every key holds this round or later */
    _Atomic int stop;
    _Atomic long gets[NTHREADS];
    _Atomic long bad;
    char why[256];
} shared;

static void note_bad(shared *sh, const char *what, int i, unsigned gen, unsigned lo, unsigned hi)
{
    if (atomic_fetch_add(&sh->bad, 1) == 0)
        snprintf(sh->why, sizeof sh->why, "%s: key %d round %u outside [%u, %u]", what, i,
                 gen, lo, hi);
}

/* A value seen in a transaction begun after round `lo` finished cannot be
 * older than lo, nor newer than the round being written after the read. */
static void check_value(shared *sh, const fc_val *v, int i, unsigned lo, const char *what)
{
    unsigned gen = 0;
    unsigned hi = atomic_load(&sh->started);
    if (!val_ok(v, i, &gen) || gen < lo || gen > hi)
        note_bad(sh, what, i, gen, lo, hi);
}

/* 50 keys in order from a random start, each key right after the last. */
static void scan_some(shared *sh, fc_txn *t, int start, unsigned lo)
{
    fc_iter *it;
    char k[16];
    if (fc_iter_new(t, &it) != 0) {
        note_bad(sh, "iter_new", start, 0, lo, 0);
        return;
    }
    fct_key_of(k, "k", 6, start);
    int i = start, rc = fc_iter_seek(it, k, strlen(k));
    for (int n = 0; n < 50 && i < NKEYS; n++, i++, rc = fc_iter_next(it)) {
        fc_val key = fc_iter_key(it), v = fc_iter_value(it);
        fct_key_of(k, "k", 6, i);
        if (rc != 0 || key.size != strlen(k) || memcmp(key.data, k, key.size) != 0) {
            note_bad(sh, "scan order", i, 0, lo, 0);
            break;
        }
        check_value(sh, &v, i, lo, "scan");
    }
    fc_iter_free(it);
}

typedef struct reader_arg {
    shared *sh;
    int id;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *ra = arg;
    shared *sh = ra->sh;
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(ra->id + 1);
    char k[16];
    while (!atomic_load(&sh->stop)) {
        unsigned lo = atomic_load(&sh->done);
        fc_txn *t;
        if (fc_txn_begin(sh->s, &t) != 0) {
            note_bad(sh, "txn_begin", -1, 0, lo, 0);
            break;
        }
        for (int n = 0; n < 32; n++) {
            int i = (int)(next_rand(&r) % NKEYS);
            fc_val v;
            fct_key_of(k, "k", 6, i);
            if (fc_get(t, k, strlen(k), &v) != 0)
                note_bad(sh, "get missed", i, 0, lo, 0);
            else
                check_value(sh, &v, i, lo, "get");
        }
        if (next_rand(&r) % 8 == 0)
            scan_some(sh, t, (int)(next_rand(&r) % NKEYS), lo);
        if (fc_txn_end(t) != 0)
            note_bad(sh, "txn_end", -1, 0, lo, 0);
        atomic_fetch_add(&sh->gets[ra->id], 32);
    }
    return NULL;
}

static int readers_done(shared *sh)
{
    for (int i = 0; i < NTHREADS; i++)
        if (atomic_load(&sh->gets[i]) < MIN_GETS)
            return 0;
    return 1;
}

static uint32_t live_files(fc_store *s)
{
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    uint32_t n = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        n += st.files[l];
    return n;
}

static int keep_none(void *arg, uint64_t number)
{
    (void)arg;
    (void)number;
    return 0;
}

/* Evicts everything and waits for the call_rcu callbacks: every unit the
 * cache held is back. */
static void drain(fc_store *s)
{
    fci_tcache_retain(&s->tcache, keep_none, NULL);
    urcu_bp_barrier();
    ck_assert_uint_eq(s->tcache.count, 0);
    ck_assert_uint_eq(fci_limiter_held(s->arena), 0);
}

/* max_mappings 2: most tables are read with pread through the shared
 * block cache, by the same threads, with the same results. */
static void hammer(int max_mappings)
{
    fc_options o = fct_small_opts();
    o.max_mappings = max_mappings;
    static shared sh;
    memset(&sh, 0, sizeof sh);
    sh.s = fill(&o, 0);
    pthread_t th[NTHREADS];
    reader_arg ra[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        ra[i] = (reader_arg){ &sh, i };
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &ra[i]), 0);
    }
    unsigned round = 1;
    for (; round < MAX_ROUNDS && (round < MIN_ROUNDS || !readers_done(&sh)); round++) {
        atomic_store(&sh.started, round);
        put_all(sh.s, round);
        atomic_store(&sh.done, round);
        if (round % 3 == 0)
            ck_assert_int_eq(fc_compact_range(sh.s, NULL, 0, NULL, 0), 0);
        if (atomic_load(&sh.bad) > 0)
            break;
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_msg(sh.bad == 0, "%ld bad reads; first: %s", (long)sh.bad, sh.why);
    ck_assert_msg(readers_done(&sh), "readers stalled after %u rounds", round);
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(sh.s, &st), 0);
    fprintf(stderr, "%u rounds, %llu flushes, %llu compactions; %llu tables opened by mmap, "
            "%llu by pread; %llu cached now\n", round, (unsigned long long)st.flushes,
            (unsigned long long)st.compactions, (unsigned long long)st.tables_mapped,
            (unsigned long long)st.tables_pread, (unsigned long long)sh.s->tcache.count);
    /* After one more compaction and a transaction that sees it, the cache
     * holds at most the tables of the current version: the rest left. */
    ck_assert_int_eq(fc_compact_range(sh.s, NULL, 0, NULL, 0), 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(sh.s, &t), 0);
    ck_assert_int_eq(fc_txn_end(t), 0);
    /* tables did come and go */
    ck_assert_uint_gt(st.tables_mapped + st.tables_pread, live_files(sh.s) + 4);
    ck_assert_uint_le(sh.s->tcache.count, live_files(sh.s));
    if (max_mappings < 10)
        ck_assert_uint_gt(st.tables_pread, st.tables_mapped);
    drain(sh.s);
    ck_assert_int_eq(fc_close(sh.s), 0);
}

START_TEST(threads_share_the_cache_while_tables_come_and_go)
{
    hammer(1000);
}
END_TEST

START_TEST(threads_share_pread_tables_through_the_block_cache)
{
    hammer(2);
}
END_TEST

/* ---- two threads opening the same table ---- */

typedef struct racer {
    fc_store *s;
    pthread_barrier_t *go;
    int bad;
} racer;

static void *read_everything(void *arg)
{
    racer *rc = arg;
    char k[16];
    pthread_barrier_wait(rc->go);
    fc_txn *t;
    if (fc_txn_begin(rc->s, &t) != 0) {
        rc->bad++;
        return NULL;
    }
    for (int i = 0; i < NKEYS; i++) {
        fc_val v;
        unsigned gen;
        fct_key_of(k, "k", 6, i);
        if (fc_get(t, k, strlen(k), &v) != 0 || !val_ok(&v, i, &gen) || gen != 0)
            rc->bad++;
    }
    if (fc_txn_end(t) != 0)
        rc->bad++;
    return NULL;
}

/* Threads miss on the same tables at once: each table is cached once and
 * every losing thread's Limiter unit is back (held == cached, all mapped). */
START_TEST(racing_opens_keep_one_entry_and_return_the_losers_units)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    for (int attempt = 0; attempt < 20; attempt++) {
        o.flags = FC_READONLY; /* no writer: nothing evicts behind our back */
        s = fct_open_in(&o);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, NTHREADS);
        pthread_t th[NTHREADS];
        racer rc[NTHREADS];
        for (int i = 0; i < NTHREADS; i++) {
            rc[i] = (racer){ s, &go, 0 };
            ck_assert_int_eq(pthread_create(&th[i], NULL, read_everything, &rc[i]), 0);
        }
        for (int i = 0; i < NTHREADS; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            ck_assert_int_eq(rc[i].bad, 0);
        }
        pthread_barrier_destroy(&go);
        urcu_bp_barrier();
        ck_assert_uint_eq(s->tcache.count, live_files(s));
        ck_assert_uint_eq(fci_limiter_held(s->arena), s->tcache.count);
        ck_assert_uint_eq(s->tcache.mapped, s->tcache.count);
        drain(s);
        ck_assert_int_eq(fc_close(s), 0);
    }
}
END_TEST

/* ---- tables deleted from the directory ---- */

static int read_all_gen(fc_store *s, unsigned want)
{
    char k[16];
    fc_txn *t;
    if (fc_txn_begin(s, &t) != 0)
        return 0;
    int ok = 1;
    for (int i = 0; i < NKEYS && ok; i++) {
        fc_val v;
        unsigned gen;
        fct_key_of(k, "k", 6, i);
        ok = fc_get(t, k, strlen(k), &v) == 0 && val_ok(&v, i, &gen) && gen == want;
    }
    return fc_txn_end(t) == 0 && ok;
}

static int read_all_ok(fc_store *s)
{
    return read_all_gen(s, 0);
}

static int unlink_tables(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "n=$(ls '%s'/*.ldb | wc -l) && rm -f '%s'/*.ldb && test $n -gt 1",
             fct_dir, fct_dir);
    return system(cmd);
}

/* Another process (LevelDB compacting, here rm) deletes every table a
 * read-only handle has open: mapped tables are read through the mapping,
 * pread ones through the descriptor the cache kept. */
START_TEST(deleted_tables_are_read_through_what_the_cache_holds)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    int mappings[] = { 1000, 1 };
    for (int m = 0; m < 2; m++) {
        char copy[4200];
        snprintf(copy, sizeof copy, "rm -rf '%s.keep' && cp -a '%s' '%s.keep'", fct_dir, fct_dir,
                 fct_dir);
        ck_assert_int_eq(system(copy), 0);
        o.flags = FC_READONLY;
        o.max_mappings = mappings[m];
        s = fct_open_in(&o);
        ck_assert(read_all_ok(s));
        ck_assert_int_eq(unlink_tables(), 0);
        ck_assert(read_all_ok(s)); /* a new transaction, same cached tables */
        if (mappings[m] == 1)
            ck_assert_uint_gt(s->tcache.preads, 0);
        drain(s);
        ck_assert_int_eq(fc_close(s), 0);
        snprintf(copy, sizeof copy, "rm -rf '%s' && mv '%s.keep' '%s'", fct_dir, fct_dir, fct_dir);
        ck_assert_int_eq(system(copy), 0);
    }
}
END_TEST

/* ---- fork ---- */

/* Reads, then rewrites and compacts until the cache has evicted through
 * call_rcu at least once (the call_rcu thread exists from then on). */
static fc_store *store_that_evicted(void)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert(read_all_ok(s));
    uint64_t before = s->tcache.count;
    ck_assert_uint_gt(before, 0);
    put_all(s, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert(read_all_ok(s)); /* sweeps the compacted-away tables */
    ck_assert_uint_gt(s->tcache.mapped, s->tcache.count); /* some were evicted */
    urcu_bp_barrier();
    return s;
}

/* The child of fc_fork opens tables, evicts them through call_rcu, waits
 * for the callbacks (rcu_barrier in fc_close) and exits: without the fork
 * hooks liburcu's call_rcu thread is missing in the child and this hangs. */
START_TEST(child_of_fc_fork_runs_call_rcu)
{
    fc_store *s = store_that_evicted();
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = fc_after_fork(s) == 0 && read_all_ok(s) && s->tcache.count > 0 &&
                 fci_limiter_held(s->arena) == s->tcache.count;
        fci_tcache_retain(&s->tcache, keep_none, NULL);
        urcu_bp_barrier();
        ok = ok && fci_limiter_held(s->arena) == 0 && read_all_ok(s);
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert(read_all_ok(s)); /* the parent's cache works on */
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A reader process (no writer's reclaim in it) drops the tables a newer
 * version no longer names when its next transaction sees that version,
 * and the call_rcu callbacks give their Limiter units back. */
START_TEST(reader_process_drops_tables_of_old_versions)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    int up[2], down[2];
    ck_assert_int_eq(pipe2(up, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(down, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c = 0;
        int ok = fc_after_fork(s) == 0 && read_all_gen(s, 0);
        uint64_t before = s->tcache.count;
        ok = ok && before > 1 && write(up[1], &c, 1) == 1 && read(down[0], &c, 1) == 1;
        ok = ok && read_all_gen(s, 1); /* its first transaction sweeps */
        urcu_bp_barrier();
        uint32_t live = live_files(s);
        ok = ok && s->tcache.count <= live && s->tcache.mapped >= before + s->tcache.count &&
             fci_limiter_held(s->arena) == s->tcache.count;
        if (!ok)
            fprintf(stderr, "child: cached %llu (before %llu), live %u, held %u\n",
                    (unsigned long long)s->tcache.count, (unsigned long long)before, live,
                    fci_limiter_held(s->arena));
        ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    char c = 0;
    ck_assert_int_eq(read(up[0], &c, 1), 1);
    put_all(s, 1);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(write(down[1], &c, 1), 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A plain fork() child is told to use fc_fork, by fc_after_fork and by
 * fc_open, instead of hanging later; fc_fork inside a transaction of the
 * forking thread refuses (the child's grace period would wait on it). */
START_TEST(plain_fork_and_fork_inside_a_txn_are_refused)
{
    fc_store *s = store_that_evicted();
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    errno = 0;
    ck_assert_int_eq(fc_fork(), -1);
    ck_assert_int_eq(errno, EDEADLK);
    ck_assert_int_eq(fc_prefork(), FC_EBUSY);
    ck_assert_int_eq(fc_txn_end(t), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_options o = fct_small_opts();
        o.flags = FC_READONLY;
        fc_store *other = NULL;
        int ok = fc_after_fork(s) == FC_EINVAL && strstr(fc_errmsg(s), "fc_fork") != NULL &&
                 fc_open(fct_dir, &o, &other) == FC_EINVAL && other == NULL &&
                 strstr(fc_errmsg(NULL), "fc_fork") != NULL && fc_prefork() == FC_EINVAL;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* A transaction ends on the thread that began it (it is that thread's RCU
 * read-side section). */
static void *end_elsewhere(void *arg)
{
    return (void *)(intptr_t)fc_txn_end(arg);
}

START_TEST(txn_ends_on_its_own_thread)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    pthread_t th;
    void *rc;
    ck_assert_int_eq(pthread_create(&th, NULL, end_elsewhere, t), 0);
    ck_assert_int_eq(pthread_join(th, &rc), 0);
    ck_assert_int_eq((int)(intptr_t)rc, FC_EINVAL);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* ---- descriptors of tables read with pread ---- */

#define FD_KEYS 14000      /* ~1 KiB values: some 200 tables of 64 KiB */
#define FD_LIMIT 64        /* RLIMIT_NOFILE of the reading process */

static void fd_key(char *buf, int i)
{
    sprintf(buf, "b%07d", i);
}

/* 1000 bytes that depend on the key, so a value read from the wrong
 * table (or through the wrong descriptor) shows. */
static void fd_val(char *buf, int i)
{
    int n = sprintf(buf, "%07d:", i);
    for (int j = n; j < 1000; j++)
        buf[j] = (char)('a' + (i * 31 + j) % 26);
}

/* A closed store of about 200 small tables, all past level 0. */
static void fill_many_tables(void)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[16], v[1000];
    for (int i = 0; i < FD_KEYS; i++) {
        fd_key(k, i);
        fd_val(v, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, sizeof v), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_uint_ge(live_files(s), 150);
    ck_assert_int_eq(fc_close(s), 0);
}

/* Every key, one get each, in one transaction: the first failure's
 * message goes to why. */
static int get_every_key(fc_store *s, char *why, size_t cap)
{
    char k[16], want[1000];
    fc_txn *t;
    int rc = fc_txn_begin(s, &t), bad = 0;
    if (rc != 0) {
        snprintf(why, cap, "txn_begin: %s", fc_errmsg(s));
        return 1;
    }
    for (int i = 0; i < FD_KEYS; i++) {
        fc_val v;
        fd_key(k, i);
        fd_val(want, i);
        rc = fc_get(t, k, strlen(k), &v);
        if (rc != 0 || v.size != sizeof want || memcmp(v.data, want, sizeof want) != 0) {
            if (bad++ == 0)
                snprintf(why, cap, "get %s: %s: %s", k, fc_strerror(rc), fc_errmsg(s));
        }
    }
    fc_txn_end(t);
    return bad;
}

/* One scan from first to last in one transaction: every key, in order,
 * with its value. */
static int scan_every_key(fc_store *s, char *why, size_t cap)
{
    char k[16], want[1000];
    fc_txn *t = NULL;
    fc_iter *it = NULL;
    int rc = fc_txn_begin(s, &t), i = 0, bad = 0;
    if (rc == 0 && (rc = fc_iter_new(t, &it)) == 0) {
        for (fc_iter_first(it); fc_iter_valid(it); fc_iter_next(it), i++) {
            fc_val key = fc_iter_key(it), v = fc_iter_value(it);
            fd_key(k, i);
            fd_val(want, i);
            if (key.size != strlen(k) || memcmp(key.data, k, key.size) != 0 ||
                v.size != sizeof want || memcmp(v.data, want, sizeof want) != 0) {
                bad = 1;
                break;
            }
        }
        rc = fc_iter_status(it);
        fc_iter_free(it);
    }
    if (rc != 0 || bad || i != FD_KEYS)
        snprintf(why, cap, "scan stopped at %d of %d: %s: %s", i, FD_KEYS, fc_strerror(rc),
                 fc_errmsg(s));
    if (t != NULL)
        fc_txn_end(t);
    return rc != 0 || bad || i != FD_KEYS;
}

/* With no mappings at all every table is read with pread, and this
 * process may open only FD_LIMIT descriptors: the cache closes idle ones
 * and reopens them, so every get and the scan succeed. Before the bound,
 * the 50th table or so failed with EMFILE. */
START_TEST(pread_tables_stay_within_the_descriptor_limit)
{
    fill_many_tables();
    fflush(NULL);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl;
        char why[512] = "";
        int ok = getrlimit(RLIMIT_NOFILE, &rl) == 0;
        rl.rlim_cur = FD_LIMIT;
        ok = ok && setrlimit(RLIMIT_NOFILE, &rl) == 0;
        fc_options o = fct_small_opts();
        o.max_mappings = 0;
        fc_store *s = NULL;
        if (ok && fc_open(fct_dir, &o, &s) != 0) {
            snprintf(why, sizeof why, "open: %s", fc_errmsg(NULL));
            ok = 0;
        }
        for (int round = 0; s != NULL && round < 2; round++) {
            int bad = get_every_key(s, why, sizeof why);
            if (bad)
                fprintf(stderr, "round %d: %d of %d gets failed; first: %s\n", round, bad,
                        FD_KEYS, why);
            ok = ok && bad == 0;
            if (scan_every_key(s, why, sizeof why) != 0) {
                fprintf(stderr, "round %d: %s\n", round, why);
                ok = 0;
            }
        }
        /* idle descriptors were closed and reopened, and at most a
         * quarter of the limit is open now */
        if (s != NULL && (s->tcache.fd_closes == 0 || s->tcache.fd_reopens == 0 ||
                          s->tcache.fd_open > FD_LIMIT / 4)) {
            fprintf(stderr, "descriptors: %llu open, %llu closed, %llu reopened\n",
                    (unsigned long long)s->tcache.fd_open,
                    (unsigned long long)s->tcache.fd_closes,
                    (unsigned long long)s->tcache.fd_reopens);
            ok = 0;
        }
        if (s != NULL)
            ok = fc_close(s) == 0 && ok;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the reader under RLIMIT_NOFILE %d failed (its stderr says why)", FD_LIMIT);
}
END_TEST

/* One get of key i in its own transaction. */
static int get_one(fc_store *s, int i)
{
    char k[16];
    fc_txn *t;
    fc_val v;
    unsigned gen;
    fct_key_of(k, "k", 6, i);
    if (fc_txn_begin(s, &t) != 0)
        return 0;
    int rc = fc_get(t, k, strlen(k), &v);
    if (rc != 0)
        fprintf(stderr, "get %s: %s: %s\n", k, fc_strerror(rc), fc_errmsg(s));
    int ok = rc == 0 && val_ok(&v, i, &gen) && gen == 0;
    return fc_txn_end(t) == 0 && ok;
}

/* A table opened when the process is out of descriptors: the cache closes
 * its idle pread descriptors and tries the open once more. */
START_TEST(emfile_closes_idle_descriptors_and_retries_once)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_uint_ge(live_files(s), 2); /* the first and last keys: two tables */
    ck_assert_int_eq(fc_close(s), 0);
    o.max_mappings = 0;
    s = fct_open_in(&o);
    ck_assert(get_one(s, 0)); /* its table's descriptor stays open, idle */
    fci_io_fault f = { .kind = FCI_IO_ANY, .site = FCI_IO_SITE_TABLE_OPEN, .nth = 1,
                       .count = 1, .err = EMFILE };
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
    int ok = get_one(s, NKEYS - 1);
    uint64_t faults = fci_io_site_faults(FCI_IO_SITE_TABLE_OPEN);
    fci_io_fault_clear();
    fci_io_hooks_enable(0);
    ck_assert_uint_eq(faults, 1);
    ck_assert_msg(ok, "the open that met EMFILE was not retried");
    ck_assert_uint_eq(s->tcache.fd_closes, 1); /* the first table's */
    ck_assert(get_one(s, 0)); /* its table reopens when a block is not cached */
    ck_assert(read_all_ok(s));
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

/* The numbers of fct_dir's .ldb tables, ascending; how many (at most cap). */
static int table_numbers(uint64_t *out, int cap)
{
    DIR *d = opendir(fct_dir);
    struct dirent *de;
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        unsigned long long num;
        char tail[8];
        if (sscanf(de->d_name, "%llu.%7s", &num, tail) == 2 && strcmp(tail, "ldb") == 0 &&
            n < cap)
            out[n++] = num;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* a few tables: insertion sort */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* Out of descriptors, the cache gives back only the ones it could open
 * again: a descriptor whose file another process deleted is the only way
 * left to that table, and is kept. */
START_TEST(emfile_keeps_descriptors_of_deleted_tables)
{
    fc_options o = fct_small_opts();
    fc_store *s = fill(&o, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    uint64_t num[64];
    int n = table_numbers(num, 64);
    ck_assert_int_ge(n, 3);
    o.flags = FC_READONLY; /* no writer: only we touch the files */
    o.max_mappings = 0;
    s = fct_open_in(&o);
    ck_assert(read_all_ok(s));
    ck_assert_uint_eq(s->tcache.fd_open, (uint64_t)n);
    /* the last table leaves the cache (its file stays); the first stays
     * cached with its file; every other file is deleted */
    fci_tcache_evict(&s->tcache, num[n - 1]);
    urcu_bp_barrier();
    ck_assert_uint_eq(s->tcache.fd_open, (uint64_t)n - 1);
    char path[4200];
    for (int i = 1; i < n - 1; i++) {
        snprintf(path, sizeof path, "%s/%06llu.ldb", fct_dir, (unsigned long long)num[i]);
        ck_assert_int_eq(unlink(path), 0);
    }
    fci_io_fault f = { .kind = FCI_IO_ANY, .site = FCI_IO_SITE_TABLE_OPEN, .nth = 1,
                       .count = 1, .err = EMFILE };
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
    int ok = read_all_ok(s); /* the last table's open meets EMFILE */
    uint64_t faults = fci_io_site_faults(FCI_IO_SITE_TABLE_OPEN);
    fci_io_fault_clear();
    fci_io_hooks_enable(0);
    ck_assert_uint_eq(faults, 1);
    ck_assert_msg(ok, "a table was unreadable after EMFILE");
    ck_assert_uint_eq(s->tcache.fd_closes, 1); /* the first table's only */
    ck_assert(read_all_ok(s));
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *tcache_suite(void)
{
    Suite *su = suite_create("db_tcache");
    TCase *tc = tcase_create("tcache");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, threads_share_the_cache_while_tables_come_and_go);
    tcase_add_test(tc, threads_share_pread_tables_through_the_block_cache);
    tcase_add_test(tc, racing_opens_keep_one_entry_and_return_the_losers_units);
    tcase_add_test(tc, deleted_tables_are_read_through_what_the_cache_holds);
    tcase_add_test(tc, child_of_fc_fork_runs_call_rcu);
    tcase_add_test(tc, reader_process_drops_tables_of_old_versions);
    tcase_add_test(tc, plain_fork_and_fork_inside_a_txn_are_refused);
    tcase_add_test(tc, txn_ends_on_its_own_thread);
    tcase_add_test(tc, pread_tables_stay_within_the_descriptor_limit);
    tcase_add_test(tc, emfile_closes_idle_descriptors_and_retries_once);
    tcase_add_test(tc, emfile_keeps_descriptors_of_deleted_tables);
    suite_add_tcase(su, tc);
    return su;
}

FCT_MAIN(tcache_suite)
