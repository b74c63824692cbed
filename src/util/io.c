/*
 * io.c - the library's file system calls, their retries, the test-only
 * fault table and the test-only recorder (see io.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/error.h"
#include "util/io.h"

static const struct {
    const char *name;
    int kind;
} sites[FCI_IO_SITES] = {
    [FCI_IO_SITE_LOG_OPEN] = { "log_open", FCI_IO_OPEN },
    [FCI_IO_SITE_LOG_STAT] = { "log_stat", FCI_IO_STAT },
    [FCI_IO_SITE_LOG_APPEND] = { "log_append", FCI_IO_WRITE },
    [FCI_IO_SITE_LOG_SYNC] = { "log_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_LOG_PREALLOC] = { "log_prealloc", FCI_IO_WRITE },
    [FCI_IO_SITE_LOG_TRIM] = { "log_trim", FCI_IO_TRUNCATE },
    [FCI_IO_SITE_LOG_READ_OPEN] = { "log_read_open", FCI_IO_OPEN },
    [FCI_IO_SITE_LOG_READ] = { "log_read", FCI_IO_READ },
    [FCI_IO_SITE_CURRENT_CREATE] = { "current_create", FCI_IO_OPEN },
    [FCI_IO_SITE_CURRENT_WRITE] = { "current_write", FCI_IO_WRITE },
    [FCI_IO_SITE_CURRENT_SYNC] = { "current_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_CURRENT_RENAME] = { "current_rename", FCI_IO_RENAME },
    [FCI_IO_SITE_DIR_OPEN] = { "dir_open", FCI_IO_OPEN },
    [FCI_IO_SITE_DIR_SYNC] = { "dir_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_CURRENT_OPEN] = { "current_open", FCI_IO_OPEN },
    [FCI_IO_SITE_CURRENT_READ] = { "current_read", FCI_IO_READ },
    [FCI_IO_SITE_TABLE_CREATE] = { "table_create", FCI_IO_OPEN },
    [FCI_IO_SITE_TABLE_WRITE] = { "table_write", FCI_IO_WRITE },
    [FCI_IO_SITE_TABLE_SYNC] = { "table_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_TABLE_OPEN] = { "table_open", FCI_IO_OPEN },
    [FCI_IO_SITE_TABLE_STAT] = { "table_stat", FCI_IO_STAT },
    [FCI_IO_SITE_TABLE_MMAP] = { "table_mmap", FCI_IO_MMAP },
    [FCI_IO_SITE_TABLE_PREAD] = { "table_pread", FCI_IO_READ },
    [FCI_IO_SITE_COMPACT_OPEN] = { "compact_open", FCI_IO_OPEN },
    [FCI_IO_SITE_COMPACT_STAT] = { "compact_stat", FCI_IO_STAT },
    [FCI_IO_SITE_COMPACT_MMAP] = { "compact_mmap", FCI_IO_MMAP },
    [FCI_IO_SITE_LOCK_OPEN] = { "lock_open", FCI_IO_OPEN },
    [FCI_IO_SITE_LOCK_PROBE] = { "lock_probe", FCI_IO_OPEN },
    [FCI_IO_SITE_VERIFY_TABLE_OPEN] = { "verify_table_open", FCI_IO_OPEN },
    [FCI_IO_SITE_VERIFY_TABLE_STAT] = { "verify_table_stat", FCI_IO_STAT },
    [FCI_IO_SITE_FRAME_TABLE_OPEN] = { "frame_table_open", FCI_IO_OPEN },
    [FCI_IO_SITE_FRAME_TABLE_STAT] = { "frame_table_stat", FCI_IO_STAT },
    [FCI_IO_SITE_ARENA_OPEN] = { "arena_open", FCI_IO_OPEN },
    [FCI_IO_SITE_ARENA_STAT] = { "arena_stat", FCI_IO_STAT },
    [FCI_IO_SITE_ARENA_HEADER_READ] = { "arena_header_read", FCI_IO_READ },
    [FCI_IO_SITE_ARENA_MMAP] = { "arena_mmap", FCI_IO_MMAP },
    [FCI_IO_SITE_ARENA_MMAP_ANON] = { "arena_mmap_anon", FCI_IO_MMAP },
    [FCI_IO_SITE_ARENA_TRUNCATE] = { "arena_truncate", FCI_IO_TRUNCATE },
    [FCI_IO_SITE_ARENA_ALLOCATE] = { "arena_allocate", FCI_IO_ALLOCATE },
    [FCI_IO_SITE_ARENA_RENAME] = { "arena_rename", FCI_IO_RENAME },
    [FCI_IO_SITE_PROC_OPEN] = { "proc_open", FCI_IO_OPEN },
    [FCI_IO_SITE_PROC_READ] = { "proc_read", FCI_IO_READ },
    [FCI_IO_SITE_OPTIONS_OPEN] = { "options_open", FCI_IO_OPEN },
    [FCI_IO_SITE_OPTIONS_CREATE] = { "options_create", FCI_IO_OPEN },
    [FCI_IO_SITE_OPTIONS_WRITE] = { "options_write", FCI_IO_WRITE },
    [FCI_IO_SITE_OPTIONS_SYNC] = { "options_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_OPTIONS_RENAME] = { "options_rename", FCI_IO_RENAME },
    [FCI_IO_SITE_OPTIONS_DIR_SYNC] = { "options_dir_sync", FCI_IO_SYNC },
    [FCI_IO_SITE_UNLINK] = { "unlink", FCI_IO_UNLINK },
    [FCI_IO_SITE_WRITERID_CREATE] = { "writerid_create", FCI_IO_OPEN },
    [FCI_IO_SITE_WRITERID_WRITE] = { "writerid_write", FCI_IO_WRITE },
    [FCI_IO_SITE_WRITERID_RENAME] = { "writerid_rename", FCI_IO_RENAME },
    [FCI_IO_SITE_WRITERID_OPEN] = { "writerid_open", FCI_IO_OPEN },
    [FCI_IO_SITE_WRITERID_READ] = { "writerid_read", FCI_IO_READ },
};

const char *fci_io_site_name(int site)
{
    return site >= 0 && site < FCI_IO_SITES && sites[site].name ? sites[site].name : "?";
}

int fci_io_site_kind(int site)
{
    return site >= 0 && site < FCI_IO_SITES ? sites[site].kind : -1;
}

/* ---- the test-only fault table ------------------------------------------- */

