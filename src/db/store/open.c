/*
 * open.c - opening and closing a store: options, the LOCK file, the arena,
 * recovery, and what a forked child must do before it reads.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/proc.h"
#include "db/store/framesize.h"
#include "db/store/memsize.h"
#include "util/memlimit.h"
#include "db/core/store.h"
#include "db/core/fork.h"
#include "db/core/ttl.h"
#include "format/filename.h"
#include "shm/layout.h"
#include "shm/bcache.h"
#include "shm/counters.h"
#include "util/io.h"
#include "db/write/write.h"
#include "db/write/lane.h"
#include "db/store/compute.h"
#include "db/read/read.h"
#include "db/core/publish.h"
#include "db/core/writerid.h"
#include "db/bg/bg.h"
#include "db/bg/follow.h"
#include "db/core/follow.h"
#include "db/write/clear.h"
#include "db/store/open.h"


/* LOCK is ours: unless FORKCACHE-WRITER names a live writer (then LOCK
 * was removed under it and our lock is on a new file), name this process
 * the writer. Refused, the new LOCK is left unlocked for that writer to
 * take back (core/writerid.c). */
static int claim_identity(fc_store *s, fci_writer *w, fci_err *err)
{
    long pid;
    int who = fci_writerid_read(s->dirfd, s->dir, &pid);
    if (who == FCI_WRITERID_NONE)
        return fci_writerid_write(s->dirfd, s->dir, s->opts.file_mode, err);
    close(w->lock_fd);
    w->lock_fd = -1;
    if (who == FCI_WRITERID_SELF)
        return fci_err_set(err, FC_EBUSY, "%s: this process (pid %ld) is its writer already "
                           "(%s names it; LOCK was removed): one process opens a store once",
                           s->dir, (long)fci_getpid(), FCI_WRITERID_FILE);
    return fci_err_set(err, FC_EBUSY, "%s: process %ld is its writer (%s names it, and it is "
                       "alive) though it does not hold LOCK: was LOCK removed?", s->dir, pid,
                       FCI_WRITERID_FILE);
}

/* The writer's exclusive claim on the directory. An fcntl lock, as LevelDB
 * takes it, so real LevelDB refuses to open the store while we write it. It
 * belongs to this process and is not inherited by children. The lock alone
 * is not enough: if LOCK was removed, the lock we just took is on a new
 * file, so the writer named in FORKCACHE-WRITER is asked too. */
static int take_lock(fc_store *s, fci_writer *w, fci_err *err)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, s->dir, FCI_FILE_LOCK, 0);
    w->lock_fd = fci_io_open(FCI_IO_SITE_LOCK_OPEN, s->dirfd, path,
                             O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, s->opts.file_mode);
    if (w->lock_fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "open %s", path);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(w->lock_fd, F_SETLK, &fl) == 0)
        return claim_identity(s, w, err);
    int saved = errno;
    struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    long holder = fcntl(w->lock_fd, F_GETLK, &who) == 0 ? (long)who.l_pid : -1;
    close(w->lock_fd);
    w->lock_fd = -1;
    if (saved == EAGAIN || saved == EACCES)
        return fci_err_set(err, FC_EBUSY, "%s is locked by process %ld (another writer)",
                           path, holder);
    return fci_err_errno(err, FC_EIO, saved, "lock %s", path);
}

static int make_dir(const fc_store *s, fci_err *err)
{
    /* Directories need x where files have r: widen like file_mode does. */
    mode_t mode = 0700 | ((s->opts.file_mode & 0040) ? 0050 : 0) |
                  ((s->opts.file_mode & 0004) ? 0005 : 0);
    if (mkdir(s->dir, mode) == 0 || errno == EEXIST)
        return 0;
    return fci_err_errno(err, fci_errno_code(errno), errno, "mkdir %s", s->dir);
}

/* The name is resolved once, here: every store file is then reached
 * through this descriptor (util/io.h), whatever the name leads to later. A
 * symbolic link to the directory is followed now, and only now. */
