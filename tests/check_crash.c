/*
 * check_crash.c - crash torture: a child process loads a store with synced
 * writes (single puts, deletes of older keys, batches) and small buffers, so
 * flushes and compactions run all the time, and reports each acknowledged
 * operation through a pipe; the parent SIGKILLs it at a random moment,
 * recovers the store itself and checks that it holds exactly the state after
 * the acknowledged operations (or after one more, the one in flight, whole),
 * that it can load more, and that recovery left no orphan file behind. Then
 * the next round kills again. One round in four the writes come from a
 * worker forked from the writer, which applies them itself as the write
 * lock's leader, and the kill takes both (a leader killed mid-group, then
 * recovery). Rounds alternate between a writer that syncs
 * every write (FC_SYNC, FC_WRITE_SYNC) and one that syncs nothing: a WAL
 * record reaches the kernel before the write is acknowledged, so a killed
 * process (not a lost machine) loses no acknowledged write either way.
 * After each kill, before anything reopens the store, fc_verify must find
 * no damage (a torn WAL tail is only a note). The single torn record
 * crafted by hand is in check_db_recover.
 *
 * At the end it prints "kills survived: N, checks passed: M, acked ops: K"
 * (in tests/check_crash.log): every key compared with the model, every
 * verify and every orphan-file check counts as one check.
 *
 * FC_CRASH_ROUNDS sets the number of rounds (default 40, bounded to about
 * 20 s; an explicit count runs to the end), FC_CRASH_SEED the random seed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/vset.h"
#include "format/filename.h"

/* ---- the operation sequence: op j is a pure function of j ------------------- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* One entry of an operation: key index, and the value variant written
 * (-1: a delete). */
typedef struct entry {
    int64_t key;
    int variant;
} entry;

#define MAX_ENTRIES 4

/* Op j: mostly a put of key j; sometimes a delete of an older key; sometimes
 * a batch that puts key j, overwrites an older key and deletes another. */
static int op_entries(int64_t j, entry *e)
{
    uint64_t h = mix64((uint64_t)j);
    int kind = (int)(h % 16);
    if (j < 8 || kind < 9) {
        e[0] = (entry){ j, 0 };
        return 1;
    }
    if (kind < 12) {
        e[0] = (entry){ j - 1 - (int64_t)((h >> 8) % 64), -1 };
        if (e[0].key < 0)
            e[0].key = 0;
        return 1;
    }
    e[0] = (entry){ j, 0 };
    e[1] = (entry){ j - 1 - (int64_t)((h >> 16) % 32), 1 };
    e[2] = (entry){ j - 1 - (int64_t)((h >> 24) % 128), -1 };
    e[3] = (entry){ j, 2 };
    for (int i = 1; i < 3; i++)
        if (e[i].key < 0)
            e[i].key = 0;
    return 4;
}

/* The value written for key k by op j, variant v: a header naming all
 * three, then bytes derived from them; 100..3100 bytes, so a torn or
 * misplaced value never compares equal. */
static size_t val_of(char *buf, int64_t k, int64_t j, int v)
{
    uint64_t h = mix64((uint64_t)j * 8 + (uint64_t)v);
    int n = sprintf(buf, "k%lld/j%lld/v%d/", (long long)k, (long long)j, v);
    size_t len = 100 + (size_t)(h % 3000);
    for (size_t i = (size_t)n; i < len; i++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (char)('!' + (h >> 33) % 90);
    }
    return len;
}

#define VAL_MAX 3200

/* The parent's model: for each key, the op that last wrote it (j * 4 +
 * variant), or -1 when absent. */
typedef struct model {
    int64_t *last;
    int64_t cap;
} model;

static void model_grow(model *m, int64_t n)
{
    if (n <= m->cap)
        return;
    int64_t cap = m->cap ? m->cap : 1024;
    while (cap < n)
        cap *= 2;
    m->last = realloc(m->last, (size_t)cap * sizeof *m->last);
    ck_assert_ptr_nonnull(m->last);
    for (int64_t i = m->cap; i < cap; i++)
        m->last[i] = -1;
    m->cap = cap;
}

