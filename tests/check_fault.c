/*
 * check_fault.c - fault injection through the I/O layer (src/util/io.c).
 *
 * The sweep runs one small store workload (open, synced puts, flushes,
 * deletes, a compaction, gets and a scan, close, verify, reopen, a
 * read-only open) once per I/O call site and fault: EIO, ENOSPC and the
 * like make the call that hit them fail with an FC_E* code whose message
 * names a file of the store, and the step succeeds once the fault is
 * cleared; EINTR and short reads and writes are absorbed. Every run ends
 * with the store holding exactly the model's values and fc_verify clean.
 * Targeted tests cover a full disk during flush and compaction (the
 * background retries, nothing acked is lost), a failed WAL append, and
 * closing while the background is failing. main() prints which sites were
 * made to fail and fails the suite when one never was.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "util/io.h"

#define NKEYS 240
#define VLEN 100

/* What every key must read as: generation 0 = absent. */
typedef struct model {
    int gen[NKEYS];
} model;

typedef struct ctx {
    fc_store *s;
    model m;
    fc_options o;
    int transparent;    /* the armed fault must never surface */
    int failures;       /* steps that failed under the fault */
    int key;            /* arguments of the put/del steps: keys key, key+stride, ... */
    int stride, nput;
    int gen;
    char verify_msg[512];
} ctx;

static void value_of(int i, int gen, char *v)
{
    int n = snprintf(v, VLEN, "v%d.%d.", i, gen);
    memset(v + n, 'a' + i % 26, (size_t)(VLEN - n));
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint64_t faults_total(void)
{
    uint64_t n = 0;
    for (int i = 0; i < FCI_IO_SITES; i++)
        n += fci_io_site_faults(i);
    return n;
}

/* ---- coverage across forked tests ------------------------------------------
 * Check runs each test in a child: a test's fct_teardown appends its per-site
 * fault counts to the file main() named in FC_FAULT_COV. */

static void coverage_save(void)
{
    const char *path = getenv("FC_FAULT_COV");
    if (path == NULL)
        return;
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < FCI_IO_SITES && n < sizeof buf - 64; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%d %llu\n", i,
                              (unsigned long long)fci_io_site_faults(i));
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, buf, n);   /* one append: children never interleave */
        (void)w;
        close(fd);
    }
}

static void coverage_load(uint64_t *faults)
{
    memset(faults, 0, sizeof(uint64_t) * FCI_IO_SITES);
    const char *path = getenv("FC_FAULT_COV");
    FILE *f = path ? fopen(path, "re") : NULL;
    if (f == NULL)
        return;
    int site;
    unsigned long long n;
    while (fscanf(f, "%d %llu", &site, &n) == 2)
        if (site >= 0 && site < FCI_IO_SITES)
            faults[site] += n;
    fclose(f);
}

static void fault_setup(void)
{
    fct_setup();
    fci_io_counters_reset();
    fci_io_hooks_enable(1);
}

static void fault_teardown(void)
{
    coverage_save();
    fci_io_hooks_enable(0);
    fct_teardown();
}

/* ---- the workload's steps --------------------------------------------------- */

static fc_options sweep_opts(void)
{
    fc_options o = fct_small_opts();
    o.flags |= FC_CREATE | FC_ATTACH;   /* ATTACH: asks who holds LOCK first */
    o.arena_path = "";                  /* a file-backed arena in the store */
    o.ttl_framing = 1;                  /* a FORKCACHE options file too */
    return o;
}

static int st_open(ctx *c)
{
    return fc_open(fct_dir, &c->o, &c->s);
}

static int st_open_readonly(ctx *c)
{
    fc_options o = c->o;
    o.flags = FC_READONLY;
    return fc_open(fct_dir, &o, &c->s);
}

