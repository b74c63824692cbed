/*
 * vset.c - MANIFEST replay and append.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/vbuild.h"
#include "db/core/vset.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "util/io.h"

int fci_vset_init(fci_vset *vs, int dirfd, const char *dir, unsigned file_mode)
{
    memset(vs, 0, sizeof *vs);
    if (strlen(dir) >= sizeof vs->dir)
        return FC_EINVAL;
    vs->dirfd = dirfd;
    strcpy(vs->dir, dir);
    vs->file_mode = file_mode;
    vs->next_file = 2;
    vs->manifest_number = 1;
    vs->current = fci_version_new();
    pthread_cond_init(&vs->idle, NULL);
    return vs->current ? 0 : FC_ENOMEM;
}

void fci_vset_free(fci_vset *vs)
{
    if (vs->manifest_open)
        fci_log_writer_close(&vs->manifest, NULL);
    vs->manifest_open = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        fci_buf_free(&vs->compact_pointer[l]);
    fci_version_unref(vs->current);
    vs->current = NULL;
    pthread_cond_destroy(&vs->idle);
}

int fci_vset_exists(int dirfd, const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    if (fci_filename(path, sizeof path, dir, FCI_FILE_CURRENT, 0) < 0)
        return 0;
    return fci_io_lstat(dirfd, path, &st) == 0;
}

void fci_vset_delta_free(fci_version_delta *delta)
{
    for (size_t i = 0; i < delta->nadded; i++)
        fci_file_meta_unref(delta->added[i].file);
    free(delta->added);
    free(delta->deleted);
    memset(delta, 0, sizeof *delta);
}

int fci_vset_delta_from_edit(const fci_version_edit *edit, fci_version_delta *delta)
{
    memset(delta, 0, sizeof *delta);
    delta->deleted = calloc(edit->n_deleted + 1, sizeof *delta->deleted);
    delta->added = calloc(edit->n_new_files + 1, sizeof *delta->added);
    if (delta->deleted == NULL || delta->added == NULL) {
        fci_vset_delta_free(delta);
        return FC_ENOMEM;
    }
    for (size_t i = 0; i < edit->n_deleted; i++) {
        delta->deleted[i].level = edit->deleted[i].level;
        delta->deleted[i].number = edit->deleted[i].number;
    }
    delta->ndeleted = edit->n_deleted;
    for (size_t i = 0; i < edit->n_new_files; i++) {
        const fci_edit_file *f = &edit->new_files[i];
        int rc = fci_file_meta_new(f->number, f->file_size, fci_buf_slice(&f->smallest),
                                   fci_buf_slice(&f->largest), &delta->added[i].file);
        if (rc != 0) {
            fci_vset_delta_free(delta);
            return rc;
        }
        delta->added[i].level = f->level;
        delta->nadded = i + 1;
    }
    return 0;
}

/* Builds current + edit without touching current. */
static int apply_edit(fci_vset *vs, const fci_version_edit *edit, fci_version **out, fci_err *err)
{
    fci_version_delta delta;
    int rc = fci_vset_delta_from_edit(edit, &delta);
    if (rc != 0)
        return fci_err_set(err, rc, "out of memory applying a version edit");
    rc = fci_version_apply(vs->current, &delta, out, err);
    fci_vset_delta_free(&delta);
    return rc;
}

/* The compact pointers an edit moves (the last one per level wins). */
static void set_compact_pointers(fci_vset *vs, const fci_version_edit *edit)
{
    for (size_t i = 0; i < edit->n_compact_pointers; i++) {
        const fci_edit_pointer *p = &edit->compact_pointers[i];
        if (p->level >= 0 && p->level < FCI_NUM_LEVELS) {
            fci_buf_clear(&vs->compact_pointer[p->level]);
            fci_buf_append(&vs->compact_pointer[p->level], p->key.data, p->key.size);
        }
    }
}

static void install(fci_vset *vs, fci_version *v, const fci_version_edit *edit)
{
    fci_version_unref(vs->current);
    vs->current = v;
    set_compact_pointers(vs, edit);
}

/* The edit that recreates the whole current state in a new MANIFEST. */
static int snapshot_edit(const fci_vset *vs, fci_version_edit *e)
{
    int rc = fci_edit_set_comparator(e, fci_slice_str(FCI_IKEY_COMPARATOR_NAME));
    for (int l = 0; l < FCI_NUM_LEVELS && rc == 0; l++)
        if (vs->compact_pointer[l].size > 0)
            rc = fci_edit_add_compact_pointer(e, l, fci_buf_slice(&vs->compact_pointer[l]));
    for (int l = 0; l < FCI_NUM_LEVELS && rc == 0; l++)
        for (size_t i = 0; i < vs->current->nfiles[l] && rc == 0; i++) {
            const fci_file_meta *f = vs->current->files[l][i];
            rc = fci_edit_add_file(e, l, f->number, f->size, fci_buf_slice(&f->smallest),
                                   fci_buf_slice(&f->largest));
        }
    return rc;
}

