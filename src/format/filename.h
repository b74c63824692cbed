/*
 * filename.h - the names of a store's files, as LevelDB spells them, and
 * the CURRENT file that names the live MANIFEST.
 *
 *   CURRENT  LOCK  LOG  LOG.old  MANIFEST-NNNNNN  NNNNNN.log  NNNNNN.ldb
 *   NNNNNN.sst  NNNNNN.dbtmp
 *
 * Numbers are printed with at least six digits (%06llu) and parsed with
 * any number of digits, as LevelDB does.
 *
 * The functions on files take the store directory twice: dirfd, its
 * descriptor, which every call goes through, and dir, its name, which
 * only messages use (util/io.h). AT_FDCWD makes dir the one used.
 */
#ifndef FC_FORMAT_FILENAME_H
#define FC_FORMAT_FILENAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum fci_file_kind {
    FCI_FILE_CURRENT,
    FCI_FILE_LOCK,
    FCI_FILE_INFO_LOG,      /* LOG: the human-readable info log */
    FCI_FILE_OLD_INFO_LOG,  /* LOG.old */
    FCI_FILE_MANIFEST,      /* MANIFEST-NNNNNN */
    FCI_FILE_WAL,           /* NNNNNN.log */
    FCI_FILE_TABLE,         /* NNNNNN.ldb */
    FCI_FILE_TABLE_SST,     /* NNNNNN.sst: LevelDB's older table name */
    FCI_FILE_TEMP           /* NNNNNN.dbtmp */
} fci_file_kind;

/* Both spellings of a table file. */
static inline int fci_file_is_table(fci_file_kind kind)
{
    return kind == FCI_FILE_TABLE || kind == FCI_FILE_TABLE_SST;
}

/*
 * Writes "dir/name" (or just the name when dir is NULL) into dst, NUL
 * terminated. number is ignored for the kinds without one. Returns the
 * length, or FC_EINVAL when dst is too small or kind is unknown.
 */
int fci_filename(char *dst, size_t cap, const char *dir, fci_file_kind kind,
                 uint64_t number);

/*
 * Recognises a file name (no directory part). 0 with kind and number
 * (0 for kinds without one), or FC_EINVAL for anything that is not exactly
 * one of the names above: empty or non-digit numbers, numbers past
 * UINT64_MAX, extra characters.
 */
int fci_filename_parse(const char *name, fci_file_kind *kind, uint64_t *number);

/*
 * Points CURRENT at MANIFEST-<manifest_number> the crash-safe way: write
 * "MANIFEST-NNNNNN\n" to NNNNNN.dbtmp, fsync it, rename it over CURRENT,
 * fsync the directory. On failure the temp file is removed and CURRENT is
 * either the old one or the new one, never a mix. FCI_CURRENT_UNSYNCED
 * (with err set) when only the directory's fsync failed: CURRENT names the
 * new MANIFEST, but a crash may still bring the old one back, so the
 * caller must keep what the old one needs until fci_dir_sync succeeds.
 */
#define FCI_CURRENT_UNSYNCED 1
int fci_current_write(int dirfd, const char *dir, uint64_t manifest_number, unsigned mode,
                      fci_err *err);

/* Replaces dir/name (dirfd is dir's descriptor) with len bytes of text:
 * written to name.tmp, synced, renamed over, and the directory synced, so a
 * crash leaves the old file or the new one, never a torn one. For the
 * store's small files of its own (FORKCACHE, FORKCACHE-CLEARS), through the
 * OPTIONS fault sites. */
int fci_small_file_replace(int dirfd, const char *dir, const char *name, const char *text,
                           size_t len, unsigned mode, fci_err *err);

/* fsync of the directory itself, so renames and new names in it last: of
 * dirfd, or of dir opened for it when dirfd is AT_FDCWD. */
int fci_dir_sync(int dirfd, const char *dir, fci_err *err);

/* CURRENT holds one short name; anything longer is not ours. */
#define FCI_CURRENT_MAX 4096

/* What can be wrong with CURRENT's contents, one value per defect, so a
 * report can say which (fc_verify) and where. */
typedef enum fci_current_defect {
    FCI_CURRENT_OK,
    FCI_CURRENT_EMPTY,
    FCI_CURRENT_TOO_LONG,       /* more than FCI_CURRENT_MAX bytes */
    FCI_CURRENT_NO_NEWLINE,     /* truncated, most likely */
    FCI_CURRENT_MULTILINE,      /* bytes after the first newline */
    FCI_CURRENT_NOT_MANIFEST    /* the line is not a MANIFEST file name */
} fci_current_defect;

/* CURRENT as read and parsed. */
typedef struct fci_current {
    char raw[FCI_CURRENT_MAX + 2];  /* the bytes read, then a NUL */
    size_t len;                     /* bytes read, at most FCI_CURRENT_MAX + 1 */
    size_t line_len;                /* bytes before the first newline (or len) */
    fci_current_defect defect;
    uint64_t defect_offset;         /* where in the file the defect is */
    uint64_t number;                /* the MANIFEST's number, when OK */
} fci_current;

/*
 * Reads and parses CURRENT into *cur: 0 when the file could be read (then
 * cur->defect says whether it names a MANIFEST, whose name is cur->raw
 * with its newline replaced by a NUL), FC_ENOTFOUND when there is no
 * CURRENT, or another code on open or read errors; err names the file.
 */
int fci_current_load(int dirfd, const char *dir, fci_current *cur, fci_err *err);

/*
 * Reads CURRENT: 0 with the manifest's number (and its file name, as
 * written, into name when name is not NULL; namecap bytes), FC_ENOTFOUND
 * when there is no CURRENT, FC_ECORRUPT for any fci_current_defect,
 * FC_EIO on read errors.
 */
int fci_current_read(int dirfd, const char *dir, uint64_t *manifest_number, char *name,
                     size_t namecap, fci_err *err);

#endif