static int open_dir(fc_store *s, fci_err *err)
{
    s->dirfd = fci_io_open(FCI_IO_SITE_DIR_OPEN, AT_FDCWD, s->dir,
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (s->dirfd >= 0)
        return 0;
    int e = errno;
    if (e == ENOTDIR)
        return fci_err_set(err, FC_EINVAL, "%s: not a directory", s->dir);
    if (e == ENOENT)
        return fci_err_set(err, FC_ENOTFOUND, "%s: no such directory%s", s->dir,
                           (s->opts.flags & FC_CREATE) ? "" : " (and FC_CREATE not set)");
    return fci_err_errno(err, fci_errno_code(e), e, "%s: open directory", s->dir);
}

/* A writer creates files in the directory, so whoever else may write it
 * could plant links or files under the names it writes next: as ssh does
 * for its files, the directory must be owned by this user or root and not
 * writable by others (group-writable is allowed, for a group of
 * cooperating users). Asked of the open descriptor, so the directory
 * checked is the one every file goes into. */
static int check_dir(const fc_store *s, fci_err *err)
{
    struct stat st;
    if (fstat(s->dirfd, &st) != 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "%s: fstat", s->dir);
    if (!S_ISDIR(st.st_mode))
        return fci_err_set(err, FC_EINVAL, "%s: not a directory", s->dir);
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return fci_err_set(err, FC_EPERM, "%s: owned by uid %u, not by this user (uid %u) or "
                           "root: another user could plant files in it", s->dir,
                           (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & S_IWOTH)
        return fci_err_set(err, FC_EPERM, "%s: writable by every user (mode %04o): another "
                           "user could plant files in it", s->dir, (unsigned)(st.st_mode & 07777));
    return 0;
}

/* The arena file for a path option: NULL = anonymous (no file), "" = the
 * conventional FC_ARENA_FILE in the store directory, reached through the
 * store's descriptor (*dirfd), else the path as given (AT_FDCWD). */
static const char *arena_file(const fc_store *s, char *buf, size_t cap, int *dirfd)
{
    const char *p = s->opts.arena_path;
    *dirfd = AT_FDCWD;
    if (p == NULL || *p != '\0')
        return p;
    snprintf(buf, cap, "%s/%s", s->dir, FC_ARENA_FILE);
    *dirfd = s->dirfd;
    return buf;
}

/* A file-backed arena left by a writer that is gone is marked retired, so
 * a process still attached to it fails with FC_ESTALE (core/writerid.c)
 * instead of serving its last version while this writer writes elsewhere.
 * Best effort: an arena that cannot be attached has nobody attached that
 * could be misled by it either. */
static void retire_arena(int dirfd, const char *path)
{
    fci_arena *old;
    fci_err e;
    struct stat st;
    fci_err_clear(&e);
    if (path == NULL || fci_io_lstat(dirfd, path, &st) != 0 ||
        fci_arena_attach_at(dirfd, path, &old, &e) != 0)
        return;
    fci_arena_header *h = old->hdr;
    /* relaxed loads: the owners' words are judged by the processes they
     * name, whose liveness is asked of the kernel */
    int32_t creator = atomic_load_explicit(&h->owner_pid, memory_order_relaxed);
    uint64_t cstart = atomic_load_explicit(&h->owner_start, memory_order_relaxed);
    int writer = FCI_OWNER_PID(atomic_load_explicit(&h->writer_owner, memory_order_relaxed));
    uint64_t wstart = atomic_load_explicit(&h->writer_start, memory_order_relaxed);
    if ((creator <= 0 || !fci_proc_alive(creator, cstart)) &&
        (writer <= 0 || !fci_proc_alive(writer, wstart))) {
        /* release: pairs with fci_store_stale's acquire */
        atomic_store_explicit(&h->writer_owner, FCI_WRITER_RETIRED, memory_order_release);
        fci_arena_seq_changed(old); /* fc_wait's sleepers look at the mark now */
    }
    fci_arena_detach(old);
}

/* Retires the arena file this writer will replace and, when its own arena
 * is elsewhere (or anonymous), the conventional one in the directory. */
static void retire_old_arenas(const fc_store *s)
{
    char mine[PATH_MAX + 32], conv[PATH_MAX + 32];
    int dirfd;
    const char *path = arena_file(s, mine, sizeof mine, &dirfd);
    snprintf(conv, sizeof conv, "%s/%s", s->dir, FC_ARENA_FILE);
    retire_arena(dirfd, path);
    if (path == NULL || strcmp(path, conv) != 0)
        retire_arena(s->dirfd, conv);
}

static int open_arena(fc_store *s, fci_err *err)
{
    char path[PATH_MAX + 32];
    fci_arena_config cfg;
    fci_arena_config_init(&cfg);
    cfg.size = s->opts.arena_size;
    cfg.reader_slots = (uint32_t)s->opts.reader_slots;
    cfg.max_mappings = (uint32_t)s->opts.max_mappings;
    cfg.max_mapped_bytes = fci_mapped_cap_for(s->opts.max_mapped_bytes, fci_memory_limit());
    cfg.path = arena_file(s, path, sizeof path, &cfg.dirfd);
    cfg.file_mode = s->opts.file_mode;
    cfg.store_dir = s->dir;
    return fci_arena_create(&cfg, &s->arena, err);
}

/* The pid of another process holding the store's LOCK, 0 if none. F_GETLK
 * only asks; nothing is locked. (Closing this descriptor would drop a lock
 * this process held on LOCK: one process opens a store once.) */
static long lock_holder(const fc_store *s)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, s->dir, FCI_FILE_LOCK, 0);
    int fd = fci_io_open(FCI_IO_SITE_LOCK_PROBE, s->dirfd, path,
                         O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0)
        return 0;
    struct flock who = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    long pid = fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK ? (long)who.l_pid : 0;
    close(fd);
    return pid;
}

