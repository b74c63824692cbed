/*
 * io.h - the thin layer every file system call of the library goes through.
 *
 * Each wrapper behaves like the system call it is named after, with the
 * retries production code wants done in one place: EINTR is retried, writes
 * are completed (a short write is continued, never returned), and reads
 * continue until the requested size or end of file (a short count means
 * the file ended: data, not an error). Failures return -1 (MAP_FAILED for
 * mmap) with errno set, so callers word their own message naming the file.
 *
 * Every call names its call site (FCI_IO_SITE_*), one per place in the
 * source that does I/O. The site lets tests aim faults at one place and
 * lets the fault suite prove that every site was made to fail at least once.
 *
 * Store files are reached through the store directory's descriptor, opened
 * once when the store opens: the calls that take a name (open, rename,
 * unlink) take a dirfd too. path stays the file's whole name, "DIR/NAME",
 * for messages and the recorder, but the call itself uses only NAME,
 * relative to dirfd, so a directory renamed or a symbolic link re-pointed
 * after the store opened is never followed to another directory. With
 * AT_FDCWD the call is an ordinary one on path.
 *
 * TEST ONLY: fci_io_fault_* below inject failures. The rule table is the
 * library's only global mutable state for I/O; it is empty and disarmed
 * unless a test arms it, and then every wrapper pays one relaxed atomic
 * load. It survives fork (a pthread_atfork handler keeps its lock sane).
 *
 * TEST ONLY: fci_io_record below hands every call that changes the file
 * system (open, write, sync, rename, truncate, unlink) to a test's function,
 * in the order the calls happened: the power-loss simulator
 * (tests/check_powerloss.c) builds crash states from that log. It shares
 * the same armed flag, so production pays nothing more.
 */
#ifndef FC_UTIL_IO_H
#define FC_UTIL_IO_H

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What kind of call a site makes; a fault rule may name a kind. */
typedef enum fci_io_kind {
    FCI_IO_OPEN,
    FCI_IO_READ,      /* read, pread */
    FCI_IO_WRITE,     /* write, pwrite */
    FCI_IO_SYNC,      /* fsync, fdatasync */
    FCI_IO_RENAME,
    FCI_IO_MMAP,
    FCI_IO_TRUNCATE,  /* ftruncate */
    FCI_IO_STAT,      /* fstat */
    FCI_IO_UNLINK,
    FCI_IO_ALLOCATE,  /* posix_fallocate */
    FCI_IO_KINDS
} fci_io_kind;

/* One value per place in src/ that calls the layer. Keep io.c's table
 * (name and kind of each) in the same order. */
