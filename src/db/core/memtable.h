/*
 * memtable.h - the write buffer, a skiplist of LevelDB memtable entries in
 * shared memory: varint32 internal-key length, internal key, varint32 value
 * length, value. Only the writer adds; any process reads, zero-copy.
 */
#ifndef FC_DB_MEMTABLE_H
#define FC_DB_MEMTABLE_H

#include <stdint.h>

#include "db/core/skiplist.h"
#include "util/slice.h"

/* fci_memtable_get's answer when the newest visible entry is a deletion. */
#define FCI_MEMTABLE_DELETED 1

typedef struct fci_memtable {
    fci_skiplist list;
} fci_memtable;

/* Writer: builds an empty memtable in the region; its root offset is
 * fci_memtable_root(). 0 or FC_ENOMEM. */
int fci_memtable_create(fci_memtable *mt, char *base, size_t size, fci_skiplist_alloc alloc,
                        void *alloc_ctx);
/* Any process: attaches to the memtable whose root is at `root`. */
int fci_memtable_attach(fci_memtable *mt, char *base, size_t size, uint64_t root);

static inline uint64_t fci_memtable_root(const fci_memtable *mt)
{
    return mt->list.root;
}

/* Writer: adds (key, seq, type) -> value. 0, FC_ENOMEM, FC_ETOOBIG. */
/* The most arena bytes one entry's node can take (the tallest node). */
uint64_t fci_memtable_node_bound(size_t klen, size_t vlen);

int fci_memtable_add(fci_memtable *mt, uint64_t seq, int type, fci_slice key, fci_slice value);

/* Newest entry for key with sequence <= snapshot: 0 with *value pointing
 * into the shared region, FCI_MEMTABLE_DELETED, FC_ENOTFOUND, or
 * FC_ECORRUPT when that entry does not decode. */
int fci_memtable_get(const fci_memtable *mt, fci_slice key, uint64_t snapshot, fci_slice *value);
/* The same with a lookup key already built (fci_lookup_key), so a get that
 * looks in several places encodes it once; *seq (if not NULL) gets a found
 * value's sequence. */
int fci_memtable_get_ikey(const fci_memtable *mt, fci_slice ikey, fci_slice *value,
                          uint64_t *seq);

/* Bytes the memtable's nodes take: the writer's flush trigger. */
static inline uint64_t fci_memtable_bytes(const fci_memtable *mt)
{
    return fci_skiplist_bytes(&mt->list);
}

/* Decodes a node's entry into internal key and value; 0 or FC_ECORRUPT. */
int fci_memtable_entry(const fci_memtable *mt, uint64_t node, fci_slice *ikey, fci_slice *value);

/* Positions for iteration (node offsets, 0 = end), by internal key. */
uint64_t fci_memtable_seek(const fci_memtable *mt, fci_slice ikey);
uint64_t fci_memtable_seek_before(const fci_memtable *mt, fci_slice ikey);

#endif