/* Whether this process holds the fcntl lock on dir/LOCK already, as
 * /proc/locks tells (pid and inode). fcntl locks belong to the process: a
 * second open would "take" the lock again and make a second writer, and
 * closing any descriptor of LOCK would drop the first open's lock, so the
 * question is asked without opening LOCK. */
static int lock_held_here(const fc_store *s)
{
    char path[PATH_MAX], line[256], kind[16];
    struct stat st;
    fci_filename(path, sizeof path, s->dir, FCI_FILE_LOCK, 0);
    if (fci_io_lstat(s->dirfd, path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "re");
    if (f == NULL)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        /* "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (waiters: "1: -> ...") */
        found = sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min,
                       &ino) == 5 &&
                strcmp(kind, "POSIX") == 0 && pid == (long)s->pid && ino == st.st_ino;
    }
    fclose(f);
    return found;
}

/* Joins a running writer's file-backed arena as a reader whose writes go
 * through the writer's queue. The arena must name this store: the
 * directory it records is the one this handle opened (same inode). */
static int attach_to_writer(fc_store *s, long holder, fci_err *err)
{
    char buf[PATH_MAX + 32];
    int dirfd = AT_FDCWD;
    const char *path = s->opts.arena_path && *s->opts.arena_path ? s->opts.arena_path : NULL;
    if (path == NULL) {
        snprintf(buf, sizeof buf, "%s/%s", s->dir, FC_ARENA_FILE);
        path = buf;
        dirfd = s->dirfd;
    }
    struct stat mine, theirs;
    int rc = fci_arena_attach_at(dirfd, path, &s->arena, err);
    if (rc == FC_ENOTFOUND || (rc != 0 && fci_io_lstat(dirfd, path, &theirs) != 0))
        return fci_err_set(err, FC_EBUSY, "%s: the writer (pid %ld) has no arena file %s to "
                                          "attach to (it must use a file-backed arena)",
                           s->dir, holder, path);
    if (rc != 0)
        return rc;
    const char *dir = fci_arena_store_dir(s->arena);
    if (fstat(s->dirfd, &mine) != 0 || dir == NULL || stat(dir, &theirs) != 0 ||
        mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino)
        return fci_err_set(err, FC_EINVAL, "%s: arena %s belongs to store %s", s->dir, path,
                           dir ? dir : "(none)");
    s->role = FCI_ROLE_READER;
    return 0;
}

static fci_writer *writer_new(void)
{
    fci_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->lock_fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    fci_batch_init(&w->scratch);
    return w;
}


/* Recovery: MANIFEST, then every live WAL into memtables (flushed to L0
 * tables as they fill), then one edit that records the tables and the new
 * WAL in a new MANIFEST. */
