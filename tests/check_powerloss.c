/*
 * check_powerloss.c - power loss, simulated through the I/O layer.
 *
 * A workload (synced and unsynced puts, deletes and batches, memtable
 * switches, flushes, compactions, a close and reopen) runs with the I/O
 * layer's recorder on (fci_io_record): every open, write, sync, rename,
 * truncate and unlink the library makes is logged in order, bytes
 * included, and so is the log position at which each write was
 * acknowledged. Then crash states are built from the log, each in a fresh
 * directory, as a file system could have left them had the machine lost
 * power after the log's first k calls:
 *
 *   - a file's data written before its last fsync/fdatasync is there;
 *   - a create, rename or unlink before the directory's last fsync is there;
 *   - of the rest (unsynced data and unsynced directory changes) the state
 *     keeps none, all, an in-order prefix whose last write is torn at a
 *     random byte, or for each file a prefix of its unsynced writes of its
 *     own length with any subset of the unsynced directory changes.
 *
 * Each state must open (read-only and as a writer), hold every write
 * acknowledged with a sync before the crash point (or a later write of the
 * same key), hold each batch whole or not at all, pass fc_verify before
 * and after the writer's recovery, and open in real LevelDB (on a second
 * copy) with the same promises. The suite prints its figure:
 * "powerloss: workloads W, crash states S checked, synced writes lost L,
 * half batches H".
 *
 * FC_POWERLOSS_STATES sets the crash states per workload (default 300, 16
 * under valgrind), FC_POWERLOSS_SEED the seed. FC_POWERLOSS_REORDER=1 lets
 * a file's unsynced writes reach the disk in any order; a state whose WAL
 * then has a hole before later records is opened with FC_BEST_EFFORT and
 * counted apart (plain opens refuse it: see docs/RELIABILITY.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef FC_TEST_WITH_LEVELDB
#include <leveldb/c.h>
#endif

#include "fct.h"
#include "forkcache.h"
#include "db/core/writerid.h"
#include "util/io.h"

/* ---- the recorded log ------------------------------------------------------- */

enum { L_LINK, L_RENAME, L_UNLINK, L_WRITE, L_TRUNC, L_SYNC, L_DSYNC };

#define NAME_MAX_ 64
#define FD_DIR (-2)
#define MAX_FDS 4096

typedef struct entry {
    int op;
    int ino;                 /* L_LINK, L_WRITE, L_TRUNC, L_SYNC */
    char name[NAME_MAX_];    /* L_LINK, L_RENAME (from), L_UNLINK */
    char to[NAME_MAX_];      /* L_RENAME */
    uint64_t off, len;       /* L_WRITE; L_TRUNC: len */
    unsigned char *data;     /* L_WRITE: the bytes, NULL when all zeros */
} entry;

typedef struct plog {
    const char *dir;
    size_t dirlen;
    entry *e;
    size_t n, cap;
    int fds[MAX_FDS];        /* fd -> inode, FD_DIR, or -1 */
    int ninodes;
    /* the namespace as the library sees it, to resolve opens */
    char (*ns_name)[NAME_MAX_];
    int *ns_ino;
    size_t ns_n, ns_cap;
} plog;

static entry *push(plog *L, int op)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 1024;
        L->e = realloc(L->e, L->cap * sizeof *L->e);
        if (L->e == NULL)
            abort();
    }
    entry *e = &L->e[L->n++];
    memset(e, 0, sizeof *e);
    e->op = op;
    return e;
}

/* The name inside the store directory, "" for the directory itself, or
 * NULL for a path elsewhere (/proc...). */
static const char *in_store(const plog *L, const char *path)
{
    if (path == NULL || strncmp(path, L->dir, L->dirlen) != 0)
        return NULL;
    const char *p = path + L->dirlen;
    while (*p == '/')
        p++;
    if (strchr(p, '/') != NULL || strlen(p) >= NAME_MAX_)
        return NULL;
    return p;
}

static int ns_find(const plog *L, const char *name)
{
    for (size_t i = 0; i < L->ns_n; i++)
        if (strcmp(L->ns_name[i], name) == 0)
            return (int)i;
    return -1;
}

