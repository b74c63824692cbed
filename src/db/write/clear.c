/*
 * clear.c - fc_clear and invalidations, decided by the writer under mu and
 * the write lock (write/lanewriter.c).
 *
 * A clear is a record (prefix, sequence C) in the arena's follow block
 * (core/follow.h) that readers obey: nothing in the memtables or tables
 * is rewritten, so its cost does not grow with the store. Entries it
 * covers stay on disk, shadowed, until newer writes or expiry replace
 * them. The records are also kept in the store directory's
 * FORKCACHE-CLEARS file (written before a record takes effect, synced
 * and renamed over the old one), which the next writer loads: a cleared
 * value does not come back after a restart. Since C is the last sequence
 * plus one, a writer that recovers fewer writes than that (an unsynced
 * WAL tail lost) moves its last sequence up to C - 1, so no new write
 * falls under an old clear.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/follow.h"
#include "db/write/clear.h"
#include "db/write/lane.h"
#include "db/write/write.h"
#include "format/filename.h"
#include "util/io.h"

#define CLEARS_HEADER "forkcache clears 1"

/* ---- the file ------------------------------------------------------------ */

/* One line: "SEQ HEX" (HEX "-" for the empty prefix). */
static int parse_rec(const char *line, fci_clear_rec *r)
{
    char hex[2 * FCI_CLEAR_PREFIX_MAX + 2];
    uint64_t seq;
    if (sscanf(line, "%" SCNu64 " %97s", &seq, hex) != 2)
        return FC_ECORRUPT;
    size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex);
    if (n % 2 != 0 || n / 2 > FCI_CLEAR_PREFIX_MAX || seq > FCI_LAST_SEQUENCE_LIMIT + 1)
        return FC_ECORRUPT;
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1)
            return FC_ECORRUPT;
        r->prefix[i] = (char)b;
    }
    r->plen = (uint32_t)(n / 2);
    atomic_init(&r->seq, seq);
    return 0;
}

/* The recorded clears into f->rec (not yet published); none without a file. */
static int load_clears(fc_store *s, fci_follow_shared *f, uint32_t *n, fci_err *err)
{
    char path[PATH_MAX + 32], line[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, FCI_CLEARS_FILE);
    int fd = fci_io_open_regular(FCI_IO_SITE_OPTIONS_OPEN, s->dirfd, path, O_RDONLY | O_CLOEXEC,
                                 0, err);
    if (fd < 0)
        return errno == ENOENT ? 0 : fd;
    FILE *fp = fdopen(fd, "r");
    if (fp == NULL) {
        close(fd);
        return fci_err_set(err, FC_ENOMEM, "fdopen %s", path);
    }
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, fp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (lineno++ == 0)
            rc = strcmp(line, CLEARS_HEADER) == 0 ? 0 : FC_ECORRUPT;
        else if (*n >= FCI_CLEAR_MAX)
            rc = FC_ECORRUPT;
        else if ((rc = parse_rec(line, &f->rec[*n])) == 0)
            (*n)++;
    }
    fclose(fp);
    if (rc != 0)
        fci_err_set(err, rc, "%s: line %d: expected '%s' then 'SEQUENCE HEXPREFIX' lines, at "
                    "most %d", path, lineno, CLEARS_HEADER, FCI_CLEAR_MAX);
    return rc;
}

/* The n records, with seq[i] in place of their own, replacing the file
 * whole (as the FORKCACHE file is). */
static int save_clears(fc_store *s, const fci_clear_rec *rec, const uint64_t *seq, uint32_t n,
                       fci_err *err)
{
    char text[32 + FCI_CLEAR_MAX * (24 + 2 * FCI_CLEAR_PREFIX_MAX)];
    size_t len = (size_t)snprintf(text, sizeof text, "%s\n", CLEARS_HEADER);
    for (uint32_t i = 0; i < n; i++) {
        len += (size_t)snprintf(text + len, sizeof text - len, "%" PRIu64 " %s", seq[i],
                                rec[i].plen == 0 ? "-" : "");
        for (uint32_t j = 0; j < rec[i].plen; j++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%02x",
                                    (unsigned char)rec[i].prefix[j]);
        text[len++] = '\n';
    }
    return fci_small_file_replace(s->dirfd, s->dir, FCI_CLEARS_FILE, text, len, s->opts.file_mode,
                                  err);
}

/* ---- making the block -------------------------------------------------------- */