static int recover(fc_store *s, fci_err *err)
{
    fci_writer *w = s->w;
    int rc = fci_vset_init(&w->vs, s->dirfd, s->dir, s->opts.file_mode);
    if (rc != 0)
        return fci_err_set(err, rc, "out of memory");
    if (fci_vset_exists(s->dirfd, s->dir)) {
        rc = fci_vset_recover(&w->vs, (s->opts.flags & FC_BEST_EFFORT) != 0, err);
    } else if (s->opts.flags & FC_CREATE) {
        rc = fci_vset_create(&w->vs, err);
    } else {
        return fci_err_set(err, FC_ENOTFOUND, "%s: no store (no CURRENT) and FC_CREATE not set",
                           s->dir);
    }
    if (rc != 0)
        return rc;
    rc = fci_memchunks_memtable(s, &w->mem, &w->mem_chunks);
    if (rc != 0)
        return fci_err_set(err, rc, "arena: no room for a memtable");
    fci_version_edit edit;
    fci_edit_init(&edit);
    rc = fci_store_recover_wals(s, &edit);
    if (rc != 0)
        fci_err_set(err, rc, "%s", fc_errmsg(s));
    if (rc == 0)
        rc = fci_wal_new(s, err);
    if (rc == 0) {
        w->mem_wal = w->wal_number;
        fci_edit_set_log_number(&edit, w->wal_number);
        rc = fci_vset_log_and_apply(&w->vs, &edit, err);
    }
    /* The tables recovery flushed are in the version now (or abandoned):
     * none is pending any more, so the obsolete-file sweep at open may
     * remove what a crash left above their numbers. */
    w->pending_flush = 0;
    fci_edit_free(&edit);
    return rc;
}

/* The operation counters (shm/counters.h), allocated under mu as all the
 * writer's arena memory is; an arena too small for them counts nothing. */
static void counters_create(fc_store *s)
{
    pthread_mutex_lock(&s->w->mu);
    fci_counters_create(s->arena, NULL);
    pthread_mutex_unlock(&s->w->mu);
}

static int open_writer(fc_store *s, fci_err *err)
{
    s->w = writer_new();
    if (s->w == NULL)
        return fci_err_set(err, FC_ENOMEM, "out of memory");
    int rc = check_dir(s, err);
    if (rc == 0)
        rc = take_lock(s, s->w, err);
    if (rc == 0) /* before recovery: tables it writes follow the framing */
        rc = fci_options_prepare(s, (s->opts.flags & FC_CREATE) != 0, err);
    if (rc == 0) {
        retire_old_arenas(s);
        rc = open_arena(s, err);
    }
    if (rc == 0) /* the shared block cache, carved before anything else */
        rc = fci_frame_bcache_create(s, err);
    if (rc == 0) /* the expiry clock and counters, before any thread uses them */
        rc = fci_ttl_attach(s, err);
    if (rc == 0)
        counters_create(s);
    if (rc == 0) /* clears and the Redis link, before a reader may attach */
        rc = fci_follow_create(s, err);
    if (rc == 0) {
        /* Stats in every process name the writer; relaxed, it is a figure. */
        fci_arena_header *h = s->arena->hdr;
        atomic_store_explicit(&h->writer_start, fci_proc_start_time(fci_getpid()),
                              memory_order_relaxed);
        atomic_store_explicit(&h->writer_owner, FCI_OWNER_MAKE(fci_getpid(), 0),
                              memory_order_relaxed);
        rc = recover(s, err);
    }
    if (rc == 0) {
        pthread_mutex_lock(&s->w->mu);
        /* From now on every MANIFEST append holds mu: let it release mu
         * for the append's fdatasync. */
        s->w->vs.mu = &s->w->mu;
        /* ... and first makes sure LOCK is still ours (core/writerid.c) */
        s->w->vs.guard = fci_writer_lock_guard;
        s->w->vs.guard_arg = s;
        rc = fci_store_publish(s);
        fci_follow_recovered(s); /* no new write under an old clear */
        /* Recovered entries are visible from the first transaction on. */
        fci_arena_publish_last_seq(s->arena, s->w->vs.last_sequence);
        fci_delete_obsolete_files(s);
        pthread_mutex_unlock(&s->w->mu);
    }
    if (rc == 0) /* before any other process can write: the write lock */
        rc = fci_lane_create(s, err);
    if (rc == 0)
        rc = fci_queue_create(s, err);
    if (rc == 0)
        rc = fci_compute_create(s, err);
    if (rc == 0)
        rc = fci_bg_start(s);
    if (rc == 0)
        rc = fci_queue_start(s);
    if (rc == 0)
        rc = fci_follower_start(s, err);
    return rc;
}