/* One synced batch of nput keys. */
static int st_put(ctx *c)
{
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    for (int j = 0; j < c->nput; j++) {
        char k[16], v[VLEN];
        int i = c->key + j * c->stride;
        fct_key_of(k, "key", 5, i);
        value_of(i, c->gen, v);
        ck_assert_int_eq(fc_batch_put(b, k, strlen(k), v, VLEN), 0);
    }
    int rc = fc_write(c->s, b, FC_WRITE_SYNC);
    fc_batch_free(b);
    for (int j = 0; j < c->nput && rc == 0; j++)
        c->m.gen[c->key + j * c->stride] = c->gen;
    return rc;
}

static int st_del(ctx *c)
{
    char k[16];
    fct_key_of(k, "key", 5, c->key);
    int rc = fc_del(c->s, k, strlen(k));
    if (rc == 0)
        c->m.gen[c->key] = 0;
    return rc;
}

static int st_flush(ctx *c)
{
    return fc_flush(c->s);
}

static int st_compact(ctx *c)
{
    return fc_compact_range(c->s, NULL, 0, NULL, 0);
}

/* Every key by get, then the whole store by a scan, against the model. */
static int st_read(ctx *c)
{
    fc_txn *t;
    int rc = fc_txn_begin(c->s, &t);
    if (rc != 0)
        return rc;
    for (int i = 0; i < NKEYS && rc == 0; i++) {
        char k[16], v[VLEN];
        fct_key_of(k, "key", 5, i);
        fc_val got;
        rc = fc_get(t, k, strlen(k), &got);
        if (rc == FC_ENOTFOUND && c->m.gen[i] == 0) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        ck_assert_msg(c->m.gen[i] != 0, "%s: deleted key is back", k);
        value_of(i, c->m.gen[i], v);
        ck_assert_msg(got.size == VLEN && memcmp(got.data, v, VLEN) == 0,
                      "%s: wrong value (want generation %d)", k, c->m.gen[i]);
    }
    fc_iter *it = NULL;
    if (rc == 0)
        rc = fc_iter_new(t, &it);
    int seen = 0, want = 0;
    for (int i = 0; i < NKEYS; i++)
        want += c->m.gen[i] != 0;
    int mv = rc == 0 ? fc_iter_first(it) : rc;
    for (; mv == 0; mv = fc_iter_next(it))
        seen++;
    if (rc == 0 && mv != FC_ENOTFOUND)
        rc = mv;
    else if (rc == 0)
        ck_assert_int_eq(seen, want);
    fc_iter_free(it);
    fc_txn_end(t);
    return rc;
}

static void verify_report(void *arg, const fc_verify_finding *f)
{
    ctx *c = arg;
    if (f->severity != FC_VERIFY_NOTE && c->verify_msg[0] == '\0')
        snprintf(c->verify_msg, sizeof c->verify_msg, "%s/%s: %s", fct_dir, f->file, f->message);
}

static int st_verify(ctx *c)
{
    c->verify_msg[0] = '\0';
    int rc = fc_verify(fct_dir, verify_report, c);
    ck_assert_msg(rc != FC_ECORRUPT, "fc_verify finds damage: %s", c->verify_msg);
    return rc;
}

/* The message of the step's failure: the store's, an open's, or verify's. */
static const char *step_message(ctx *c, int (*fn)(ctx *))
{
    if (fn == st_verify)
        return c->verify_msg;
    if (fn == st_open || fn == st_open_readonly)
        return fc_errmsg(NULL);
    return fc_errmsg(c->s);
}

/* Whether a message names a file of the store: its path, or a file name. */
static int names_file(const char *msg)
{
    static const char *const names[] = { ".ldb", ".sst", ".log", "MANIFEST-", "CURRENT", "LOCK" };
    if (strstr(msg, fct_dir) != NULL)
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strstr(msg, names[i]) != NULL)
            return 1;
    return 0;
}

/* Runs one step. A failure must come from the armed fault, carry an FC_E*
 * code and a message naming a file of the store, and go away once the
 * fault is cleared (background work retries on its own: allow it time). */