#define MAX_RULES 8

typedef struct rule {
    fci_io_fault f;
    unsigned seen;      /* matching calls since armed */
    int live;
} rule;

/* Bits of `armed`: fault rules and counters, and the recorder. */
#define ARMED_FAULTS 1
#define ARMED_RECORD 2

/* The one piece of global mutable state for I/O: test hooks. `armed` is
 * the only thing production calls read; everything else is under mu. */
static struct {
    atomic_int armed;
    pthread_mutex_t mu;
    rule rules[MAX_RULES];
    uint64_t calls[FCI_IO_SITES];
    uint64_t faults[FCI_IO_SITES];
} hooks = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The recorder: taken around a recorded call and its record, before mu
 * (a recorded call's fault hook takes mu inside it). */
static struct {
    pthread_mutex_t mu;
    fci_io_recorder fn;
    void *arg;
} rec = { .mu = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A fork while another thread holds a lock would leave the child's copy
 * locked for ever: the forking thread takes both across the fork instead,
 * in the order calls take them. */
static void hooks_lock(void)
{
    pthread_mutex_lock(&rec.mu);
    pthread_mutex_lock(&hooks.mu);
}

static void hooks_unlock(void)
{
    pthread_mutex_unlock(&hooks.mu);
    pthread_mutex_unlock(&rec.mu);
}

static void register_atfork(void) { pthread_atfork(hooks_lock, hooks_unlock, hooks_unlock); }

/* Does rule r claim this call? Counts it as seen when it matches. */
static int rule_fires(rule *r, fci_io_site site)
{
    if (!r->live || (r->f.site != FCI_IO_ANY && r->f.site != (int)site) ||
        (r->f.kind != FCI_IO_ANY && r->f.kind != sites[site].kind))
        return 0;
    unsigned n = ++r->seen;
    if (n < r->f.nth)
        return 0;
    unsigned since = n - r->f.nth, period = r->f.period > 1 ? r->f.period : 1;
    return since % period == 0 && (r->f.count == 0 || since / period < r->f.count);
}

/* mu held. 0 to go ahead (*n may have shrunk), or the errno to fail with. */
static int decide(fci_io_site site, size_t *n)
{
    hooks.calls[site]++;
    for (int i = 0; i < MAX_RULES; i++) {
        rule *r = &hooks.rules[i];
        if (!rule_fires(r, site))
            continue;
        if (r->f.err != 0) {
            hooks.faults[site]++;
            return r->f.err;
        }
        if (n != NULL && *n > 1) {
            size_t cut = r->f.short_by < *n - 1 ? r->f.short_by : *n - 1;
            *n -= cut ? cut : 1;
            hooks.faults[site]++;
        }
        return 0;
    }
    return 0;
}

static int hook_slow(fci_io_site site, size_t *n)
{
    if ((unsigned)site >= FCI_IO_SITES)
        return 0;
    pthread_mutex_lock(&hooks.mu);
    int e = decide(site, n);
    pthread_mutex_unlock(&hooks.mu);
    return e;
}

/* The whole cost in production: one relaxed load (no ordering is needed:
 * a test arms the table before starting the calls it aims at, and mu
 * orders the rules themselves). */
static inline int hook(fci_io_site site, size_t *n)
{
    int a = atomic_load_explicit(&hooks.armed, memory_order_relaxed);
    if (__builtin_expect(a == 0, 1) || !(a & ARMED_FAULTS))
        return 0;
    return hook_slow(site, n);
}

int fci_io_fault_arm(const fci_io_fault *f)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&hooks.mu);
    int rc = -1;
    for (int i = 0; i < MAX_RULES && rc != 0; i++)
        if (!hooks.rules[i].live) {
            hooks.rules[i] = (rule){ .f = *f, .seen = 0, .live = 1 };
            if (hooks.rules[i].f.nth == 0)
                hooks.rules[i].f.nth = 1;
            rc = 0;
        }
    pthread_mutex_unlock(&hooks.mu);
    /* relaxed: the rule itself is published by mu */
    atomic_fetch_or_explicit(&hooks.armed, ARMED_FAULTS, memory_order_relaxed);
    return rc;
}

