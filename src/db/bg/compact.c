/*
 * compact.c - running one compaction: merge the input tables in internal-key
 * order, drop what no reader can see any more, and write the survivors as
 * tables of about max_file_size at the next level.
 *
 * Entries are dropped against the last sequence at the start of the
 * compaction. That is safe for readers because a transaction fixes its
 * snapshot only after pinning a version (see read.c): whoever pins the
 * version this compaction produces has a snapshot at least that new, and
 * whoever pinned an older version keeps reading the old input tables, which
 * are not unlinked until that pin is gone.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/follow.h"
#include "db/bg/flush.h"
#include "db/core/forkgate.h"
#include "db/core/store.h"
#include "db/core/tfile.h"
#include "db/core/ttl.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "util/io.h"
#include "db/bg/bg.h"

/* One input table, mapped privately for the length of the compaction. */
typedef struct input {
    void *map;
    int fd;             /* pread source when the table could not be mapped */
    size_t size;
    char path[PATH_MAX];
    fci_table table;
    fci_table_iter it;
    int open;
} input;

/* Maps the table, or reads it through pread when mapping fails (address
 * space or a mapping limit), as the read path does. */
static int input_open(fc_store *s, const fci_file_meta *f, input *in, fci_err *err)
{
    char *path = in->path;
    memset(in, 0, offsetof(input, path));
    in->fd = -1;
    int fd = fci_tfile_open(s->dirfd, s->dir, f->number, FCI_IO_SITE_COMPACT_OPEN, path,
                            sizeof in->path, err);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = 0;
    if (fci_io_fstat(FCI_IO_SITE_COMPACT_STAT, fd, &st) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "stat %s", path);
    if (rc == 0 && st.st_size > 0) {
        in->size = (size_t)st.st_size;
        in->map = fci_tfile_map(fd, in->size, FCI_IO_SITE_COMPACT_MMAP);
        if (in->map == NULL)
            in->fd = fd;
    }
    if (in->fd < 0)
        close(fd);
    if (rc == 0 && in->fd >= 0)
        rc = fci_table_open_fd(&in->table, in->fd, in->size, FCI_TABLE_VERIFY_CHECKSUMS, err);
    else if (rc == 0)
        rc = fci_table_open(&in->table, in->map, in->size, FCI_TABLE_VERIFY_CHECKSUMS, err);
    if (rc != 0) {
        if (in->map)
            munmap(in->map, in->size);
        if (in->fd >= 0)
            close(in->fd);
        return fci_err_prefix(err, rc, path);
    }
    fci_table_iter_init(&in->it, &in->table);
    fci_table_iter_first(&in->it);
    in->open = 1;
    return 0;
}

static void input_close(input *in)
{
    if (!in->open)
        return;
    fci_table_iter_free(&in->it);
    fci_table_close(&in->table);
    if (in->map)
        munmap(in->map, in->size);
    if (in->fd >= 0)
        close(in->fd);
    in->open = 0;
}

/* A run of tables read one after another: a single level-0 table, or all
 * the inputs of a sorted level (L1+ tables are disjoint, so their
 * concatenation in key order is sorted). The merge then compares a handful
 * of streams per entry, not one per input table, and maps one table of a
 * run at a time. */
typedef struct stream {
    fci_file_meta **files;  /* in key order */
    size_t nfiles, next;
    input in;
} stream;

static int cmp_smallest(const void *a, const void *b)
{
    const fci_file_meta *x = *(fci_file_meta *const *)a, *y = *(fci_file_meta *const *)b;
    return fci_ikey_compare(fci_buf_slice(&x->smallest), fci_buf_slice(&y->smallest));
}

static int stream_valid(const stream *st)
{
    return st->in.open && fci_table_iter_valid(&st->in.it);
}

/* Moves to the next table of the run while the current one is exhausted,
 * checking that its iteration ended cleanly. */