static void step(ctx *c, int (*fn)(ctx *), const char *what)
{
    int rc = fn(c);
    if (rc == 0)
        return;
    const char *msg = step_message(c, fn);
    ck_assert_msg(!c->transparent, "%s: %s (%s) under a fault that must be absorbed", what,
                  fc_strerror(rc), msg);
    ck_assert_msg(faults_total() > 0, "%s: %s (%s) with no fault injected", what,
                  fc_strerror(rc), msg);
    ck_assert_msg(rc < 0 && rc > FC_ERRNO_LAST, "%s: %d is no FC_E* code", what, rc);
    ck_assert_msg(names_file(msg), "%s: the message names no file: %s", what, msg);
    c->failures++;
    fci_io_fault_clear();
    for (int tries = 0; tries < 2000 && (rc = fn(c)) != 0; tries++)
        sleep_ms(5);
    ck_assert_msg(rc == 0, "%s: still %s after the fault cleared: %s", what, fc_strerror(rc),
                  step_message(c, fn));
}

static void st_close(ctx *c)
{
    int rc = fc_close(c->s);
    c->s = NULL;
    if (rc != 0) {
        ck_assert_msg(!c->transparent, "close: %s under an absorbed fault", fc_strerror(rc));
        ck_assert(faults_total() > 0);
        c->failures++;
        fci_io_fault_clear();
    }
}

/* Keys from, from+stride, ... below to, in synced batches of 16. */
static void puts_range(ctx *c, int from, int to, int stride, int gen)
{
    for (int i = from; i < to; i += 16 * stride) {
        c->key = i;
        c->stride = stride;
        c->nput = 0;
        for (int k = i; k < to && c->nput < 16; k += stride)
            c->nput++;
        c->gen = gen;
        step(c, st_put, "put");
    }
}

/* The whole workload; the fault is armed before it starts. */
static void workload(ctx *c)
{
    step(c, st_open, "open");
    puts_range(c, 0, NKEYS, 1, 1);
    step(c, st_flush, "flush");
    puts_range(c, 0, NKEYS, 3, 2);
    for (int i = 1; i < NKEYS; i += 7) {
        c->key = i;
        step(c, st_del, "del");
    }
    step(c, st_flush, "flush");
    step(c, st_read, "read");
    step(c, st_compact, "compact");
    step(c, st_read, "read after compaction");
    puts_range(c, 0, NKEYS, 5, 3);   /* left in the WAL for the reopen */
    st_close(c);
    step(c, st_verify, "verify");
    step(c, st_open, "reopen");
    step(c, st_read, "read after reopen");
    st_close(c);
    step(c, st_open_readonly, "read-only open");
    step(c, st_read, "read-only read");
    st_close(c);
    /* Whatever happened, the store on disk is whole once faults are gone. */
    fci_io_fault_clear();
    c->transparent = 0;
    step(c, st_verify, "final verify");
    step(c, st_open, "final open");
    step(c, st_read, "final read");
    st_close(c);
}

/* ---- the sweep: every site, every fault that fits its kind ------------------ */

typedef struct fault_kind {
    int err;            /* errno, or 0 for a short transfer */
    const char *name;
} fault_kind;

/* The faults worth injecting into each kind of call. */
static int faults_for(int kind, fault_kind *out)
{
    static const fault_kind eio = { EIO, "EIO" }, enospc = { ENOSPC, "ENOSPC" },
                            eintr = { EINTR, "EINTR" }, shrt = { 0, "short" },
                            emfile = { EMFILE, "EMFILE" }, enomem = { ENOMEM, "ENOMEM" },
                            efbig = { EFBIG, "EFBIG" };
    int n = 0;
    out[n++] = eintr;
    switch (kind) {
    case FCI_IO_OPEN:
        out[n++] = eio, out[n++] = enospc, out[n++] = emfile;
        break;
    case FCI_IO_READ:
        out[n++] = eio, out[n++] = shrt;
        break;
    case FCI_IO_WRITE:
        out[n++] = eio, out[n++] = enospc, out[n++] = shrt;
        break;
    case FCI_IO_MMAP:
        out[n++] = enomem;
        break;
    case FCI_IO_TRUNCATE:
        out[n++] = eio, out[n++] = efbig;
        break;
    default: /* sync, rename, stat */
        out[n++] = eio, out[n++] = enospc;
        break;
    }
    return n;
}