static void model_apply(model *m, int64_t j)
{
    entry e[MAX_ENTRIES];
    int n = op_entries(j, e);
    model_grow(m, j + 1);
    for (int i = 0; i < n; i++)
        m->last[e[i].key] = e[i].variant < 0 ? -1 : j * 4 + e[i].variant;
}

/* Writes op j to the store; 0 or the FC_E* code. flags is FC_WRITE_SYNC
 * or 0 for batches; fc_put and fc_del sync when the store was opened with
 * FC_SYNC, which a syncing round does. */
static int op_write(fc_store *s, int64_t j, fc_batch *b, unsigned flags)
{
    entry e[MAX_ENTRIES];
    char k[32], v[VAL_MAX];
    int n = op_entries(j, e);
    if (n == 1) {
        fct_key_of(k, "key", 8, e[0].key);
        int one_entry_batch = mix64((uint64_t)j + 17) % 2 == 0;
        if (e[0].variant < 0) {
            if (!one_entry_batch)
                return fc_del(s, k, strlen(k));
            fc_batch_clear(b);
            fc_batch_del(b, k, strlen(k));
            return fc_write(s, b, flags);
        }
        if (one_entry_batch) {
            fc_batch_clear(b);
            fc_batch_put(b, k, strlen(k), v, val_of(v, e[0].key, j, e[0].variant));
            return fc_write(s, b, flags);
        }
        return fc_put(s, k, strlen(k), v, val_of(v, e[0].key, j, e[0].variant));
    }
    fc_batch_clear(b);
    for (int i = 0; i < n; i++) {
        fct_key_of(k, "key", 8, e[i].key);
        int rc = e[i].variant < 0 ? fc_batch_del(b, k, strlen(k))
                                  : fc_batch_put(b, k, strlen(k), v,
                                                 val_of(v, e[i].key, j, e[i].variant));
        if (rc != 0)
            return rc;
    }
    return fc_write(s, b, flags);
}

/* Odd rounds sync nothing. */
static int round_syncs(int round)
{
    return round % 2 == 0;
}

/* ---- the child: load until killed ------------------------------------------ */

#define MSG_OPENED UINT64_MAX

/* About one op in FLUSH_EVERY is followed by an fc_flush and one in
 * COMPACT_EVERY by a range compaction, on top of the background's own. */
#define FLUSH_EVERY 29
#define COMPACT_EVERY 41

static void child_fail(const char *what, int rc, fc_store *s)
{
    fprintf(stderr, "crash child: %s: %s: %s\n", what, fc_strerror(rc),
            s ? fc_errmsg(s) : fc_errmsg(NULL));
    _exit(2);
}

static void send_msg(int fd, uint64_t v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v)
        _exit(3);
}

/* Never returns: loads op after op from `start` and reports each one
 * acknowledged; now and then flushes or compacts a range by hand. */
/* Writes ops from start on, acknowledging each through fd; the writer
 * also flushes and compacts now and then. */
static void write_loop(fc_store *s, int fd, int64_t start, int sync, int is_writer)
{
    fc_batch *b;
    if (fc_batch_new(&b) != 0)
        _exit(2);
    for (int64_t j = start;; j++) {
        int rc = op_write(s, j, b, sync ? FC_WRITE_SYNC : 0);
        if (rc != 0)
            child_fail("write", rc, s);
        send_msg(fd, (uint64_t)j);
        uint64_t h = mix64((uint64_t)j ^ 0x5555);
        if (is_writer && h % FLUSH_EVERY == 0 && (rc = fc_flush(s)) != 0)
            child_fail("fc_flush", rc, s);
        if (is_writer && h % COMPACT_EVERY == 1) {
            char lo[32], hi[32];
            fct_key_of(lo, "key", 8, j / 2);
            fct_key_of(hi, "key", 8, j);
            if ((rc = fc_compact_range(s, lo, strlen(lo), hi, strlen(hi))) != 0)
                child_fail("fc_compact_range", rc, s);
        }
    }
}

/* Leader rounds: the writes come from a worker forked from the writer,
 * which applies them itself under the arena's write lock (the write
 * lane), so a kill also lands inside a leader's group. The worker dies
 * with the writer (PR_SET_PDEATHSIG); the parent reads acknowledgements
 * until the pipe's last writer, the worker, is gone, so nothing writes
 * while the parent recovers. */
