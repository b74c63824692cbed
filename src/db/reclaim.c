/*
 * reclaim.c - publishing versions and giving back what old versions held.
 *
 * The writer never frees anything a reader might still be looking at. When a
 * version N replaces N-1, whatever only versions < N referenced (the old
 * record, a flushed memtable, compacted-away tables) is queued with N; it is
 * freed or unlinked once every reader slot's pinned version is >= N.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/store.h"
#include "db/vrec.h"
#include "format/filename.h"

/* mu held. Builds the record for the current version and memtables, then
 * makes it the one readers pin. */
int fci_store_publish(fc_store *s)
{
    fci_writer *w = s->w;
    fci_version *v = w->vs.current;
    size_t bytes = fci_vrec_size(v);
    uint64_t off;
    fci_err err;
    int rc = fci_arena_alloc(s->arena, bytes, &off, &err);
    if (rc != 0)
        return fci_store_fail(s, rc, &err);
    void *dst = fci_arena_ptr(s->arena, off, bytes);
    fci_vrec_encode(v, w->vseq + 1, fci_memtable_root(&w->mem),
                    w->has_imm ? fci_memtable_root(&w->imm) : 0, w->vs.next_file, dst);
    uint64_t old = w->vrec_off;
    fci_arena_publish(s->arena, off, w->vseq + 1);
    w->vseq++;
    w->vrec_off = off;
    if (old != 0)
        fci_store_retire(s, old, NULL, 0);
    return 0;
}

/* mu held. Queues something versions older than the current one use. */
void fci_store_retire(fc_store *s, uint64_t vrec_off, fci_memchunks *mem, uint64_t file)
{
    fci_retired *r = calloc(1, sizeof *r);
    if (r == NULL) {
        /* Keeping it forever is safe; freeing it early is not. */
        return;
    }
    r->vseq = s->w->vseq;
    r->vrec_off = vrec_off;
    r->mem = mem;
    r->file_number = file;
    r->next = s->w->retired;
    s->w->retired = r;
}

static void unlink_table(fc_store *s, uint64_t number)
{
    char path[PATH_MAX];
    fci_tcache_evict(&s->tcache, number);
    if (!fci_vset_dir_synced(&s->w->vs))
        return; /* a crash may revive a MANIFEST naming it: left for the sweep at open */
    fci_filename(path, sizeof path, s->dir, FCI_FILE_TABLE, number);
    if (unlink(path) != 0) {
        fci_filename(path, sizeof path, s->dir, FCI_FILE_TABLE_SST, number);
        unlink(path);
    }
}

/* mu held. Frees every queued item no pinned version can reach. */
void fci_store_reclaim(fc_store *s)
{
    fci_readers_sweep(s->arena);
    uint64_t oldest = fci_readers_oldest(s->arena);
    fci_retired **link = &s->w->retired;
    while (*link != NULL) {
        fci_retired *r = *link;
        if (oldest != FCI_NO_PIN && oldest < r->vseq) {
            link = &r->next;
            continue;
        }
        if (r->vrec_off != 0)
            fci_arena_free(s->arena, r->vrec_off, NULL);
        fci_memchunks_free(r->mem);
        if (r->file_number != 0)
            unlink_table(s, r->file_number);
        *link = r->next;
        free(r);
    }
}

static int table_live(const fc_store *s, uint64_t number)
{
    const fci_version *v = s->w->vs.current;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            if (v->files[l][i]->number == number)
                return 1;
    for (const fci_retired *r = s->w->retired; r; r = r->next)
        if (r->file_number == number)
            return 1;
    const fci_writer *w = s->w;
    return (w->pending_flush != 0 && number >= w->pending_flush) ||
           (w->pending_compact != 0 && number >= w->pending_compact);
}

/* Whether a file found in the directory is still needed. */
static int file_needed(const fc_store *s, fci_file_kind kind, uint64_t number)
{
    const fci_vset *vs = &s->w->vs;
    switch (kind) {
    case FCI_FILE_WAL:
        return number >= vs->log_number || number == s->w->wal_number;
    case FCI_FILE_MANIFEST:
        return number >= vs->manifest_number;
    case FCI_FILE_TABLE:
    case FCI_FILE_TABLE_SST:
        return table_live(s, number);
    case FCI_FILE_TEMP:
        return 0;
    default:
        return 1; /* CURRENT, LOCK, LOG, LOG.old */
    }
}

/* mu held. Removes old WALs and MANIFESTs, temp files, and tables that no
 * version (current or pinned) names: leftovers of a crash mid-flush. */
void fci_delete_obsolete_files(fc_store *s)
{
    fci_store_reclaim(s);
    if (!fci_vset_dir_synced(&s->w->vs))
        return;
    DIR *d = opendir(s->dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(e->d_name, &kind, &number) != 0)
            continue;
        if (file_needed(s, kind, number))
            continue;
        if (fci_file_is_table(kind))
            fci_tcache_evict(&s->tcache, number);
        if (snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}
