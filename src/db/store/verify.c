/*
 * verify.c - fc_verify: reads every file a store depends on (CURRENT, the
 * MANIFEST, the live tables, the WALs still needed) and reports each
 * problem with its file and byte offset, without writing or locking
 * anything. It is what `forkcache verify` runs, and what a person reaches
 * for when a store will not open.
 *
 * It keeps going after damage so one run shows everything it can: a bad
 * MANIFEST record stops the replay (later edits cannot be trusted) but the
 * rest of the log is still scanned, and the tables on disk are then each
 * checked on their own.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/vbuild.h"
#include "db/core/version.h"
#include "db/core/vset.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "format/table.h"
#include "format/version_edit.h"
#include "format/write_batch.h"
#include "util/io.h"

#define SHOW_KEY_MAX 40    /* bytes of a key quoted in a message */

/* One store file found in the directory listing. */
typedef struct dentry {
    fci_file_kind kind;
    uint64_t number;
    char name[NAME_MAX + 1];
    int live;               /* a table the MANIFEST lists */
} dentry;

typedef struct vctx {
    const char *dir;
    int dirfd;               /* dir, opened once (-1: it could not be) */
    fc_verify_report report;
    void *arg;
    int damage;              /* any damage reported */
    int error;               /* first error code reported */
    dentry *files;
    size_t nfiles;
    const char *cur_file;    /* the file a log reporter speaks about */
} vctx;

/* The one place findings are counted, so the return code always agrees
 * with what the caller was told. */
static void finding(vctx *c, int severity, int code, const char *file, uint64_t offset,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void finding(vctx *c, int severity, int code, const char *file, uint64_t offset,
                    const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (severity == FC_VERIFY_DAMAGE)
        c->damage = 1;
    else if (severity == FC_VERIFY_ERROR && c->error == 0)
        c->error = code ? code : FC_EIO;
    if (c->report == NULL)
        return;
    fc_verify_finding f = { severity, severity == FC_VERIFY_NOTE ? 0 : code, file, offset, msg };
    c->report(c->arg, &f);
}

#define DAMAGE(c, file, off, ...) finding(c, FC_VERIFY_DAMAGE, FC_ECORRUPT, file, off, __VA_ARGS__)
#define NOTE(c, file, off, ...) finding(c, FC_VERIFY_NOTE, 0, file, off, __VA_ARGS__)
#define ERROR(c, code, file, off, ...) finding(c, FC_VERIFY_ERROR, code, file, off, __VA_ARGS__)

/* The lower layers put the position into their messages ("... offset
 * 1234: ..."); the first such number is where the problem starts. */
static uint64_t offset_in(const char *msg)
{
    const char *p = strstr(msg, "offset ");
    if (p == NULL)
        return 0;
    p += 7;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* Keys and file contents are arbitrary bytes: quote them so a message
 * stays one printable line. */
static const char *show(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (i == SHOW_KEY_MAX) {
            o += (size_t)snprintf(dst + o, cap - o, "...");
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'')
            dst[o++] = (char)ch;
        else
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
    }
    dst[o < cap ? o : cap - 1] = '\0';
    return dst;
}

/* A user key and its sequence, for messages about table boundaries. */
static const char *show_ikey(char *dst, size_t cap, fci_slice ikey)
{
    fci_parsed_ikey pk;
    char k[4 * SHOW_KEY_MAX + 8];
    if (fci_ikey_parse(ikey, &pk) != 0)
        return show(dst, cap, ikey.data, ikey.size);
    show(k, sizeof k, pk.user_key.data, pk.user_key.size);
    snprintf(dst, cap, "'%s' @%llu", k, (unsigned long long)pk.sequence);
    return dst;
}

/* ---- the directory ------------------------------------------------------- */

static int list_dir(vctx *c)
{
    DIR *d = c->dirfd >= 0 ? fci_io_opendir(c->dirfd, c->dir) : NULL;
    if (d == NULL) {
        int e = errno;
        ERROR(c, e == ENOENT || e == ENOTDIR ? FC_ENOTFOUND : fci_errno_code(e), c->dir, 0,
              "cannot open the store directory: %s", strerror(e));
        return -1;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(de->d_name, &kind, &number) != 0)
            continue;
        if (c->nfiles == cap) {
            cap = cap ? 2 * cap : 64;
            dentry *n = realloc(c->files, cap * sizeof *n);
            if (n == NULL) {
                closedir(d);
                ERROR(c, FC_ENOMEM, c->dir, 0, "out of memory listing the directory");
                return -1;
            }
            c->files = n;
        }
        dentry *f = &c->files[c->nfiles++];
        f->kind = kind;
        f->number = number;
        f->live = 0;
        snprintf(f->name, sizeof f->name, "%s", de->d_name);
    }
    closedir(d);
    return 0;
}

