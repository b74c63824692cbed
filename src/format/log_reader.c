/*
 * log_reader.c - LevelDB's log format, reading side (see log_reader.h).
 *
 * Two layers: read_physical() walks headers inside 32 KiB blocks and
 * classifies what it finds; fci_log_reader_read() glues FIRST/MIDDLE/LAST
 * fragments into records and decides what is a torn tail and what is damage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/log_reader.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/io.h"

enum { PHYS_EOF = 0, PHYS_REC = 1, PHYS_BAD = 2 };

/* The name is copied so a caller's temporary path buffer can go away. */
static void init_common(fci_log_reader *r, const char *name, unsigned flags)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name ? name : "log");
    r->flags = flags;
    r->fd = -1;
    fci_buf_init(&r->record);
}

/* A NULL region reads as an empty log, so callers need no special case. */
void fci_log_reader_init_mem(fci_log_reader *r, const char *name, const void *data,
                             size_t size, unsigned flags)
{
    init_common(r, name, flags);
    r->mem = data;
    r->mem_size = data ? size : 0;
}

/* One block buffer is all an fd reader holds besides the record being
 * reassembled, whatever the size of the file. */
int fci_log_reader_init_fd(fci_log_reader *r, const char *name, int fd, unsigned flags,
                           fci_err *err)
{
    init_common(r, name, flags);
    r->fd = fd;
    r->blockbuf = malloc(FCI_LOG_BLOCK_SIZE);
    if (r->blockbuf == NULL)
        return fci_err_set(err, FC_ENOMEM, "%s: no memory for a read buffer", r->name);
    return 0;
}

/* On failure the reader is still initialised, so free() is always safe. */
int fci_log_reader_open(fci_log_reader *r, int dirfd, const char *path, unsigned flags,
                        fci_err *err)
{
    int fd = fci_io_open_regular(FCI_IO_SITE_LOG_READ_OPEN, dirfd, path, O_RDONLY | O_CLOEXEC,
                                 0, err);
    if (fd < 0) {
        init_common(r, path, flags);
        return fd;
    }
    int rc = fci_log_reader_init_fd(r, path, fd, flags, err);
    r->owns_fd = 1;
    if (rc != 0)
        fci_log_reader_free(r);
    return rc;
}