static int round_leads(int round)
{
    return round % 4 == 2;
}

static void child_main(int fd, int64_t start, int sync, int lead)
{
    fc_options o = fct_small_opts();
    if (sync)
        o.flags |= FC_SYNC;
    fc_store *s = NULL;
    pid_t writer = getpid();
    int rc = fc_open(fct_dir, &o, &s);
    if (rc != 0)
        child_fail("fc_open", rc, NULL);
    send_msg(fd, MSG_OPENED);
    if (lead) {
        pid_t w = fc_fork();
        if (w == 0) {
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != writer)
                _exit(0);
            if (fc_after_fork(s) != 0)
                _exit(2);
            write_loop(s, fd, start, sync, 0);
        }
        close(fd);
        for (;;)
            pause();
    }
    write_loop(s, fd, start, sync, 1);
}

/* ---- the parent: kill, recover, check ------------------------------------- */

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng;
static uint64_t checks_passed;   /* see the header comment */

/* What the killed writers were acknowledged for, by kind: proof that every
 * kind ran under the kills. [0] syncing rounds, [1] the others. */
static uint64_t n_puts[2], n_dels[2], n_batches[2], n_flushes[2], n_compacts[2];

static void tally_op(int64_t j, int sync)
{
    entry e[MAX_ENTRIES];
    int n = op_entries(j, e), x = sync ? 0 : 1;
    if (n > 1)
        n_batches[x]++;
    else if (e[0].variant < 0)
        n_dels[x]++;
    else
        n_puts[x]++;
    uint64_t h = mix64((uint64_t)j ^ 0x5555);
    n_flushes[x] += h % FLUSH_EVERY == 0;   /* the child's schedule, as in child_main */
    n_compacts[x] += h % COMPACT_EVERY == 1;
}

static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

/* Runs one child from op `start` and kills it. Returns the number of ops
 * known acknowledged (every op below it was). */
static int64_t run_and_kill(int64_t start, int round)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        child_main(p[1], start, round_syncs(round), round_leads(round));
    }
    close(p[1]);
    /* Two rounds in three wait for the open so the kill lands among the
     * writes; the others count from the fork and may hit recovery. */
    if (round % 3 != 0) {
        uint64_t m;
        ssize_t k = read(p[0], &m, sizeof m);
        ck_assert_msg(k == (ssize_t)sizeof m && m == MSG_OPENED,
                      "round %d: child died before opening the store", round);
    }
    /* A synced write waits for the disk: those rounds run longer, so
     * that their kills also land among flushes and compactions. */
    sleep_us((long)(rnd() % (round_syncs(round) ? 200000 : 50000)));
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child ended on its own (status %d): see stderr", round, status);
    int64_t acked = start;
    uint64_t m;
    while (read(p[0], &m, sizeof m) == (ssize_t)sizeof m) {
        if (m == MSG_OPENED)
            continue;
        ck_assert_msg((int64_t)m == acked, "round %d: ack %llu out of order", round,
                      (unsigned long long)m);
        acked = (int64_t)m + 1;
    }
    close(p[0]);
    return acked;
}

/* 1 when key i reads as the model says (0 on mismatch); fails the test
 * on any error other than not-found. */
static int key_matches(fc_txn *t, int64_t i, int64_t want, int round)
{
    char k[32], v[VAL_MAX];
    fct_key_of(k, "key", 8, i);
    fc_val got;
    int rc = fc_get(t, k, strlen(k), &got);
    ck_assert_msg(rc == 0 || rc == FC_ENOTFOUND, "round %d: get %s: %s", round, k,
                  fc_strerror(rc));
    int ok;
    if (want < 0) {
        ok = rc == FC_ENOTFOUND;
    } else {
        size_t vl = rc == 0 ? val_of(v, i, want / 4, (int)(want % 4)) : 0;
        ok = rc == 0 && got.size == vl && memcmp(got.data, v, vl) == 0;
    }
    checks_passed += ok;
    return ok;
}

/* Checks the store holds the state after `acked` ops, or after acked + 1
 * (the op in flight, applied whole). Returns the number of ops applied. */