typedef enum fci_io_site {
    FCI_IO_SITE_LOG_OPEN,          /* log writer: WAL and MANIFEST */
    FCI_IO_SITE_LOG_STAT,
    FCI_IO_SITE_LOG_APPEND,
    FCI_IO_SITE_LOG_SYNC,
    FCI_IO_SITE_LOG_PREALLOC,      /* zeros written ahead of the WAL's records */
    FCI_IO_SITE_LOG_TRIM,          /* ... cut off when the store closes */
    FCI_IO_SITE_LOG_READ_OPEN,     /* log reader: WAL and MANIFEST */
    FCI_IO_SITE_LOG_READ,
    FCI_IO_SITE_CURRENT_CREATE,    /* writing CURRENT through a temp file */
    FCI_IO_SITE_CURRENT_WRITE,
    FCI_IO_SITE_CURRENT_SYNC,
    FCI_IO_SITE_CURRENT_RENAME,
    FCI_IO_SITE_DIR_OPEN,          /* the store's directory, once per open handle */
    FCI_IO_SITE_DIR_SYNC,          /* fsync of it, after CURRENT's rename and new files */
    FCI_IO_SITE_CURRENT_OPEN,      /* reading CURRENT */
    FCI_IO_SITE_CURRENT_READ,
    FCI_IO_SITE_TABLE_CREATE,      /* a table being written: flush, compaction */
    FCI_IO_SITE_TABLE_WRITE,
    FCI_IO_SITE_TABLE_SYNC,
    FCI_IO_SITE_TABLE_OPEN,        /* tables read by gets and iterators */
    FCI_IO_SITE_TABLE_STAT,
    FCI_IO_SITE_TABLE_MMAP,
    FCI_IO_SITE_TABLE_PREAD,
    FCI_IO_SITE_COMPACT_OPEN,      /* compaction inputs */
    FCI_IO_SITE_COMPACT_STAT,
    FCI_IO_SITE_COMPACT_MMAP,
    FCI_IO_SITE_LOCK_OPEN,         /* the writer's LOCK */
    FCI_IO_SITE_LOCK_PROBE,        /* asking who holds LOCK (FC_ATTACH) */
    FCI_IO_SITE_VERIFY_TABLE_OPEN,
    FCI_IO_SITE_VERIFY_TABLE_STAT,
    FCI_IO_SITE_FRAME_TABLE_OPEN,  /* tables sampled to size cache frames */
    FCI_IO_SITE_FRAME_TABLE_STAT,
    FCI_IO_SITE_ARENA_OPEN,        /* the arena file */
    FCI_IO_SITE_ARENA_STAT,
    FCI_IO_SITE_ARENA_HEADER_READ,
    FCI_IO_SITE_ARENA_MMAP,
    FCI_IO_SITE_ARENA_MMAP_ANON,
    FCI_IO_SITE_ARENA_TRUNCATE,
    FCI_IO_SITE_ARENA_ALLOCATE,    /* its blocks, before the mapping writes */
    FCI_IO_SITE_ARENA_RENAME,
    FCI_IO_SITE_PROC_OPEN,         /* /proc/<pid>/stat for start times */
    FCI_IO_SITE_PROC_READ,
    FCI_IO_SITE_OPTIONS_OPEN,      /* the FORKCACHE options file */
    FCI_IO_SITE_OPTIONS_CREATE,
    FCI_IO_SITE_OPTIONS_WRITE,
    FCI_IO_SITE_OPTIONS_SYNC,
    FCI_IO_SITE_OPTIONS_RENAME,
    FCI_IO_SITE_OPTIONS_DIR_SYNC,
    FCI_IO_SITE_UNLINK,            /* removing a store file: obsolete or unfinished */
    FCI_IO_SITE_WRITERID_CREATE,   /* FORKCACHE-WRITER, the writer's identity */
    FCI_IO_SITE_WRITERID_WRITE,
    FCI_IO_SITE_WRITERID_RENAME,
    FCI_IO_SITE_WRITERID_OPEN,     /* reading it */
    FCI_IO_SITE_WRITERID_READ,
    FCI_IO_SITES
} fci_io_site;

int fci_io_open(fci_io_site site, int dirfd, const char *path, int flags, mode_t mode);

/*
 * Opens a store file that must be a regular file (CURRENT, a MANIFEST, a
 * WAL, a table, the options file), created or not. A symbolic link is
 * refused (O_NOFOLLOW); a FIFO or a device is refused without blocking
 * (O_NONBLOCK until fstat has said S_ISREG, then cleared unless the caller
 * asked for it). Returns the descriptor, or a negative FC_E* code with err
 * naming path and what it is ("a FIFO, not a regular file": FC_ECORRUPT)
 * or the system's reason; errno is that of the failed call (ENOENT stays
 * ENOENT, so callers can tell a missing file apart).
 */
struct fci_err;
int fci_io_open_regular(fci_io_site site, int dirfd, const char *path, int flags, mode_t mode,
                        struct fci_err *err);