static void fill_counters(const fci_vset *vs, fci_version_edit *e)
{
    if (!e->has_log_number)
        fci_edit_set_log_number(e, vs->log_number);
    fci_edit_set_prev_log_number(e, vs->prev_log_number);
    fci_edit_set_next_file_number(e, vs->next_file);
    fci_edit_set_last_sequence(e, vs->last_sequence);
}

static int append_edit(fci_vset *vs, fci_version_edit *e, fci_err *err)
{
    fci_buf rec = FCI_BUF_INIT;
    int rc = fci_edit_encode(e, &rec);
    if (rc == 0)
        rc = fci_log_writer_add(&vs->manifest, fci_buf_slice(&rec), err);
    else
        fci_err_set(err, rc, "encoding a version edit");
    fci_buf_free(&rec);
    return rc;
}

/* Opens MANIFEST-<manifest_number> afresh and writes the snapshot. */
static int start_manifest(fci_vset *vs, fci_err *err)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, vs->dir, FCI_FILE_MANIFEST, vs->manifest_number);
    int rc = fci_log_writer_open(&vs->manifest, vs->dirfd, path, 1, vs->file_mode, err);
    if (rc != 0)
        return rc;
    vs->manifest_open = 1;
    fci_version_edit snap;
    fci_edit_init(&snap);
    rc = snapshot_edit(vs, &snap);
    if (rc == 0) {
        fill_counters(vs, &snap);
        rc = append_edit(vs, &snap, err);
    }
    fci_edit_free(&snap);
    return rc;
}

/* A MANIFEST we could not finish is abandoned: the next attempt starts a
 * new one under a new number, as LevelDB does. */
static void abandon_manifest(fci_vset *vs, int created)
{
    char path[PATH_MAX];
    fci_log_writer_close(&vs->manifest, NULL);
    vs->manifest_open = 0;
    if (created) {
        fci_filename(path, sizeof path, vs->dir, FCI_FILE_MANIFEST, vs->manifest_number);
        fci_io_unlink(FCI_IO_SITE_UNLINK, vs->dirfd, path);
    }
    vs->manifest_number = fci_vset_new_file_number(vs);   /* 0: none left */
}

/* Appends an encoded edit to the open MANIFEST and syncs it. With unlock,
 * vs->mu is released meanwhile: only this thread touches the MANIFEST
 * writer while vs->busy is set. With dir_first the directory is synced
 * before: the tables the edit adds, or a new MANIFEST, were created since
 * the last directory sync, and fsyncing a file does not make its name
 * durable. Without it a power loss could keep the edit and lose the
 * tables it names, or keep CURRENT's rename and lose the MANIFEST it
 * names (LevelDB syncs the directory before a new MANIFEST for this). */
static int append_and_sync(fci_vset *vs, const fci_buf *rec, int unlock, int dir_first,
                           fci_err *err)
{
    if (unlock)
        pthread_mutex_unlock(vs->mu);
    int rc = dir_first ? fci_dir_sync(vs->dirfd, vs->dir, err) : 0;
    if (rc == 0)
        rc = fci_log_writer_add(&vs->manifest, fci_buf_slice(rec), err);
    if (rc == 0)
        rc = fci_log_writer_sync(&vs->manifest, err);
    if (unlock)
        pthread_mutex_lock(vs->mu);
    return rc;
}