static int64_t verify_state(fc_store *s, model *m, int64_t acked, int round)
{
    entry e[MAX_ENTRIES];
    int n = op_entries(acked, e);
    int64_t limit = acked + 1;
    model_grow(m, limit);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int64_t i = 0; i < limit; i++) {
        int touched = 0;
        for (int x = 0; x < n; x++)
            touched |= e[x].key == i;
        if (touched)
            continue;
        ck_assert_msg(key_matches(t, i, m->last[i], round),
                      "round %d: key %lld wrong after %lld acknowledged ops (model %lld)", round,
                      (long long)i, (long long)acked, (long long)m->last[i]);
    }
    /* The in-flight op's keys: all before it or all after it. */
    int before = 1;
    for (int x = 0; x < n; x++)
        before &= key_matches(t, e[x].key, m->last[e[x].key], round);
    if (!before) {
        model copy = { NULL, 0 };
        model_grow(&copy, limit);
        for (int x = 0; x < n; x++)
            copy.last[e[x].key] = m->last[e[x].key];
        for (int x = 0; x < n; x++)
            copy.last[e[x].key] = e[x].variant < 0 ? -1 : acked * 4 + e[x].variant;
        for (int x = 0; x < n; x++)
            ck_assert_msg(key_matches(t, e[x].key, copy.last[e[x].key], round),
                          "round %d: op %lld (in flight) is torn at key %lld", round,
                          (long long)acked, (long long)e[x].key);
        free(copy.last);
    }
    /* Nothing invented past the sequence. */
    for (int64_t i = limit; i < limit + 64; i++) {
        char k[32];
        fc_val got;
        fct_key_of(k, "key", 8, i);
        ck_assert_msg(fc_get(t, k, strlen(k), &got) == FC_ENOTFOUND,
                      "round %d: key %lld beyond every attempted op exists", round, (long long)i);
        checks_passed++;
    }
    fc_txn_end(t);
    if (before)
        return acked;
    model_apply(m, acked);
    return acked + 1;
}

/* After a recovery and a clean close: every table on disk is in the
 * MANIFEST's current version and every table there is on disk; one
 * MANIFEST (the one CURRENT names); no WAL below the log number; no temp
 * file. */
