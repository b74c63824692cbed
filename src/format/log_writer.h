/*
 * log_writer.h - appends records in LevelDB's log format (see log_format.h)
 * to a file descriptor. Used by the WAL and the MANIFEST.
 *
 * The writer writes each logical record with one pwritev (headers from the
 * stack, payload from the caller's bytes, no copy) at its own file offset, so it can continue an existing log at any offset (the block
 * position is offset % 32768) and does not care where the fd's position is.
 * After a failed write the writer refuses further appends: what is on disk
 * past the last good offset is unknown, and the caller must start a new log.
 */
#ifndef FC_FORMAT_LOG_WRITER_H
#define FC_FORMAT_LOG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "format/log_format.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

typedef struct fci_log_writer {
    int fd;
    int owns_fd;        /* close fd in fci_log_writer_close */
    int failed;         /* a write failed: no more appends */
    uint64_t offset;    /* file offset where the next record starts */
    uint64_t prealloc;  /* zero-filled bytes kept written past offset; 0: none */
    uint64_t zero_end;  /* the file holds written bytes (records or zeros) up to here;
                           never below offset */
    int synced;         /* fci_log_writer_sync was called (not by prealloc) */
    char name[256];     /* for messages: the file's path, or "log" */
} fci_log_writer;

/* Starts a writer on an fd the caller owns, continuing at file offset
 * `offset` (the file's current size for an existing log, 0 for a new one). */
void fci_log_writer_init(fci_log_writer *w, int fd, uint64_t offset);

/* Opens path (O_WRONLY|O_CREAT|O_CLOEXEC, mode 0644) and writes from its
 * current end, or from 0 after truncating when `truncate` is set. The
 * writer owns the fd. 0, FC_EIO (or another errno-derived code). */
int fci_log_writer_open(fci_log_writer *w, int dirfd, const char *path, int truncate,
                        unsigned mode,
                        fci_err *err);

/*
 * Preallocation by writing zeros (not fallocate, whose unwritten extents
 * cost a metadata change on first write): writes zeros up to `first` bytes
 * past the next record now (synced when sync is set), then keeps at least
 * `ahead` bytes of zeros past every record, writing more (rounded to whole
 * blocks) before a record would reach past them. fdatasync over blocks
 * already written commits no metadata (no size or extent change), so a
 * synced write costs one data flush, not a journal commit. Readers take
 * the zeros as the end of the log. 0 or an errno-derived code (the writer
 * is then failed).
 */
int fci_log_writer_prealloc(fci_log_writer *w, uint64_t first, uint64_t ahead, int sync,
                            fci_err *err);

/* Cuts the zeros off the end of the file (ftruncate to the records' end),
 * for a log that gets no more records. Does not sync. */
int fci_log_writer_trim(fci_log_writer *w, fci_err *err);

/* Appends one logical record (any size, including 0 bytes). */
int fci_log_writer_add(fci_log_writer *w, fci_slice record, fci_err *err);

/* fdatasync: the records added so far survive a crash once this returns 0. */
int fci_log_writer_sync(fci_log_writer *w, fci_err *err);

/* File offset just past the last record written (the log's logical size). */
static inline uint64_t fci_log_writer_offset(const fci_log_writer *w)
{
    return w->offset;
}

/* Where a record of n bytes starting at file offset off ends, block
 * padding and headers included. */
uint64_t fci_log_record_end(uint64_t off, size_t n);

/* Closes the fd if the writer owns it. Safe to call twice. Does not sync. */
int fci_log_writer_close(fci_log_writer *w, fci_err *err);

/*
 * The encoder under the writer, for code (and tests) that build a log in
 * memory: appends `record`'s physical records to out as if out's end were at
 * file offset *offset, and advances *offset. 0 or FC_ENOMEM.
 */
int fci_log_encode(fci_buf *out, uint64_t *offset, fci_slice record);

#endif