/* The record of prefix p among the first n, or n when there is none. */
static uint32_t find_rec(const fci_clear_rec *rec, uint32_t n, fci_slice p)
{
    for (uint32_t i = 0; i < n; i++)
        if (rec[i].plen == p.size && (p.size == 0 || memcmp(rec[i].prefix, p.data, p.size) == 0))
            return i;
    return n;
}

/* The options' followed prefixes get records (seq 0 when new) marked
 * followed; the block is not published yet. */
static int add_followed(fc_store *s, fci_follow_shared *f, uint32_t *n, fci_err *err)
{
    if (s->w == NULL)
        return 0; /* a read-only open follows nothing */
    int np = s->opts.follow != NULL ? s->opts.follow_nprefixes : 0;
    for (int i = 0; i < (np > 0 ? np : s->opts.follow != NULL); i++) {
        const char *p = np > 0 ? s->opts.follow_prefixes[i] : "";
        fci_slice ps = fci_slice_make(p, strlen(p));
        uint32_t at = find_rec(f->rec, *n, ps);
        if (at == *n) {
            if (*n == FCI_CLEAR_MAX)
                return fci_err_set(err, FC_ELIMIT, "at most %d prefixes may be cleared or "
                                   "followed", FCI_CLEAR_MAX);
            memcpy(f->rec[at].prefix, p, ps.size);
            f->rec[at].plen = (uint32_t)ps.size;
            (*n)++;
        }
        f->rec[at].flags |= FCI_CLEAR_FOLLOWED;
    }
    return 0;
}

int fci_follow_create(fc_store *s, fci_err *err)
{
    uint64_t off;
    int rc = fci_arena_alloc(s->arena, sizeof(fci_follow_shared), &off, err);
    if (rc != 0)
        return rc;
    fci_follow_shared *f = fci_arena_ptr(s->arena, off, sizeof *f);
    memset(f, 0, sizeof *f);
    uint32_t n = 0;
    if ((rc = load_clears(s, f, &n, err)) != 0 || (rc = add_followed(s, f, &n, err)) != 0)
        return rc;
    int following = s->w != NULL && s->opts.follow != NULL;
    f->max_stale_ms = (uint64_t)s->opts.max_stale_ms;
    /* Until the link thread has proved the link, followed prefixes read as
     * misses (link_ok_until 0). */
    atomic_init(&f->link, following ? FC_LINK_DOWN : FC_LINK_NONE);
    /* release: the records are filled before they are counted */
    atomic_store_explicit(&f->nrec, n, memory_order_release);
    /* release: the block is filled before any process finds it */
    atomic_store_explicit(&s->arena->hdr->follow_off, off, memory_order_release);
    s->follow = f;
    return 0;
}

void fci_follow_recovered(fc_store *s)
{
    const fci_follow_shared *f = s->follow;
    uint64_t top = 0;
    uint32_t n = atomic_load_explicit(&f->nrec, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) /* relaxed: only this thread writes them now */
        if (atomic_load_explicit(&f->rec[i].seq, memory_order_relaxed) > top)
            top = atomic_load_explicit(&f->rec[i].seq, memory_order_relaxed);
    if (top > 0 && s->w->vs.last_sequence < top - 1)
        s->w->vs.last_sequence = top - 1;
}

/* ---- clearing -------------------------------------------------------------- */

/* mu and the write lock held (fci_lane_enter has pulled the last sequence
 * up to what leaders in other processes wrote). Every prefix of ps gets
 * the clear sequence last + 1: the file first, then the records (new ones
 * counted last), then the generation, all before the lock is released, so
 * no leader can give a later write a sequence below C. */
