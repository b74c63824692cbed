/*
 * version.h - which tables make up the store at one moment, by level, and
 * LevelDB's rules for choosing what to compact next.
 *
 * A version is immutable once built; the writer derives the next one from
 * the current one plus a VersionEdit (files added and deleted). Readers in
 * other processes never see these heap structures: the writer publishes a
 * flat copy into the arena (see vrec.h).
 */
#ifndef FC_DB_VERSION_H
#define FC_DB_VERSION_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/slice.h"

#define FCI_NUM_LEVELS 7
#define FCI_L0_COMPACTION_TRIGGER 4   /* L0 files that make a compaction due */
#define FCI_L0_SLOWDOWN_TRIGGER 8     /* writes slow down past this many */
#define FCI_L0_STOP_TRIGGER 12        /* writes wait past this many */

/* One table. Shared by every version that contains it (reference counted). */
typedef struct fci_file_meta {
    int refs;
    uint64_t number;
    uint64_t size;
    fci_buf smallest;   /* internal keys */
    fci_buf largest;
    /* bg/evict.c (the writer, under its mutex): the table's forkcache.ttl
     * figure, read once; 0 = never expires or no such block */
    uint64_t max_expiry;
    int expiry_known;
} fci_file_meta;

typedef struct fci_version {
    int refs;
    fci_file_meta **files[FCI_NUM_LEVELS];
    size_t nfiles[FCI_NUM_LEVELS];
    /* Filled by version.c's version_finish: the level most in need of compaction
     * and its score (>= 1 means due). */
    double compaction_score;
    int compaction_level;
} fci_version;

/* A table added by an edit (keys are copied). */
int fci_file_meta_new(uint64_t number, uint64_t size, fci_slice smallest, fci_slice largest,
                      fci_file_meta **out);
void fci_file_meta_unref(fci_file_meta *f);

fci_version *fci_version_new(void);
void fci_version_unref(fci_version *v);

/* What changes between two versions. */
typedef struct fci_version_delta {
    struct { int level; uint64_t number; } *deleted;
    size_t ndeleted;
    struct { int level; fci_file_meta *file; } *added;
    size_t nadded;
} fci_version_delta;

/* Builds base + delta into a new version (refs = 1). Fails with
 * FC_ECORRUPT (detail in err) when a level above 0 would overlap, a deleted
 * file is not in base, or a level is out of range. */
struct fci_err;
int fci_version_apply(const fci_version *base, const fci_version_delta *delta,
                      fci_version **out, struct fci_err *err);

/* Scores a version built by hand (vbuild.c) as fci_version_apply does:
 * compaction_level and compaction_score. */
void fci_version_finish(fci_version *v);

/* Target total bytes for a level >= 1: 10 MiB at L1, x10 per level. */
double fci_level_max_bytes(int level);
uint64_t fci_level_bytes(const fci_version *v, int level);

/* Files of `level` whose user-key range overlaps [begin, end] (NULL slice
 * data = unbounded). For level 0 the range grows to cover every overlapping
 * file, as LevelDB does, so a compaction never leaves a newer entry behind.
 * The caller frees *out with free(); entries are borrowed. */
int fci_version_overlaps(const fci_version *v, int level, const fci_slice *begin,
                         const fci_slice *end, fci_file_meta ***out, size_t *n);

/* Whether any level beyond `level` has a file that may hold user_key: a
 * tombstone at the last such level can be dropped. */
int fci_version_key_beyond(const fci_version *v, int level, fci_slice user_key);

/* LevelDB's limits, in multiples of max_file_size: an output table at
 * level + 1 ends before it overlaps more than this much of level + 2 ... */
#define FCI_GRANDPARENT_OVERLAP_FILES 10
/* ... and level-L inputs are added to a compaction only while it stays
 * under this much (inputs at L + 1 plus the grown inputs at L). */
#define FCI_EXPANDED_COMPACTION_FILES 25

/* A compaction: inputs[0] from level, inputs[1] from level + 1, and the
 * files of level + 2 its key range overlaps (its grandparents). */
typedef struct fci_compaction {
    int level;
    fci_file_meta **inputs[2];
    size_t ninputs[2];
    fci_file_meta **grandparents;   /* sorted by key, borrowed from version */
    size_t ngrandparents;
    uint64_t max_grandparent_overlap; /* bytes; FCI_GRANDPARENT_OVERLAP_FILES x max_file_size */
    fci_version *version;   /* referenced while the compaction runs */
} fci_compaction;

/* Picks the next compaction, or sets *out to NULL when none is due.
 * compact_pointer[level] is the largest key compacted last time at that
 * level (empty = start); inputs rotate through the key space from there.
 * max_file_size sets the grandparent and expansion limits. */
int fci_compaction_pick(fci_version *v, fci_buf compact_pointer[FCI_NUM_LEVELS],
                        uint64_t max_file_size, fci_compaction **out);
/* A manual compaction of every file of `level` overlapping [begin, end]. */
int fci_compaction_range(fci_version *v, int level, const fci_slice *begin, const fci_slice *end,
                         uint64_t max_file_size, fci_compaction **out);
/* True when the one input file can move down a level without rewriting:
 * nothing overlaps it at level + 1 and it overlaps at most
 * max_grandparent_overlap bytes of level + 2. */
int fci_compaction_is_move(const fci_compaction *c);
void fci_compaction_free(fci_compaction *c);

#endif
