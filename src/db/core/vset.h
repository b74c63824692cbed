/*
 * vset.h - the writer's record of the store's state: the current version,
 * the file and sequence counters, and the MANIFEST that makes them durable.
 *
 * Every change of the level structure goes through fci_vset_log_and_apply:
 * the edit is appended to the MANIFEST and synced before the new version is
 * installed, so a crash leaves either the old state or the new one.
 */
#ifndef FC_DB_VSET_H
#define FC_DB_VSET_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "db/core/version.h"
#include "format/dbformat.h"
#include "format/log_writer.h"
#include "format/version_edit.h"
#include "util/buf.h"
#include "util/error.h"

typedef struct fci_vset {
    int dirfd;                 /* the store directory's descriptor (not owned) */
    char dir[PATH_MAX];        /* its name, for messages */
    unsigned file_mode;
    uint64_t next_file;        /* next number to hand out */
    uint64_t manifest_number;  /* the MANIFEST being written (or to write) */
    uint64_t log_number;       /* WALs numbered below this are obsolete */
    uint64_t prev_log_number;  /* LevelDB compatibility: always 0 when we write */
    uint64_t last_sequence;
    fci_buf compact_pointer[FCI_NUM_LEVELS];
    fci_version *current;
    fci_log_writer manifest;
    int manifest_open;
    /* CURRENT was replaced but the directory's fsync failed: until it
     * succeeds, a crash may revive the previous MANIFEST, so no file it
     * names may be deleted (see fci_vset_dir_synced). */
    int dir_unsynced;
    /* When mu is set (the writer's mutex, held by every caller of
     * log_and_apply), the MANIFEST append and its fdatasync run with mu
     * released, so writers do not wait for the disk; busy and idle keep
     * those appends one at a time and in order. */
    pthread_mutex_t *mu;
    pthread_cond_t idle;
    int busy;
    /* When set, asked before every edit is written: a nonzero answer
     * (with err set) refuses the edit. The writer checks here that it
     * still holds LOCK (core/writerid.c). */
    int (*guard)(void *arg, fci_err *err);
    void *guard_arg;
} fci_vset;

/* An empty set for the directory of dirfd, named dir (AT_FDCWD: dir is
 * used); nothing is read or written yet. */
int fci_vset_init(fci_vset *vs, int dirfd, const char *dir, unsigned file_mode);
void fci_vset_free(fci_vset *vs);

/* Whether the directory holds a store (a CURRENT file). */
int fci_vset_exists(int dirfd, const char *dir);

/* A brand-new store: MANIFEST-000001 with a snapshot edit and CURRENT. */
int fci_vset_create(fci_vset *vs, fci_err *err);

/* Reads CURRENT and replays the MANIFEST. With best_effort, damaged
 * MANIFEST records are reported through err and skipped. A fresh MANIFEST
 * number is reserved; the next log_and_apply writes it (with a snapshot). */
int fci_vset_recover(fci_vset *vs, int best_effort, fci_err *err);

/* Fills the edit's counters, appends it to the MANIFEST (starting a new
 * one with a snapshot when none is open), syncs, and installs the result
 * as the current version. On failure the current version is unchanged.
 * With vs->mu set, the caller holds it; it is released during the I/O
 * (the version current on entry stays current until the edit installs). */
int fci_vset_log_and_apply(fci_vset *vs, fci_version_edit *edit, fci_err *err);

/* 1 when the directory is known durable, retrying an owed fsync first;
 * 0 while it is not (then nothing may be deleted from the store). */
int fci_vset_dir_synced(fci_vset *vs);

/*
 * Where the writer's counters stop, below the largest numbers a MANIFEST
 * may carry (FCI_FILE_NUMBER_MAX, and FCI_MAX_SEQUENCE, which LevelDB
 * also uses as the sequence of seek keys, so no entry may hold it). The
 * writer hands out no file number at or past FCI_NEXT_FILE_LIMIT and no
 * sequence past FCI_LAST_SEQUENCE_LIMIT (FC_ELIMIT, cleanly), and open
 * and verify refuse a MANIFEST past either: so whatever the writer wrote
 * opens again, and nothing can make a counter wrap. No real store comes
 * near: 2^62 files, or 2^56 writes, is centuries at any rate.
 */
#define FCI_NUMBER_HEADROOM (UINT64_C(1) << 32)
#define FCI_NEXT_FILE_LIMIT (FCI_FILE_NUMBER_MAX - FCI_NUMBER_HEADROOM)
#define FCI_LAST_SEQUENCE_LIMIT (FCI_MAX_SEQUENCE - FCI_NUMBER_HEADROOM)

/* The counters a MANIFEST's replay ends with. */
typedef struct fci_vset_numbers {
    uint64_t manifest;         /* the MANIFEST's own number (CURRENT's) */
    uint64_t next_file, log, prev_log, last_sequence;
} fci_vset_numbers;

/*
 * The range checks the counters of a replayed MANIFEST must pass: next
 * file within FCI_NEXT_FILE_LIMIT, last sequence within
 * FCI_LAST_SEQUENCE_LIMIT, the MANIFEST's and logs' numbers below the next
 * file number, and (when v is not NULL) every table's too. FC_ECORRUPT
 * naming path (unless NULL), the field, its value and the allowed range; else 0.
 */
int fci_vset_check_numbers(const char *path, const fci_vset_numbers *n, const fci_version *v,
                           fci_err *err);

/* 0 once the numbers are spent (FCI_NEXT_FILE_LIMIT reached): the caller
 * refuses to create the file (FC_ELIMIT) instead of reusing a number. */
static inline uint64_t fci_vset_new_file_number(fci_vset *vs)
{
    if (vs->next_file >= FCI_NEXT_FILE_LIMIT)
        return 0;
    return vs->next_file++;
}

/* Makes sure counters never hand out a number already on disk. */
static inline void fci_vset_mark_used(fci_vset *vs, uint64_t number)
{
    if (vs->next_file <= number)
        vs->next_file = number + 1;
}

/* Converts an edit's file changes into a delta against versions. The
 * delta's added files carry one reference each; free with
 * fci_vset_delta_free. */
int fci_vset_delta_from_edit(const fci_version_edit *edit, fci_version_delta *delta);
void fci_vset_delta_free(fci_version_delta *delta);

#endif
