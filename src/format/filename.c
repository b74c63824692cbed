/*
 * filename.c - store file names and the CURRENT file (see filename.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/filename.h"
#include "util/io.h"

/* CURRENT holds one short name; anything longer is not ours. */
#define CURRENT_MAX 1024

/* snprintf into the caller's buffer: names are built on hot paths
 * (table opens) where an allocation per name would be waste. */
int fci_filename(char *dst, size_t cap, const char *dir, fci_file_kind kind,
                 uint64_t number)
{
    const char *d = dir ? dir : "", *sep = dir ? "/" : "";
    unsigned long long n = (unsigned long long)number;
    int len;
    switch (kind) {
    case FCI_FILE_CURRENT:      len = snprintf(dst, cap, "%s%sCURRENT", d, sep); break;
    case FCI_FILE_LOCK:         len = snprintf(dst, cap, "%s%sLOCK", d, sep); break;
    case FCI_FILE_INFO_LOG:     len = snprintf(dst, cap, "%s%sLOG", d, sep); break;
    case FCI_FILE_OLD_INFO_LOG: len = snprintf(dst, cap, "%s%sLOG.old", d, sep); break;
    case FCI_FILE_MANIFEST:     len = snprintf(dst, cap, "%s%sMANIFEST-%06llu", d, sep, n); break;
    case FCI_FILE_WAL:          len = snprintf(dst, cap, "%s%s%06llu.log", d, sep, n); break;
    case FCI_FILE_TABLE:        len = snprintf(dst, cap, "%s%s%06llu.ldb", d, sep, n); break;
    case FCI_FILE_TABLE_SST:    len = snprintf(dst, cap, "%s%s%06llu.sst", d, sep, n); break;
    case FCI_FILE_TEMP:         len = snprintf(dst, cap, "%s%s%06llu.dbtmp", d, sep, n); break;
    default:
        return FC_EINVAL;
    }
    if (len < 0 || (size_t)len >= cap)
        return FC_EINVAL;
    return len;
}

/* Decimal digits only, at least one, no overflow; *p ends past them. */
static int parse_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned digit = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return FC_EINVAL;
        v = v * 10 + digit;
        s++;
    }
    if (s == *p)
        return FC_EINVAL;
    *p = s;
    *out = v;
    return 0;
}

/* Strict on purpose: garbage collection deletes what parses, so a name
 * that only looks like ours must not. */
int fci_filename_parse(const char *name, fci_file_kind *kind, uint64_t *number)
{
    static const struct { const char *name; fci_file_kind kind; } fixed[] = {
        { "CURRENT", FCI_FILE_CURRENT },   { "LOCK", FCI_FILE_LOCK },
        { "LOG", FCI_FILE_INFO_LOG },      { "LOG.old", FCI_FILE_OLD_INFO_LOG },
    };
    static const struct { const char *suffix; fci_file_kind kind; } numbered[] = {
        { ".log", FCI_FILE_WAL },          { ".ldb", FCI_FILE_TABLE },
        { ".sst", FCI_FILE_TABLE_SST },    { ".dbtmp", FCI_FILE_TEMP },
    };
    uint64_t n = 0;
    const char *p = name;

    if (name == NULL)
        return FC_EINVAL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(name, fixed[i].name) == 0) {
            *kind = fixed[i].kind;
            *number = 0;
            return 0;
        }
    if (strncmp(name, "MANIFEST-", 9) == 0) {
        p = name + 9;
        if (parse_number(&p, &n) != 0 || *p != '\0')
            return FC_EINVAL;
        *kind = FCI_FILE_MANIFEST;
        *number = n;
        return 0;
    }
    if (parse_number(&p, &n) != 0)
        return FC_EINVAL;
    for (size_t i = 0; i < sizeof numbered / sizeof numbered[0]; i++)
        if (strcmp(p, numbered[i].suffix) == 0) {
            *kind = numbered[i].kind;
            *number = n;
            return 0;
        }
    return FC_EINVAL;
}