static int stream_settle(fc_store *s, stream *st, fci_err *err)
{
    while (!stream_valid(st)) {
        if (st->in.open) {
            int rc = fci_table_iter_status(&st->in.it, err);
            if (rc != 0)
                fci_err_prefix(err, rc, st->in.path);
            input_close(&st->in);
            if (rc != 0)
                return rc;
        }
        if (st->next == st->nfiles)
            return 0;
        int rc = input_open(s, st->files[st->next++], &st->in, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int stream_init(fc_store *s, stream *st, fci_file_meta **files, size_t n, int sort,
                       fci_err *err)
{
    memset(st, 0, sizeof *st);
    st->files = malloc(n ? n * sizeof *files : 1);
    if (st->files == NULL)
        return fci_err_set(err, FC_ENOMEM, "compaction: out of memory");
    memcpy(st->files, files, n * sizeof *files);
    st->nfiles = n;
    if (sort && n > 1)
        qsort(st->files, n, sizeof *files, cmp_smallest);
    return stream_settle(s, st, err);
}

static void stream_free(stream *st)
{
    input_close(&st->in);
    free(st->files);
    st->files = NULL;
}

/* The stream whose current key is smallest; -1 when all are exhausted. */
static int smallest_stream(stream *sts, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (!stream_valid(&sts[i]))
            continue;
        if (best < 0 || fci_ikey_compare(fci_table_iter_key(&sts[i].in.it),
                                         fci_table_iter_key(&sts[best].in.it)) < 0)
            best = (int)i;
    }
    return best;
}

typedef struct merge_state {
    fc_store *s;
    fci_compaction *c;
    fci_version_edit *edit;
    fci_output out;
    fci_buf last_user;      /* user key of the previous entry */
    int has_last;
    uint64_t last_seq_for_key;
    uint64_t smallest_snapshot;
    uint64_t bytes_out;
    int ttl;                /* values carry expiry frames */
    uint64_t now;           /* expiry is judged against this */
    uint64_t expired;       /* expired values dropped or made tombstones */
    fci_clear_view clr;     /* clears in force when the compaction began */
    fci_buf tombstone;      /* the internal key an expired value becomes */
    size_t gp_index;        /* first grandparent not wholly before the key */
    uint64_t gp_overlap;    /* grandparent bytes the current output spans */
    int gp_seen_key;        /* a key was looked at (LevelDB's seen_key) */
    int gp_stop;            /* the next output entry starts a new table */
    uint64_t outputs;       /* output tables started */
} merge_state;

enum { KEEP = 0, DROP = 1, TO_TOMBSTONE = 2 };

/* LevelDB's rules: an entry hidden by a newer entry of the same key that
 * every snapshot sees is dropped; so is a tombstone every snapshot sees
 * when no deeper level can hold the key. An expired value is invisible to
 * every reader yet still hides older versions of its key, exactly as a
 * tombstone does: it follows the tombstone's rule, and where it must stay
 * (an older version may lie deeper) it is written as a tombstone of the
 * same sequence, which readers treat the same and which costs no value. */
static int should_drop(merge_state *m, const fci_parsed_ikey *k, fci_slice value)
{
    int new_key = !m->has_last || fci_bytewise_compare(k->user_key, fci_buf_slice(&m->last_user)) != 0;
    if (new_key) {
        fci_buf_clear(&m->last_user);
        fci_buf_append(&m->last_user, k->user_key.data, k->user_key.size);
        m->has_last = 1;
        m->last_seq_for_key = UINT64_MAX;
    }
    int expired = m->ttl && k->type == FCI_TYPE_VALUE &&
                  fci_ttl_expired(fci_ttl_value_expiry(value), m->now);
    /* a cleared value (core/follow.h) is gone for every reader, as an
     * expired one is */
    int gone = expired || (k->type == FCI_TYPE_VALUE && m->clr.n > 0 &&
                           fci_clear_hides(&m->clr, k->user_key, k->sequence));
    int drop = KEEP;
    if (m->last_seq_for_key <= m->smallest_snapshot)
        drop = DROP;
    else if ((k->type == FCI_TYPE_DELETION || gone) && k->sequence <= m->smallest_snapshot &&
             !fci_version_key_beyond(m->c->version, m->c->level, k->user_key))
        drop = DROP;
    else if (gone)
        drop = TO_TOMBSTONE;
    if (expired && drop != KEEP)
        m->expired++;
    m->last_seq_for_key = k->sequence;
    return drop;
}

/* LevelDB's ShouldStopBefore, looked at on the first entry of each user
 * key: grandparents wholly before the key are counted against the current
 * output, and once they pass max_grandparent_overlap the output ends
 * before this key, so compacting it later into level + 2 never merges
 * more than about that much. Level + 2 is disjoint by user key, so a user
 * key meets at most one grandparent and user keys suffice. */
static void check_grandparents(merge_state *m, fci_slice user_key)
{
    const fci_compaction *c = m->c;
    while (m->gp_index < c->ngrandparents &&
           fci_bytewise_compare(user_key,
                                fci_ikey_user(fci_buf_slice(&c->grandparents[m->gp_index]->largest))) > 0) {
        if (m->gp_seen_key)
            m->gp_overlap += c->grandparents[m->gp_index]->size;
        m->gp_index++;
    }
    m->gp_seen_key = 1;
    if (m->gp_overlap > c->max_grandparent_overlap) {
        m->gp_overlap = 0;
        m->gp_stop = 1;
    }
}

/* Whether fc_close asked the compaction to stop (fci_bg_stop). Relaxed:
 * a hint read between entries; nothing is published through it. */
static int cancel_requested(const fc_store *s)
{
    return atomic_load_explicit(&s->w->stop_compaction, memory_order_relaxed) != 0;
}

static int finish_output(merge_state *m, fci_err *err)
{
    if (!m->out.started)
        return 0;
    m->bytes_out += fci_table_builder_file_size(&m->out.tb);
    return fci_output_finish(&m->out, m->edit, m->c->level + 1, err);
}

/* Adds one surviving entry, starting a new output table when the current
 * one is full - but never between two entries of one user key, so the
 * output level stays disjoint by user key. */
static int emit(merge_state *m, fci_slice ikey, fci_slice value, int new_key, fci_err *err)
{
    int rc = 0, full = 0;
    if (m->out.started && new_key) {
        full = fci_table_builder_file_size(&m->out.tb) >= m->s->opts.max_file_size;
        if (full || m->gp_stop)
            rc = finish_output(m, err);
    }
    if (rc == 0 && !m->out.started && cancel_requested(m->s))
        rc = fci_err_set(err, FC_ECLOSED, "compaction cancelled: the store is closing");
    if (rc == 0 && !m->out.started) {
        pthread_mutex_lock(&m->s->w->mu);
        if (m->gp_stop && !full && m->outputs > 0)
            m->s->w->grandparent_splits++;
        m->gp_stop = 0;
        m->outputs++;
        uint64_t number = fci_vset_new_file_number(&m->s->w->vs);
        if (m->s->w->pending_compact == 0)
            m->s->w->pending_compact = number;
        pthread_mutex_unlock(&m->s->w->mu);
        rc = number ? fci_output_open(m->s, &m->out, number, err)
                    : fci_err_set(err, FC_ELIMIT, "no file number left for a compaction's table");
    }
    return rc ? rc : fci_output_add(&m->out, ikey, value, err);
}

/* Entries merged between two looks at the immutable memtable: a look takes
 * the writer's mutex, so not at every entry; 256 entries take well under a
 * millisecond. */
#define IMM_CHECK_INTERVAL 256

static int merge_inputs(merge_state *m, stream *sts, size_t n, fci_err *err)
{
    int rc = 0, i;
    unsigned since_check = 0;
    while (rc == 0 && (i = smallest_stream(sts, n)) >= 0) {
        if (++since_check == IMM_CHECK_INTERVAL) {
            since_check = 0;
            fci_gate_yield(); /* a fork need not wait for the whole compaction */
            if (cancel_requested(m->s)) {
                rc = fci_err_set(err, FC_ECLOSED, "compaction cancelled: the store is closing");
                break;
            }
            rc = fci_bg_flush_if_waiting(m->s);
            if (rc != 0) {
                fci_err_set(err, rc, "flush during compaction: %s", fc_errmsg(m->s));
                break;
            }
        }
        input *in = &sts[i].in;
        fci_slice ikey = fci_table_iter_key(&in->it);
        fci_parsed_ikey k;
        if (fci_ikey_parse(ikey, &k) != 0) {
            rc = fci_err_set(err, FC_ECORRUPT, "compaction: malformed internal key in table %d", i);
            break;
        }
        int new_key = !m->has_last || fci_bytewise_compare(k.user_key, fci_buf_slice(&m->last_user)) != 0;
        if (new_key)
            check_grandparents(m, k.user_key);
        fci_slice value = fci_table_iter_value(&in->it);
        int what = should_drop(m, &k, value);
        if (what == TO_TOMBSTONE) {
            fci_buf_clear(&m->tombstone);
            if (fci_ikey_append(&m->tombstone, k.user_key, k.sequence, FCI_TYPE_DELETION) != 0) {
                rc = fci_err_set(err, FC_ENOMEM, "compaction: out of memory");
                break;
            }
            rc = emit(m, fci_buf_slice(&m->tombstone), fci_slice_make("", 0), new_key, err);
        } else if (what == KEEP) {
            rc = emit(m, ikey, value, new_key, err);
        }
        fci_table_iter_next(&in->it);
        if (rc == 0)
            rc = stream_settle(m->s, &sts[i], err);
    }
    if (rc == 0)
        rc = finish_output(m, err);
    else
        fci_output_abandon(&m->out);
    return rc;
}

/* A compaction that failed or was cancelled leaves the version as it was:
 * the tables it had finished are in no version, so they go now rather
 * than waiting for an obsolete-file sweep. */
static void remove_outputs(fc_store *s, const fci_version_edit *edit)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < edit->n_new_files; i++) {
        fci_filename(path, sizeof path, s->dir, FCI_FILE_TABLE, edit->new_files[i].number);
        fci_io_unlink(FCI_IO_SITE_UNLINK, s->dirfd, path);
    }
}