/* Reads until n bytes or end of file; returns the count, or -1. */
ssize_t fci_io_read(fci_io_site site, int fd, void *buf, size_t n);
ssize_t fci_io_pread(fci_io_site site, int fd, void *buf, size_t n, uint64_t off);
/* Writes all n bytes; returns n, or -1 (a write of 0 bytes counts as EIO). */
ssize_t fci_io_write(fci_io_site site, int fd, const void *buf, size_t n);
ssize_t fci_io_pwrite(fci_io_site site, int fd, const void *buf, size_t n, uint64_t off);
struct iovec;
ssize_t fci_io_pwritev(fci_io_site site, int fd, struct iovec *iov, int n, uint64_t off);
int fci_io_fsync(fci_io_site site, int fd);
int fci_io_fdatasync(fci_io_site site, int fd);
/* Both names in the one directory of dirfd. */
int fci_io_rename(fci_io_site site, int dirfd, const char *from, const char *to);
void *fci_io_mmap(fci_io_site site, void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
int fci_io_ftruncate(fci_io_site site, int fd, uint64_t len);
int fci_io_fstat(fci_io_site site, int fd, struct stat *st);
int fci_io_unlink(fci_io_site site, int dirfd, const char *path);
/* The name the calls above hand the kernel for path: its last component,
 * or path itself with AT_FDCWD (for a caller's own *at call). */
const char *fci_io_at_name(int dirfd, const char *path);
/* lstat relative to dirfd (a link is not followed). Not a fault site: the
 * callers only look, to compare inodes. */
int fci_io_lstat(int dirfd, const char *path, struct stat *st);
/* The directory of dirfd listed (path when dirfd is AT_FDCWD), on a
 * descriptor of its own, close-on-exec; closedir when done. NULL with
 * errno set. */
DIR *fci_io_opendir(int dirfd, const char *path);
/* posix_fallocate, but -1 with errno set like the other wrappers. */
int fci_io_fallocate(fci_io_site site, int fd, uint64_t off, uint64_t len);

/* The site's name ("log_append") and kind, for tests and messages. */
const char *fci_io_site_name(int site);
int fci_io_site_kind(int site);

/* ---- TEST ONLY: fault injection ------------------------------------------ */

#define FCI_IO_ANY (-1)

/* A rule: among calls matching kind and site (FCI_IO_ANY for any), the
 * nth from now (1 = the next) and the count-1 after it (count 0: every one
 * until cleared) fail with errno err; err 0 makes them short instead, moving
 * short_by fewer bytes (at least one byte still moves). With period p > 1
 * only every pth matching call from the nth on is hit (count counts the
 * hits): period 2 with EINTR interrupts every call once. Never arm EINTR
 * with count 0 and no period: the retry would loop for ever. */
typedef struct fci_io_fault {
    int kind;
    int site;
    unsigned nth;
    unsigned count;
    int err;
    size_t short_by;
    unsigned period;
} fci_io_fault;

/* Adds a rule (at most 8 at once) and arms the layer; 0 or -1 if full. */
int fci_io_fault_arm(const fci_io_fault *f);
/* Removes every rule; counting goes on while the layer stays armed. */
void fci_io_fault_clear(void);
/* Arms counting of calls per site (rules arm it too); off also clears. */
void fci_io_hooks_enable(int on);
/* Per-site figures since the last reset: calls seen while armed, and
 * faults injected. */
uint64_t fci_io_site_calls(int site);
uint64_t fci_io_site_faults(int site);
void fci_io_counters_reset(void);

/* ---- TEST ONLY: recording the calls that change the file system ---------- */

typedef enum fci_io_op {
    FCI_IO_OP_OPEN,       /* path, flags (O_CREAT, O_TRUNC, O_DIRECTORY...), fd */
    FCI_IO_OP_WRITE,      /* fd, off, len, the bytes in iov[0..iovcnt) */
    FCI_IO_OP_SYNC,       /* fd; datasync tells fdatasync from fsync */
    FCI_IO_OP_RENAME,     /* path to `to` */
    FCI_IO_OP_TRUNCATE,   /* fd, to len bytes */
    FCI_IO_OP_UNLINK      /* path */
} fci_io_op;

/* One successful call, as the recorder sees it; the pointers are valid
 * only during the recorder's call. Paths are as the library named them. */
typedef struct fci_io_event {
    fci_io_op op;
    int site;
    int fd;
    int flags;
    int datasync;
    const char *path;
    const char *to;
    uint64_t off;
    uint64_t len;
    const struct iovec *iov;
    int iovcnt;
} fci_io_event;

typedef void (*fci_io_recorder)(void *arg, const fci_io_event *ev);

/* Starts handing every successful mutating call (and every open) to fn,
 * or stops when fn is NULL. While recording, such calls are serialised
 * under one lock, call and record together, so the log's order is the
 * order the kernel saw them in. fn must not call the I/O layer. */
void fci_io_record(fci_io_recorder fn, void *arg);

#endif