/* Open descriptors of this process. */
static int fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* Whatever failed, the workload closes what it opened, and nothing else:
 * a failure path once closed descriptor 0 instead of the table's. */
static void check_descriptors(const struct stat *stdin_before, int before, const char *what)
{
    struct stat now;
    ck_assert_msg(fstat(0, &now) == 0 && now.st_ino == stdin_before->st_ino &&
                  now.st_dev == stdin_before->st_dev, "%s: descriptor 0 was closed", what);
    ck_assert_msg(fd_count() == before, "%s: %d descriptors open after, %d before", what,
                  fd_count(), before);
}

/* Which calls at the site the fault hits: the first, and a later one. */
static const unsigned sweep_nth[] = { 1, 3 };

static void sweep_one(int site, fault_kind fk, unsigned nth)
{
    fct_rmtree(fct_dir);
    fci_io_fault_clear();
    uint64_t before = fci_io_site_faults(site);
    ctx *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->o = sweep_opts();
    c->transparent = fk.err == 0 || fk.err == EINTR;
    fci_io_fault f = { .kind = FCI_IO_ANY, .site = site, .nth = nth, .count = 1,
                       .err = fk.err, .short_by = 7 };
    struct stat in0;
    ck_assert_int_eq(fstat(0, &in0), 0);
    int fds = fd_count();
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
    workload(c);
    check_descriptors(&in0, fds, fci_io_site_name(site));
    /* The workload reaches every site (with nth 1, the first call there). */
    if (nth == 1)
        ck_assert_msg(fci_io_site_faults(site) > before, "%s/%s: the workload never reached it",
                      fci_io_site_name(site), fk.name);
    free(c);
}

START_TEST(sweep_site)
{
    int site = _i;
    fault_kind fks[8];
    int n = faults_for(fci_io_site_kind(site), fks);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < sizeof sweep_nth / sizeof sweep_nth[0]; j++)
            sweep_one(site, fks[i], sweep_nth[j]);
}
END_TEST

/* ---- targeted: a full disk, a failed WAL, mmap refused ----------------------- */

static void arm(int kind, int site, unsigned count, int err)
{
    fci_io_fault f = { .kind = kind, .site = site, .nth = 1, .count = count, .err = err };
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
}

static int stall_now(fc_store *s)
{
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(s, &st), 0);
    return st.stall;
}

/* A test's own store: open with the sweep's options, fail on error. */
static ctx *ctx_open(void)
{
    ctx *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->o = sweep_opts();
    c->s = fct_open_in(&c->o);
    return c;
}

/* Reads through a fresh open, then fc_verify: what is on disk is whole. */
static void reopen_and_check(ctx *c)
{
    c->s = fct_open_in(&c->o);
    ck_assert_msg(st_read(c) == 0, "read after reopen: %s", fc_errmsg(c->s));
    ck_assert_int_eq(fc_close(c->s), 0);
    c->s = NULL;
    ck_assert_msg(st_verify(c) == 0, "verify: %s", c->verify_msg);
}

/* The end of a targeted test: the model reads back now, after a clean
 * close and a reopen, and fc_verify is clean. */
static void finish(ctx *c)
{
    ck_assert_msg(st_read(c) == 0, "read: %s", fc_errmsg(c->s));
    int rc = fc_close(c->s);
    c->s = NULL;
    ck_assert_msg(rc == 0, "close: %s", fc_strerror(rc));
    reopen_and_check(c);
    free(c);
}

/* Puts synced batches until one fails; returns how many succeeded. The
 * memtable holds about 600 of them, so a write must fail well before the
 * guard unless the background catches up (which the fault forbids). */
static int put_until_failure(ctx *c, int gen, int *rc_out)
{
    int ok = 0;
    for (int round = 0; round < 5000; round++) {
        c->key = round % NKEYS;
        c->stride = 1;
        c->nput = 1;
        c->gen = gen;
        int rc = st_put(c);
        if (rc != 0) {
            *rc_out = rc;
            return ok;
        }
        ok++;
    }
    *rc_out = 0;
    return ok;
}