static int record_inputs(fci_compaction *c, fci_version_edit *edit)
{
    int rc = 0;
    for (int which = 0; which < 2 && rc == 0; which++)
        for (size_t i = 0; i < c->ninputs[which] && rc == 0; i++)
            rc = fci_edit_delete_file(edit, c->level + which, c->inputs[which][i]->number);
    return rc;
}

/* Runs the compaction's I/O without the mutex; fills edit. */
int fci_compaction_run(fc_store *s, fci_compaction *c, fci_version_edit *edit,
                       uint64_t smallest_snapshot, uint64_t *bytes_out, fci_err *err)
{
    /* Level-0 tables overlap: one stream each. A sorted level: one. */
    size_t n = (c->level == 0 ? c->ninputs[0] : 1) + 1;
    stream *sts = calloc(n, sizeof *sts);
    if (sts == NULL)
        return fci_err_set(err, FC_ENOMEM, "compaction: out of memory");
    merge_state m;
    memset(&m, 0, sizeof m);
    m.s = s;
    m.c = c;
    m.edit = edit;
    m.smallest_snapshot = smallest_snapshot;
    m.ttl = s->opts.ttl_framing;
    m.now = fci_ttl_now(s);
    fci_clear_view_load(s, &m.clr, 0);
    int rc = 0;
    size_t k = 0;
    if (c->level == 0)
        for (size_t i = 0; i < c->ninputs[0] && rc == 0; i++)
            rc = stream_init(s, &sts[k++], &c->inputs[0][i], 1, 0, err);
    else
        rc = stream_init(s, &sts[k++], c->inputs[0], c->ninputs[0], 1, err);
    if (rc == 0)
        rc = stream_init(s, &sts[k++], c->inputs[1], c->ninputs[1], 1, err);
    if (rc == 0)
        rc = merge_inputs(&m, sts, k, err);
    if (rc == 0)
        rc = record_inputs(c, edit);
    else
        remove_outputs(s, edit);
    for (size_t i = 0; i < k; i++)
        stream_free(&sts[i]);
    free(sts);
    fci_buf_free(&m.last_user);
    fci_buf_free(&m.tombstone);
    *bytes_out = m.bytes_out;
    fci_ttl_shared *sh = fci_ttl_shared_of(s);
    if (rc == 0 && sh != NULL && m.expired > 0) /* relaxed: a figure */
        atomic_fetch_add_explicit(&sh->expired_entries, m.expired, memory_order_relaxed);
    return rc;
}
