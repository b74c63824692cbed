/*
 * recover.c - replaying the WALs a crash or a close left behind.
 *
 * Each record is one WriteBatch. A torn last record (the crash hit mid-
 * append) is dropped: its write was never acknowledged. Damage anywhere
 * else fails the open, naming file and offset, unless the store was opened
 * with FC_BEST_EFFORT, which skips the damaged region and says so. The
 * writer's recovery and read-only opens share the replay below.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "util/io.h"
#include "db/store/open.h"
#include "db/bg/flush.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* WAL numbers in vs's directory that the MANIFEST says are still live
 * (>= its log number, or the previous log), ascending. Every WAL number
 * seen is marked used in vs, so no new file is given one. */
static int live_wals(fci_vset *vs, uint64_t **out, size_t *n, fci_err *err)
{
    const char *dir = vs->dir;
    DIR *d = fci_io_opendir(vs->dirfd, dir);
    *out = NULL;
    *n = 0;
    if (d == NULL)
        return fci_err_errno(err, FC_EIO, errno, "opendir %s", dir);
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(e->d_name, &kind, &number) != 0 || kind != FCI_FILE_WAL)
            continue;
        if (number >= FCI_NEXT_FILE_LIMIT) {   /* marking it used would spend every number */
            rc = fci_err_set(err, FC_ECORRUPT, "%s/%s: WAL number %llu is out of range "
                             "(allowed: 1 to %llu)", dir, e->d_name, (unsigned long long)number,
                             (unsigned long long)(FCI_NEXT_FILE_LIMIT - 1));
            break;
        }
        fci_vset_mark_used(vs, number);
        if (number < vs->log_number && number != vs->prev_log_number)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            uint64_t *p = realloc(*out, cap * sizeof *p);
            if (p == NULL) {
                rc = fci_err_set(err, FC_ENOMEM, "out of memory");
                break;
            }
            *out = p;
        }
        (*out)[(*n)++] = number;
    }
    closedir(d);
    if (rc == 0 && *n > 1) /* qsort(NULL, 0) is undefined */
        qsort(*out, *n, sizeof **out, cmp_u64);
    return rc;
}

static int replay_one(const fci_vset *vs, uint64_t number, unsigned flags, fci_batch_fn insert,
                      fci_replay_after after, void *arg, fci_err *err)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, vs->dir, FCI_FILE_WAL, number);
    fci_log_reader lr;
    int rc = fci_log_reader_open(&lr, vs->dirfd, path, flags, err);
    if (rc != 0)
        return rc;
    fci_slice rec;
    while ((rc = fci_log_reader_read(&lr, &rec, err)) == 1) {
        rc = fci_batch_insert(rec, insert, arg, err);
        if (rc == FC_ENOMEM)
            rc = fci_err_set(err, rc, "%s: the arena (arena_size) is too small for the WAL", path);
        if (rc == 0 && after != NULL)
            rc = after(arg, err);
        if (rc != 0)
            break;
    }
    fci_log_reader_free(&lr);
    return rc < 0 ? rc : 0;
}

int fci_replay_wals(fci_vset *vs, int best_effort, fci_batch_fn insert, fci_replay_after after,
                    void *arg, fci_err *err)
{
    uint64_t *wals;
    size_t n;
    int rc = live_wals(vs, &wals, &n, err);
    unsigned flags = best_effort ? FCI_LOG_BEST_EFFORT : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = replay_one(vs, wals[i], flags, insert, after, arg, err);
    free(wals);
    return rc;
}

/* ---- the writer's recovery ------------------------------------------- */

typedef struct replay {
    fc_store *s;
    fci_version_edit *edit;
    uint64_t max_seq;
    uint64_t bad_seq;      /* a WAL sequence past FCI_LAST_SEQUENCE_LIMIT */
} replay;

/* A WAL's sequences are held to the writer's own limit (vset.h), or the
 * MANIFEST written after recovery would not open again. */
static int insert_one(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    replay *r = arg;
    if (seq > FCI_LAST_SEQUENCE_LIMIT) {
        r->bad_seq = seq;
        return FC_ECORRUPT;
    }
    if (seq > r->max_seq)
        r->max_seq = seq;
    return fci_memtable_add(&r->s->w->mem, seq, type, key, value);
}

/* A recovered memtable that grows past the write buffer goes to L0 now, so
 * recovery of a large WAL needs no more arena than normal running does. */
static int flush_if_full(replay *r, int force, fci_err *err)
{
    fci_writer *w = r->s->w;
    if (!force && fci_memtable_bytes(&w->mem) < r->s->opts.write_buffer_size)
        return 0;
    if (fci_skiplist_count(&w->mem.list) == 0)
        return 0;
    w->vs.last_sequence = r->max_seq > w->vs.last_sequence ? r->max_seq : w->vs.last_sequence;
    int rc = fci_flush_memtable(r->s, &w->mem, r->edit, 0);
    if (rc != 0)
        return fci_err_set(err, rc, "%s", fc_errmsg(r->s));
    fci_memchunks_free(w->mem_chunks);
    w->mem_chunks = NULL;
    return fci_memchunks_memtable(r->s, &w->mem, &w->mem_chunks);
}

static int after_record(void *arg, fci_err *err)
{
    return flush_if_full(arg, 0, err);
}

int fci_store_recover_wals(fc_store *s, fci_version_edit *edit)
{
    fci_err err;
    fci_err_clear(&err);
    replay r = { s, edit, s->w->vs.last_sequence, 0 };
    int rc = fci_replay_wals(&s->w->vs, (s->opts.flags & FC_BEST_EFFORT) != 0, insert_one,
                             after_record, &r, &err);
    if (r.bad_seq != 0)
        rc = fci_err_set(&err, FC_ECORRUPT, "%s: a WAL record's sequence %llu is out of range "
                         "(allowed: 0 to %llu)", s->dir, (unsigned long long)r.bad_seq,
                         (unsigned long long)FCI_LAST_SEQUENCE_LIMIT);
    if (rc == 0)
        rc = flush_if_full(&r, 1, &err);
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    if (r.max_seq > s->w->vs.last_sequence)
        s->w->vs.last_sequence = r.max_seq;
    return 0;
}