/* Disk full (every table write ENOSPC) while a memtable is flushed: the
 * flush fails with a message naming the table, stats show the stall,
 * writes that fit go on and the first that cannot fails instead of
 * hanging; reads see every acked write meanwhile. Once space is back the
 * background's retry succeeds on its own and nothing acked is lost. */
START_TEST(disk_full_during_flush)
{
    ctx *c = ctx_open();
    puts_range(c, 0, NKEYS, 1, 1);
    arm(FCI_IO_WRITE, FCI_IO_SITE_TABLE_WRITE, 0, ENOSPC);
    int rc = fc_flush(c->s);
    ck_assert_msg(rc == FC_ENOSPC, "flush on a full disk: %s", fc_strerror(rc));
    ck_assert_msg(strstr(fc_errmsg(c->s), ".ldb") != NULL, "names no table: %s", fc_errmsg(c->s));
    ck_assert_int_eq(stall_now(c->s), FC_STALL_ERROR);
    ck_assert_msg(st_read(c) == 0, "read while the disk is full: %s", fc_errmsg(c->s));
    int ok = put_until_failure(c, 2, &rc);
    ck_assert_msg(rc == FC_ENOSPC, "a write needing the failed flush: %s after %d puts",
                  fc_strerror(rc), ok);
    ck_assert_msg(strstr(fc_errmsg(c->s), "retrying") != NULL, "%s", fc_errmsg(c->s));
    ck_assert_msg(st_read(c) == 0, "read while writes fail: %s", fc_errmsg(c->s));
    fci_io_fault_clear();
    for (int tries = 0; tries < 1000 && (rc = fc_flush(c->s)) != 0; tries++)
        sleep_ms(5);
    ck_assert_msg(rc == 0, "flush once space is back: %s", fc_errmsg(c->s));
    ck_assert_int_ne(stall_now(c->s), FC_STALL_ERROR);
    puts_range(c, 0, NKEYS, 2, 3);
    finish(c);
}
END_TEST

/* Disk full during a compaction: fc_compact_range fails naming the
 * table, the inputs stay readable, and the retry compacts them all. */
START_TEST(disk_full_during_compaction)
{
    ctx *c = ctx_open();
    for (int gen = 1; gen <= 3; gen++) {
        puts_range(c, gen - 1, NKEYS, gen, gen);
        ck_assert_int_eq(fc_flush(c->s), 0);
    }
    fc_stats before;
    ck_assert_int_eq(fc_stats_get(c->s, &before), 0);
    ck_assert_uint_ge(before.files[0], 3);
    arm(FCI_IO_WRITE, FCI_IO_ANY, 0, ENOSPC);
    int rc = fc_compact_range(c->s, NULL, 0, NULL, 0);
    ck_assert_msg(rc == FC_ENOSPC, "compaction on a full disk: %s", fc_strerror(rc));
    ck_assert_msg(names_file(fc_errmsg(c->s)), "names no file: %s", fc_errmsg(c->s));
    ck_assert_msg(st_read(c) == 0, "read after the failed compaction: %s", fc_errmsg(c->s));
    fci_io_fault_clear();
    ck_assert_msg(fc_compact_range(c->s, NULL, 0, NULL, 0) == 0, "%s", fc_errmsg(c->s));
    fc_stats after;
    ck_assert_int_eq(fc_stats_get(c->s, &after), 0);
    ck_assert_uint_eq(after.files[0], 0);
    finish(c);
}
END_TEST

/* A store whose immutable memtable (every key, generation 1) cannot be
 * flushed: no table can be created. The new memtable is empty. */
static ctx *open_with_flush_failing(void)
{
    ctx *c = ctx_open();
    puts_range(c, 0, NKEYS, 1, 1);
    arm(FCI_IO_ANY, FCI_IO_SITE_TABLE_CREATE, 0, ENOSPC);
    ck_assert_int_eq(fc_flush(c->s), FC_ENOSPC);
    return c;
}

/* Closing while the background cannot flush: fc_close reports it, and
 * the next open recovers every acked write from the WAL. */