static int log_and_apply_busy(fci_vset *vs, fci_version_edit *edit, fci_err *err)
{
    fci_version *v;
    if (edit->has_log_number && edit->log_number >= vs->next_file)
        return fci_err_set(err, FC_EINTERNAL, "edit names log %llu beyond next file %llu",
                           (unsigned long long)edit->log_number,
                           (unsigned long long)vs->next_file);
    if (!vs->manifest_open && vs->manifest_number == 0)
        return fci_err_set(err, FC_ELIMIT, "%s: no file number left for a new MANIFEST "
                           "(the numbers stop at %llu)", vs->dir,
                           (unsigned long long)FCI_NEXT_FILE_LIMIT);
    fill_counters(vs, edit);
    int rc = apply_edit(vs, edit, &v, err);
    if (rc != 0)
        return rc;
    /* A new MANIFEST (once per open, or after a failure) is written whole
     * under the mutex: its snapshot reads the current state, and until
     * CURRENT names it, the obsolete-file sweep (which keeps MANIFESTs from
     * manifest_number on) must not run and delete the one CURRENT names. */
    int created = !vs->manifest_open;
    if (created)
        rc = start_manifest(vs, err);
    fci_buf rec = FCI_BUF_INIT;
    if (rc == 0 && (rc = fci_edit_encode(edit, &rec)) != 0)
        fci_err_set(err, rc, "encoding a version edit");
    if (rc == 0)
        rc = append_and_sync(vs, &rec, vs->mu != NULL && !created,
                             created || edit->n_new_files > 0, err);
    fci_buf_free(&rec);
    if (rc == 0 && created) {
        rc = fci_current_write(vs->dirfd, vs->dir, vs->manifest_number, vs->file_mode, err);
        if (rc == FCI_CURRENT_UNSYNCED) {
            vs->dir_unsynced = 1;   /* the switch happened; its durability is owed */
            rc = 0;
        }
    }
    if (rc != 0) {
        abandon_manifest(vs, created);
        fci_version_unref(v);
        return rc;
    }
    vs->log_number = edit->log_number;
    vs->prev_log_number = 0;
    install(vs, v, edit);
    return 0;
}

int fci_vset_dir_synced(fci_vset *vs)
{
    if (vs->dir_unsynced && fci_dir_sync(vs->dirfd, vs->dir, NULL) == 0)
        vs->dir_unsynced = 0;
    return !vs->dir_unsynced;
}

int fci_vset_log_and_apply(fci_vset *vs, fci_version_edit *edit, fci_err *err)
{
    if (vs->mu != NULL)
        while (vs->busy)
            pthread_cond_wait(&vs->idle, vs->mu);
    vs->busy = 1;
    int rc = vs->guard ? vs->guard(vs->guard_arg, err) : 0;
    if (rc == 0)
        rc = log_and_apply_busy(vs, edit, err);
    vs->busy = 0;
    if (vs->mu != NULL)
        pthread_cond_broadcast(&vs->idle);
    return rc;
}

int fci_vset_create(fci_vset *vs, fci_err *err)
{
    vs->manifest_number = 1;
    vs->next_file = 2;
    vs->log_number = 0;
    vs->last_sequence = 0;
    fci_version_edit e;
    fci_edit_init(&e);
    int rc = fci_vset_log_and_apply(vs, &e, err);
    fci_edit_free(&e);
    return rc;
}

/* Counters a replayed edit carries; the last value of each wins. */
typedef struct replay_state {
    int has_log, has_next, has_last;
    uint64_t log, prev_log, next, last;
} replay_state;

/* One edit into the replay's builder: all of it, or (refused) none. */
static int replay_apply(fci_vbuild *b, const fci_version_edit *e, fci_err *err)
{
    fci_version_delta delta;
    int rc = fci_vset_delta_from_edit(e, &delta);
    if (rc != 0)
        return fci_err_set(err, rc, "out of memory applying a version edit");
    rc = fci_vbuild_apply(b, &delta, err);
    fci_vset_delta_free(&delta);
    return rc;
}

static int replay_record(fci_vset *vs, fci_vbuild *b, fci_slice rec, replay_state *st,
                         const char *path, uint64_t offset, fci_err *err)
{
    fci_version_edit e;
    fci_edit_init(&e);
    int rc = fci_edit_decode(&e, rec, err);
    if (rc == 0 && e.has_comparator &&
        fci_bytewise_compare(fci_buf_slice(&e.comparator), fci_slice_str(FCI_IKEY_COMPARATOR_NAME)) != 0)
        rc = fci_err_set(err, FC_EUNSUPPORTED, "%s: comparator '%.*s' is not %s", path,
                         (int)e.comparator.size, e.comparator.data, FCI_IKEY_COMPARATOR_NAME);
    if (rc == 0)
        rc = replay_apply(b, &e, err);
    if (rc == 0) {
        set_compact_pointers(vs, &e);
        if (e.has_log_number) { st->has_log = 1; st->log = e.log_number; }
        if (e.has_prev_log_number) st->prev_log = e.prev_log_number;
        if (e.has_next_file_number) { st->has_next = 1; st->next = e.next_file_number; }
        if (e.has_last_sequence) { st->has_last = 1; st->last = e.last_sequence; }
    } else if (err != NULL && err->msg[0] != '\0' && strstr(err->msg, path) == NULL) {
        char detail[FCI_ERR_MSG_MAX];
        snprintf(detail, sizeof detail, "%s", err->msg);
        fci_err_set(err, rc, "%s: record at offset %llu: %s", path,
                    (unsigned long long)offset, detail);
    }
    fci_edit_free(&e);
    return rc;
}