static void check_no_orphans(int round)
{
    fci_vset vs;
    fci_err err;
    fci_err_clear(&err);
    ck_assert_int_eq(fci_vset_init(&vs, AT_FDCWD, fct_dir, 0600), 0);
    int rc = fci_vset_recover(&vs, 0, &err);
    ck_assert_msg(rc == 0, "round %d: MANIFEST: %s", round, err.msg);
    size_t listed = 0, found = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        listed += vs.current->nfiles[l];
    DIR *d = opendir(fct_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    int manifests = 0;
    while ((de = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(de->d_name, &kind, &number) != 0)
            continue;
        if (kind == FCI_FILE_MANIFEST)
            manifests++;
        ck_assert_msg(kind != FCI_FILE_TEMP, "round %d: temp file %s left", round, de->d_name);
        ck_assert_msg(kind != FCI_FILE_WAL || number >= vs.log_number,
                      "round %d: obsolete WAL %s left (log number %llu)", round, de->d_name,
                      (unsigned long long)vs.log_number);
        if (!fci_file_is_table(kind))
            continue;
        int live = 0;
        for (int l = 0; l < FCI_NUM_LEVELS && !live; l++)
            for (size_t i = 0; i < vs.current->nfiles[l]; i++)
                live |= vs.current->files[l][i]->number == number;
        ck_assert_msg(live, "round %d: orphan table %s (in no version)", round, de->d_name);
        found++;
    }
    closedir(d);
    ck_assert_msg(manifests == 1, "round %d: %d MANIFEST files", round, manifests);
    ck_assert_msg(found == listed, "round %d: %zu tables in the version, %zu on disk", round,
                  listed, found);
    checks_passed++;
    fci_vset_free(&vs);
}

/* fc_verify on the store as the kill left it: damage is a failure (and
 * printed), notes such as a torn WAL tail are what a kill leaves. */
static void print_finding(void *arg, const fc_verify_finding *f)
{
    if (f->severity != FC_VERIFY_NOTE)
        fprintf(stderr, "round %d: verify: %s:%llu: %s\n", *(int *)arg, f->file,
                (unsigned long long)f->offset, f->message);
}

static void verify_after_kill(int round, int64_t acked_ever)
{
    char current[4200];
    snprintf(current, sizeof current, "%s/CURRENT", fct_dir);
    if (acked_ever == 0 && access(current, F_OK) != 0)
        return; /* killed while creating the store: there is no store yet */
    int rc = fc_verify(fct_dir, print_finding, &round);
    ck_assert_msg(rc == 0, "round %d: fc_verify after the kill: %s", round, fc_strerror(rc));
    checks_passed++;
}

static fc_store *open_ok(int round)
{
    fc_options o = fct_small_opts();
    if (round_syncs(round))
        o.flags |= FC_SYNC;
    fc_store *s = NULL;
    int rc = fc_open(fct_dir, &o, &s);
    ck_assert_msg(rc == 0, "round %d: reopen: %s: %s", round, fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

START_TEST(sigkill_rounds)
{
    int explicit = getenv("FC_CRASH_ROUNDS") && *getenv("FC_CRASH_ROUNDS");
    int rounds = env_int("FC_CRASH_ROUNDS", 40);
    unsigned seed = (unsigned)env_int("FC_CRASH_SEED", (int)(time(NULL) ^ getpid()));
    rng = seed;
    fprintf(stderr, "check_crash: seed %u (FC_CRASH_SEED), %d rounds\n", seed, rounds);
    model m = { NULL, 0 };
    int64_t next = 0, total_acked = 0;
    double t0 = now_s();
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    int round;
    for (round = 0; round < rounds; round++) {
        if (!explicit && round >= 8 && now_s() - t0 > 20.0)
            break;
        int64_t acked = run_and_kill(next, round);
        for (int64_t j = next; j < acked; j++) {
            model_apply(&m, j);
            tally_op(j, round_syncs(round));
        }
        total_acked += acked - next;
        verify_after_kill(round, acked);
        /* First recovery after the kill, with nothing else to do: it must
         * leave exactly the files the recovered version names. */
        fc_store *s = open_ok(round);
        ck_assert_msg(fc_close(s) == 0, "round %d: fc_close after recovery", round);
        check_no_orphans(round);
        s = open_ok(round);
        next = verify_state(s, &m, acked, round);
        /* The recovered store loads more. */
        for (int i = 0; i < 5; i++, next++) {
            int rc = op_write(s, next, b, round_syncs(round) ? FC_WRITE_SYNC : 0);
            ck_assert_msg(rc == 0, "round %d: resume write: %s", round, fc_errmsg(s));
            model_apply(&m, next);
        }
        ck_assert_int_eq(verify_state(s, &m, next, round), next);
        ck_assert_msg(fc_close(s) == 0, "round %d: fc_close after resuming", round);
    }
    fprintf(stderr, "check_crash: %d rounds, %lld ops acknowledged by killed writers, "
                    "%lld ops in all, %.1f s\n",
            round, (long long)total_acked, (long long)next, now_s() - t0);
    for (int x = 0; x < 2; x++)
        fprintf(stderr, "check_crash: %s rounds acked %llu puts, %llu deletes, %llu batches, "
                        "%llu flushes, %llu range compactions\n", x ? "unsynced" : "synced",
                (unsigned long long)n_puts[x], (unsigned long long)n_dels[x],
                (unsigned long long)n_batches[x], (unsigned long long)n_flushes[x],
                (unsigned long long)n_compacts[x]);
    fprintf(stderr, "check_crash: kills survived: %d, checks passed: %llu, acked ops: %lld\n",
            round, (unsigned long long)checks_passed, (long long)total_acked);
    fc_batch_free(b);
    free(m.last);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("sigkill");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    /* An explicit round count runs to the end: about a second a round. */
    int rounds = env_int("FC_CRASH_ROUNDS", 0);
    tcase_set_timeout(tc, rounds > 40 ? rounds * 2.0 : 60);
    tcase_add_test(tc, sigkill_rounds);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(crash_suite)