START_TEST(close_while_disk_full)
{
    ctx *c = open_with_flush_failing();
    puts_range(c, 0, NKEYS, 3, 2);   /* into the new memtable and WAL */
    int rc = fc_close(c->s);
    ck_assert_msg(rc == FC_ENOSPC, "close with an unflushed memtable: %s", fc_strerror(rc));
    fci_io_fault_clear();
    reopen_and_check(c);
    free(c);
}
END_TEST

/* A WAL append or sync that fails: that write fails naming the WAL, the
 * next one goes to a new WAL, and after reopening every acked write holds
 * its last value (a retried batch must not reuse the failed one's
 * sequence numbers, or recovery would meet two versions of one key at
 * one sequence). */
START_TEST(wal_failure_then_retry)
{
    static const int sites[] = { FCI_IO_SITE_LOG_APPEND, FCI_IO_SITE_LOG_SYNC };
    for (size_t i = 0; i < 2; i++) {
        fct_rmtree(fct_dir);
        ctx *c = ctx_open();
        puts_range(c, 0, NKEYS, 1, 1);
        arm(FCI_IO_ANY, sites[i], 1, EIO);
        c->key = 0, c->stride = 1, c->nput = 16, c->gen = 7;
        int rc = st_put(c);
        ck_assert_msg(rc == FC_EIO, "%s: put: %s", fci_io_site_name(sites[i]), fc_strerror(rc));
        ck_assert_msg(strstr(fc_errmsg(c->s), ".log") != NULL, "names no WAL: %s",
                      fc_errmsg(c->s));
        c->gen = 8;  /* the retry writes other values to the same keys */
        ck_assert_msg(st_put(c) == 0, "retry: %s", fc_errmsg(c->s));
        puts_range(c, 16, NKEYS, 4, 9);
        finish(c);
    }
}
END_TEST

/* A WAL replaced while the previous memtable waits for its flush: the
 * active memtable's entries now sit in two WALs, and the flush that
 * finally succeeds must keep both (it once kept only the newest). */
START_TEST(wal_replaced_while_flush_pending)
{
    ctx *c = open_with_flush_failing();
    puts_range(c, 0, NKEYS, 2, 2);                    /* into mem's first WAL */
    arm(FCI_IO_ANY, FCI_IO_SITE_LOG_APPEND, 1, EIO);
    c->key = 1, c->stride = 2, c->nput = 8, c->gen = 3;
    ck_assert_int_eq(st_put(c), FC_EIO);
    puts_range(c, 1, NKEYS, 2, 4);                    /* into a second WAL */
    fci_io_fault_clear();
    fc_stats st;
    for (int tries = 0; tries < 1000; tries++) {     /* the background's own retry */
        ck_assert_int_eq(fc_stats_get(c->s, &st), 0);
        if (st.imm_bytes == 0 && st.stall != FC_STALL_ERROR)
            break;
        sleep_ms(5);
    }
    ck_assert_uint_eq(st.imm_bytes, 0);
    ck_assert_int_eq(st_read(c), 0);
    ck_assert_int_eq(fc_close(c->s), 0);              /* mem is only in its WALs */
    reopen_and_check(c);
    free(c);
}
END_TEST

/* Mapping refused (address space, limits): tables are read by pread and
 * every read still returns the model's values. */
START_TEST(mmap_refused_reads_by_pread)
{
    ctx *c = ctx_open();
    arm(FCI_IO_MMAP, FCI_IO_ANY, 0, ENOMEM);   /* before any table is opened */
    for (int gen = 1; gen <= 2; gen++) {  /* two overlapping tables: a real merge */
        puts_range(c, 0, NKEYS, gen, gen);
        ck_assert_int_eq(fc_flush(c->s), 0);
    }
    ck_assert_msg(st_read(c) == 0, "%s", fc_errmsg(c->s));
    ck_assert_int_eq(fc_compact_range(c->s, NULL, 0, NULL, 0), 0);
    ck_assert_msg(st_read(c) == 0, "%s", fc_errmsg(c->s));
    fc_stats st;
    ck_assert_int_eq(fc_stats_get(c->s, &st), 0);
    ck_assert_uint_eq(st.tables_mapped, 0);
    ck_assert_uint_gt(st.tables_pread, 0);
    ck_assert_uint_gt(fci_io_site_faults(FCI_IO_SITE_COMPACT_MMAP), 0);
    ck_assert_int_eq(fc_close(c->s), 0);
    fci_io_fault_clear();
    reopen_and_check(c);
    free(c);
}
END_TEST