/* c->files is sorted by number (fc_verify sorts it once): a binary search
 * to the first file of that number, then its few namesakes. Verify looks
 * up every table the MANIFEST lists, so this keeps it n log n. */
static dentry *find_file(vctx *c, fci_file_kind kind, uint64_t number)
{
    size_t lo = 0, hi = c->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->files[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < c->nfiles && c->files[i].number == number; i++)
        if (c->files[i].kind == kind)
            return &c->files[i];
    return NULL;
}

/* The newest MANIFEST on disk, the best guess when CURRENT is unusable. */
static uint64_t newest_manifest(vctx *c)
{
    uint64_t best = 0;
    for (size_t i = 0; i < c->nfiles; i++)
        if (c->files[i].kind == FCI_FILE_MANIFEST && c->files[i].number > best)
            best = c->files[i].number;
    return best;
}

static void join(char *dst, size_t cap, const char *dir, const char *name)
{
    snprintf(dst, cap, "%s/%s", dir, name);
}

/* ---- CURRENT ------------------------------------------------------------- */

/* fci_current_load tells each defect apart and where it is; the report
 * adds what a person needs to see (the bytes found). Returns the MANIFEST
 * number CURRENT names, or 0. */
static uint64_t check_current(vctx *c)
{
    fci_current cur;
    fci_err err = { 0, "" };
    char q[4 * 64 + 8];
    int rc = fci_current_load(c->dirfd, c->dir, &cur, &err);
    if (rc == FC_ENOTFOUND)
        DAMAGE(c, "CURRENT", 0, "missing, but the directory holds MANIFEST files");
    else if (rc == FC_ECORRUPT)
        DAMAGE(c, "CURRENT", 0, "cannot be read: %s", err.msg);
    else if (rc != 0)
        ERROR(c, rc, "CURRENT", 0, "cannot read: %s", err.msg);
    if (rc != 0)
        return 0;
    size_t show_len = cur.line_len < 64 ? cur.line_len : 64;
    switch (cur.defect) {
    case FCI_CURRENT_OK:
        break;
    case FCI_CURRENT_EMPTY:
        DAMAGE(c, "CURRENT", 0, "is empty; it should name the live MANIFEST");
        return 0;
    case FCI_CURRENT_TOO_LONG:
        DAMAGE(c, "CURRENT", cur.defect_offset,
               "is longer than %d bytes; it should hold one MANIFEST name", FCI_CURRENT_MAX);
        return 0;
    case FCI_CURRENT_NO_NEWLINE:
        DAMAGE(c, "CURRENT", cur.defect_offset, "does not end in a newline (truncated?): '%s'",
               show(q, sizeof q, cur.raw, show_len));
        return 0;
    case FCI_CURRENT_MULTILINE:
        DAMAGE(c, "CURRENT", cur.defect_offset, "holds more than one line");
        return 0;
    case FCI_CURRENT_NOT_MANIFEST:
        DAMAGE(c, "CURRENT", cur.defect_offset, "names '%s', which is not a MANIFEST file name",
               show(q, sizeof q, cur.raw, show_len));
        return 0;
    }
    if (find_file(c, FCI_FILE_MANIFEST, cur.number) == NULL) {
        DAMAGE(c, "CURRENT", 0, "names %s, which does not exist", cur.raw);
        return 0;
    }
    return cur.number;
}

