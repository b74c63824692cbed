/*
 * log_reader.h - reads records back from LevelDB's log format (see
 * log_format.h), from a memory region (an mmap, a test buffer) or from a
 * file descriptor read 32 KiB block at a time with pread, so a log of any
 * size is read with bounded memory (one block plus the record being
 * reassembled).
 *
 * What goes wrong is sorted into two kinds:
 *  - a torn tail: the end of the file holds the start of a record a crash
 *    cut short (a partial header, a fragment running past end of file, a
 *    fragmented record without its LAST part, or, in a file that ends in
 *    zeros, damage followed by nothing but zeros). That is how a log looks
 *    after a crash; it is dropped quietly: read returns 0 (end) and sets
 *    torn_tail/tail_offset/tail_bytes.
 *  - zeros from a record boundary to the end of the file are not a tail but
 *    the end of the log (a preallocated WAL's zero fill): read returns 0,
 *    torn_tail is 0 and end_offset is where the zeros start.
 *  - corruption: damage followed by more log (checksum mismatch, length past
 *    the end of a block, unknown record type, a fragment without its start,
 *    a record without its end, a zero-filled hole). Read returns
 *    FC_ECORRUPT naming the file, the offset and the number of bytes
 *    dropped. The reader has already skipped the damage, so calling read
 *    again continues after it. With FCI_LOG_BEST_EFFORT the reader does that
 *    itself: damage is only reported (reporter callback, counters).
 * After damage the rest of that 32 KiB block is dropped (a bad header's
 * length cannot be trusted); reading resumes at the next block.
 */
#ifndef FC_FORMAT_LOG_READER_H
#define FC_FORMAT_LOG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "format/log_format.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

/* Flags for the init functions. */
#define FCI_LOG_BEST_EFFORT 1u   /* skip damage and continue instead of failing */

/* Called once for every damaged region dropped (not for a torn tail). */
typedef void (*fci_log_reporter)(void *arg, uint64_t offset, uint64_t bytes,
                                 const char *reason);

typedef struct fci_log_reader {
    char name[256];             /* for messages: the file's path or a label */
    unsigned flags;
    fci_log_reporter reporter;  /* may be NULL */
    void *reporter_arg;

    /* source: a memory region, or an fd read into blockbuf */
    const char *mem;
    uint64_t mem_size;
    int fd;
    int owns_fd;
    char *blockbuf;

    /* the current block */
    const char *block;
    size_t block_len;
    uint64_t block_off;         /* file offset of block[0] */
    size_t pos;                 /* next unread byte in the block */
    int have_block;
    int at_eof;                 /* read returned end: stays there */

    fci_buf record;             /* a fragmented record being reassembled */

    /* a physical record pushed back (strict mode reports first) */
    int stashed;
    int st_type;
    fci_slice st_frag;
    uint64_t st_off;

    /* zero-filled space seen; torn tail if it runs to end of file */
    int zero_pending;
    uint64_t zero_off;
    /* a partial physical record at end of file */
    int phys_tail;
    uint64_t phys_tail_off;

    /* the last damage found (read by read() to build its message) */
    uint64_t bad_off, bad_len;
    char bad_reason[96];

    /* results, readable by the caller */
    uint64_t record_offset;     /* file offset of the last record returned */
    uint64_t end_offset;        /* after end: offset past the last good record */
    int torn_tail;              /* after end: a torn tail was dropped */
    uint64_t tail_offset;       /* ... starting here */
    uint64_t tail_bytes;        /* ... this many bytes, up to end of file */
    uint64_t corruptions;       /* damaged regions met so far */
    uint64_t dropped_bytes;     /* their total size */
} fci_log_reader;

/* Reads the log held in [data, data+size). The region must stay mapped
 * while the reader is used. name labels messages. Never fails. */
void fci_log_reader_init_mem(fci_log_reader *r, const char *name, const void *data,
                             size_t size, unsigned flags);

/* Reads the log from fd (which the caller keeps owning) from offset 0.
 * 0 or FC_ENOMEM. */
int fci_log_reader_init_fd(fci_log_reader *r, const char *name, int fd, unsigned flags,
                           fci_err *err);

/* Opens path read-only (O_CLOEXEC; relative to dirfd, util/io.h) and
 * reads it; the reader owns the fd. */
int fci_log_reader_open(fci_log_reader *r, int dirfd, const char *path, unsigned flags,
                        fci_err *err);

static inline void fci_log_reader_set_reporter(fci_log_reader *r, fci_log_reporter fn,
                                               void *arg)
{
    r->reporter = fn;
    r->reporter_arg = arg;
}

/*
 * Reads the next logical record into *record (valid until the next call or
 * fci_log_reader_free). Returns 1 with a record, 0 at the end of the log
 * (check r->torn_tail), FC_ECORRUPT on damage (see above; read again to go
 * on), FC_EIO (or another errno-derived code) when a read fails.
 */
int fci_log_reader_read(fci_log_reader *r, fci_slice *record, fci_err *err);

/* Frees the buffers and closes the fd if the reader opened it. */
void fci_log_reader_free(fci_log_reader *r);

#endif
