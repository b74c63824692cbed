/*
 * log_writer.c - LevelDB's log format, writing side (see log_writer.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/log_writer.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/io.h"

/* The checksum covers the type byte too, so a flipped type is caught. */
static uint32_t record_crc(int type, const char *data, size_t n)
{
    unsigned char t = (unsigned char)type;
    uint32_t crc = fci_crc32c_extend(0, &t, 1);
    return fci_crc32c_mask(fci_crc32c_extend(crc, data, n));
}

/* One physical record's header: checksum, length, type. n is at most a
 * block. */
static void make_header(char h[FCI_LOG_HEADER_SIZE], int type, const char *data, size_t n)
{
    fci_put_fixed32(h, record_crc(type, data, n));
    h[4] = (char)(n & 0xff);
    h[5] = (char)((n >> 8) & 0xff);
    h[6] = (char)type;
}

/* Where the next fragment of a record goes: a header never starts in the
 * last six bytes of a block, which are zero-filled instead (*pad bytes).
 * Sets the fragment's payload length and type, and advances *off past
 * padding, header and payload. Both the encoder and the writer split
 * records here, so they cannot disagree. */
static void next_fragment(uint64_t *off, size_t left, int begin, size_t *pad, size_t *n,
                          int *type)
{
    size_t room = FCI_LOG_BLOCK_SIZE - (size_t)(*off % FCI_LOG_BLOCK_SIZE);
    *pad = 0;
    if (room < FCI_LOG_HEADER_SIZE) {
        *pad = room;
        room = FCI_LOG_BLOCK_SIZE;
    }
    size_t avail = room - FCI_LOG_HEADER_SIZE;
    *n = left < avail ? left : avail;
    int end = (*n == left);
    *type = begin && end ? FCI_LOG_FULL
          : begin        ? FCI_LOG_FIRST
          : end          ? FCI_LOG_LAST
                         : FCI_LOG_MIDDLE;
    *off += *pad + FCI_LOG_HEADER_SIZE + *n;
}

static const char zeros[FCI_LOG_HEADER_SIZE] = { 0 };

/* Splits a record at block boundaries. The loop runs at least once so an
 * empty record becomes one FULL record of length 0. */
int fci_log_encode(fci_buf *out, uint64_t *offset, fci_slice record)
{
    size_t old = out->size;
    uint64_t off = *offset;
    const char *p = record.data;
    size_t left = record.size;
    int begin = 1, rc = 0;

    do {
        size_t pad, n;
        int type;
        next_fragment(&off, left, begin, &pad, &n, &type);
        char h[FCI_LOG_HEADER_SIZE];
        make_header(h, type, p, n);
        rc = fci_buf_append(out, zeros, pad);
        if (rc == 0)
            rc = fci_buf_append(out, h, sizeof h);
        if (rc == 0)
            rc = fci_buf_append(out, p, n);
        if (rc != 0)
            break;
        if (n > 0)   /* an empty record may come with a NULL pointer */
            p += n;
        left -= n;
        begin = 0;
    } while (left > 0);

    if (rc != 0) {
        fci_buf_truncate(out, old);
        return rc;
    }
    *offset = off;
    return 0;
}

/* The caller keeps the fd: the WAL may share it with other code. */
void fci_log_writer_init(fci_log_writer *w, int fd, uint64_t offset)
{
    w->fd = fd;
    w->owns_fd = 0;
    w->failed = 0;
    w->offset = offset;
    w->prealloc = 0;
    w->zero_end = offset;
    w->synced = 0;
    snprintf(w->name, sizeof w->name, "log");
}

/* Appending to an existing log continues at its size: LevelDB's recovery
 * reuses a log only after reading it to the end cleanly. */
int fci_log_writer_open(fci_log_writer *w, int dirfd, const char *path, int truncate,
                        unsigned mode, fci_err *err)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = fci_io_open_regular(FCI_IO_SITE_LOG_OPEN, dirfd, path, flags, (mode_t)mode, err);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fci_io_fstat(FCI_IO_SITE_LOG_STAT, fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: fstat", path);
    }
    fci_log_writer_init(w, fd, (uint64_t)st.st_size);
    w->owns_fd = 1;
    snprintf(w->name, sizeof w->name, "%s", path);
    return 0;
}

/* fci_io_pwritev resumes short writes and EINTR; pwritev keeps the
 * offset ours. The iovecs are consumed as they are written. */
static int write_all(int fd, struct iovec *iov, int n, uint64_t off)
{
    return fci_io_pwritev(FCI_IO_SITE_LOG_APPEND, fd, iov, n, off) < 0 ? -1 : 0;
}

/* A writer that failed refuses everything after, like add and sync. */
static int fail(fci_log_writer *w, const char *what, uint64_t off, fci_err *err)
{
    int e = errno;
    w->failed = 1;
    return fci_err_errno(err, fci_errno_code(e), e, "%s: %s at offset %llu", w->name, what,
                         (unsigned long long)off);
}

/* Zeros from one 64 KiB buffer named many times in one pwritev. */
#define ZERO_CHUNK (64 * 1024)
#define ZERO_IOV 16
static const char zero_chunk[ZERO_CHUNK];

/* Writes zeros over [zero_end, end), end a whole number of blocks. */
static int zero_fill(fci_log_writer *w, uint64_t end, fci_err *err)
{
    while (w->zero_end < end) {
        struct iovec iov[ZERO_IOV];
        int n = 0;
        uint64_t left = end - w->zero_end;
        while (n < ZERO_IOV && left > 0) {
            size_t k = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;
            iov[n++] = (struct iovec){ (void *)zero_chunk, k };
            left -= k;
        }
        uint64_t from = w->zero_end;
        if (fci_io_pwritev(FCI_IO_SITE_LOG_PREALLOC, w->fd, iov, n, from) < 0)
            return fail(w, "zero-fill", from, err);
        w->zero_end = end - left;
    }
    return 0;
}