static int clear_locked(fc_store *s, const fci_slice *ps, size_t np, fci_err *err)
{
    fci_follow_shared *f = s->follow;
    uint32_t n = atomic_load_explicit(&f->nrec, memory_order_relaxed), total = n;
    uint64_t c = s->w->vs.last_sequence + 1, seq[FCI_CLEAR_MAX];
    fci_clear_rec fresh[FCI_CLEAR_MAX];
    memcpy(fresh, f->rec, sizeof fresh); /* the file's view (seqs from seq[]) */
    for (uint32_t i = 0; i < n; i++)
        seq[i] = atomic_load_explicit(&f->rec[i].seq, memory_order_relaxed);
    for (size_t i = 0; i < np; i++) {
        uint32_t at = find_rec(fresh, total, ps[i]);
        if (at == total) {
            if (total == FCI_CLEAR_MAX || ps[i].size > FCI_CLEAR_PREFIX_MAX)
                return fci_err_set(err, FC_ELIMIT, "fc_clear: at most %d prefixes of up to %d "
                                   "bytes may be cleared", FCI_CLEAR_MAX, FCI_CLEAR_PREFIX_MAX);
            memset(&fresh[at], 0, sizeof fresh[at]);
            if (ps[i].size > 0) /* the empty prefix may come as NULL */
                memcpy(fresh[at].prefix, ps[i].data, ps[i].size);
            fresh[at].plen = (uint32_t)ps[i].size;
            total++;
        }
        seq[at] = c;
    }
    int rc = save_clears(s, fresh, seq, total, err);
    if (rc != 0)
        return rc;
    for (uint32_t i = n; i < total; i++) {
        memcpy(f->rec[i].prefix, fresh[i].prefix, FCI_CLEAR_PREFIX_MAX);
        f->rec[i].plen = fresh[i].plen;
        f->rec[i].flags = 0;
    }
    for (uint32_t i = 0; i < total; i++)
        /* release: see fci_clear_view_load's acquire */
        atomic_store_explicit(&f->rec[i].seq, seq[i], memory_order_release);
    /* release: the new records are filled before they are counted */
    atomic_store_explicit(&f->nrec, total, memory_order_release);
    /* release: pairs with fci_fill_token's acquire */
    atomic_fetch_add_explicit(&f->gen, 1, memory_order_release);
    /* relaxed: a figure */
    atomic_fetch_add_explicit(&f->clears, 1, memory_order_relaxed);
    return 0;
}

static int clear_many(fc_store *s, const fci_slice *ps, size_t np)
{
    if (s->follow == NULL || s->w == NULL)
        return fci_store_fail(s, FC_EINVAL, NULL);
    fci_err e;
    fci_err_clear(&e);
    pthread_mutex_lock(&s->w->mu);
    int rc = fci_lane_enter(s);
    if (rc == 0) {
        rc = clear_locked(s, ps, np, &e);
        fci_lane_leave(s);
    } else {
        fci_err_set(&e, rc, "fc_clear: the write lock");
    }
    pthread_mutex_unlock(&s->w->mu);
    return rc != 0 ? fci_store_fail(s, rc, &e) : 0;
}

int fc_clear(fc_store *s, const void *prefix, size_t plen)
{
    int route = fci_write_route(s);
    if (route < 0)
        return route;
    if (prefix == NULL && plen > 0)
        return fci_store_fail(s, FC_EINVAL, NULL);
    if (route != FCI_WRITE_HERE) {
        fci_err e;
        fci_err_set(&e, FC_EUNSUPPORTED, "fc_clear: only the writer process clears");
        return fci_store_fail(s, FC_EUNSUPPORTED, &e);
    }
    fci_slice p = fci_slice_make(prefix, plen);
    return clear_many(s, &p, 1);
}

int fci_clear_followed(fc_store *s)
{
    fci_follow_shared *f = s->follow;
    fci_slice ps[FCI_CLEAR_MAX];
    size_t np = 0;
    uint32_t n = atomic_load_explicit(&f->nrec, memory_order_acquire);
    for (uint32_t i = 0; i < n && i < FCI_CLEAR_MAX; i++)
        if (f->rec[i].flags & FCI_CLEAR_FOLLOWED)
            ps[np++] = fci_slice_make(f->rec[i].prefix, f->rec[i].plen);
    return clear_many(s, ps, np);
}

int fci_follow_invalidate(fc_store *s, const fci_slice *keys, size_t n)
{
    fci_follow_shared *f = s->follow;
    fci_write_batch b;
    int rc = fci_batch_init(&b);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (keys[i].size > FC_MAX_KEY_SIZE)
            continue; /* never stored */
        /* release: pairs with fci_fill_check's acquire (see clear.h) */
        atomic_fetch_add_explicit(&f->epoch[fci_follow_bucket(keys[i])], 1,
                                  memory_order_release);
        rc = fci_batch_delete(&b, keys[i]);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->w->mu);
        rc = fci_write_batch_locked(s, &b, 0);
        pthread_mutex_unlock(&s->w->mu);
        /* relaxed: a figure */
        atomic_fetch_add_explicit(&f->invalidations, n, memory_order_relaxed);
    }
    fci_batch_free(&b);
    return rc;
}