void fci_io_fault_clear(void)
{
    pthread_mutex_lock(&hooks.mu);
    memset(hooks.rules, 0, sizeof hooks.rules);
    pthread_mutex_unlock(&hooks.mu);
}

void fci_io_hooks_enable(int on)
{
    pthread_once(&atfork_once, register_atfork);
    if (!on)
        fci_io_fault_clear();
    if (on) /* relaxed: a switch, no data */
        atomic_fetch_or_explicit(&hooks.armed, ARMED_FAULTS, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&hooks.armed, ~ARMED_FAULTS, memory_order_relaxed);
}

/* One site's entry of a counter array, read under mu. */
static uint64_t counter(const uint64_t *counters, int site)
{
    if (site < 0 || site >= FCI_IO_SITES)
        return 0;
    pthread_mutex_lock(&hooks.mu);
    uint64_t n = counters[site];
    pthread_mutex_unlock(&hooks.mu);
    return n;
}

uint64_t fci_io_site_calls(int site)
{
    return counter(hooks.calls, site);
}

uint64_t fci_io_site_faults(int site)
{
    return counter(hooks.faults, site);
}

void fci_io_counters_reset(void)
{
    pthread_mutex_lock(&hooks.mu);
    memset(hooks.calls, 0, sizeof hooks.calls);
    memset(hooks.faults, 0, sizeof hooks.faults);
    pthread_mutex_unlock(&hooks.mu);
}

