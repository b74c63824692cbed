/*
 * skiplist.h - a skiplist that lives in shared memory and is addressed by
 * offsets, so one writer process inserts while readers in any process walk
 * it without locks.
 *
 * The discipline is LevelDB's: nodes are never removed or changed once
 * linked; a node is fully written before the release store that links it,
 * and readers follow links with acquire loads. Offsets replace pointers
 * because every process maps the region at its own address.
 *
 * Every offset a reader follows is bounds-checked against the region, so a
 * damaged region yields "end of list", never a wild read.
 */
#ifndef FC_DB_SKIPLIST_H
#define FC_DB_SKIPLIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util/slice.h"

#define FCI_SKIPLIST_MAX_HEIGHT 12

/* The list's root, placed in the shared region by its creator. */
typedef struct fci_skiplist_root {
    _Atomic uint64_t height;   /* levels in use; relaxed is enough, see .c */
    _Atomic uint64_t count;    /* entries linked, for stats */
    _Atomic uint64_t bytes;    /* node bytes allocated, for the flush trigger */
    uint64_t head;             /* offset of the head node (height max) */
} fci_skiplist_root;

_Static_assert(sizeof(fci_skiplist_root) == 32, "skiplist root layout");
_Static_assert(offsetof(fci_skiplist_root, head) == 24, "skiplist root layout");

/* A node: height, entry length, `height` links, then the entry bytes. */
typedef struct fci_skiplist_node {
    uint32_t height;
    uint32_t entry_len;
    _Atomic uint64_t next[];   /* offsets; 0 = end of level */
} fci_skiplist_node;

_Static_assert(sizeof(fci_skiplist_node) == 8, "skiplist node header layout");

/* Orders two entries; entries are opaque bytes to the list. */
typedef int (*fci_skiplist_cmp)(fci_slice a, fci_slice b);

/* Hands out `n` bytes of the region, 8-byte aligned; 0 means out of memory.
 * Only the writer calls it. */
typedef uint64_t (*fci_skiplist_alloc)(void *ctx, size_t n);

/* A process's handle on a list: where the region is mapped here. */
typedef struct fci_skiplist {
    char *base;                /* region base in this process */
    size_t size;               /* region size: bound for every offset */
    uint64_t root;             /* offset of the fci_skiplist_root */
    fci_skiplist_cmp cmp;
    /* writer only */
    fci_skiplist_alloc alloc;
    void *alloc_ctx;
    uint64_t rng;
    /* writer only: the splice after the node this handle linked last, so
     * an entry that goes right after it (a sequential load) is linked
     * without a search. Valid while the list's count is still last_count. */
    uint64_t last;             /* 0 = no splice */
    uint64_t last_count;
    uint64_t splice[FCI_SKIPLIST_MAX_HEIGHT];
} fci_skiplist;

/* Writer: allocates a root and a head node and initialises them. The root's
 * offset is in list->root on success; 0 or FC_ENOMEM. */
int fci_skiplist_create(fci_skiplist *list, char *base, size_t size, fci_skiplist_cmp cmp,
                        fci_skiplist_alloc alloc, void *alloc_ctx);

/* Any process: attaches to an existing list at root offset. 0 or FC_ECORRUPT. */
int fci_skiplist_attach(fci_skiplist *list, char *base, size_t size, uint64_t root,
                        fci_skiplist_cmp cmp);

/* Writer: copies entry into a new node and links it. Entries must be unique
 * under cmp (internal keys are). 0, FC_ENOMEM, or FC_EEXIST for a duplicate. */
int fci_skiplist_insert(fci_skiplist *list, fci_slice entry);

/* The two halves of an insert, so a caller can encode its entry straight
 * into the node: allocate (*entry is where the len bytes go), then link.
 * Writer only. Linking an entry just above the one this handle linked last
 * costs one or two comparisons instead of a search. */
int fci_skiplist_alloc_node(fci_skiplist *list, size_t len, uint64_t *node, char **entry);
int fci_skiplist_link(fci_skiplist *list, uint64_t node);

/* Readers: positions are node offsets (0 = not valid). */
uint64_t fci_skiplist_first(const fci_skiplist *list);
uint64_t fci_skiplist_last(const fci_skiplist *list);
uint64_t fci_skiplist_next(const fci_skiplist *list, uint64_t node);
/* First node whose entry is >= target (0 if none). */
uint64_t fci_skiplist_seek(const fci_skiplist *list, fci_slice target);
/* Last node whose entry is < target (0 if none). */
uint64_t fci_skiplist_seek_before(const fci_skiplist *list, fci_slice target);
/* The entry of a node returned by the functions above. */
fci_slice fci_skiplist_entry(const fci_skiplist *list, uint64_t node);

uint64_t fci_skiplist_count(const fci_skiplist *list);
uint64_t fci_skiplist_bytes(const fci_skiplist *list);

#endif