/* Interrupted calls everywhere: every call of the layer through the whole
 * workload meets EINTR once (every other call fails: the retry passes),
 * and nothing notices. */
START_TEST(eintr_is_retried_everywhere)
{
    ctx *c = calloc(1, sizeof *c);
    c->o = sweep_opts();
    c->transparent = 1;
    fci_io_fault f = { .kind = FCI_IO_ANY, .site = FCI_IO_ANY, .nth = 1, .count = 0,
                       .err = EINTR, .period = 2 };
    ck_assert_int_eq(fci_io_fault_arm(&f), 0);
    workload(c);
    ck_assert_int_eq(c->failures, 0);
    ck_assert_uint_ge(faults_total(), 200);
    for (int i = 0; i < FCI_IO_SITES; i++)  /* every site the workload used was hit */
        ck_assert_msg(fci_io_site_calls(i) == 0 || fci_io_site_faults(i) > 0,
                      "%s: %llu calls, none interrupted", fci_io_site_name(i),
                      (unsigned long long)fci_io_site_calls(i));
    free(c);
}
END_TEST

/* ---- coverage ------------------------------------------------------------- */

START_TEST(every_site_failed_once)
{
    uint64_t faults[FCI_IO_SITES];
    coverage_load(faults);
    for (int i = 0; i < FCI_IO_SITES; i++)
        ck_assert_msg(faults[i] > 0, "I/O site %s was never made to fail", fci_io_site_name(i));
}
END_TEST

static Suite *fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, fault_setup, fault_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, sweep_site, 0, FCI_IO_SITES);
    suite_add_tcase(s, tc);
    tc = tcase_create("targeted");
    tcase_add_checked_fixture(tc, fault_setup, fault_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, disk_full_during_flush);
    tcase_add_test(tc, disk_full_during_compaction);
    tcase_add_test(tc, close_while_disk_full);
    tcase_add_test(tc, wal_failure_then_retry);
    tcase_add_test(tc, wal_replaced_while_flush_pending);
    tcase_add_test(tc, mmap_refused_reads_by_pread);
    tcase_add_test(tc, eintr_is_retried_everywhere);
    suite_add_tcase(s, tc);
    tc = tcase_create("coverage");
    tcase_add_test(tc, every_site_failed_once);
    suite_add_tcase(s, tc);
    return s;
}

/* Runs the suite, then prints each site's injected faults (all tests
 * together) and fails when any site was never made to fail. */
int main(void)
{
    char cov[4096];
    /* The faults are injected, not the disk's: skip its fsync latency. */
    if (getenv("TMPDIR") == NULL && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    const char *tmp = getenv("TMPDIR");
    snprintf(cov, sizeof cov, "%s/fc_fault_cov.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    unlink(cov);
    setenv("FC_FAULT_COV", cov, 1);
    SRunner *sr = srunner_create(fault_suite());
    srunner_set_fork_status(sr, CK_FORK_GETENV);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    uint64_t faults[FCI_IO_SITES];
    coverage_load(faults);
    int covered = 0;
    printf("faults injected per I/O call site:\n");
    for (int i = 0; i < FCI_IO_SITES; i++) {
        printf("  %-22s %8llu\n", fci_io_site_name(i), (unsigned long long)faults[i]);
        covered += faults[i] > 0;
    }
    printf("I/O call sites made to fail: %d of %d\n", covered, FCI_IO_SITES);
    unlink(cov);
    return failed == 0 && covered == FCI_IO_SITES ? EXIT_SUCCESS : EXIT_FAILURE;
}
