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

/* The rename is only durable once the directory entry is on disk. */
int fci_dir_sync(int dirfd, const char *dir, fci_err *err)
{
    int fd = dirfd;
    if (dirfd == AT_FDCWD)
        fd = fci_io_open(FCI_IO_SITE_DIR_OPEN, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                         0);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: open directory", dir);
    int rc = 0;
    if (fci_io_fsync(FCI_IO_SITE_DIR_SYNC, fd) != 0)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "%s: fsync directory", dir);
    if (fd != dirfd)
        close(fd);
    return rc;
}

int fci_small_file_replace(int dirfd, const char *dir, const char *name, const char *text,
                           size_t len, unsigned mode, fci_err *err)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = fci_io_open(FCI_IO_SITE_OPTIONS_CREATE, dirfd, tmp,
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "create %s", tmp);
    int rc = 0;
    if (fci_io_write(FCI_IO_SITE_OPTIONS_WRITE, fd, text, len) != (ssize_t)len ||
        fci_io_fsync(FCI_IO_SITE_OPTIONS_SYNC, fd) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "write %s", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = fci_err_errno(err, FC_EIO, errno, "close %s", tmp);
    if (rc == 0 && fci_io_rename(FCI_IO_SITE_OPTIONS_RENAME, dirfd, tmp, path) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "rename %s", tmp);
    if (rc != 0) {
        fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, tmp);
        return rc;
    }
    if (fci_io_fsync(FCI_IO_SITE_OPTIONS_DIR_SYNC, dirfd) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "fsync %s", dir);
    return rc;
}

/* LevelDB's order: a crash at any point leaves either the old CURRENT
 * or the new one (rename is atomic), plus at most a stray .dbtmp. */
int fci_current_write(int dirfd, const char *dir, uint64_t manifest_number, unsigned mode,
                      fci_err *err)
{
    char tmp[4096], cur[4096], content[64];
    int n = fci_filename(content, sizeof content - 1, NULL, FCI_FILE_MANIFEST, manifest_number);
    if (n < 0 || fci_filename(tmp, sizeof tmp, dir, FCI_FILE_TEMP, manifest_number) < 0 ||
        fci_filename(cur, sizeof cur, dir, FCI_FILE_CURRENT, 0) < 0)
        return fci_err_set(err, FC_EINVAL, "%s: directory name too long", dir);
    content[n++] = '\n';

    int fd = fci_io_open_regular(FCI_IO_SITE_CURRENT_CREATE, dirfd, tmp,
                                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode, err);
    if (fd < 0)
        return fd;
    if (fci_io_write(FCI_IO_SITE_CURRENT_WRITE, fd, content, (size_t)n) < 0 ||
        fci_io_fsync(FCI_IO_SITE_CURRENT_SYNC, fd) != 0) {
        int e = errno;
        close(fd);
        fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: write", tmp);
    }
    if (close(fd) != 0) {
        int e = errno;
        fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: close", tmp);
    }
    if (fci_io_rename(FCI_IO_SITE_CURRENT_RENAME, dirfd, tmp, cur) != 0) {
        int e = errno;
        fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, tmp);
        return fci_err_errno(err, fci_errno_code(e), e, "%s: rename to %s", tmp, cur);
    }
    return fci_dir_sync(dirfd, dir, err) ? FCI_CURRENT_UNSYNCED : 0;
}

/* Sorts the bytes read into one fci_current_defect, checked in the order
 * a person would look: is there anything, too much, a whole line, one
 * line, and does it name a MANIFEST. */
static void parse_current(fci_current *cur)
{
    size_t n = cur->len;
    const char *nl = memchr(cur->raw, '\n', n);
    cur->line_len = nl ? (size_t)(nl - cur->raw) : n;
    cur->defect_offset = 0;
    if (n == 0) {
        cur->defect = FCI_CURRENT_EMPTY;
    } else if (n > FCI_CURRENT_MAX) {
        cur->defect = FCI_CURRENT_TOO_LONG;
        cur->defect_offset = FCI_CURRENT_MAX;
    } else if (nl == NULL) {
        cur->defect = FCI_CURRENT_NO_NEWLINE;
        cur->defect_offset = n;
    } else if (cur->line_len + 1 != n) {
        cur->defect = FCI_CURRENT_MULTILINE;
        cur->defect_offset = cur->line_len;
    } else {
        cur->raw[cur->line_len] = '\0';
        fci_file_kind kind;
        int bad = memchr(cur->raw, '\0', cur->line_len) != NULL ||
                  fci_filename_parse(cur->raw, &kind, &cur->number) != 0 ||
                  kind != FCI_FILE_MANIFEST;
        cur->defect = bad ? FCI_CURRENT_NOT_MANIFEST : FCI_CURRENT_OK;
    }
}

/* One more byte than a valid CURRENT can hold is read, so "too long" is
 * told from "exactly full". */
int fci_current_load(int dirfd, const char *dir, fci_current *cur, fci_err *err)
{
    char path[4096];
    memset(cur, 0, sizeof *cur);
    if (fci_filename(path, sizeof path, dir, FCI_FILE_CURRENT, 0) < 0)
        return fci_err_set(err, FC_EINVAL, "%s: directory name too long", dir);
    int fd = fci_io_open_regular(FCI_IO_SITE_CURRENT_OPEN, dirfd, path, O_RDONLY | O_CLOEXEC, 0,
                                 err);
    if (fd < 0) {
        if (errno == ENOENT)
            return fci_err_set(err, FC_ENOTFOUND, "%s: no such file", path);
        return fd;
    }
    ssize_t k = fci_io_read(FCI_IO_SITE_CURRENT_READ, fd, cur->raw, FCI_CURRENT_MAX + 1);
    int e = errno;
    close(fd);
    if (k < 0)
        return fci_err_errno(err, fci_errno_code(e), e, "%s: read", path);
    cur->len = (size_t)k;
    cur->raw[cur->len] = '\0';
    parse_current(cur);
    return 0;
}

/* The defect in a few words, for fci_current_read's message. */
static const char *defect_str(fci_current_defect d)
{
    switch (d) {
    case FCI_CURRENT_OK:           return "";
    case FCI_CURRENT_EMPTY:        return "is empty";
    case FCI_CURRENT_TOO_LONG:     return "is longer than any MANIFEST name";
    case FCI_CURRENT_NO_NEWLINE:   return "does not end in a newline";
    case FCI_CURRENT_MULTILINE:    return "holds more than one line";
    case FCI_CURRENT_NOT_MANIFEST: return "does not name a MANIFEST";
    }
    return "is damaged";
}

/* The name is returned as written, since a MANIFEST with more than six
 * digits (or leading zeros) must be opened by that exact name. */
int fci_current_read(int dirfd, const char *dir, uint64_t *manifest_number, char *name,
                     size_t namecap, fci_err *err)
{
    fci_current cur;
    int rc = fci_current_load(dirfd, dir, &cur, err);
    if (rc != 0)
        return rc;
    if (cur.defect != FCI_CURRENT_OK)
        return fci_err_set(err, FC_ECORRUPT, "%s/CURRENT: %s", dir,
                           defect_str(cur.defect));
    if (name != NULL) {
        if (cur.line_len + 1 > namecap)
            return fci_err_set(err, FC_EINVAL, "%s/CURRENT: name buffer too small", dir);
        memcpy(name, cur.raw, cur.line_len + 1);
    }
    *manifest_number = cur.number;
    return 0;
}