static void ns_set(plog *L, const char *name, int ino)
{
    int i = ns_find(L, name);
    if (i >= 0) {
        L->ns_ino[i] = ino;
        return;
    }
    if (L->ns_n == L->ns_cap) {
        L->ns_cap = L->ns_cap ? 2 * L->ns_cap : 64;
        L->ns_name = realloc(L->ns_name, L->ns_cap * sizeof *L->ns_name);
        L->ns_ino = realloc(L->ns_ino, L->ns_cap * sizeof *L->ns_ino);
        if (L->ns_name == NULL || L->ns_ino == NULL)
            abort();
    }
    snprintf(L->ns_name[L->ns_n], NAME_MAX_, "%s", name);
    L->ns_ino[L->ns_n++] = ino;
}

static void ns_del(plog *L, const char *name)
{
    int i = ns_find(L, name);
    if (i < 0)
        return;
    L->ns_n--;
    memcpy(L->ns_name[i], L->ns_name[L->ns_n], NAME_MAX_);
    L->ns_ino[i] = L->ns_ino[L->ns_n];
}

static void rec_open(plog *L, const fci_io_event *ev)
{
    const char *name = in_store(L, ev->path);
    int slot = ev->fd >= 0 && ev->fd < MAX_FDS ? ev->fd : -1;
    if (slot < 0)
        return;
    L->fds[slot] = -1;
    if (name == NULL)
        return;
    if (*name == '\0') {
        L->fds[slot] = FD_DIR;
        return;
    }
    int i = ns_find(L, name);
    if (i >= 0) {
        L->fds[slot] = L->ns_ino[i];
        if (ev->flags & O_TRUNC) {
            entry *e = push(L, L_TRUNC);
            e->ino = L->ns_ino[i];
        }
        return;
    }
    if (!(ev->flags & O_CREAT))
        return;
    entry *e = push(L, L_LINK);
    e->ino = L->ninodes++;
    snprintf(e->name, NAME_MAX_, "%s", name);
    ns_set(L, name, e->ino);
    L->fds[slot] = e->ino;
}

static void rec_write(plog *L, const fci_io_event *ev)
{
    int ino = ev->fd >= 0 && ev->fd < MAX_FDS ? L->fds[ev->fd] : -1;
    if (ino < 0 || ev->len == 0)
        return;
    entry *e = push(L, L_WRITE);
    e->ino = ino;
    e->off = ev->off;
    e->len = ev->len;
    unsigned char *buf = malloc(ev->len);
    if (buf == NULL)
        abort();
    uint64_t got = 0;
    for (int i = 0; i < ev->iovcnt && got < ev->len; i++) {
        size_t k = ev->iov[i].iov_len;
        if (k > ev->len - got)
            k = (size_t)(ev->len - got);
        memcpy(buf + got, ev->iov[i].iov_base, k);
        got += k;
    }
    int zero = 1;
    for (uint64_t i = 0; i < ev->len && zero; i++)
        zero = buf[i] == 0;
    if (zero) {
        free(buf);
        buf = NULL;
    }
    e->data = buf;
}

/* The recorder: turns the library's calls into log entries, resolving
 * descriptors and names to inodes as they happen. */
static void recorder(void *arg, const fci_io_event *ev)
{
    plog *L = arg;
    switch (ev->op) {
    case FCI_IO_OP_OPEN:
        rec_open(L, ev);
        break;
    case FCI_IO_OP_WRITE:
        rec_write(L, ev);
        break;
    case FCI_IO_OP_SYNC: {
        int ino = ev->fd >= 0 && ev->fd < MAX_FDS ? L->fds[ev->fd] : -1;
        if (ino == FD_DIR)
            push(L, L_DSYNC);
        else if (ino >= 0)
            push(L, L_SYNC)->ino = ino;
        break;
    }
    case FCI_IO_OP_TRUNCATE: {
        int ino = ev->fd >= 0 && ev->fd < MAX_FDS ? L->fds[ev->fd] : -1;
        if (ino >= 0) {
            entry *e = push(L, L_TRUNC);
            e->ino = ino;
            e->len = ev->len;
        }
        break;
    }
    case FCI_IO_OP_RENAME: {
        const char *from = in_store(L, ev->path), *to = in_store(L, ev->to);
        if (from == NULL || to == NULL || ns_find(L, from) < 0)
            break;
        entry *e = push(L, L_RENAME);
        snprintf(e->name, NAME_MAX_, "%s", from);
        snprintf(e->to, NAME_MAX_, "%s", to);
        ns_set(L, to, L->ns_ino[ns_find(L, from)]);
        ns_del(L, from);
        break;
    }
    case FCI_IO_OP_UNLINK: {
        const char *name = in_store(L, ev->path);
        if (name == NULL || ns_find(L, name) < 0)
            break;
        snprintf(push(L, L_UNLINK)->name, NAME_MAX_, "%s", name);
        ns_del(L, name);
        break;
    }
    }
}