/* ---- the MANIFEST -------------------------------------------------------- */

typedef struct replay {
    fci_vbuild *b;         /* the levels while edits are replayed */
    fci_version *v;        /* ... and once they all are */
    int complete;          /* every record applied, nothing skipped */
    int records;
    int has_log, has_next, has_last;
    uint64_t log, prev_log, next, last;
} replay;

/* Strict log readers call this for each damaged region, with its offset. */
static void log_damage(void *arg, uint64_t offset, uint64_t bytes, const char *reason)
{
    vctx *c = arg;
    DAMAGE(c, c->cur_file, offset, "%llu bytes unreadable: %s", (unsigned long long)bytes, reason);
}

/* One VersionEdit: decode, comparator, apply to the version so far. */
static void replay_edit(vctx *c, replay *st, const char *name, fci_slice rec, uint64_t off)
{
    fci_version_edit e;
    fci_err err;
    fci_err_clear(&err);
    fci_edit_init(&e);
    if (fci_edit_decode(&e, rec, &err) != 0) {
        DAMAGE(c, name, off, "record does not decode as a version edit: %s", err.msg);
        st->complete = 0;
        goto out;
    }
    if (e.has_comparator &&
        fci_bytewise_compare(fci_buf_slice(&e.comparator), fci_slice_str(FCI_IKEY_COMPARATOR_NAME)) != 0) {
        char q[4 * SHOW_KEY_MAX + 8];
        DAMAGE(c, name, off, "comparator is '%s', not %s",
               show(q, sizeof q, e.comparator.data, e.comparator.size), FCI_IKEY_COMPARATOR_NAME);
        st->complete = 0;
        goto out;
    }
    if (!st->complete)
        goto out;   /* after a lost record later edits are only decoded */
    fci_version_delta delta;
    int rc = fci_vset_delta_from_edit(&e, &delta);
    if (rc == 0) {
        rc = fci_vbuild_apply(st->b, &delta, &err);
        fci_vset_delta_free(&delta);
    }
    if (rc == FC_ECORRUPT) {
        DAMAGE(c, name, off, "edit does not apply to the levels before it: %s", err.msg);
        st->complete = 0;
        goto out;
    }
    if (rc != 0) {
        ERROR(c, rc, name, off, "out of memory replaying the MANIFEST");
        st->complete = 0;
        goto out;
    }
    if (e.has_log_number) { st->has_log = 1; st->log = e.log_number; }
    if (e.has_prev_log_number) st->prev_log = e.prev_log_number;
    if (e.has_next_file_number) { st->has_next = 1; st->next = e.next_file_number; }
    if (e.has_last_sequence) { st->has_last = 1; st->last = e.last_sequence; }
out:
    fci_edit_free(&e);
}

/* One table number where the levels list it. */
typedef struct listing {
    uint64_t number;
    int level;
} listing;

static int by_listing(const void *a, const void *b)
{
    const listing *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return (x->level > y->level) - (x->level < y->level);
}

/* "level 0" or "levels 0, 3": the distinct levels of one run. */
static void levels_of(const listing *run, size_t n, char *dst, size_t cap)
{
    int seen[FCI_NUM_LEVELS] = { 0 }, count = 0;
    for (size_t i = 0; i < n; i++)
        count += !seen[run[i].level]++;
    size_t o = (size_t)snprintf(dst, cap, count > 1 ? "levels" : "level");
    const char *sep = " ";
    for (int l = 0; l < FCI_NUM_LEVELS && o < cap; l++)
        if (seen[l]) {
            o += (size_t)snprintf(dst + o, cap - o, "%s%d", sep, l);
            sep = ", ";
        }
}

/* A table listed more than once is reported once, with its count: sorted
 * by number, the copies sit together (n log n, where comparing every
 * pair was quadratic in a MANIFEST's size, and so was its report). */