/* Where a record of n bytes starting at off ends, padding and headers
 * included: the same split the writer makes. */
uint64_t fci_log_record_end(uint64_t off, size_t n)
{
    int begin = 1;
    do {
        size_t pad, k;
        int type;
        next_fragment(&off, n, begin, &pad, &k, &type);
        n -= k;
        begin = 0;
    } while (n > 0);
    return off;
}

/* Before a record ending at `end`: zeros up to `ahead` past it. */
static int zero_ahead(fci_log_writer *w, uint64_t end, fci_err *err)
{
    if (w->prealloc == 0 || end <= w->zero_end)
        return 0;
    uint64_t to = end + w->prealloc;
    to += (FCI_LOG_BLOCK_SIZE - to % FCI_LOG_BLOCK_SIZE) % FCI_LOG_BLOCK_SIZE;
    return zero_fill(w, to, err);
}

int fci_log_writer_prealloc(fci_log_writer *w, uint64_t first, uint64_t ahead, int sync,
                            fci_err *err)
{
    if (w->failed)
        return fci_err_set(err, FC_EIO, "%s: an earlier write failed", w->name);
    w->prealloc = first;
    int rc = zero_ahead(w, w->offset + 1, err);
    w->prealloc = ahead;
    if (rc == 0 && sync) {
        int was = w->synced;   /* synced tells of the records' syncs only */
        rc = fci_log_writer_sync(w, err);
        w->synced = was;
    }
    return rc;
}

/* Only the zeros go: a failed writer's file is left as it is. A failed
 * truncate changed nothing, so the writer stays usable (and syncable). */
int fci_log_writer_trim(fci_log_writer *w, fci_err *err)
{
    if (w->failed || w->zero_end <= w->offset)
        return 0;
    if (fci_io_ftruncate(FCI_IO_SITE_LOG_TRIM, w->fd, w->offset) != 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: truncate at offset %llu",
                             w->name, (unsigned long long)w->offset);
    w->zero_end = w->offset;
    return 0;
}

/* Fragments gathered per pwritev: a record up to 64 blocks (2 MiB) goes
 * out in one system call; each fragment needs at most three iovecs. */
#define FRAGMENTS_PER_CALL 64

/* Headers and padding go out from a small stack array and the payload
 * straight from the caller's bytes: no copy of the record. A record of up
 * to FRAGMENTS_PER_CALL blocks reaches the file in one pwritev; a crash
 * tears at most the record being written either way. */
int fci_log_writer_add(fci_log_writer *w, fci_slice record, fci_err *err)
{
    if (w->failed)
        return fci_err_set(err, FC_EIO, "%s: an earlier write failed", w->name);
    char hdr[FRAGMENTS_PER_CALL][FCI_LOG_HEADER_SIZE];
    struct iovec iov[3 * FRAGMENTS_PER_CALL];
    uint64_t off = w->offset;
    const char *p = record.data;
    size_t left = record.size;
    int begin = 1;
    /* Only a preallocating writer needs the record's end: the split is
     * worked out twice then, never on a plain append. */
    int rc = w->prealloc != 0 ? zero_ahead(w, fci_log_record_end(off, left), err) : 0;
    if (rc != 0)
        return rc;
    do {
        uint64_t call_off = off;
        int niov = 0;
        for (int f = 0; f < FRAGMENTS_PER_CALL && (begin || left > 0); f++) {
            size_t pad, n;
            int type;
            next_fragment(&off, left, begin, &pad, &n, &type);
            make_header(hdr[f], type, p, n);
            if (pad > 0)
                iov[niov++] = (struct iovec){ (void *)zeros, pad };
            iov[niov++] = (struct iovec){ hdr[f], FCI_LOG_HEADER_SIZE };
            if (n > 0) {
                iov[niov++] = (struct iovec){ (void *)p, n };
                p += n;
            }
            left -= n;
            begin = 0;
        }
        if (write_all(w->fd, iov, niov, call_off) != 0)
            return fail(w, "write", call_off, err);
    } while (left > 0);
    w->offset = off;
    if (w->zero_end < off)
        w->zero_end = off; /* written bytes end here at least: zeros go after */
    return 0;
}

/* fdatasync, not fsync: the size change is what matters and it is
 * covered; timestamps are not worth a second journal write. */
int fci_log_writer_sync(fci_log_writer *w, fci_err *err)
{
    if (w->failed)
        return fci_err_set(err, FC_EIO, "%s: an earlier write failed", w->name);
    if (fci_io_fdatasync(FCI_IO_SITE_LOG_SYNC, w->fd) != 0) {
        int e = errno;
        w->failed = 1;   /* after a failed sync the page cache state is unknown */
        return fci_err_errno(err, fci_errno_code(e), e, "%s: fdatasync", w->name);
    }
    w->synced = 1;
    return 0;
}

/* No sync here: callers decide durability (the WAL syncs per write
 * option, the MANIFEST before CURRENT points at it). */
int fci_log_writer_close(fci_log_writer *w, fci_err *err)
{
    int rc = 0;
    if (w->owns_fd && w->fd >= 0) {
        if (close(w->fd) != 0)
            rc = fci_err_errno(err, FC_EIO, errno, "%s: close", w->name);
    }
    w->fd = -1;
    w->owns_fd = 0;
    return rc;
}