static void plog_free(plog *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->e[i].data);
    free(L->e);
    free(L->ns_name);
    free(L->ns_ino);
    memset(L, 0, sizeof *L);
}

/* ---- the workload and its model ---------------------------------------------- */

#define NKEYS 48     /* single keys k00..k47 */
#define NSETS 6      /* batch sets: each batch writes all SETW keys of one set */
#define SETW 6
#define NTARGETS (NKEYS + NSETS)

typedef struct wr {
    int target;      /* key index, or NKEYS + set */
    int del;
    int sync;
    size_t issue;    /* log length when the call began */
    size_t ack;      /* log length when it returned 0; SIZE_MAX if it failed */
} wr;

typedef struct workload {
    const char *name;
    unsigned open_flags;   /* FC_SYNC: every write synced */
    int sync_pct;          /* writes with FC_WRITE_SYNC */
    int nwrites;
    wr *w;
    int nw;
    size_t created;        /* log length when the first open returned */
    plog log;
} workload;

static void key_name(int target, int j, char *k)
{
    if (target < NKEYS)
        snprintf(k, 16, "k%02d", target);
    else
        snprintf(k, 16, "s%d.%d", target - NKEYS, j);
}

/* The value write wid gives key k: names both, then a length and
 * filler fixed by wid, so any byte out of place shows. */