static void check_listed_once(vctx *c, const fci_version *v, const char *name)
{
    size_t total = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        total += v->nfiles[l];
    if (total < 2)
        return;
    listing *all = malloc(total * sizeof *all);
    if (all == NULL) {
        ERROR(c, FC_ENOMEM, name, 0, "out of memory checking for tables listed twice");
        return;
    }
    size_t n = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            all[n++] = (listing){ v->files[l][i]->number, l };
    qsort(all, n, sizeof *all, by_listing);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && all[j].number == all[i].number; j++)
            ;
        if (j - i < 2)
            continue;
        char where[64];
        levels_of(&all[i], j - i, where, sizeof where);
        DAMAGE(c, name, 0, "table %06llu is listed %zu times (%s)",
               (unsigned long long)all[i].number, j - i, where);
    }
    free(all);
}

/* Rules the replay itself does not enforce: numbers below next-file, no
 * table listed twice, keys in order inside a file and across L1+. */
static void check_levels(vctx *c, replay *st, const char *name)
{
    fci_version *v = st->v;
    char a[4 * SHOW_KEY_MAX + 40], b[4 * SHOW_KEY_MAX + 40];
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            const fci_file_meta *f = v->files[l][i];
            fci_slice lo = fci_buf_slice(&f->smallest), hi = fci_buf_slice(&f->largest);
            if (f->number >= st->next)
                DAMAGE(c, name, 0, "table number %llu (level %d) is out of range (allowed: 1 to "
                       "%llu, below the next file number)", (unsigned long long)f->number, l,
                       (unsigned long long)(st->next ? st->next - 1 : 0));
            if (fci_ikey_compare(lo, hi) > 0)
                DAMAGE(c, name, 0, "table %06llu at level %d: smallest key %s is past largest %s",
                       (unsigned long long)f->number, l, show_ikey(a, sizeof a, lo),
                       show_ikey(b, sizeof b, hi));
            if (l > 0 && i > 0) {
                fci_slice prev = fci_ikey_user(fci_buf_slice(&v->files[l][i - 1]->largest));
                if (fci_bytewise_compare(prev, fci_ikey_user(lo)) >= 0)
                    DAMAGE(c, name, 0, "level %d: tables %06llu and %06llu overlap",
                           l, (unsigned long long)v->files[l][i - 1]->number,
                           (unsigned long long)f->number);
            }
        }
    }
}

/* The counters as open checks them (fci_vset_check_numbers): a store that
 * verifies clean opens, and takes writes. */
static void check_numbers(vctx *c, replay *st, const char *name, uint64_t number)
{
    fci_err err;
    fci_err_clear(&err);
    fci_vset_numbers n = { number, st->next, st->log, st->prev_log, st->last };
    if (fci_vset_check_numbers(NULL, &n, NULL, &err) != 0)
        DAMAGE(c, name, 0, "%s", err.msg);
}

static void check_manifest(vctx *c, uint64_t number, replay *st)
{
    char name[64], path[PATH_MAX];
    fci_err err;
    fci_err_clear(&err);
    fci_filename(name, sizeof name, NULL, FCI_FILE_MANIFEST, number);
    join(path, sizeof path, c->dir, name);
    fci_log_reader r;
    int rc = fci_log_reader_open(&r, c->dirfd, path, 0, &err);
    if (rc != 0) {
        if (rc == FC_ECORRUPT)
            DAMAGE(c, name, 0, "cannot be read: %s", err.msg);
        else
            ERROR(c, rc, name, 0, "cannot open: %s", err.msg);
        st->complete = 0;
        return;
    }
    c->cur_file = name;
    fci_log_reader_set_reporter(&r, log_damage, c);
    fci_slice rec;
    while ((rc = fci_log_reader_read(&r, &rec, &err)) != 0) {
        if (rc == FC_ECORRUPT) {
            st->complete = 0;   /* reported by log_damage; a lost edit */
            continue;
        }
        if (rc < 0) {
            ERROR(c, rc, name, r.record_offset, "read failed: %s", err.msg);
            st->complete = 0;
            break;
        }
        st->records++;
        replay_edit(c, st, name, rec, r.record_offset);
    }
    /* The writer acts on an edit only once it is synced, so a partial
     * record is an edit a crash cut before its sync: nothing relied on it,
     * and recovery (ours and LevelDB's) drops it, as for a WAL's tail. */
    if (rc == 0 && r.torn_tail)
        NOTE(c, name, r.tail_offset, "ends in a partial record (%llu bytes): an edit cut by a "
             "crash before it was synced, which recovery drops", (unsigned long long)r.tail_bytes);
    fci_log_reader_free(&r);
    c->cur_file = NULL;
    if (!st->complete)
        return;
    fci_version *v = NULL;
    if ((rc = fci_vbuild_version(st->b, &v)) != 0) {
        ERROR(c, rc, name, 0, "out of memory replaying the MANIFEST");
        st->complete = 0;
        return;
    }
    fci_version_unref(st->v);
    st->v = v;
    if (st->records == 0) {
        DAMAGE(c, name, 0, "holds no version edit");
        st->complete = 0;
    } else if (!st->has_next || !st->has_log || !st->has_last) {
        DAMAGE(c, name, 0, "no edit records the %s", !st->has_next ? "next file number" :
               !st->has_log ? "log number" : "last sequence");
        st->complete = 0;
    } else {
        check_numbers(c, st, name, number);
        check_levels(c, st, name);
        check_listed_once(c, st->v, name);
    }
}