/* Which role this handle takes, and taking it: a second open in the
 * writer's own process is refused, FC_ATTACH joins a running writer, else
 * a read-only open or the writer's. */
static int open_role(fc_store *s, int ro, fci_err *err)
{
    long holder = 0;
    if (!ro && lock_held_here(s))
        return fci_err_set(err, FC_EBUSY, "%s: this process (pid %ld) is its writer already: "
                           "one process opens a store once", s->dir, (long)s->pid);
    if (!ro && (s->opts.flags & FC_ATTACH) &&
        ((holder = lock_holder(s)) > 0 ||
         fci_writerid_read(s->dirfd, s->dir, &holder) == FCI_WRITERID_OTHER))
        return attach_to_writer(s, holder, err);
    if (s->opts.flags & FC_READONLY) {
        s->role = FCI_ROLE_READONLY;
        return fci_open_readonly(s, err);
    }
    s->role = FCI_ROLE_WRITER;
    return open_writer(s, err);
}

static fc_store *store_new(const char *dir, const fc_options *opts)
{
    fc_store *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->err_mu, NULL);
    if (opts != NULL)
        s->opts = *opts;
    else
        fc_options_init(&s->opts);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->dirfd = -1;
    s->pid = fci_getpid();
    fci_spin_init(&s->rd.lock);
    if (fci_tcache_init(&s->tcache) != 0) {
        pthread_mutex_destroy(&s->err_mu);
        free(s);
        return NULL;
    }
    return s;
}

static void writer_free(fc_store *s);

/* An argument check failed before any handle existed: the reason goes
 * where fc_errmsg(NULL) finds it, like any other failed open. */
#define open_refused(err, ...) \
    (fci_err_set((err), FC_EINVAL, __VA_ARGS__), fci_open_failed(err), FC_EINVAL)