static size_t value_of(const char *k, int wid, char *v)
{
    size_t len = 24 + (size_t)((wid * 2654435761u) % 360);
    int n = snprintf(v, 64, "%s=%06d|", k, wid);
    for (size_t i = (size_t)n; i < len; i++)
        v[i] = (char)('a' + (wid + (int)i) % 26);
    return len;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static fc_options plopts(unsigned flags)
{
    fc_options o;
    fc_options_init(&o);
    o.flags = FC_CREATE | flags;
    o.write_buffer_size = 64 * 1024;   /* the smallest allowed: many switches */
    o.max_file_size = 64 * 1024;
    o.arena_size = 64u << 20;
    o.block_cache_size = 256 * 1024;
    return o;
}

/* One write of the workload: a put or delete of a key, or a batch over a
 * whole set; its model entry is kept whatever the outcome. */
static void one_write(workload *W, fc_store *s, uint64_t *rng)
{
    wr *x = &W->w[W->nw];
    int wid = W->nw++;
    uint64_t r = rng_next(rng);
    x->target = (int)(r % 10 < 7 ? (r >> 8) % NKEYS : NKEYS + (r >> 8) % NSETS);
    x->del = (r >> 20) % 10 == 0;
    x->sync = (W->open_flags & FC_SYNC) || (int)((r >> 24) % 100) < W->sync_pct;
    x->issue = W->log.n;
    x->ack = SIZE_MAX;
    unsigned fl = x->sync ? FC_WRITE_SYNC : 0;
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    int ops = x->target < NKEYS ? 1 : SETW;
    for (int j = 0; j < ops; j++) {
        char k[16], v[512];
        key_name(x->target, j, k);
        if (x->del)
            ck_assert_int_eq(fc_batch_del(b, k, strlen(k)), 0);
        else
            ck_assert_int_eq(fc_batch_put(b, k, strlen(k), v, value_of(k, wid, v)), 0);
    }
    int rc = fc_write(s, b, fl);
    fc_batch_free(b);
    ck_assert_msg(rc == 0, "%s: write %d: %s: %s", W->name, wid, fc_strerror(rc), fc_errmsg(s));
    x->ack = W->log.n;
}

static fc_store *open_or_fail(const char *dir, const fc_options *o)
{
    fc_store *s = NULL;
    int rc = fc_open(dir, o, &s);
    ck_assert_msg(rc == 0, "fc_open %s: %s: %s", dir, fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

/* Runs W in dir with the recorder on: writes, a flush every 200, a whole
 * compaction at a third, a close and reopen at two thirds. */
static void run_workload(workload *W, const char *dir, uint64_t seed)
{
    W->w = calloc((size_t)W->nwrites, sizeof *W->w);
    ck_assert_ptr_nonnull(W->w);
    W->log.dir = dir;
    W->log.dirlen = strlen(dir);
    for (int i = 0; i < MAX_FDS; i++)
        W->log.fds[i] = -1;
    fc_options o = plopts(W->open_flags);
    fci_io_record(recorder, &W->log);
    fc_store *s = open_or_fail(dir, &o);
    W->created = W->log.n;
    uint64_t rng = seed;
    for (int i = 0; i < W->nwrites; i++) {
        one_write(W, s, &rng);
        if (i % 200 == 199)
            ck_assert_int_eq(fc_flush(s), 0);
        if (i == W->nwrites / 3)
            ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
        if (i == 2 * W->nwrites / 3) {
            ck_assert_int_eq(fc_close(s), 0);
            s = open_or_fail(dir, &o);
        }
    }
    ck_assert_int_eq(fc_close(s), 0);
    fci_io_record(NULL, NULL);
}

/* ---- building a crash state ------------------------------------------------- */

enum { V_SYNCED, V_ALL, V_PREFIX, V_SUBSET, VARIANTS };

/* FC_POWERLOSS_REORDER=1: the last variant keeps any subset of a file's
 * unsynced writes, not a prefix (see the limits in docs/RELIABILITY.md). */
static int reorder;
static const char *const variant_name[VARIANTS] = { "synced only", "all kept",
                                                    "in-order prefix, torn",
                                                    "per-file prefixes, any directory subset" };

typedef struct inode {
    unsigned char *b;
    size_t size, cap;
} inode;

static void inode_resize(inode *f, size_t size)
{
    if (size > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < size)
            cap *= 2;
        f->b = realloc(f->b, cap);
        if (f->b == NULL)
            abort();
        f->cap = cap;
    }
    if (size > f->size)
        memset(f->b + f->size, 0, size - f->size);
    f->size = size;
}

static void inode_write(inode *f, const entry *e, uint64_t len)
{
    if (e->off + len > f->size)
        inode_resize(f, (size_t)(e->off + len));
    if (e->data)
        memcpy(f->b + e->off, e->data, (size_t)len);
    else
        memset(f->b + e->off, 0, (size_t)len);
}

static int is_dir_op(int op)
{
    return op == L_LINK || op == L_RENAME || op == L_UNLINK;
}

/* Which of the first k entries survive, per the persistence model; *torn
 * gets the entry kept only in part (or SIZE_MAX) and *torn_len its bytes. */
static void choose(const plog *L, size_t k, int variant, uint64_t *rng, unsigned char *keep,
                   size_t *torn, uint64_t *torn_len)
{
    int *last_sync = malloc(sizeof(int) * (size_t)(L->ninodes + 1));
    ck_assert_ptr_nonnull(last_sync);
    for (int i = 0; i <= L->ninodes; i++)
        last_sync[i] = -1;
    long last_dsync = -1;
    for (size_t i = 0; i < k; i++) {
        if (L->e[i].op == L_SYNC)
            last_sync[L->e[i].ino] = (int)i;
        else if (L->e[i].op == L_DSYNC)
            last_dsync = (long)i;
    }
    size_t nunsynced = 0;
    for (size_t i = 0; i < k; i++) {
        const entry *e = &L->e[i];
        int durable = is_dir_op(e->op) ? (long)i < last_dsync
                      : (e->op == L_WRITE || e->op == L_TRUNC) ? (int)i < last_sync[e->ino]
                                                                : 1;
        keep[i] = durable ? 1 : 2;   /* 2: unsynced, decided below */
        nunsynced += !durable;
    }
    free(last_sync);
    long *file_cut = malloc(sizeof(long) * (size_t)(L->ninodes + 1));
    ck_assert_ptr_nonnull(file_cut);
    for (int i = 0; i <= L->ninodes; i++)
        file_cut[i] = (long)(rng_next(rng) % 64);
    *torn = SIZE_MAX;
    size_t cut = nunsynced ? (size_t)(rng_next(rng) % (nunsynced + 1)) : 0, seen = 0;
    for (size_t i = 0; i < k; i++) {
        if (keep[i] != 2)
            continue;
        switch (variant) {
        case V_SYNCED:
            keep[i] = 0;
            break;
        case V_ALL:
            keep[i] = 1;
            break;
        case V_PREFIX:
            keep[i] = seen < cut;
            if (seen + 1 == cut && L->e[i].op == L_WRITE && L->e[i].len > 1) {
                *torn = i;
                *torn_len = 1 + rng_next(rng) % (L->e[i].len - 1);
            }
            break;
        default:
            /* directory changes: any subset; a file's data: a prefix of
             * its own unsynced writes, whose length each file draws */
            if (is_dir_op(L->e[i].op) || reorder)
                keep[i] = (rng_next(rng) & 1) != 0;
            else
                keep[i] = file_cut[L->e[i].ino]-- > 0;
            break;
        }
        seen++;
    }
    free(file_cut);
}

/* Empties and removes a flat directory (a store has no subdirectories),
 * without the shell fct_rmtree starts: this runs thousands of times. */
static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[1200];
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Writes the files of the crash state after the first k entries into
 * each of dirs (made fresh); returns how many files it holds. */
static int build_state(const plog *L, size_t k, int variant, uint64_t seed,
                       const char *const *dirs, int ndirs)
{
    unsigned char *keep = malloc(k + 1);
    inode *ino = calloc((size_t)L->ninodes + 1, sizeof *ino);
    ck_assert(keep != NULL && ino != NULL);
    uint64_t rng = seed | 1;
    size_t torn;
    uint64_t torn_len = 0;
    choose(L, k, variant, &rng, keep, &torn, &torn_len);
    plog ns = { 0 };
    for (size_t i = 0; i < k; i++) {
        const entry *e = &L->e[i];
        if (!keep[i])
            continue;
        int at;
        switch (e->op) {
        case L_LINK:
            ns_set(&ns, e->name, e->ino);
            break;
        case L_RENAME:
            if ((at = ns_find(&ns, e->name)) >= 0) {
                ns_set(&ns, e->to, ns.ns_ino[at]);
                ns_del(&ns, e->name);
            }
            break;
        case L_UNLINK:
            ns_del(&ns, e->name);
            break;
        case L_WRITE:
            inode_write(&ino[e->ino], e, i == torn ? torn_len : e->len);
            break;
        case L_TRUNC:
            inode_resize(&ino[e->ino], (size_t)e->len);
            break;
        }
    }
    for (int d = 0; d < ndirs; d++) {
        rm_flat(dirs[d]);
        ck_assert_int_eq(mkdir(dirs[d], 0700), 0);
        for (size_t i = 0; i < ns.ns_n; i++) {
            char path[4200];
            /* A power loss is followed by a boot: the writer identity left
             * behind names a process of the boot before, which an open
             * ignores. This process cannot fake another boot, so the state
             * leaves the file out, which an open treats the same way. */
            if (strcmp(ns.ns_name[i], FCI_WRITERID_FILE) == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dirs[d], ns.ns_name[i]);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
            const inode *f = &ino[ns.ns_ino[i]];
            ck_assert(f->size == 0 || write(fd, f->b, f->size) == (ssize_t)f->size);
            close(fd);
        }
    }
    int files = (int)ns.ns_n;
    for (int i = 0; i <= L->ninodes; i++)
        free(ino[i].b);
    free(ino);
    free(keep);
    free(ns.ns_name);
    free(ns.ns_ino);
    return files;
}

/* ---- checking a crash state against the model -------------------------------- */

typedef struct figures {
    long states, lost, half, bogus, failed_open, verify_damage, leveldb_failed;
    long best_effort;   /* reorder mode: states that open only with FC_BEST_EFFORT */
    long synced_checked;
} figures;

/* Looks key k up: 1 found (value copied into v, *vlen), 0 absent, <0 error. */
typedef int (*getter)(void *arg, const char *k, char *v, size_t *vlen);

/* What key k of target t holds: the write id, -1 absent, -2 unexplained. */
static int read_key(const workload *W, getter g, void *arg, const char *k, size_t k_crash)
{
    char v[1024], want[1024];
    size_t vlen = 0;
    int rc = g(arg, k, v, &vlen);
    if (rc == 0)
        return -1;
    if (rc < 0 || vlen >= sizeof v)
        return -2;
    v[vlen] = '\0';
    const char *eq = strchr(v, '=');
    int wid = eq ? atoi(eq + 1) : -1;
    if (wid < 0 || wid >= W->nw || W->w[wid].issue >= k_crash ||
        value_of(k, wid, want) != vlen || memcmp(v, want, vlen) != 0)
        return -2;
    return wid;
}

/* Checks every target of W in a state crashed after k log entries; adds
 * to fig and describes the first problem in why. */
static void check_model(const workload *W, size_t k, getter g, void *arg, figures *fig,
                        char *why, size_t cap)
{
    for (int t = 0; t < NTARGETS; t++) {
        int ops = t < NKEYS ? 1 : SETW, got = -3, half = 0;
        char k0[16];
        for (int j = 0; j < ops; j++) {
            char key[16];
            key_name(t, j, key);
            int r = read_key(W, g, arg, key, k);
            if (r == -2) {
                fig->bogus++;
                if (!*why)
                    snprintf(why, cap, "key %s holds a value no write before the crash gave", key);
                got = -2;
                break;
            }
            if (j == 0)
                got = r, snprintf(k0, sizeof k0, "%s", key);
            else if (r != got)
                half = 1;
        }
        if (got == -2)
            continue;
        if (half) {
            fig->half++;
            if (!*why)
                snprintf(why, cap, "batch set %d is half applied (%s holds write %d)",
                         t - NKEYS, k0, got);
            continue;
        }
        /* The last synced acknowledged write of t, and whether what t holds
         * (write got, or absent) is it or a later one issued before k. */
        int last = -1;
        for (int i = 0; i < W->nw; i++)
            if (W->w[i].target == t && W->w[i].sync && W->w[i].ack <= k)
                last = i;
        if (last < 0)
            continue;
        fig->synced_checked++;
        int ok = got >= 0 ? W->w[got].target == t && got >= last && !W->w[got].del
                          : W->w[last].del;
        for (int i = last + 1; got == -1 && !ok && i < W->nw; i++)
            ok = W->w[i].target == t && W->w[i].del && W->w[i].issue < k;
        if (!ok) {
            fig->lost++;
            if (!*why)
                snprintf(why, cap, "%s lost synced write %d (acknowledged at log entry %zu); "
                         "it holds %s %d", k0, last, W->w[last].ack,
                         got >= 0 ? "write" : "nothing, not even a delete", got);
        }
    }
}

static int fc_getter(void *arg, const char *k, char *v, size_t *vlen)
{
    int rc = fc_get_copy(arg, k, strlen(k), v, 1024, vlen);
    return rc == 0 ? 1 : rc == FC_ENOTFOUND ? 0 : -1;
}

/* Reads W's keys from the store at dir opened with flags; 0, or the open's
 * error. */
static int check_fc(const workload *W, size_t k, const char *dir, unsigned flags, figures *fig,
                    char *why, size_t cap)
{
    fc_options o = plopts(flags);
    o.flags = flags;
    fc_store *s = NULL;
    int rc = fc_open(dir, &o, &s);
    if (rc != 0) {
        snprintf(why, cap, "fc_open (%s): %s: %s", flags & FC_READONLY ? "read-only" : "writer",
                 fc_strerror(rc), fc_errmsg(NULL));
        return rc;
    }
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    check_model(W, k, fc_getter, t, fig, why, cap);
    fc_txn_end(t);
    rc = fc_close(s);
    if (rc != 0 && !*why)
        snprintf(why, cap, "fc_close: %s", fc_strerror(rc));
    return rc;
}

static void verify_note(void *arg, const fc_verify_finding *f)
{
    char *why = arg;
    if (f->severity != FC_VERIFY_NOTE && !*why)
        snprintf(why, 512, "fc_verify: %s at %" PRIu64 ": %s", f->file, f->offset, f->message);
}

#ifdef FC_TEST_WITH_LEVELDB
typedef struct ldb_arg {
    leveldb_t *db;
    leveldb_readoptions_t *ro;
} ldb_arg;

static int ldb_getter(void *arg, const char *k, char *v, size_t *vlen)
{
    ldb_arg *a = arg;
    char *err = NULL;
    size_t n = 0;
    char *got = leveldb_get(a->db, a->ro, k, strlen(k), &n, &err);
    if (err != NULL) {
        leveldb_free(err);
        return -1;
    }
    if (got == NULL)
        return 0;
    memcpy(v, got, n < 1024 ? n : 1024);
    *vlen = n;
    leveldb_free(got);
    return 1;
}

/* Real LevelDB opens the crash state (its own copy) and reads the same. */
static int check_leveldb(const workload *W, size_t k, const char *dir, figures *fig, char *why,
                         size_t cap)
{
    leveldb_options_t *opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(opt, 0);
    char *err = NULL;
    ldb_arg a = { leveldb_open(opt, dir, &err), leveldb_readoptions_create() };
    int rc = 0;
    if (a.db == NULL) {
        snprintf(why, cap, "leveldb_open: %s", err ? err : "?");
        rc = -1;
    } else {
        leveldb_readoptions_set_verify_checksums(a.ro, 1);
        check_model(W, k, ldb_getter, &a, fig, why, cap);
        leveldb_close(a.db);
    }
    leveldb_free(err);
    leveldb_readoptions_destroy(a.ro);
    leveldb_options_destroy(opt);
    return rc;
}
#endif

static int current_exists(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    return access(path, F_OK) == 0;
}

/* One crash state: built, then checked by every reader. Returns 0 when it
 * passed; otherwise why says what failed first. */
static int check_state(const workload *W, size_t k, int variant, uint64_t seed, const char *base,
                       figures *fig, char *why, size_t cap)
{
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/state", base);
    snprintf(b, sizeof b, "%s/leveldb", base);
    const char *dirs[2] = { a, b };
    long before = fig->lost + fig->half + fig->bogus;
    why[0] = '\0';
    if (build_state(&W->log, k, variant, seed, dirs, 2) == 0)
        return 0;   /* nothing had reached the directory: no store yet */
    int rc = fc_verify(a, verify_note, why);
    if (rc == FC_ENOTFOUND || (k < W->created && access(a, F_OK) == 0 && rc != 0 &&
                               !current_exists(a))) {
        /* No CURRENT yet: the first open had not finished. Nothing was
         * acknowledged; creating the store again must work. */
        why[0] = '\0';
        if (check_fc(W, k, a, FC_CREATE, fig, why, cap) == 0)
            return 0;
        fig->failed_open++;
        return -1;
    }
    fig->states++;
    unsigned extra = 0;
    if (rc == FC_ECORRUPT && reorder) {
        /* a hole in a WAL's unsynced tail: counted, then opened the way
         * an operator would after reading the message */
        fig->best_effort++;
        why[0] = '\0';
        extra = FC_BEST_EFFORT;
        rc = 0;
    }
    if (rc != 0) {
        fig->verify_damage++;
        if (!*why)
            snprintf(why, cap, "fc_verify: %s", fc_strerror(rc));
    }
    if (rc == 0 && check_fc(W, k, a, FC_READONLY | extra, fig, why, cap) != 0)
        fig->failed_open++;
    else if (rc == 0 && check_fc(W, k, a, extra, fig, why, cap) != 0)
        fig->failed_open++;
    else if (rc == 0 && fc_verify(a, verify_note, why) != 0)
        fig->verify_damage++;
#ifdef FC_TEST_WITH_LEVELDB
    if (rc == 0 && !*why && check_leveldb(W, k, b, fig, why, cap) != 0)
        fig->leveldb_failed++;
#endif
    return *why || fig->lost + fig->half + fig->bogus != before ? -1 : 0;
}

/* ---- choosing crash points --------------------------------------------------- */

/* Crash points worth most: right before and right after each sync,
 * rename, create and unlink (where durability changes). */
static size_t *crash_points(const plog *L, size_t want, uint64_t *rng, size_t *n)
{
    size_t *pts = malloc(sizeof *pts * (want + 1));
    ck_assert_ptr_nonnull(pts);
    size_t *edges = malloc(sizeof *edges * (2 * L->n + 1));
    ck_assert_ptr_nonnull(edges);
    size_t ne = 0;
    for (size_t i = 0; i < L->n; i++)
        if (L->e[i].op != L_WRITE) {
            edges[ne++] = i;
            edges[ne++] = i + 1;
        }
    size_t m = 0;
    pts[m++] = L->n;   /* the whole log: what a clean close left */
    while (m < want) {
        uint64_t r = rng_next(rng);
        pts[m++] = (r & 1) && ne ? edges[(r >> 1) % ne] : 1 + (size_t)((r >> 1) % L->n);
    }
    free(edges);
    *n = m;
    return pts;
}

/* ---- the test ---------------------------------------------------------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* A scratch directory where files need not be durable: /dev/shm when it
 * is there, so building thousands of states costs no disk syncs. */
static const char *scratch_dir(void)
{
    static char path[4096];
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
        snprintf(path, sizeof path, "/dev/shm/fcpowerloss.XXXXXX");
        if (mkdtemp(path) != NULL)
            return path;
    }
    return fct_tmpdir();
}

START_TEST(power_loss_keeps_every_synced_write)
{
    workload ws[] = {
        { .name = "every write synced (FC_SYNC)", .open_flags = FC_SYNC, .nwrites = 500 },
        { .name = "a third synced", .sync_pct = 33, .nwrites = 900 },
        { .name = "rarely synced", .sync_pct = 4, .nwrites = 900 },
    };
    int nwl = (int)(sizeof ws / sizeof ws[0]);
    uint64_t seed = (uint64_t)env_long("FC_POWERLOSS_SEED", 20261207);
    reorder = env_long("FC_POWERLOSS_REORDER", 0) != 0;
    long per = env_long("FC_POWERLOSS_STATES", getenv("FC_UNDER_VALGRIND") ? 16 : 300);
    fprintf(stderr, "check_powerloss: seed %" PRIu64 " (FC_POWERLOSS_SEED), %ld states per "
            "workload (FC_POWERLOSS_STATES)\n", seed, per);
    char base[900];
    const char *scratch = scratch_dir();
    ck_assert_msg(scratch != NULL && strlen(scratch) < sizeof base, "no scratch directory");
    memcpy(base, scratch, strlen(scratch) + 1);
    figures fig = { 0 };
    long failed = 0;
    size_t logged = 0;
    for (int wl = 0; wl < nwl; wl++) {
        workload *W = &ws[wl];
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/workload", base);
        fct_rmtree(dir);
        uint64_t rng = seed * 7919 + (uint64_t)wl + 1;
        run_workload(W, dir, rng);
        logged += W->log.n;
        size_t npts;
        size_t *pts = crash_points(&W->log, (size_t)(per / VARIANTS + 1), &rng, &npts);
        for (size_t p = 0; p < npts; p++)
            for (int v = 0; v < VARIANTS; v++) {
                char why[512];
                uint64_t sseed = rng_next(&rng);
                if (check_state(W, pts[p], v, sseed, base, &fig, why, sizeof why) == 0)
                    continue;
                if (failed++ < 10)
                    fprintf(stderr, "check_powerloss: %s: crash after log entry %zu of %zu, "
                            "%s (state seed %" PRIu64 "): %s\n", W->name, pts[p], W->log.n,
                            variant_name[v], sseed, why);
            }
        free(pts);
        plog_free(&W->log);
        free(W->w);
    }
    fct_rmtree(base);
    printf("powerloss: workloads %d, crash states %ld checked, calls logged %zu, synced writes "
           "checked %ld, synced writes lost %ld, half batches %ld, unexplained values %ld, "
           "failed opens %ld, verify damage %ld, leveldb failures %ld, opened only with "
           "FC_BEST_EFFORT %ld\n",
           nwl, fig.states, logged, fig.synced_checked, fig.lost, fig.half, fig.bogus,
           fig.failed_open, fig.verify_damage, fig.leveldb_failed, fig.best_effort);
    fflush(stdout);
    ck_assert_msg(failed == 0, "%ld of %ld crash states failed (first ones above)", failed,
                  fig.states);
}
END_TEST

static Suite *powerloss_suite(void)
{
    Suite *s = suite_create("powerloss");
    TCase *tc = tcase_create("states");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, power_loss_keeps_every_synced_write);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(powerloss_suite)