/* ---- tables -------------------------------------------------------------- */

/* Compares a table's real first or last key with the MANIFEST's claim. */
static void check_bound(vctx *c, const char *name, const char *which, fci_slice got,
                        fci_slice want)
{
    char a[4 * SHOW_KEY_MAX + 40], b[4 * SHOW_KEY_MAX + 40];
    if (fci_bytewise_compare(got, want) != 0)
        DAMAGE(c, name, 0, "%s key is %s, but the MANIFEST says %s", which,
               show_ikey(a, sizeof a, got), show_ikey(b, sizeof b, want));
}

static void check_table_keys(vctx *c, const char *name, const fci_table *t,
                             const fci_file_meta *meta)
{
    fci_table_iter it;
    fci_err err;
    fci_table_iter_init(&it, t);
    fci_table_iter_first(&it);
    if (fci_table_iter_valid(&it)) {
        check_bound(c, name, "first", fci_table_iter_key(&it), fci_buf_slice(&meta->smallest));
        fci_table_iter_last(&it);
        if (fci_table_iter_valid(&it))
            check_bound(c, name, "last", fci_table_iter_key(&it), fci_buf_slice(&meta->largest));
    } else if (fci_table_iter_status(&it, NULL) == 0) {
        DAMAGE(c, name, 0, "holds no keys, but the MANIFEST lists it");
    }
    if (fci_table_iter_status(&it, &err) != 0)
        DAMAGE(c, name, offset_in(err.msg), "%s", err.msg);
    fci_table_iter_free(&it);
}

