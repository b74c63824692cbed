/*
 * version_edit.h - LevelDB's VersionEdit: one MANIFEST record, the change
 * from one version of the table set to the next (or, first in a MANIFEST,
 * a full snapshot).
 *
 * Encoding: a sequence of (varint32 tag, fields):
 *   1 comparator name (length-prefixed)   2 log number (varint64)
 *   3 next file number (varint64)         4 last sequence (varint64)
 *   5 compact pointer: varint32 level, length-prefixed internal key
 *   6 deleted file: varint32 level, varint64 number
 *   7 new file: varint32 level, varint64 number, varint64 size,
 *     length-prefixed smallest and largest internal keys
 *   9 previous log number (varint64)
 * Tag 8 (a long-removed large-value reference) and any other tag are
 * unknown: LevelDB refuses them, so do we, and we never write one.
 */
#ifndef FC_FORMAT_VERSION_EDIT_H
#define FC_FORMAT_VERSION_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

#define FCI_NUM_LEVELS 7

/* The largest number a MANIFEST may give a file (log, next file, table).
 * LevelDB never checks; a number near 2^64 would wrap the writer's counter
 * and reuse the numbers of live files. 2^62 is beyond any real store (a
 * new file every microsecond for 146,000 years) and far from the wrap. */
#define FCI_FILE_NUMBER_MAX (UINT64_C(1) << 62)
/* The largest table size: an off_t must hold it. */
#define FCI_FILE_SIZE_MAX ((uint64_t)INT64_MAX)

enum {
    FCI_EDIT_COMPARATOR = 1,
    FCI_EDIT_LOG_NUMBER = 2,
    FCI_EDIT_NEXT_FILE_NUMBER = 3,
    FCI_EDIT_LAST_SEQUENCE = 4,
    FCI_EDIT_COMPACT_POINTER = 5,
    FCI_EDIT_DELETED_FILE = 6,
    FCI_EDIT_NEW_FILE = 7,
    FCI_EDIT_PREV_LOG_NUMBER = 9
};

typedef struct fci_edit_pointer {
    int level;
    fci_buf key;          /* internal key */
} fci_edit_pointer;

typedef struct fci_edit_deleted {
    int level;
    uint64_t number;
} fci_edit_deleted;

typedef struct fci_edit_file {
    int level;
    uint64_t number;
    uint64_t file_size;
    fci_buf smallest;     /* internal keys */
    fci_buf largest;
} fci_edit_file;

/* A plain struct: read the fields directly; use the functions to add
 * entries so the arrays grow and the keys are copied. */
typedef struct fci_version_edit {
    int has_comparator;
    fci_buf comparator;
    int has_log_number;
    uint64_t log_number;
    int has_prev_log_number;
    uint64_t prev_log_number;
    int has_next_file_number;
    uint64_t next_file_number;
    int has_last_sequence;
    uint64_t last_sequence;

    fci_edit_pointer *compact_pointers;
    size_t n_compact_pointers, cap_compact_pointers;
    fci_edit_deleted *deleted;
    size_t n_deleted, cap_deleted;
    fci_edit_file *new_files;
    size_t n_new_files, cap_new_files;
} fci_version_edit;

void fci_edit_init(fci_version_edit *e);
void fci_edit_free(fci_version_edit *e);

int fci_edit_set_comparator(fci_version_edit *e, fci_slice name);
void fci_edit_set_log_number(fci_version_edit *e, uint64_t n);
void fci_edit_set_prev_log_number(fci_version_edit *e, uint64_t n);
void fci_edit_set_next_file_number(fci_version_edit *e, uint64_t n);
void fci_edit_set_last_sequence(fci_version_edit *e, uint64_t seq);

/* 0, FC_ENOMEM, or FC_EINVAL for a level outside [0, FCI_NUM_LEVELS). */
int fci_edit_add_compact_pointer(fci_version_edit *e, int level, fci_slice ikey);
int fci_edit_delete_file(fci_version_edit *e, int level, uint64_t number);
int fci_edit_add_file(fci_version_edit *e, int level, uint64_t number, uint64_t file_size,
                      fci_slice smallest, fci_slice largest);

/*
 * Appends the encoding to out, fields in LevelDB's order: comparator, log
 * number, prev log number, next file number, last sequence, compact
 * pointers, deleted files (sorted by level then number, duplicates once, as
 * LevelDB's set does), new files. 0 or FC_ENOMEM.
 */
int fci_edit_encode(const fci_version_edit *e, fci_buf *out);

/*
 * Replaces *e with the edit encoded in src. FC_ECORRUPT naming the field
 * and its offset for an unknown tag, a level >= 7, an internal key that
 * does not parse, or anything running past the end; and naming the field,
 * its value and the allowed range for a file number above
 * FCI_FILE_NUMBER_MAX, a last sequence above FCI_MAX_SEQUENCE or a file
 * size above FCI_FILE_SIZE_MAX. e is cleared then.
 */
int fci_edit_decode(fci_version_edit *e, fci_slice src, fci_err *err);

#endif
