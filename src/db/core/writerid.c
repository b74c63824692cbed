/*
 * writerid.c - the writer's identity file, the writer's re-check of LOCK,
 * and what an attached process learns from them (see writerid.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/writerid.h"
#include "format/filename.h"
#include "shm/layout.h"
#include "util/io.h"
#include "util/proc.h"

#define BOOT_ID_MAX 40

/* This boot's id ("-" when /proc does not say): a pid and start time
 * written before a reboot may name an unrelated process after it. */
static void boot_id(char *out, size_t cap)
{
    snprintf(out, cap, "-");
    int fd = fci_io_open(FCI_IO_SITE_PROC_OPEN, AT_FDCWD, "/proc/sys/kernel/random/boot_id",
                         O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    char buf[BOOT_ID_MAX];
    ssize_t n = fci_io_read(FCI_IO_SITE_PROC_READ, fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    buf[strcspn(buf, "\n ")] = '\0';
    if (buf[0] != '\0')
        snprintf(out, cap, "%s", buf);
}

/* Alive, the same process (start time), and not a zombie. */
static int process_live(long pid, uint64_t start)
{
    return pid > 0 && fci_proc_alive((int)pid, start) && !fci_proc_zombie((int)pid);
}

static void id_path(char *out, size_t cap, const char *dir, const char *suffix)
{
    snprintf(out, cap, "%s/%s%s", dir, FCI_WRITERID_FILE, suffix);
}

/* Reads the file's one line; 0 when it is a regular file that parses.
 * O_NONBLOCK: a FIFO planted under the name must not hang the open. */
static int read_id(int dirfd, const char *dir, long *pid, unsigned long long *start, char *boot)
{
    char path[PATH_MAX + 32], buf[256];
    id_path(path, sizeof path, dir, "");
    int fd = fci_io_open(FCI_IO_SITE_WRITERID_OPEN, dirfd, path,
                         O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = fci_io_read(FCI_IO_SITE_WRITERID_READ, fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return sscanf(buf, "forkcache-writer pid %ld start %llu boot %39s", pid, start, boot) == 3
               ? 0 : -1;
}

int fci_writerid_read(int dirfd, const char *dir, long *pid)
{
    long p;
    unsigned long long start;
    char boot[BOOT_ID_MAX], now[BOOT_ID_MAX];
    *pid = 0;
    if (read_id(dirfd, dir, &p, &start, boot) != 0)
        return FCI_WRITERID_NONE;
    boot_id(now, sizeof now);
    if (strcmp(boot, now) != 0 && strcmp(boot, "-") != 0 && strcmp(now, "-") != 0)
        return FCI_WRITERID_NONE; /* written before a reboot */
    if (p == (long)fci_getpid()) {
        /* our pid: us, unless an earlier process with this pid wrote it
         * (an unreadable start time of our own counts as us) */
        uint64_t mine = fci_proc_start_time(fci_getpid());
        return mine == 0 || mine == start ? FCI_WRITERID_SELF : FCI_WRITERID_NONE;
    }
    if (!process_live(p, start))
        return FCI_WRITERID_NONE;
    *pid = p;
    return FCI_WRITERID_OTHER;
}

/* A temporary file renamed over the name, so a reader sees the old line or
 * the new one, never half of one. Not synced: after a crash the process it
 * names is gone anyway. Only the LOCK holder writes, so the temporary
 * name is fixed. */
int fci_writerid_write(int dirfd, const char *dir, unsigned file_mode, fci_err *err)
{
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32], line[160], boot[BOOT_ID_MAX];
    id_path(tmp, sizeof tmp, dir, ".tmp");
    id_path(path, sizeof path, dir, "");
    boot_id(boot, sizeof boot);
    int len = snprintf(line, sizeof line, "forkcache-writer pid %ld start %llu boot %s\n",
                       (long)fci_getpid(),
                       (unsigned long long)fci_proc_start_time(fci_getpid()), boot);
    /* O_NOFOLLOW below refuses a link: a stale one goes first */
    unlinkat(dirfd, fci_io_at_name(dirfd, tmp), 0);
    int fd = fci_io_open(FCI_IO_SITE_WRITERID_CREATE, dirfd, tmp,
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file_mode);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "create %s", tmp);
    int rc = 0;
    if (fci_io_write(FCI_IO_SITE_WRITERID_WRITE, fd, line, (size_t)len) != len)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "write %s", tmp);
    close(fd);
    if (rc == 0 && fci_io_rename(FCI_IO_SITE_WRITERID_RENAME, dirfd, tmp, path) != 0)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "rename %s to %s", tmp, path);
    if (rc != 0)
        unlinkat(dirfd, fci_io_at_name(dirfd, tmp), 0);
    return rc;
}

/* LOCK still ours: while we hold the lock on the file at LOCK's name,
 * nobody else can have written the identity file. */
static int lock_still_ours(const fc_store *s)
{
    char path[PATH_MAX];
    struct stat held, now;
    fci_filename(path, sizeof path, s->dir, FCI_FILE_LOCK, 0);
    return s->w->lock_fd >= 0 && !s->w->lock_lost && fstat(s->w->lock_fd, &held) == 0 &&
           fci_io_lstat(s->dirfd, path, &now) == 0 && held.st_dev == now.st_dev &&
           held.st_ino == now.st_ino;
}

/* Removed without reading it first: a failed read would leave our name
 * behind, and this process's next open would take it for a live writer. */
