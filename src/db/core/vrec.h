/*
 * vrec.h - a version as readers in every process see it: one flat,
 * immutable record in shared memory, written by the writer before it is
 * published and never changed after.
 *
 * Layout (all offsets relative to the record's start, little-endian host
 * integers since the arena never leaves the machine):
 *   fci_vrec header
 *   fci_vrec_file files[total]   level 0 first (newest first), then 1..6
 *                                (sorted by smallest key)
 *   key bytes                    smallest and largest internal keys
 *
 * A reader trusts nothing in it: every count and offset is checked against
 * the record's length, and the record's length against the region.
 */
#ifndef FC_DB_VREC_H
#define FC_DB_VREC_H

#include <stddef.h>
#include <stdint.h>

#include "db/core/version.h"
#include "util/slice.h"

#define FCI_VREC_MAGIC UINT64_C(0x6663767265633031) /* "fcvrec01" */

typedef struct fci_vrec {
    uint64_t magic;
    uint64_t vseq;             /* version number: 1, 2, 3 ... per publish */
    uint64_t length;           /* bytes of the whole record */
    uint64_t mem_root;         /* active memtable's root offset (0 = none) */
    uint64_t imm_root;         /* immutable memtable being flushed (0 = none) */
    /* the writer's next file number at publication: fc_txn_begin's table
     * sweep keeps cached tables numbered at or above it (a newer version's) */
    uint64_t next_file;
    uint32_t nfiles[FCI_NUM_LEVELS];
    uint32_t reserved;
} fci_vrec;

typedef struct fci_vrec_file {
    uint64_t number;
    uint64_t size;
    uint32_t smallest_off, smallest_len;   /* internal keys, record-relative */
    uint32_t largest_off, largest_len;
} fci_vrec_file;

_Static_assert(sizeof(fci_vrec) == 80, "vrec header layout");
_Static_assert(offsetof(fci_vrec, nfiles) == 48, "vrec header layout");
_Static_assert(sizeof(fci_vrec_file) == 32, "vrec file layout");

/* Bytes a record for v needs. */
size_t fci_vrec_size(const fci_version *v);

/* Writes v's record into dst (fci_vrec_size(v) bytes). */
void fci_vrec_encode(const fci_version *v, uint64_t vseq, uint64_t mem_root, uint64_t imm_root,
                     uint64_t next_file, void *dst);

/* A validated view of a record mapped in this process. */
typedef struct fci_vrec_view {
    const fci_vrec *rec;
    const fci_vrec_file *level[FCI_NUM_LEVELS];
    uint32_t nfiles[FCI_NUM_LEVELS];
} fci_vrec_view;

/* Checks the record at base+off (region of `size` bytes) and fills *view.
 * 0 or FC_ECORRUPT. */
int fci_vrec_open(const char *base, size_t size, uint64_t off, fci_vrec_view *view);

/* A file's keys (checked by fci_vrec_open). */
fci_slice fci_vrec_smallest(const fci_vrec_view *view, const fci_vrec_file *f);
fci_slice fci_vrec_largest(const fci_vrec_view *view, const fci_vrec_file *f);

/* For levels >= 1: the one file whose range may hold user_key, or NULL. */
const fci_vrec_file *fci_vrec_find(const fci_vrec_view *view, int level, fci_slice user_key);

#endif
