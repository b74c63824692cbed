/*
 * log_writer.c - LevelDB's log format, writing side (see log_writer.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
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

/* One physical record: header then payload. n is at most a block. */
static int emit_physical(fci_buf *out, int type, const char *data, size_t n)
{
    char h[FCI_LOG_HEADER_SIZE];
    fci_put_fixed32(h, record_crc(type, data, n));
    h[4] = (char)(n & 0xff);
    h[5] = (char)((n >> 8) & 0xff);
    h[6] = (char)type;
    int rc = fci_buf_append(out, h, sizeof h);
    if (rc == 0)
        rc = fci_buf_append(out, data, n);
    return rc;
}

/* Splits a record at block boundaries; a header never starts in the last
 * six bytes of a block, which are zero-filled instead. The loop runs at
 * least once so an empty record becomes one FULL record of length 0. */
int fci_log_encode(fci_buf *out, uint64_t *offset, fci_slice record)
{
    static const char zeros[FCI_LOG_HEADER_SIZE] = { 0 };
    size_t old = out->size;
    uint64_t off = *offset;
    const char *p = record.data;
    size_t left = record.size;
    int begin = 1, rc = 0;

    do {
        size_t room = FCI_LOG_BLOCK_SIZE - (size_t)(off % FCI_LOG_BLOCK_SIZE);
        if (room < FCI_LOG_HEADER_SIZE) {
            rc = fci_buf_append(out, zeros, room);
            if (rc != 0)
                break;
            off += room;
            room = FCI_LOG_BLOCK_SIZE;
        }
        size_t avail = room - FCI_LOG_HEADER_SIZE;
        size_t n = left < avail ? left : avail;
        int end = (n == left);
        int type = begin && end ? FCI_LOG_FULL
                 : begin        ? FCI_LOG_FIRST
                 : end          ? FCI_LOG_LAST
                                : FCI_LOG_MIDDLE;
        rc = emit_physical(out, type, p, n);
        if (rc != 0)
            break;
        off += FCI_LOG_HEADER_SIZE + n;
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
    fci_buf_init(&w->scratch);
    snprintf(w->name, sizeof w->name, "log");
}

/* Appending to an existing log continues at its size: LevelDB's recovery
 * reuses a log only after reading it to the end cleanly. */
int fci_log_writer_open(fci_log_writer *w, const char *path, int truncate, unsigned mode,
                        fci_err *err)
{
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = fci_io_open(FCI_IO_SITE_LOG_OPEN, path, flags, (mode_t)mode);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: open", path);
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

/* Loops over short writes and EINTR; pwrite keeps the offset ours. */
static int write_all(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = fci_io_pwrite(FCI_IO_SITE_LOG_APPEND, fd, p, n, off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0) {
            errno = EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* Encodes the whole record first so it reaches the file in one pwrite:
 * fewer system calls, and a crash tears at most this record. */
int fci_log_writer_add(fci_log_writer *w, fci_slice record, fci_err *err)
{
    if (w->failed)
        return fci_err_set(err, FC_EIO, "%s: an earlier write failed", w->name);
    uint64_t off = w->offset;
    fci_buf_clear(&w->scratch);
    int rc = fci_log_encode(&w->scratch, &off, record);
    if (rc != 0)
        return fci_err_set(err, rc, "%s: no memory for a %zu-byte record",
                           w->name, record.size);
    if (write_all(w->fd, w->scratch.data, w->scratch.size, w->offset) != 0) {
        int e = errno;
        w->failed = 1;
        return fci_err_errno(err, fci_errno_code(e), e, "%s: write at offset %llu",
                             w->name, (unsigned long long)w->offset);
    }
    w->offset = off;
    /* A multi-MiB record should not pin its scratch copy forever. */
    if (w->scratch.cap > 4 * FCI_LOG_BLOCK_SIZE)
        fci_buf_free(&w->scratch);
    return 0;
}

/* fdatasync, not fsync: the size change is what matters and it is
 * covered; timestamps are not worth a second journal write. */
int fci_log_writer_sync(fci_log_writer *w, fci_err *err)
{
    if (w->failed)
        return fci_err_set(err, FC_EIO, "%s: an earlier write failed", w->name);
    while (fci_io_fdatasync(FCI_IO_SITE_LOG_SYNC, w->fd) != 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        w->failed = 1;   /* after a failed sync the page cache state is unknown */
        return fci_err_errno(err, fci_errno_code(e), e, "%s: fdatasync", w->name);
    }
    return 0;
}

/* No sync here: callers decide durability (the WAL syncs per write
 * option, the MANIFEST before CURRENT points at it). */
int fci_log_writer_close(fci_log_writer *w, fci_err *err)
{
    int rc = 0;
    fci_buf_free(&w->scratch);
    if (w->owns_fd && w->fd >= 0) {
        if (close(w->fd) != 0)
            rc = fci_err_errno(err, FC_EIO, errno, "%s: close", w->name);
    }
    w->fd = -1;
    w->owns_fd = 0;
    return rc;
}