/* ---- the test-only recorder ---------------------------------------------- */

/* Sets (or with NULL clears) the recorder, then flips its armed bit. */
void fci_io_record(fci_io_recorder fn, void *arg)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&rec.mu);
    rec.fn = fn;
    rec.arg = arg;
    pthread_mutex_unlock(&rec.mu);
    /* relaxed: fn and arg are published by rec.mu, which a recorded call takes */
    if (fn != NULL)
        atomic_fetch_or_explicit(&hooks.armed, ARMED_RECORD, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&hooks.armed, ~ARMED_RECORD, memory_order_relaxed);
}

/* Whether mutating calls go through the recorder: the same one relaxed
 * load as the fault hook's. */
static inline int recording(void)
{
    int a = atomic_load_explicit(&hooks.armed, memory_order_relaxed);
    return __builtin_expect(a != 0, 0) && (a & ARMED_RECORD);
}

/* rec.mu held: hands ev to the recorder, if one is still set. */
static void record(const fci_io_event *ev)
{
    if (rec.fn != NULL)
        rec.fn(rec.arg, ev);
}

/* ---- the wrappers ------------------------------------------------------- */

static int fail(int e)
{
    errno = e;
    return -1;
}

/* The name a call passes to the kernel: path itself with AT_FDCWD, else
 * its last component, relative to dirfd (see io.h). */
const char *fci_io_at_name(int dirfd, const char *path)
{
    const char *slash = dirfd == AT_FDCWD ? NULL : strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* open with its fault hook and EINTR retry; every descriptor close-on-exec. */
static int open_call(fci_io_site site, int dirfd, const char *path, int flags, mode_t mode)
{
    const char *name = fci_io_at_name(dirfd, path);
    for (;;) {
        int e = hook(site, NULL);
        int fd = e ? fail(e) : openat(dirfd, name, flags | O_CLOEXEC, mode); /* every one */
        if (fd >= 0 || errno != EINTR)
            return fd;
    }
}

/* Opens are recorded too (read-only ones included): the recorder needs to
 * know which file or directory each descriptor is, to place later writes
 * and syncs. */
int fci_io_open(fci_io_site site, int dirfd, const char *path, int flags, mode_t mode)
{
    if (!recording())
        return open_call(site, dirfd, path, flags, mode);
    pthread_mutex_lock(&rec.mu);
    int fd = open_call(site, dirfd, path, flags, mode);
    if (fd >= 0)
        record(&(fci_io_event){ .op = FCI_IO_OP_OPEN, .site = site, .fd = fd, .flags = flags,
                                .path = path });
    int e = errno;
    pthread_mutex_unlock(&rec.mu);
    errno = e;
    return fd;
}

/* Names a file type plainly; a message says what was found instead of a
 * regular file. */
static const char *file_type(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "a special file";
}

/* Why an open with O_NOFOLLOW | O_NONBLOCK failed: ELOOP is a symbolic
 * link and ENXIO a FIFO with no reader (a write-only open); both are named
 * as what they are, the rest keep the system's reason. */
static int open_failed(int dirfd, const char *path, int e, struct fci_err *err)
{
    struct stat st;
    int code;
    if ((e == ELOOP || e == ENXIO) && fci_io_lstat(dirfd, path, &st) == 0 &&
        !S_ISREG(st.st_mode))
        code = fci_err_set(err, FC_ECORRUPT, "%s: is %s, not a regular file", path,
                           file_type(st.st_mode));
    else
        code = fci_err_errno(err, fci_errno_code(e), e, "%s: open", path);
    errno = e;
    return code;
}

/* Back to blocking I/O, as the caller asked: F_SETFL keeps the other
 * status flags (O_APPEND, ...) as they were. */
static int clear_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* Not-blocking is only for the open and the type check: a regular file
 * ignores it, but the caller gets the flags it asked for. */
int fci_io_open_regular(fci_io_site site, int dirfd, const char *path, int flags, mode_t mode,
                        struct fci_err *err)
{
    int fd = fci_io_open(site, dirfd, path, flags | O_NOFOLLOW | O_NONBLOCK, mode);
    if (fd < 0)
        return open_failed(dirfd, path, errno, err);
    struct stat st;
    int code = 0;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        code = fci_err_errno(err, fci_errno_code(e), e, "%s: fstat", path);
        errno = e;
    } else if (!S_ISREG(st.st_mode)) {
        code = fci_err_set(err, FC_ECORRUPT, "%s: is %s, not a regular file", path,
                           file_type(st.st_mode));
        errno = EINVAL;
    } else if (!(flags & O_NONBLOCK) && clear_nonblock(fd) != 0) {
        int e = errno;
        code = fci_err_errno(err, fci_errno_code(e), e, "%s: fcntl", path);
        errno = e;
    }
    if (code == 0)
        return fd;
    int e = errno;
    close(fd);
    errno = e;
    return code;
}