int fc_open(const char *dir, const fc_options *opts, fc_store **out)
{
    fci_err err;
    fci_err_clear(&err);
    if (out == NULL)
        return open_refused(&err, "fc_open: out is NULL");
    *out = NULL;
    if (dir == NULL || *dir == '\0' || strnlen(dir, PATH_MAX) >= PATH_MAX - 32)
        return open_refused(&err, "fc_open: dir is NULL, empty or longer than %d bytes",
                            PATH_MAX - 33);
    const char *why = NULL;
    if (opts != NULL && fc_options_validate(opts, &why) != 0)
        return open_refused(&err, "fc_open: bad options: %s", why);
    if (!fci_urcu_usable())
        return open_refused(&err, "this process was made by fork() after its parent opened a "
                                  "store: fork with fc_fork() (liburcu needs its fork hooks)");
    fc_store *s = store_new(dir, opts);
    if (s == NULL) { /* no handle either: fc_errmsg(NULL) must say why */
        fci_err_set(&err, FC_ENOMEM, "%s: out of memory for the store handle", dir);
        fci_open_failed(&err);
        return FC_ENOMEM;
    }
    int ro = (s->opts.flags & (FC_READONLY | FC_ATTACH)) == FC_READONLY;
    int rc = !ro && (s->opts.flags & FC_CREATE) ? make_dir(s, &err) : 0;
    if (rc == 0)
        rc = open_dir(s, &err);
    if (rc == 0)
        rc = open_role(s, ro, &err);
    if (rc == 0 && s->role != FCI_ROLE_WRITER)
        rc = fci_options_prepare(s, 0, &err);
    if (rc == 0 && s->role != FCI_ROLE_WRITER)
        rc = fci_ttl_attach(s, &err);
    if (rc == 0 && s->role == FCI_ROLE_READER)
        fci_follow_attach(s);
    else if (rc == 0 && s->role == FCI_ROLE_READONLY) /* its own arena: the store's clears */
        rc = fci_follow_create(s, &err);
    if (rc != 0) {
        fci_err_prefix(&err, rc, s->dir);
        fci_open_failed(&err);
        fc_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void writer_free(fc_store *s)
{
    fci_writer *w = s->w;
    if (w == NULL)
        return;
    if (w->wal_number != 0)
        fci_log_writer_close(&w->wal, NULL);
    fci_vset_free(&w->vs);
    fci_memchunks_free(w->mem_chunks);
    fci_memchunks_free(w->imm_chunks);
    while (w->retired) {
        fci_retired *r = w->retired;
        w->retired = r->next;
        fci_memchunks_free(r->mem);
        free(r);
    }
    fci_batch_free(&w->scratch);
    fci_writerid_remove(s); /* while LOCK is still held */
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* releases the fcntl lock */
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    free(w);
    s->w = NULL;
}

/* A clean close cuts the WAL's zero fill off (what recovery reads is then
 * just the records) and syncs it, records and size together. */
static int close_wal(fci_log_writer *wal)
{
    int rc = fci_log_writer_trim(wal, NULL);
    int sync_rc = fci_log_writer_sync(wal, NULL);
    return rc != 0 ? rc : sync_rc;
}

int fc_close(fc_store *s)
{
    if (s == NULL)
        return FC_EINVAL;
    int rc = 0;
    if (s->w != NULL && s->pid == fci_getpid()) {
        fci_follower_stop(s);
        fci_lane_close(s); /* leaders hand over; the drain applies the rest */
        fci_queue_stop(s);
        fci_bg_stop(s);
        if (s->arena != NULL) {
            atomic_store_explicit(&s->arena->hdr->writer_owner, 0, memory_order_relaxed);
            fci_arena_seq_changed(s->arena); /* fc_wait's sleepers look again */
        }
        rc = s->w->bg_error;
        if (s->w->wal_number != 0 && close_wal(&s->w->wal) != 0 && rc == 0)
            rc = FC_EIO;
    }
    fci_leader_free(s);
    fci_reader_state_free(&s->rd);
    fci_tcache_free(&s->tcache);
    if (s->pid == fci_getpid())
        writer_free(s);
    else
        free(s->w); /* a child's copy: the parent owns the files and the lock */
    if (s->arena != NULL)
        fci_arena_detach(s->arena);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->err_mu);
    free(s);
    return rc;
}

/* In the child the writer's descriptors, lock and thread do not carry over
 * (the fcntl lock and the thread stay with the parent), so the child is a
 * reader with a slot of its own. Its inherited table mappings are dropped:
 * their Limiter units belong to the parent's slot. Dropping them runs
 * through liburcu, which only works in a child of fc_fork (core/fork.c). */
int fc_after_fork(fc_store *s)
{
    if (s == NULL)
        return FC_EINVAL;
    if (s->pid == fci_getpid())
        return 0;
    fci_err err;
    fci_err_clear(&err);
    pthread_mutex_init(&s->err_mu, NULL);
    if (!fci_urcu_usable()) {
        fci_err_set(&err, FC_EINVAL, "fc_after_fork: this child was made by fork(), not "
                                     "fc_fork(): liburcu cannot run here (see forkcache.h)");
        return fci_store_fail(s, FC_EINVAL, &err);
    }
    if (s->w != NULL) {
        /* The parent's WAL fd and LOCK fd are close-on-exec but open here:
         * close our copies without touching the parent's lock (closing a
         * duplicated fcntl-locked fd in the child does not release it,
         * since the child holds no lock). */
        if (s->w->wal_number != 0)
            close(s->w->wal.fd);
        if (s->w->vs.manifest_open)
            close(s->w->vs.manifest.fd);
        if (s->w->lock_fd >= 0)
            close(s->w->lock_fd);
        fci_follower_forget_child(s); /* the Redis connections, likewise */
        s->w = NULL; /* the memory is the parent's copy; leaked on purpose in the child */
    }
    fci_tcache_forget(&s->tcache);
    fci_spin_init(&s->rd.lock);           /* a parent thread may have held it */
    s->rd.active = 0;                     /* the parent's transactions stay the parent's */
    s->pid = fci_getpid();
    s->role = FCI_ROLE_READER;
    int rc = fci_arena_after_fork(s->arena, &err);
    return rc ? fci_store_fail(s, rc, &err) : 0;
}