/* write() may be short or interrupted; CURRENT must be whole. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = fci_io_write(FCI_IO_SITE_CURRENT_WRITE, fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The rename is only durable once the directory entry is on disk. */
int fci_dir_sync(const char *dir, fci_err *err)
{
    int fd = fci_io_open(FCI_IO_SITE_DIR_OPEN, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: open directory", dir);
    int rc = 0;
    if (fci_io_fsync(FCI_IO_SITE_DIR_SYNC, fd) != 0)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "%s: fsync directory", dir);
    close(fd);
    return rc;
}

/* LevelDB's order: a crash at any point leaves either the old CURRENT
 * or the new one (rename is atomic), plus at most a stray .dbtmp. */
int fci_current_write(const char *dir, uint64_t manifest_number, unsigned mode, fci_err *err)
{
    char tmp[4096], cur[4096], content[64];
    int n = fci_filename(content, sizeof content - 1, NULL, FCI_FILE_MANIFEST, manifest_number);
    if (n < 0 || fci_filename(tmp, sizeof tmp, dir, FCI_FILE_TEMP, manifest_number) < 0 ||
        fci_filename(cur, sizeof cur, dir, FCI_FILE_CURRENT, 0) < 0)
        return fci_err_set(err, FC_EINVAL, "%s: directory name too long", dir);
    content[n++] = '\n';

    int fd = fci_io_open(FCI_IO_SITE_CURRENT_CREATE, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                         (mode_t)mode);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: create", tmp);
    if (write_all(fd, content, (size_t)n) != 0 || fci_io_fsync(FCI_IO_SITE_CURRENT_SYNC, fd) != 0) {
        int e = errno;
        close(fd);
        fci_io_unlink(FCI_IO_SITE_UNLINK, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: write", tmp);
    }
    if (close(fd) != 0) {
        int e = errno;
        fci_io_unlink(FCI_IO_SITE_UNLINK, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: close", tmp);
    }
    if (fci_io_rename(FCI_IO_SITE_CURRENT_RENAME, tmp, cur) != 0) {
        int e = errno;
        fci_io_unlink(FCI_IO_SITE_UNLINK, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: rename to %s", tmp, cur);
    }
    return fci_dir_sync(dir, err) ? FCI_CURRENT_UNSYNCED : 0;
}

/* The name is returned as written, since a MANIFEST with more than six
 * digits (or leading zeros) must be opened by that exact name. */
int fci_current_read(const char *dir, uint64_t *manifest_number, char *name, size_t namecap,
                     fci_err *err)
{
    char path[4096], buf[CURRENT_MAX + 1];
    if (fci_filename(path, sizeof path, dir, FCI_FILE_CURRENT, 0) < 0)
        return fci_err_set(err, FC_EINVAL, "%s: directory name too long", dir);
    int fd = fci_io_open(FCI_IO_SITE_CURRENT_OPEN, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return fci_err_set(err, FC_ENOTFOUND, "%s: no such file", path);
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: open", path);
    }
    size_t len = 0;
    for (;;) {
        ssize_t k = fci_io_read(FCI_IO_SITE_CURRENT_READ, fd, buf + len, sizeof buf - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            return fci_err_errno(err, fci_errno_code(e), e, "%s: read", path);
        }
        if (k == 0 || len + (size_t)k == sizeof buf) {
            len += (size_t)k;
            break;
        }
        len += (size_t)k;
    }
    close(fd);
    if (len > CURRENT_MAX)
        return fci_err_set(err, FC_ECORRUPT, "%s: longer than %d bytes", path, CURRENT_MAX);
    if (len < 2 || buf[len - 1] != '\n')
        return fci_err_set(err, FC_ECORRUPT, "%s: empty or missing its final newline", path);
    buf[len - 1] = '\0';
    fci_file_kind kind;
    uint64_t number;
    if (strlen(buf) != len - 1 || fci_filename_parse(buf, &kind, &number) != 0 ||
        kind != FCI_FILE_MANIFEST)
        return fci_err_set(err, FC_ECORRUPT, "%s: does not name a MANIFEST", path);
    if (name) {
        if (len > namecap)
            return fci_err_set(err, FC_EINVAL, "%s: name buffer too small", path);
        memcpy(name, buf, len);
    }
    *manifest_number = number;
    return 0;
}
