/*
 * publish.c - publishing versions, giving back what old versions held, and
 * the writer's watch on the readers that pin them (publish.h).
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
#include "db/core/store.h"
#include "db/core/tfile.h"
#include "db/core/vrec.h"
#include "format/filename.h"
#include "util/clock.h"
#include "util/io.h"
#include "db/core/publish.h"

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
    fci_tcache_evict(&s->tcache, number);
    if (!fci_vset_dir_synced(&s->w->vs))
        return; /* a crash may revive a MANIFEST naming it: left for the sweep at open */
    fci_tfile_unlink(s->dirfd, s->dir, number);
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
    DIR *d = fci_io_opendir(s->dirfd, s->dir);
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
            fci_io_unlink(FCI_IO_SITE_UNLINK, s->dirfd, path);
    }
    closedir(d);
}

void fci_oldest_pin(const fci_arena *a, int *pid, uint64_t *version)
{
    *pid = 0;
    *version = 0;
    for (uint32_t i = 0; i < a->slot_count; i++) {
        const fci_reader_slot *sl = &a->slots[i];
        /* relaxed: a figure for people, nothing is freed on its strength */
        uint64_t pin = atomic_load_explicit(&sl->pinned_seq, memory_order_relaxed);
        uint64_t owner = atomic_load_explicit(&sl->owner, memory_order_relaxed);
        if (pin == 0 || pin == FCI_NO_PIN || FCI_OWNER_PID(owner) <= 0)
            continue;
        if (*version == 0 || pin < *version) {
            *version = pin;
            *pid = FCI_OWNER_PID(owner);
        }
    }
}

/* The writer's watch on the oldest pin, for max_snapshot_age_ms: when the
 * oldest pinned version changes the clock restarts; once the same one has
 * been seen for longer than the limit, its reader is named for fc_stats.
 * Called whenever a write takes new arena memory, which is when an old
 * snapshot starts to cost. The fields are the writer's alone; relaxed
 * stores, since they are figures. */
void fci_pin_watch(fc_store *s)
{
    fci_arena_header *h = s->arena->hdr;
    int pid;
    uint64_t version, t = fci_mono_ns();
    fci_oldest_pin(s->arena, &pid, &version);
    if (version != atomic_load_explicit(&h->pin_watch_seq, memory_order_relaxed)) {
        atomic_store_explicit(&h->pin_watch_seq, version, memory_order_relaxed);
        atomic_store_explicit(&h->pin_watch_since, t, memory_order_relaxed);
        atomic_store_explicit(&h->pin_stale_pid, 0, memory_order_relaxed);
        return;
    }
    uint64_t since = atomic_load_explicit(&h->pin_watch_since, memory_order_relaxed);
    uint64_t limit = (uint64_t)s->opts.max_snapshot_age_ms * 1000000u;
    int stale = version != 0 && limit != 0 && t - since > limit;
    atomic_store_explicit(&h->pin_stale_pid, stale ? (uint64_t)pid : 0, memory_order_relaxed);
}

/* The writer mirrors its counters into the arena header; relaxed stores,
 * since they are figures and nothing is inferred from them. */
void fci_store_count(fc_store *s)
{
    fci_arena_header *h = s->arena->hdr;
    fci_writer *w = s->w;
    atomic_store_explicit(&h->writer_flushes, w->flushes, memory_order_relaxed);
    atomic_store_explicit(&h->writer_compactions, w->compactions, memory_order_relaxed);
    atomic_store_explicit(&h->writer_bytes_compacted, w->bytes_compacted, memory_order_relaxed);
    atomic_store_explicit(&h->writer_stalls, w->stall_count << 8 | (uint64_t)w->stall,
                          memory_order_relaxed);
}