enum { T_READ, T_PREAD, T_WRITE, T_PWRITE };

static ssize_t one_call(int how, int fd, char *p, size_t n, uint64_t off)
{
    switch (how) {
    case T_READ:
        return read(fd, p, n);
    case T_PREAD:
        return pread(fd, p, n, (off_t)off);
    case T_WRITE:
        return write(fd, p, n);
    default:
        return pwrite(fd, p, n, (off_t)off);
    }
}

/* Reads stop early only at end of file; writes never stop early. */
static ssize_t transfer(fci_io_site site, int how, int fd, char *p, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done;
        int e = hook(site, &want);
        ssize_t k = e ? fail(e) : one_call(how, fd, p + done, want, off + done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0) {
            if (how == T_READ || how == T_PREAD)
                break;
            return fail(EIO);
        }
        done += (size_t)k;
    }
    return (ssize_t)done;
}

ssize_t fci_io_read(fci_io_site site, int fd, void *buf, size_t n)
{
    return transfer(site, T_READ, fd, buf, n, 0);
}

ssize_t fci_io_pread(fci_io_site site, int fd, void *buf, size_t n, uint64_t off)
{
    return transfer(site, T_PREAD, fd, buf, n, off);
}

/* rec.mu held: records a successful write of the k bytes of iov at off. */
static void record_write(fci_io_site site, int fd, const struct iovec *iov, int n, uint64_t off,
                         ssize_t k)
{
    int e = errno;
    if (k >= 0)
        record(&(fci_io_event){ .op = FCI_IO_OP_WRITE, .site = site, .fd = fd, .off = off,
                                .len = (uint64_t)k, .iov = iov, .iovcnt = n });
    errno = e;
}

/* The casts drop const only to share transfer(); write paths never store.
 * A plain write is recorded at the file offset it started from. */
ssize_t fci_io_write(fci_io_site site, int fd, const void *buf, size_t n)
{
    if (!recording())
        return transfer(site, T_WRITE, fd, (char *)(uintptr_t)buf, n, 0);
    pthread_mutex_lock(&rec.mu);
    off_t at = lseek(fd, 0, SEEK_CUR);
    ssize_t k = transfer(site, T_WRITE, fd, (char *)(uintptr_t)buf, n, 0);
    struct iovec one = { (void *)(uintptr_t)buf, (size_t)(k > 0 ? k : 0) };
    record_write(site, fd, &one, 1, at < 0 ? 0 : (uint64_t)at, k);
    pthread_mutex_unlock(&rec.mu);
    return k;
}