/* One table file: size, every block, and (when meta is known) its keys. */
static void check_table_file(vctx *c, const dentry *d, const fci_file_meta *meta, int level)
{
    char path[PATH_MAX];
    fci_err err;
    fci_err_clear(&err);
    join(path, sizeof path, c->dir, d->name);
    int fd = fci_io_open_regular(FCI_IO_SITE_VERIFY_TABLE_OPEN, c->dirfd, path,
                                 O_RDONLY | O_CLOEXEC, 0, &err);
    if (fd == FC_ECORRUPT) {
        DAMAGE(c, d->name, 0, "cannot be read: %s", err.msg);
        return;
    }
    if (fd < 0) {
        ERROR(c, fd, d->name, 0, "cannot open: %s", err.msg);
        return;
    }
    struct stat sb;
    if (fci_io_fstat(FCI_IO_SITE_VERIFY_TABLE_STAT, fd, &sb) != 0) {
        ERROR(c, fci_errno_code(errno), d->name, 0, "cannot stat: %s", strerror(errno));
        close(fd);
        return;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (meta && size != meta->size)
        DAMAGE(c, d->name, size < meta->size ? size : meta->size,
               "is %llu bytes, but the MANIFEST says %llu (level %d)", (unsigned long long)size,
               (unsigned long long)meta->size, level);
    /* pread, not mmap: a file truncated under us gives an error, not SIGBUS. */
    fci_table t;
    int rc = fci_table_open_fd(&t, fd, size, FCI_TABLE_VERIFY_CHECKSUMS, &err);
    if (rc != 0) {
        if (rc == FC_ENOMEM || rc == FC_EIO)
            ERROR(c, rc, d->name, offset_in(err.msg), "cannot read: %s", err.msg);
        else
            DAMAGE(c, d->name, offset_in(err.msg), "does not open as a table: %s", err.msg);
        close(fd);
        return;
    }
    rc = fci_table_verify(&t, &err);
    if (rc == FC_ENOMEM || rc == FC_EIO)
        ERROR(c, rc, d->name, offset_in(err.msg), "cannot read: %s", err.msg);
    else if (rc != 0)
        DAMAGE(c, d->name, offset_in(err.msg), "%s", err.msg);
    else if (meta)
        check_table_keys(c, d->name, &t, meta);
    fci_table_close(&t);
    close(fd);
}

/* Tables are found under either spelling; LevelDB wrote .sst once. */
static dentry *find_table(vctx *c, uint64_t number)
{
    dentry *d = find_file(c, FCI_FILE_TABLE, number);
    return d ? d : find_file(c, FCI_FILE_TABLE_SST, number);
}

static void check_tables(vctx *c, const replay *st)
{
    if (st->complete) {
        for (int l = 0; l < FCI_NUM_LEVELS; l++)
            for (size_t i = 0; i < st->v->nfiles[l]; i++) {
                const fci_file_meta *f = st->v->files[l][i];
                dentry *d = find_table(c, f->number);
                if (d == NULL) {
                    char name[64];
                    fci_filename(name, sizeof name, NULL, FCI_FILE_TABLE, f->number);
                    DAMAGE(c, name, 0, "missing: the MANIFEST lists it at level %d", l);
                    continue;
                }
                if (d->live)
                    continue;   /* listed twice: reported, and read once */
                d->live = 1;
                check_table_file(c, d, f, l);
            }
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        dentry *d = &c->files[i];
        if (!fci_file_is_table(d->kind) || d->live)
            continue;
        if (st->complete) {
            NOTE(c, d->name, 0, "not in the MANIFEST (left over; the writer deletes it at its next open)");
        } else {
            check_table_file(c, d, NULL, -1);
        }
    }
}

/* ---- WALs ---------------------------------------------------------------- */

static void check_wal(vctx *c, const dentry *d)
{
    char path[PATH_MAX];
    fci_err err;
    fci_err_clear(&err);
    join(path, sizeof path, c->dir, d->name);
    fci_log_reader r;
    int rc = fci_log_reader_open(&r, c->dirfd, path, 0, &err);
    if (rc != 0) {
        if (rc == FC_ECORRUPT)
            DAMAGE(c, d->name, 0, "cannot be read: %s", err.msg);
        else
            ERROR(c, rc, d->name, 0, "cannot open: %s", err.msg);
        return;
    }
    c->cur_file = d->name;
    fci_log_reader_set_reporter(&r, log_damage, c);
    fci_slice rec;
    uint64_t next_seq = 0;
    while ((rc = fci_log_reader_read(&r, &rec, &err)) != 0) {
        if (rc == FC_ECORRUPT)
            continue;   /* reported by log_damage */
        if (rc < 0) {
            ERROR(c, rc, d->name, r.record_offset, "read failed: %s", err.msg);
            break;
        }
        uint64_t seq;
        uint32_t count;
        if (fci_batch_validate(rec, &err) != 0 || fci_batch_header(rec, &seq, &count, &err) != 0) {
            DAMAGE(c, d->name, r.record_offset, "record is not a valid write batch: %s", err.msg);
            continue;
        }
        if (count > 0 && count - 1 > FCI_LAST_SEQUENCE_LIMIT - (seq < FCI_LAST_SEQUENCE_LIMIT ?
                                                                 seq : FCI_LAST_SEQUENCE_LIMIT))
            DAMAGE(c, d->name, r.record_offset, "batch sequence %llu (of %lu entries) is out of "
                   "range (allowed: 0 to %llu)", (unsigned long long)seq, (unsigned long)count,
                   (unsigned long long)FCI_LAST_SEQUENCE_LIMIT);
        if (seq < next_seq)
            DAMAGE(c, d->name, r.record_offset, "batch sequence %llu goes back (expected at least %llu)",
                   (unsigned long long)seq, (unsigned long long)next_seq);
        next_seq = seq + count;
    }
    if (rc == 0 && r.torn_tail)
        NOTE(c, d->name, r.tail_offset,
             "torn tail of %llu bytes (a write cut short by a crash); recovery drops it",
             (unsigned long long)r.tail_bytes);
    fci_log_reader_free(&r);
    c->cur_file = NULL;
}

/* The WALs recovery would replay: log number and up, plus the previous log
 * LevelDB may still name. Without a trustworthy MANIFEST, every WAL. */
static void check_wals(vctx *c, const replay *st)
{
    for (size_t i = 0; i < c->nfiles; i++) {
        const dentry *d = &c->files[i];
        if (d->kind != FCI_FILE_WAL)
            continue;
        if (st->complete && d->number < st->log && !(st->prev_log && d->number == st->prev_log))
            continue;
        check_wal(c, d);
    }
}

/* ---- the whole store ----------------------------------------------------- */

static int by_number(const void *a, const void *b)
{
    const dentry *x = a, *y = b;
    return x->number < y->number ? -1 : x->number > y->number;
}

/* fc_verify once the directory is open (c->dirfd). */
static int verify_store(vctx *c)
{
    const char *dir = c->dir;
    if (list_dir(c) != 0) {
        free(c->files);
        return c->error;
    }
    if (c->nfiles > 1) /* qsort(NULL, 0) is undefined */
        qsort(c->files, c->nfiles, sizeof *c->files, by_number);
    int has_current = 0;
    for (size_t i = 0; i < c->nfiles; i++)
        has_current |= c->files[i].kind == FCI_FILE_CURRENT;
    if (!has_current && newest_manifest(c) == 0) {
        ERROR(c, FC_ENOTFOUND, dir, 0, "not a store: no CURRENT file and no MANIFEST");
        free(c->files);
        return FC_ENOTFOUND;
    }
    replay st;
    memset(&st, 0, sizeof st);
    st.v = fci_version_new();
    st.b = fci_vbuild_new(NULL);
    if (st.v == NULL || st.b == NULL) {
        fci_version_unref(st.v);
        fci_vbuild_free(st.b);
        free(c->files);
        return FC_ENOMEM;
    }
    uint64_t manifest = check_current(c);
    if (manifest == 0 && (manifest = newest_manifest(c)) != 0) {
        char name[64];
        fci_filename(name, sizeof name, NULL, FCI_FILE_MANIFEST, manifest);
        NOTE(c, name, 0, "checked instead, as the newest MANIFEST on disk");
    }
    st.complete = 1;
    if (manifest != 0) {
        check_manifest(c, manifest, &st);
    } else {
        DAMAGE(c, dir, 0, "no MANIFEST on disk");
        st.complete = 0;
    }
    if (!st.complete)
        NOTE(c, dir, 0, "the MANIFEST could not be replayed: every table and WAL is checked on its own");
    check_tables(c, &st);
    check_wals(c, &st);
    fci_version_unref(st.v);
    fci_vbuild_free(st.b);
    free(c->files);
    if (c->damage)
        return FC_ECORRUPT;
    return c->error;
}

/* The directory is opened once, and every file is read through that
 * descriptor: the store checked is the one the name led to at the start. */
int fc_verify(const char *dir, fc_verify_report report, void *arg)
{
    if (dir == NULL || *dir == '\0')
        return FC_EINVAL;
    vctx c;
    memset(&c, 0, sizeof c);
    c.dir = dir;
    c.report = report;
    c.arg = arg;
    c.dirfd = fci_io_open(FCI_IO_SITE_DIR_OPEN, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0);
    int rc = verify_store(&c);
    if (c.dirfd >= 0)
        close(c.dirfd);
    return rc;
}