/* Safe on a reader whose init failed, and safe twice. */
void fci_log_reader_free(fci_log_reader *r)
{
    fci_buf_free(&r->record);
    free(r->blockbuf);
    r->blockbuf = NULL;
    if (r->owns_fd && r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->owns_fd = 0;
}

/* Loads the block after the current one. 1 loaded, 0 no more data, <0
 * error. The current block stays in place when there is nothing more, so
 * offsets at end of file stay right. */
static int next_block(fci_log_reader *r, fci_err *err)
{
    uint64_t off = r->have_block ? r->block_off + r->block_len : 0;
    if (r->have_block && r->block_len < FCI_LOG_BLOCK_SIZE)
        return 0;   /* a short block is the last one */
    if (r->blockbuf == NULL) {
        if (off >= r->mem_size)
            return 0;
        uint64_t left = r->mem_size - off;
        r->block = r->mem + off;
        r->block_len = left < FCI_LOG_BLOCK_SIZE ? (size_t)left : FCI_LOG_BLOCK_SIZE;
    } else {
        ssize_t n = fci_io_pread(FCI_IO_SITE_LOG_READ, r->fd, r->blockbuf, FCI_LOG_BLOCK_SIZE, off);
        if (n < 0)
            return fci_err_errno(err, fci_errno_code(errno), errno, "%s: read at offset %llu",
                                 r->name, (unsigned long long)off);
        if (n == 0)
            return 0;
        r->block = r->blockbuf;
        r->block_len = (size_t)n;
    }
    r->block_off = off;
    r->pos = 0;
    r->have_block = 1;
    return 1;
}

/* Notes damage for the caller and drops the rest of the block. */
static int phys_bad(fci_log_reader *r, uint64_t off, uint64_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int phys_bad(fci_log_reader *r, uint64_t off, uint64_t len, const char *fmt, ...)
{
    va_list ap;
    r->bad_off = off;
    r->bad_len = len;
    va_start(ap, fmt);
    vsnprintf(r->bad_reason, sizeof r->bad_reason, fmt, ap);
    va_end(ap);
    return PHYS_BAD;
}

/* Zeroed space is what preallocation or a crash before the data reached
 * disk leaves behind; it is told apart from real headers by this. */
static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/*
 * One physical record: PHYS_REC with its type, payload and offset,
 * PHYS_EOF (a partial record at the end is noted in phys_tail), PHYS_BAD
 * (bad_* say what was dropped), or <0 on a read error.
 */
static int read_physical(fci_log_reader *r, int *type, fci_slice *frag, uint64_t *off,
                         fci_err *err)
{
    if (r->stashed) {
        r->stashed = 0;
        *type = r->st_type;
        *frag = r->st_frag;
        *off = r->st_off;
        return PHYS_REC;
    }
    for (;;) {
        size_t left = r->have_block ? r->block_len - r->pos : 0;
        if (left < FCI_LOG_HEADER_SIZE) {
            if (r->have_block && r->block_len < FCI_LOG_BLOCK_SIZE) {
                /* Bytes too few for a header at the end of the file. */
                if (left > 0) {
                    r->phys_tail = 1;
                    r->phys_tail_off = r->block_off + r->pos;
                    r->pos = r->block_len;
                }
                return PHYS_EOF;
            }
            int rc = next_block(r, err);   /* skips a full block's trailer */
            if (rc < 0)
                return rc;
            if (rc == 0)
                return PHYS_EOF;
            continue;
        }

        const char *h = r->block + r->pos;
        uint64_t hoff = r->block_off + r->pos;
        if (all_zero(h, FCI_LOG_HEADER_SIZE)) {
            /* Zeroed space: harmless if it runs to the end of the file.
             * A zero header with data after it in the block is damage. */
            if (!all_zero(h, left)) {
                uint64_t from = r->zero_pending ? r->zero_off : hoff;
                r->zero_pending = 0;
                r->pos = r->block_len;
                return phys_bad(r, from, r->block_off + r->block_len - from,
                                "zero header followed by data");
            }
            if (!r->zero_pending) {
                r->zero_pending = 1;
                r->zero_off = hoff;
            }
            r->pos = r->block_len;
            continue;
        }
        if (r->zero_pending) {
            r->zero_pending = 0;   /* header re-read on the next call */
            return phys_bad(r, r->zero_off, hoff - r->zero_off,
                            "zero-filled region");
        }

        size_t len = (size_t)(unsigned char)h[4] | ((size_t)(unsigned char)h[5] << 8);
        int t = (unsigned char)h[6];
        if (len > left - FCI_LOG_HEADER_SIZE) {
            r->pos = r->block_len;
            if (r->block_len < FCI_LOG_BLOCK_SIZE) {
                r->phys_tail = 1;      /* cut short by the end of the file */
                r->phys_tail_off = hoff;
                return PHYS_EOF;
            }
            return phys_bad(r, hoff, left, "bad record length %u (%u bytes left in block)",
                            (unsigned)len, (unsigned)(left - FCI_LOG_HEADER_SIZE));
        }
        uint32_t expected = fci_crc32c_unmask(fci_get_fixed32(h));
        uint32_t actual = fci_crc32c_extend(0, h + 6, 1 + len);
        if (expected != actual) {
            r->pos = r->block_len;
            return phys_bad(r, hoff, left, "checksum mismatch (expected %08x, found %08x)",
                            expected, actual);
        }
        r->pos += FCI_LOG_HEADER_SIZE + len;
        *type = t;
        *frag = fci_slice_make(h + FCI_LOG_HEADER_SIZE, len);
        *off = hoff;
        return PHYS_REC;
    }
}

/* Counts and reports damage; strict readers also fail the read. */
static int damage(fci_log_reader *r, uint64_t off, uint64_t bytes, const char *reason,
                  fci_err *err)
{
    r->corruptions++;
    r->dropped_bytes += bytes;
    if (r->reporter)
        r->reporter(r->reporter_arg, off, bytes, reason);
    if (r->flags & FCI_LOG_BEST_EFFORT)
        return 0;
    return fci_err_set(err, FC_ECORRUPT, "%s: offset %llu: %llu bytes dropped: %s", r->name,
                       (unsigned long long)off, (unsigned long long)bytes, reason);
}

/* The log ends at `start`; what lies from there to `end` (the end of the
 * file) is a torn tail when torn is set, zero fill otherwise. */
static int finish(fci_log_reader *r, int torn, uint64_t start, uint64_t end)
{
    r->at_eof = 1;
    r->torn_tail = torn;
    r->tail_offset = start;
    r->tail_bytes = torn ? end - start : 0;
    r->end_offset = start;
    fci_buf_clear(&r->record);
    return 0;
}

/* Whether the file holds only zeros from `from` to its end; *end gets the
 * file's size. Read with a buffer of its own: the current block stays. */
static int zeros_to_end(fci_log_reader *r, uint64_t from, uint64_t *end, fci_err *err)
{
    if (r->blockbuf == NULL) {
        *end = r->mem_size;
        return from >= r->mem_size || all_zero(r->mem + from, (size_t)(r->mem_size - from));
    }
    char *buf = malloc(FCI_LOG_BLOCK_SIZE);
    if (buf == NULL)
        return fci_err_set(err, FC_ENOMEM, "%s: no memory for a read buffer", r->name);
    int zero = 1;
    for (;;) {
        ssize_t n = fci_io_pread(FCI_IO_SITE_LOG_READ, r->fd, buf, FCI_LOG_BLOCK_SIZE, from);
        if (n < 0) {
            zero = fci_err_errno(err, fci_errno_code(errno), errno, "%s: read at offset %llu",
                                 r->name, (unsigned long long)from);
            break;
        }
        if (n == 0 || !(zero = all_zero(buf, (size_t)n)))
            break;
        from += (uint64_t)n;
    }
    free(buf);
    *end = from;
    return zero;
}

/*
 * Damage that only zero fill follows is a torn tail, not corruption: in a
 * preallocated log a crash mid-append leaves the part of the last write
 * that reached the disk, then the zeros that were there before. The file
 * must end in zeros (a log that was never preallocated does not), and the
 * damaged block's bytes past the damage may be anything (the torn write).
 * 1 when it ends the log here, 0 when it is damage, <0 on a read error.
 */
static int torn_before_zeros(fci_log_reader *r, uint64_t start, fci_err *err)
{
    uint64_t from = r->block_off + r->block_len, end = from;
    int zero = zeros_to_end(r, from, &end, err);
    if (zero <= 0)
        return zero;
    if (end == from && !(r->block_len >= FCI_LOG_HEADER_SIZE &&
                         all_zero(r->block + r->block_len - FCI_LOG_HEADER_SIZE,
                                  FCI_LOG_HEADER_SIZE)))
        return 0;
    return finish(r, 1, start, end) == 0;
}

/* End of the log: decide what the torn tail is, if there is one. The
 * earliest start wins: a record begun before zeroed space is torn from its
 * first fragment. */
static int at_end(fci_log_reader *r, int in_frag, uint64_t frag_off)
{
    uint64_t end = r->have_block ? r->block_off + r->block_len : 0;
    int torn = 0;
    uint64_t start = end;
    if (r->phys_tail) {
        torn = 1;
        start = r->phys_tail_off;
    }
    if (r->zero_pending && r->zero_off < start) {
        start = r->zero_off;   /* zeros from a record boundary: the clean end */
    }
    if (in_frag && frag_off < start) {
        torn = 1;
        start = frag_off;
    }
    return finish(r, torn, start, end);
}

/* Glues fragments into records. Damage is always reported from the start
 * of the record it broke (a FIRST read before it counts as lost too), so
 * one report covers one lost region. */
int fci_log_reader_read(fci_log_reader *r, fci_slice *record, fci_err *err)
{
    int in_frag = 0;
    uint64_t frag_off = 0;
    char why[160];

    if (r->at_eof)
        return 0;
    fci_buf_clear(&r->record);
    for (;;) {
        int type = 0;
        fci_slice frag = { NULL, 0 };
        uint64_t off = 0;
        int rc = read_physical(r, &type, &frag, &off, err);
        if (rc < 0)
            return rc;
        if (rc == PHYS_EOF)
            return at_end(r, in_frag, frag_off);
        if (rc == PHYS_BAD) {
            uint64_t start = in_frag ? frag_off : r->bad_off;
            if (r->bad_off + r->bad_len == r->block_off + r->block_len) {
                rc = torn_before_zeros(r, start, err);
                if (rc != 0)
                    return rc < 0 ? rc : 0;
            }
            rc = damage(r, start, r->bad_off + r->bad_len - start, r->bad_reason, err);
            in_frag = 0;
            if (rc != 0)
                return rc;
            continue;
        }

        uint64_t phys_len = FCI_LOG_HEADER_SIZE + frag.size;
        if ((type == FCI_LOG_FULL || type == FCI_LOG_FIRST) && in_frag) {
            /* A new record starts before the last one ended. */
            in_frag = 0;
            if (!(r->flags & FCI_LOG_BEST_EFFORT)) {
                r->stashed = 1;
                r->st_type = type;
                r->st_frag = frag;
                r->st_off = off;
            }
            rc = damage(r, frag_off, off - frag_off, "partial record without end", err);
            if (rc != 0)
                return rc;
        }
        switch (type) {
        case FCI_LOG_FULL:
            r->record_offset = off;
            *record = frag;
            return 1;
        case FCI_LOG_FIRST:
            fci_buf_clear(&r->record);
            if (fci_buf_append(&r->record, frag.data, frag.size) != 0)
                return fci_err_set(err, FC_ENOMEM, "%s: no memory for a record", r->name);
            in_frag = 1;
            frag_off = off;
            break;
        case FCI_LOG_MIDDLE:
        case FCI_LOG_LAST:
            if (!in_frag) {
                rc = damage(r, off, phys_len, "missing start of fragmented record", err);
                if (rc != 0)
                    return rc;
                break;
            }
            if (fci_buf_append(&r->record, frag.data, frag.size) != 0)
                return fci_err_set(err, FC_ENOMEM, "%s: no memory for a record", r->name);
            if (type == FCI_LOG_LAST) {
                r->record_offset = frag_off;
                *record = fci_buf_slice(&r->record);
                return 1;
            }
            break;
        default: {
            uint64_t start = in_frag ? frag_off : off;
            snprintf(why, sizeof why, "bad record type %d", type);
            in_frag = 0;
            rc = damage(r, start, off + phys_len - start, why, err);
            if (rc != 0)
                return rc;
            break;
        }
        }
    }
}
