/*
 * readonly.c - opening a store (or any LevelDB directory) without writing.
 *
 * FC_READONLY takes no LOCK and creates, writes, renames or deletes nothing
 * in the directory: the MANIFEST is replayed in memory, the live WALs go
 * into a private memtable (never flushed), and both are published in a
 * private anonymous arena as one version record, exactly the shape readers
 * expect. After that the handle has no writer state at all (s->w stays
 * NULL), so writes, flushes and compactions refuse with FC_EREADONLY and
 * fc_close only unmaps. Children forked afterwards share the arena.
 *
 * It suits a store whose writer has closed (or a LevelDB database no one
 * has open): a writer still running may rewrite files under us.
 */
#include "config.h"

#include <dirent.h>
#include <stdlib.h>

#include "forkcache.h"
#include "db/store/framesize.h"
#include "db/store/memsize.h"
#include "util/memlimit.h"
#include "db/core/store.h"
#include "shm/bcache.h"
#include "db/core/vrec.h"
#include "format/filename.h"
#include "format/log_reader.h"
#include "format/write_batch.h"
#include "db/store/open.h"

typedef struct ro_state {
    fc_store *s;
    fci_vset vs;
    fci_memtable mem;
    fci_memchunks *chunks;
    uint64_t max_seq;
} ro_state;

/* A private arena: anonymous whatever arena_path says, so no file appears. */
static int open_private_arena(fc_store *s, fci_err *err)
{
    fci_arena_config cfg;
    fci_arena_config_init(&cfg);
    cfg.size = s->opts.arena_size;
    cfg.reader_slots = (uint32_t)s->opts.reader_slots;
    cfg.max_mappings = (uint32_t)s->opts.max_mappings;
    cfg.max_mapped_bytes = fci_mapped_cap_for(s->opts.max_mapped_bytes, fci_memory_limit());
    cfg.path = NULL;
    cfg.file_mode = s->opts.file_mode;
    cfg.store_dir = s->dir;
    int rc = fci_arena_create(&cfg, &s->arena, err);
    /* The shared block cache: a compressed LevelDB database is then
     * decompressed once for this process and every child it forks. */
    if (rc == 0)
        rc = fci_frame_bcache_create(s, err);
    return rc;
}

static int insert_one(void *arg, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    ro_state *r = arg;
    if (seq > r->max_seq)
        r->max_seq = seq;
    return fci_memtable_add(&r->mem, seq, type, key, value);
}

static int replay_wals(ro_state *r, fci_err *err)
{
    return fci_replay_wals(&r->vs, (r->s->opts.flags & FC_BEST_EFFORT) != 0, insert_one, NULL,
                           r, err);
}

/* One version record, written once: the recovered tables plus the private
 * memtable, then the last sequence, in the order readers rely on. */
static int publish(ro_state *r, fci_err *err)
{
    fc_store *s = r->s;
    size_t bytes = fci_vrec_size(r->vs.current);
    uint64_t off;
    int rc = fci_arena_alloc(s->arena, bytes, &off, err);
    if (rc != 0)
        return rc;
    void *dst = fci_arena_ptr(s->arena, off, bytes);
    fci_vrec_encode(r->vs.current, 1, fci_memtable_root(&r->mem), 0, r->vs.next_file, dst);
    fci_arena_publish(s->arena, off, 1);
    uint64_t last = r->vs.last_sequence > r->max_seq ? r->vs.last_sequence : r->max_seq;
    fci_arena_publish_last_seq(s->arena, last);
    return 0;
}

/* The memtable's chunks stay in the arena for the handle's life (they go
 * with it); only the bookkeeping on the heap is dropped. */
static void drop_chunk_list(fci_memchunks *mc)
{
    if (mc == NULL)
        return;
    free(mc->chunks);
    free(mc);
}

int fci_open_readonly(fc_store *s, fci_err *err)
{
    ro_state r = { .s = s };
    int rc = fci_vset_init(&r.vs, s->dirfd, s->dir, s->opts.file_mode);
    if (rc != 0) {
        fci_vset_free(&r.vs);
        return fci_err_set(err, rc, "out of memory");
    }
    if (!fci_vset_exists(s->dirfd, s->dir))
        rc = fci_err_set(err, FC_ENOTFOUND, "%s: no store (no CURRENT); FC_READONLY never creates one",
                         s->dir);
    if (rc == 0)
        rc = fci_vset_recover(&r.vs, (s->opts.flags & FC_BEST_EFFORT) != 0, err);
    if (rc == 0)
        rc = open_private_arena(s, err);
    if (rc == 0 && (rc = fci_memchunks_memtable(s, &r.mem, &r.chunks)) != 0)
        fci_err_set(err, rc, "arena: no room for a memtable");
    if (rc == 0) {
        r.max_seq = r.vs.last_sequence;
        rc = replay_wals(&r, err);
    }
    if (rc == 0)
        rc = publish(&r, err);
    drop_chunk_list(r.chunks);
    fci_vset_free(&r.vs);
    return rc;
}