/* Like fci_io_write at a given offset; recorded with it. */
ssize_t fci_io_pwrite(fci_io_site site, int fd, const void *buf, size_t n, uint64_t off)
{
    if (!recording())
        return transfer(site, T_PWRITE, fd, (char *)(uintptr_t)buf, n, off);
    pthread_mutex_lock(&rec.mu);
    ssize_t k = transfer(site, T_PWRITE, fd, (char *)(uintptr_t)buf, n, off);
    struct iovec one = { (void *)(uintptr_t)buf, n };
    record_write(site, fd, &one, 1, off, k);
    pthread_mutex_unlock(&rec.mu);
    return k;
}

/* Drops the first k bytes of the n iovecs at *iov. */
static void consume(struct iovec **iov, int *n, size_t k)
{
    while (*n > 0 && k >= (*iov)->iov_len) {
        k -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n > 0 && k > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + k;
        (*iov)->iov_len -= k;
    }
}

/* Like fci_io_pwrite for a gather list: every byte is written, short
 * writes and EINTR are resumed, the iovecs are consumed. A fault that
 * shortens a call writes part of the first iovec, as a real short write
 * may stop anywhere. */
static ssize_t pwritev_call(fci_io_site site, int fd, struct iovec *iov, int n, uint64_t off)
{
    size_t done = 0;
    consume(&iov, &n, 0);
    while (n > 0) {
        size_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        size_t want = total;
        int e = hook(site, &want);
        ssize_t k;
        if (e)
            k = fail(e);
        else if (want < total)
            k = pwrite(fd, iov->iov_base, want < iov->iov_len ? want : iov->iov_len,
                       (off_t)(off + done));
        else
            k = pwritev(fd, iov, n < IOV_MAX ? n : IOV_MAX, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return fail(EIO);
        done += (size_t)k;
        consume(&iov, &n, (size_t)k);
    }
    return (ssize_t)done;
}

/* The public gather write: recording keeps a copy of the gather list,
 * since the call consumes it. */
ssize_t fci_io_pwritev(fci_io_site site, int fd, struct iovec *iov, int n, uint64_t off)
{
    if (!recording())
        return pwritev_call(site, fd, iov, n, off);
    struct iovec *copy = n > 0 ? malloc(sizeof *copy * (size_t)n) : NULL;
    if (n > 0 && copy == NULL)
        return fail(ENOMEM);
    memcpy(copy, iov, sizeof *copy * (size_t)(n > 0 ? n : 0));
    pthread_mutex_lock(&rec.mu);
    ssize_t k = pwritev_call(site, fd, iov, n, off);
    record_write(site, fd, copy, n, off, k);
    pthread_mutex_unlock(&rec.mu);
    free(copy);
    return k;
}

static int sync_call(fci_io_site site, int fd, int data_only)
{
    for (;;) {
        int e = hook(site, NULL);
        int rc = e ? fail(e) : data_only ? fdatasync(fd) : fsync(fd);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

/* rec.mu held: records ev when the call it describes returned 0. */
static int record_if_ok(int rc, const fci_io_event *ev)
{
    int e = errno;
    if (rc == 0)
        record(ev);
    errno = e;
    return rc;
}

/* A sync, recorded when it succeeded: it is what makes data durable. */
static int recorded_sync(fci_io_site site, int fd, int data_only)
{
    if (!recording())
        return sync_call(site, fd, data_only);
    pthread_mutex_lock(&rec.mu);
    int rc = record_if_ok(sync_call(site, fd, data_only),
                          &(fci_io_event){ .op = FCI_IO_OP_SYNC, .site = site, .fd = fd,
                                           .datasync = data_only });
    pthread_mutex_unlock(&rec.mu);
    return rc;
}

int fci_io_fsync(fci_io_site site, int fd)
{
    return recorded_sync(site, fd, 0);
}

int fci_io_fdatasync(fci_io_site site, int fd)
{
    return recorded_sync(site, fd, 1);
}

/* rename with its fault hook and EINTR retry. */
static int rename_call(fci_io_site site, int dirfd, const char *from, const char *to)
{
    for (;;) {
        int e = hook(site, NULL);
        int rc = e ? fail(e)
                   : renameat(dirfd, fci_io_at_name(dirfd, from), dirfd,
                              fci_io_at_name(dirfd, to));
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

/* A rename, recorded when it succeeded (a directory change). */
int fci_io_rename(fci_io_site site, int dirfd, const char *from, const char *to)
{
    if (!recording())
        return rename_call(site, dirfd, from, to);
    pthread_mutex_lock(&rec.mu);
    int rc = record_if_ok(rename_call(site, dirfd, from, to),
                          &(fci_io_event){ .op = FCI_IO_OP_RENAME, .site = site, .fd = -1,
                                           .path = from, .to = to });
    pthread_mutex_unlock(&rec.mu);
    return rc;
}

/* unlink with its fault hook and EINTR retry. */
static int unlink_call(fci_io_site site, int dirfd, const char *path)
{
    for (;;) {
        int e = hook(site, NULL);
        int rc = e ? fail(e) : unlinkat(dirfd, fci_io_at_name(dirfd, path), 0);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

/* Removing a store file goes through here so that faults can be aimed at
 * it and the recorder sees the directory change. */
int fci_io_unlink(fci_io_site site, int dirfd, const char *path)
{
    if (!recording())
        return unlink_call(site, dirfd, path);
    pthread_mutex_lock(&rec.mu);
    int rc = record_if_ok(unlink_call(site, dirfd, path),
                          &(fci_io_event){ .op = FCI_IO_OP_UNLINK, .site = site, .fd = -1,
                                           .path = path });
    pthread_mutex_unlock(&rec.mu);
    return rc;
}

int fci_io_lstat(int dirfd, const char *path, struct stat *st)
{
    return fstatat(dirfd, fci_io_at_name(dirfd, path), st, AT_SYMLINK_NOFOLLOW);
}

/* "." opened relative to dirfd is the store's directory itself, whatever
 * its name leads to now; fdopendir takes the new descriptor over. */
DIR *fci_io_opendir(int dirfd, const char *path)
{
    if (dirfd == AT_FDCWD)
        return opendir(path); /* glibc opens it O_CLOEXEC */
    int fd;
    do
        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL && fd >= 0) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return d;
}

void *fci_io_mmap(fci_io_site site, void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
    for (;;) {
        int e = hook(site, NULL);
        void *m = e ? (fail(e), MAP_FAILED) : mmap(addr, len, prot, flags, fd, off);
        if (m != MAP_FAILED || errno != EINTR)
            return m;
    }
}

/* ftruncate with its fault hook and EINTR retry. */
static int truncate_call(fci_io_site site, int fd, uint64_t len)
{
    for (;;) {
        int e = hook(site, NULL);
        int rc = e ? fail(e) : ftruncate(fd, (off_t)len);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}

/* A truncate, recorded when it succeeded (it changes a file's data). */
int fci_io_ftruncate(fci_io_site site, int fd, uint64_t len)
{
    if (!recording())
        return truncate_call(site, fd, len);
    pthread_mutex_lock(&rec.mu);
    int rc = record_if_ok(truncate_call(site, fd, len),
                          &(fci_io_event){ .op = FCI_IO_OP_TRUNCATE, .site = site, .fd = fd,
                                           .len = len });
    pthread_mutex_unlock(&rec.mu);
    return rc;
}

/* posix_fallocate returns its error instead of setting errno: turned
 * into the -1-and-errno of every other wrapper. */
int fci_io_fallocate(fci_io_site site, int fd, uint64_t off, uint64_t len)
{
    for (;;) {
        int e = hook(site, NULL);
        if (!e && (e = posix_fallocate(fd, (off_t)off, (off_t)len)) == 0)
            return 0;
        if (e != EINTR) {
            errno = e;
            return -1;
        }
    }
}

int fci_io_fstat(fci_io_site site, int fd, struct stat *st)
{
    for (;;) {
        int e = hook(site, NULL);
        int rc = e ? fail(e) : fstat(fd, st);
        if (rc == 0 || errno != EINTR)
            return rc;
    }
}