static int replay_manifest(fci_vset *vs, const char *path, int best_effort, replay_state *st,
                           fci_err *err)
{
    fci_log_reader r;
    int rc = fci_log_reader_open(&r, vs->dirfd, path, best_effort ? FCI_LOG_BEST_EFFORT : 0, err);
    if (rc != 0)
        return rc;
    /* One builder for the whole log: applying edit after edit to whole
     * versions would copy every level once per edit. */
    fci_vbuild *b = fci_vbuild_new(vs->current);
    if (b == NULL) {
        fci_log_reader_free(&r);
        return fci_err_set(err, FC_ENOMEM, "%s: out of memory replaying", path);
    }
    fci_slice rec;
    while ((rc = fci_log_reader_read(&r, &rec, err)) != 0) {
        if (rc < 0)
            break;
        rc = replay_record(vs, b, rec, st, path, r.record_offset, err);
        if (rc != 0 && !(best_effort && rc == FC_ECORRUPT))
            break;
        rc = 0;
    }
    fci_log_reader_free(&r);
    fci_version *v = NULL;
    if (rc == 0 && (rc = fci_vbuild_version(b, &v)) != 0)
        fci_err_set(err, rc, "%s: out of memory replaying", path);
    if (rc == 0) {
        fci_version_unref(vs->current);
        vs->current = v;
    }
    fci_vbuild_free(b);
    return rc;
}

/* One counter against its bound, worded the same for every field. */
static int out_of_range(fci_err *err, const char *path, const char *field, uint64_t value,
                        uint64_t lo, uint64_t hi)
{
    return fci_err_set(err, FC_ECORRUPT, "%s%s%s %llu is out of range (allowed: %llu to %llu)",
                       path ? path : "", path ? ": " : "", field, (unsigned long long)value,
                       (unsigned long long)lo, (unsigned long long)hi);
}

/* The next file number bounds every other file number: a file at or past
 * it would be overwritten by the next file the writer creates. */
int fci_vset_check_numbers(const char *path, const fci_vset_numbers *n, const fci_version *v,
                           fci_err *err)
{
    if (n->next_file < 2 || n->next_file > FCI_NEXT_FILE_LIMIT)
        return out_of_range(err, path, "next file number", n->next_file, 2, FCI_NEXT_FILE_LIMIT);
    if (n->last_sequence > FCI_LAST_SEQUENCE_LIMIT)
        return out_of_range(err, path, "last sequence", n->last_sequence, 0,
                            FCI_LAST_SEQUENCE_LIMIT);
    if (n->manifest >= n->next_file)
        return out_of_range(err, path, "MANIFEST number", n->manifest, 1, n->next_file - 1);
    if (n->log >= n->next_file)
        return out_of_range(err, path, "log number", n->log, 0, n->next_file - 1);
    if (n->prev_log >= n->next_file)
        return out_of_range(err, path, "previous log number", n->prev_log, 0, n->next_file - 1);
    for (int l = 0; v != NULL && l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (v->files[l][i]->number >= n->next_file) {
                char field[64];
                snprintf(field, sizeof field, "table number (level %d)", l);
                return out_of_range(err, path, field, v->files[l][i]->number, 1,
                                    n->next_file - 1);
            }
    return 0;
}

int fci_vset_recover(fci_vset *vs, int best_effort, fci_err *err)
{
    uint64_t manifest;
    char name[64], path[PATH_MAX];
    int rc = fci_current_read(vs->dirfd, vs->dir, &manifest, name, sizeof name, err);
    if (rc != 0)
        return rc;
    fci_filename(path, sizeof path, vs->dir, FCI_FILE_MANIFEST, manifest);
    replay_state st;
    memset(&st, 0, sizeof st);
    rc = replay_manifest(vs, path, best_effort, &st, err);
    if (rc != 0)
        return rc;
    if (!st.has_next || !st.has_log || !st.has_last)
        return fci_err_set(err, FC_ECORRUPT, "%s: no %s entry", path,
                           !st.has_next ? "next-file-number" :
                           !st.has_log ? "log-number" : "last-sequence");
    fci_vset_numbers n = { manifest, st.next, st.log, st.prev_log, st.last };
    rc = fci_vset_check_numbers(path, &n, vs->current, err);
    if (rc != 0)
        return rc;
    vs->next_file = st.next;
    vs->log_number = st.log;
    vs->prev_log_number = st.prev_log;
    vs->last_sequence = st.last;
    fci_vset_mark_used(vs, manifest);
    fci_vset_mark_used(vs, st.log);
    fci_vset_mark_used(vs, st.prev_log);
    vs->manifest_number = fci_vset_new_file_number(vs);
    return 0;
}