void fci_writerid_remove(const fc_store *s)
{
    char path[PATH_MAX + 32];
    if (!lock_still_ours(s))
        return;
    id_path(path, sizeof path, s->dir, "");
    unlinkat(s->dirfd, fci_io_at_name(s->dirfd, path), 0);
}

/* mu held. From now on this handle writes nothing: every write and every
 * background step fails with the reason. */
static int writer_lost(fc_store *s, fci_err *err, long pid, const char *what)
{
    fci_writer *w = s->w;
    w->lock_lost = 1;
    fci_err_set(&w->lock_err, FC_EBUSY, "%s: process %ld %s (LOCK or %s was removed under "
                "this writer): another writer may have got in, so this one stops writing",
                s->dir, pid, what, FCI_WRITERID_FILE);
    return fci_err_set(err, FC_EBUSY, "%s", w->lock_err.msg);
}

/* mu held. LOCK vanished or is another file: lock the file now at the
 * name, unless another process holds it or names itself the writer. The
 * old descriptor is closed only once the new lock is ours. */
static int relock(fc_store *s, const char *path, fci_err *err)
{
    fci_writer *w = s->w;
    int fd = fci_io_open(FCI_IO_SITE_LOCK_OPEN, s->dirfd, path,
                         O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, s->opts.file_mode);
    if (fd < 0) /* not sticky: the next check tries again */
        return fci_err_errno(err, fci_errno_code(errno), errno,
                             "%s vanished and cannot be made again", path);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        long holder = fcntl(fd, F_GETLK, &who) == 0 ? (long)who.l_pid : -1;
        close(fd);
        return writer_lost(s, err, holder, "holds a new LOCK");
    }
    long other;
    if (fci_writerid_read(s->dirfd, s->dir, &other) == FCI_WRITERID_OTHER) {
        close(fd); /* drops our lock on the new file */
        return writer_lost(s, err, other, "names itself the writer");
    }
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* the lock on the old, unlinked file goes with it */
    w->lock_fd = fd;
    return fci_writerid_write(s->dirfd, s->dir, s->opts.file_mode, err);
}

/* LOCK's name and the locked descriptor must still agree, and the
 * identity file must name this process: a removed one is written again,
 * one naming another live process means a second writer (a dozen system
 * calls, once per MANIFEST edit or new WAL). */
int fci_writer_lock_check(fc_store *s, fci_err *err)
{
    fci_writer *w = s->w;
    if (w->lock_lost)
        return fci_err_set(err, FC_EBUSY, "%s", w->lock_err.msg);
    char path[PATH_MAX];
    struct stat held, now;
    fci_filename(path, sizeof path, s->dir, FCI_FILE_LOCK, 0);
    if (w->lock_fd < 0 || fstat(w->lock_fd, &held) != 0 ||
        fci_io_lstat(s->dirfd, path, &now) != 0 ||
        held.st_dev != now.st_dev || held.st_ino != now.st_ino)
        return relock(s, path, err);
    long other;
    int who = fci_writerid_read(s->dirfd, s->dir, &other);
    if (who == FCI_WRITERID_OTHER)
        return writer_lost(s, err, other, "names itself the writer");
    return who == FCI_WRITERID_SELF ? 0
                                    : fci_writerid_write(s->dirfd, s->dir, s->opts.file_mode, err);
}

int fci_writer_lock_guard(void *arg, fci_err *err)
{
    return fci_writer_lock_check(arg, err);
}

/* The slow half of fci_store_stale: the arena's writer closed; has a new
 * writer put another arena file at the path? */
static int replaced(const fci_arena *a)
{
    struct stat mine, now;
    if (a->fd < 0 || fstat(a->fd, &mine) != 0 || fci_io_lstat(a->dirfd, a->path, &now) != 0)
        return 0;
    return mine.st_dev != now.st_dev || mine.st_ino != now.st_ino;
}

int fci_store_stale(fc_store *s, fci_err *err)
{
    fci_arena *a = s->arena;
    if (s->role != FCI_ROLE_READER || a == NULL || a->path == NULL)
        return 0;
    /* acquire: pairs with the release of a writer's close or of the new
     * writer's retirement mark; the decision rests on the value alone */
    uint64_t owner = atomic_load_explicit(&a->hdr->writer_owner, memory_order_acquire);
    if (owner != FCI_WRITER_RETIRED && (owner != 0 || !replaced(a)))
        return 0;
    long pid = 0;
    fci_writerid_read(s->dirfd, s->dir, &pid);
    char now[32] = "";
    if (pid > 0)
        snprintf(now, sizeof now, " (pid %ld)", pid);
    return fci_err_set(err, FC_ESTALE, "%s: arena %s is stale: its writer has gone and a new "
                       "writer%s runs the store with another arena; close this handle and "
                       "open the store again", s->dir, a->path, now);
}

int fci_store_writer_pid(fc_store *s)
{
    fci_arena_header *h = s->arena->hdr;
    /* relaxed: figures for stats, read again on every call */
    int pid = FCI_OWNER_PID(atomic_load_explicit(&h->writer_owner, memory_order_relaxed));
    uint64_t start = atomic_load_explicit(&h->writer_start, memory_order_relaxed);
    if (pid <= 0)
        return 0;
    if (s->w != NULL && pid == (int)s->pid)
        return pid;
    return process_live(pid, start) ? pid : 0;
}
