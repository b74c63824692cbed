/*
 * wal.c - the writer's write-ahead log: a fresh WAL for each memtable, and
 * preallocation so that synced writes commit no file-size metadata.
 */
#include "config.h"

#include <limits.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/writerid.h"
#include "db/write/write.h"
#include "format/filename.h"

/* Zeros kept written past the WAL's last record once it outgrows its
 * first fill (see fci_log_writer_prealloc), at most. */
#define FCI_WAL_ZERO_AHEAD_MAX ((uint64_t)1 << 20)
#define FCI_WAL_FIRST_FILL_MAX ((uint64_t)4 << 20)

/* A WAL holds about one memtable's worth of records: zero that much (up
 * to 4 MiB) when it is created. */
static uint64_t wal_first_fill(const fc_store *s)
{
    uint64_t n = s->opts.write_buffer_size;
    return n < FCI_WAL_FIRST_FILL_MAX ? n : FCI_WAL_FIRST_FILL_MAX;
}

/* Past the first fill, 1 MiB ahead, or less for a small memtable (whose
 * WAL would otherwise be mostly zeros). */
static uint64_t wal_zero_ahead(const fc_store *s)
{
    uint64_t n = wal_first_fill(s);
    return n < FCI_WAL_ZERO_AHEAD_MAX ? n : FCI_WAL_ZERO_AHEAD_MAX;
}

/* A WAL is preallocated, its first fill synced, when synced writes are
 * expected (FC_SYNC, or the last WAL had one): then the synced writes'
 * fdatasyncs find their blocks written and commit no metadata. A store
 * that does not sync gains nothing from the zeros and appends as before;
 * its first synced write preallocates the live WAL then
 * (fci_wal_for_sync), so an open never pays for zeros that may
 * never be used (a command-line put opens and closes a store). */
static int wal_expects_sync(const fc_store *s)
{
    const fci_writer *w = s->w;
    return (s->opts.flags & FC_SYNC) || (w->wal_number != 0 && w->wal.synced);
}

/* Zeros the first fill of wal (synced) and keeps zeros ahead from then on.
 * The directory is synced too: a WAL created since the last directory sync
 * (every WAL after the one an open makes) has a name that a power loss may
 * drop, taking the synced writes in it along, whatever its fdatasyncs did. */
static int wal_prealloc(const fc_store *s, fci_log_writer *wal, fci_err *err)
{
    int rc = fci_log_writer_prealloc(wal, wal_first_fill(s), wal_zero_ahead(s), 1, err);
    return rc != 0 ? rc : fci_dir_sync(s->dirfd, s->dir, err);
}

/* mu held. Before a synced write: preallocates the live WAL if it is not
 * yet (its first fill is synced now, so the writes after it are cheap). */
int fci_wal_for_sync(fc_store *s, fci_err *err)
{
    return s->w->wal.prealloc != 0 ? 0 : wal_prealloc(s, &s->w->wal, err);
}

/* Opens a fresh WAL under a new number; the old one (if any) stays until a
 * flush makes it obsolete. */
int fci_wal_new(fc_store *s, fci_err *err)
{
    fci_writer *w = s->w;
    char path[PATH_MAX];
    /* a new file number is handed out: only while LOCK is still ours */
    int rc = w->vs.guard ? fci_writer_lock_check(s, err) : 0;
    if (rc != 0)
        return rc;
    uint64_t number = fci_vset_new_file_number(&w->vs);
    if (number == 0)
        return fci_err_set(err, FC_ELIMIT, "%s: no file number left for a new WAL", s->dir);
    fci_filename(path, sizeof path, s->dir, FCI_FILE_WAL, number);
    fci_log_writer fresh;
    rc = fci_log_writer_open(&fresh, s->dirfd, path, 1, s->opts.file_mode, err);
    if (rc != 0)
        return rc;
    if (wal_expects_sync(s))
        rc = wal_prealloc(s, &fresh, err);
    if (rc != 0) {
        fci_log_writer_close(&fresh, NULL);
        return rc;
    }
    if (w->wal_number != 0)
        fci_log_writer_close(&w->wal, NULL);
    w->wal = fresh;
    w->wal_number = number;
    return 0;
}
