/*
 * arena.c - creating, attaching, validating and detaching the shared arena,
 * plus the publication word pair and reader pins.
 *
 * A file-backed arena is always built in a temporary file next to its path
 * and linked (fresh) or renamed (replacing a dead owner's) into place only
 * once its header is complete, so a process that opens the path sees either
 * no arena or a whole one, and a process still mapping a replaced arena
 * keeps a consistent (orphaned) copy.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "util/proc.h"
#include "shm/arena.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/io.h"

#define ROUND_UP(x, n) (((x) + (n) - 1) / (n) * (n))

/* The same defaults as fc_options_init, so a store can pass its options
 * straight through. */
void fci_arena_config_init(fci_arena_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = FC_DEFAULT_ARENA_SIZE;
    cfg->reader_slots = FC_DEFAULT_READER_SLOTS;
    cfg->max_mappings = FC_DEFAULT_MAX_MAPPINGS;
    cfg->max_mapped_bytes = UINT64_MAX;
    cfg->file_mode = FC_DEFAULT_FILE_MODE;
    cfg->dirfd = AT_FDCWD;
}

/* Where the slot table and the heap start for a given slot count. */
static uint64_t slots_offset(void)
{
    return ROUND_UP(sizeof(fci_arena_header), 4096);
}

/* The byte slots follow the reader slots (whole lines, so aligned). */
static uint64_t bslots_offset(uint32_t slots)
{
    return slots_offset() + (uint64_t)slots * sizeof(fci_reader_slot);
}

static uint64_t heap_offset(uint32_t slots)
{
    return ROUND_UP(bslots_offset(slots) + (uint64_t)slots * sizeof(fci_byte_slot), 4096);
}

/* The byte Limiter's unit: the smallest power of two from 64 KiB up for
 * which the cap fits the 24-bit count. */
static uint32_t mapped_shift(uint64_t cap)
{
    uint32_t shift = FCI_MAPPED_MIN_SHIFT;
    while ((cap >> shift) > FCI_MAX_MAPPINGS)
        shift++;
    return shift;
}

/* The smallest arena still has a page of heap: anything less is useless. */
static int config_check(const fci_arena_config *cfg, fci_err *err)
{
    if (cfg->reader_slots == 0 || cfg->reader_slots > FCI_MAX_READER_SLOTS)
        return fci_err_set(err, FC_EINVAL, "arena: reader_slots %u out of range 1..%u",
                           cfg->reader_slots, FCI_MAX_READER_SLOTS);
    if (cfg->max_mappings > FCI_MAX_MAPPINGS)
        return fci_err_set(err, FC_EINVAL, "arena: max_mappings %u over %u",
                           cfg->max_mappings, FCI_MAX_MAPPINGS);
    uint64_t min = heap_offset(cfg->reader_slots) + 4096;
    if ((uint64_t)cfg->size < min || cfg->size % 4096 != 0)
        return fci_err_set(err, FC_EINVAL,
                           "arena: size %zu must be a multiple of 4096 and at least %llu",
                           cfg->size, (unsigned long long)min);
    if (cfg->file_mode & ~0777u || cfg->file_mode & 022u ||
        (cfg->file_mode & 0600u) != 0600u)
        return fci_err_set(err, FC_EINVAL,
                           "arena: file mode %04o must be rw for its owner and not "
                           "writable by group or others", cfg->file_mode);
    if (cfg->store_dir && strlen(cfg->store_dir) >= FCI_ARENA_DIR_MAX)
        return fci_err_set(err, FC_EINVAL, "arena: store directory path over %d bytes",
                           FCI_ARENA_DIR_MAX - 1);
    return 0;
}

/* Fills the header of a zeroed region and stores the magic last: a
 * process that sees the magic (acquire) sees every other field. */
static void header_init(char *base, const fci_arena_config *cfg, uint64_t owner_start)
{
    fci_arena_header *h = (fci_arena_header *)base;
    h->layout_version = FCI_ARENA_LAYOUT_VERSION;
    h->header_size = sizeof *h;
    h->bom = FCI_ARENA_BOM;
    h->arena_size = cfg->size;
    h->slot_off = slots_offset();
    h->heap_off = heap_offset(cfg->reader_slots);
    h->slot_count = cfg->reader_slots;
    h->max_mappings = cfg->max_mappings;
    h->mapped_shift = mapped_shift(cfg->max_mapped_bytes);
    h->mapped_units = (uint32_t)(cfg->max_mapped_bytes >> h->mapped_shift);
    h->create_time_ns = fci_clock_ns(CLOCK_REALTIME);
    /* relaxed: all of these are published by the magic's release store */
    atomic_store_explicit(&h->owner_pid, (int32_t)fci_getpid(), memory_order_relaxed);
    atomic_store_explicit(&h->owner_start, owner_start, memory_order_relaxed);
    atomic_store_explicit(&h->limiter, FCI_LIM_MAKE(cfg->max_mappings, 0, 0),
                          memory_order_relaxed);
    atomic_store_explicit(&h->mapped_limiter, FCI_LIM_MAKE(h->mapped_units, 0, 0),
                          memory_order_relaxed);
    atomic_store_explicit(&h->alloc_top, h->heap_off, memory_order_relaxed);
    if (cfg->store_dir) {
        h->dir_len = (uint32_t)strlen(cfg->store_dir);
        memcpy(h->dir, cfg->store_dir, h->dir_len);
    }
    atomic_store_explicit(&h->magic, FCI_ARENA_MAGIC, memory_order_release);
}

/* Builds the process handle around a validated mapping and claims a slot. */
static int handle_open(char *base, size_t size, int fd, int dirfd, const char *path, int owner,
                       fci_arena **out, fci_err *err)
{
    fci_arena *a = calloc(1, sizeof *a);
    char *p = path ? strdup(path) : NULL;
    if (a == NULL || (path && p == NULL)) {
        free(a);
        free(p);
        munmap(base, size);
        if (fd >= 0)
            close(fd);
        return fci_err_set(err, FC_ENOMEM, "arena: out of memory for the handle");
    }
    a->base = base;
    a->size = size;
    a->hdr = (fci_arena_header *)base;
    a->slots = (fci_reader_slot *)(base + a->hdr->slot_off);
    a->bslots = (fci_byte_slot *)(base + bslots_offset(a->hdr->slot_count));
    a->slot_count = a->hdr->slot_count;
    a->fd = fd;
    a->slot = -1;
    a->is_owner = owner;
    a->path = p;
    a->dirfd = dirfd;
    int rc = fci_slot_claim(a, err);
    if (rc != 0) {
        /* A fresh arena nobody will use: left owned by this live process,
         * it would refuse every later open (this process's retry too).
         * release: as in fci_arena_detach. */
        if (owner)
            atomic_store_explicit(&a->hdr->owner_pid, 0, memory_order_release);
        a->is_owner = 0;
        fci_arena_detach(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* MAP_SHARED|MAP_ANONYMOUS is inherited by fork: the parent-and-workers
 * case needs no file. MAP_NORESERVE: a large arena costs only what is
 * written. */
static int create_anonymous(const fci_arena_config *cfg, fci_arena **out, fci_err *err)
{
    uint64_t start = fci_proc_start_time(fci_getpid());
    void *m = fci_io_mmap(FCI_IO_SITE_ARENA_MMAP_ANON, NULL, cfg->size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return fci_err_errno(err, fci_errno_code(errno), errno,
                             "arena: mmap of %zu anonymous bytes", cfg->size);
    header_init(m, cfg, start);
    return handle_open(m, cfg->size, -1, AT_FDCWD, NULL, 1, out, err);
}

/* An arena file must be ours alone: a regular file, owned by our uid, not
 * writable by group or others (another user could otherwise forge the
 * header, or make us write through a link). */
static int check_file(int fd, const char *path, struct stat *st, fci_err *err)
{
    if (fci_io_fstat(FCI_IO_SITE_ARENA_STAT, fd, st) != 0)
        return fci_err_errno(err, FC_EIO, errno, "arena %s: fstat", path);
    if (!S_ISREG(st->st_mode))
        return fci_err_set(err, FC_EPERM, "arena %s: not a regular file", path);
    if (st->st_uid != geteuid())
        return fci_err_set(err, FC_EPERM, "arena %s: owned by uid %u, expected %u", path,
                           (unsigned)st->st_uid, (unsigned)geteuid());
    if (st->st_mode & 022)
        return fci_err_set(err, FC_EPERM,
                           "arena %s: mode %04o is writable by group or others", path,
                           (unsigned)(st->st_mode & 07777));
    return 0;
}

/* open(O_NOFOLLOW) fails with ELOOP on a symlink; name that plainly. */
static int open_arena_file(int dirfd, const char *path, int *fd, fci_err *err)
{
    *fd = fci_io_open(FCI_IO_SITE_ARENA_OPEN, dirfd, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (*fd >= 0)
        return 0;
    int e = errno;
    if (e == ELOOP)
        return fci_err_set(err, FC_EPERM, "arena %s: is a symbolic link, refused", path);
    if (e == EISDIR)
        return fci_err_set(err, FC_EPERM, "arena %s: not a regular file", path);
    return fci_err_errno(err, fci_errno_code(e), e, "arena %s: open", path);
}

/* Reads the header with pread, not through a mapping, so a short or
 * foreign file is judged without any risk of SIGBUS. */
static int validate_header(int fd, const char *path, uint64_t file_size, fci_arena_header *h,
                           fci_err *err)
{
    if (file_size < sizeof *h)
        return fci_err_set(err, FC_ECORRUPT,
                           "arena %s: file is %llu bytes, smaller than the %zu-byte header",
                           path, (unsigned long long)file_size, sizeof *h);
    ssize_t n = fci_io_pread(FCI_IO_SITE_ARENA_HEADER_READ, fd, h, sizeof *h, 0);
    if (n != (ssize_t)sizeof *h)
        return fci_err_errno(err, FC_EIO, n < 0 ? errno : EIO, "arena %s: read header", path);
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_relaxed); /* local copy */
    if (magic == __builtin_bswap64(FCI_ARENA_MAGIC) || h->bom == __builtin_bswap64(FCI_ARENA_BOM))
        return fci_err_set(err, FC_EVERSION,
                           "arena %s: byte order mark: expected %016llx, found %016llx "
                           "(arena of the other byte order)", path,
                           (unsigned long long)FCI_ARENA_BOM, (unsigned long long)h->bom);
    if (magic != FCI_ARENA_MAGIC)
        return fci_err_set(err, FC_ECORRUPT,
                           "arena %s: magic: expected %016llx, found %016llx%s", path,
                           (unsigned long long)FCI_ARENA_MAGIC, (unsigned long long)magic,
                           magic == 0 ? " (never finished initialising)" : "");
    if (h->layout_version != FCI_ARENA_LAYOUT_VERSION)
        return fci_err_set(err, FC_EVERSION,
                           "arena %s: layout version: expected %u, found %u", path,
                           FCI_ARENA_LAYOUT_VERSION, h->layout_version);
    if (h->bom != FCI_ARENA_BOM)
        return fci_err_set(err, FC_ECORRUPT, "arena %s: byte order mark: expected %016llx, "
                           "found %016llx", path, (unsigned long long)FCI_ARENA_BOM,
                           (unsigned long long)h->bom);
    if (h->header_size != sizeof *h)
        return fci_err_set(err, FC_EVERSION, "arena %s: header size: expected %zu, found %u",
                           path, sizeof *h, h->header_size);
    if (h->arena_size != file_size)
        return fci_err_set(err, FC_ECORRUPT,
                           "arena %s: arena size: header says %llu, file is %llu bytes", path,
                           (unsigned long long)h->arena_size, (unsigned long long)file_size);
    if (h->slot_count == 0 || h->slot_count > FCI_MAX_READER_SLOTS ||
        h->slot_off != slots_offset() || h->heap_off != heap_offset(h->slot_count) ||
        h->heap_off >= h->arena_size || h->arena_size > (uint64_t)SIZE_MAX ||
        h->max_mappings > FCI_MAX_MAPPINGS || h->mapped_units > FCI_MAX_MAPPINGS ||
        h->mapped_shift < FCI_MAPPED_MIN_SHIFT || h->mapped_shift > 63 ||
        ((uint64_t)h->mapped_units << h->mapped_shift >> h->mapped_shift) != h->mapped_units ||
        h->dir_len >= FCI_ARENA_DIR_MAX ||
        strnlen(h->dir, FCI_ARENA_DIR_MAX) != h->dir_len)
        return fci_err_set(err, FC_ECORRUPT,
                           "arena %s: geometry: %u slots at %llu, heap at %llu, size %llu, "
                           "%u mappings do not fit together", path, h->slot_count,
                           (unsigned long long)h->slot_off, (unsigned long long)h->heap_off,
                           (unsigned long long)h->arena_size, h->max_mappings);
    return 0;
}

/* MAP_NORESERVE as for anonymous arenas; the file's blocks were
 * allocated when it was built (allocate_blocks). */
static int map_file(int fd, const char *path, size_t size, char **base, fci_err *err)
{
    void *m = fci_io_mmap(FCI_IO_SITE_ARENA_MMAP, NULL, size, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m == MAP_FAILED)
        return fci_err_errno(err, fci_errno_code(errno), errno, "arena %s: mmap %zu bytes",
                             path, size);
    *base = m;
    return 0;
}

/* Everything is checked before the first mapped byte is touched: the file
 * (ours, regular, not writable by others) and then its header. */
int fci_arena_attach_at(int dirfd, const char *path, fci_arena **out, fci_err *err)
{
    if (path == NULL || out == NULL)
        return fci_err_set(err, FC_EINVAL, "arena: attach needs a path");
    int fd, rc;
    struct stat st;
    fci_arena_header h;
    char *base;
    if ((rc = open_arena_file(dirfd, path, &fd, err)) != 0)
        return rc;
    if ((rc = check_file(fd, path, &st, err)) != 0 ||
        (rc = validate_header(fd, path, (uint64_t)st.st_size, &h, err)) != 0 ||
        (rc = map_file(fd, path, (size_t)st.st_size, &base, err)) != 0) {
        close(fd);
        return rc;
    }
    return handle_open(base, (size_t)st.st_size, fd, dirfd, path, 0, out, err);
}

int fci_arena_attach(const char *path, fci_arena **out, fci_err *err)
{
    return fci_arena_attach_at(AT_FDCWD, path, out, err);
}

/*
 * What to do with a file already at the path: ENOENT -> build one; a valid
 * arena whose owner is dead -> replace it; a live owner -> FC_EBUSY; a file
 * that is not ours or not an arena -> refuse (never clobber it). *old_ino
 * is the inode to replace (0: none).
 */
static int examine_existing(int dirfd, const char *path, ino_t *old_ino, fci_err *err)
{
    int fd, rc;
    struct stat st;
    fci_arena_header h;
    *old_ino = 0;
    rc = open_arena_file(dirfd, path, &fd, err);
    if (rc == FC_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if ((rc = check_file(fd, path, &st, err)) != 0)
        goto out;
    if (st.st_size == 0 || (uint64_t)st.st_size < sizeof h) {
        /* nothing is ever published at this path before its header is whole */
        rc = fci_err_set(err, FC_ECORRUPT, "arena %s: %lld-byte file is not an arena, refusing"
                         " to overwrite it", path, (long long)st.st_size);
        goto out;
    }
    rc = validate_header(fd, path, (uint64_t)st.st_size, &h, err);
    /* A file of an older layout (its header is ours but for padding words,
     * so its owner fields can be read as ours) may be replaced like one of
     * ours, once its owner is gone: else a build upgrade could not reopen a
     * store. */
    if (rc == FC_EVERSION && h.layout_version >= FCI_ARENA_LAYOUT_OLDEST &&
        h.layout_version < FCI_ARENA_LAYOUT_VERSION &&
        h.bom == FCI_ARENA_BOM && h.header_size == sizeof h)
        rc = 0;
    if (rc != 0)
        goto out;
    int32_t pid = atomic_load_explicit(&h.owner_pid, memory_order_relaxed);
    uint64_t start = atomic_load_explicit(&h.owner_start, memory_order_relaxed);
    if (pid != 0 && fci_proc_alive(pid, start)) {
        rc = fci_err_set(err, FC_EBUSY, "arena %s: owned by live process %d", path, (int)pid);
        goto out;
    }
    *old_ino = st.st_ino;
out:
    close(fd);
    return rc;
}

/* The arena is written through its mapping, where a page the file system
 * has no block for is a SIGBUS, not an error: every block is allocated
 * now, so a full disk (or quota, or RLIMIT_FSIZE) fails the open instead.
 * On tmpfs this commits the whole arena's memory up front. */
static int allocate_blocks(int fd, const char *path, const char *tmp, size_t size,
                           fci_err *err)
{
    if (fci_io_fallocate(FCI_IO_SITE_ARENA_ALLOCATE, fd, 0, size) == 0)
        return 0;
    int e = errno;
    return fci_err_errno(err, fci_errno_code(e), e,
                         "arena %s: cannot allocate its %zu bytes in the file system (building %s); "
                         "free space there or lower arena_size", path, size, tmp);
}

/* mkostemp, but relative to dirfd (util/io.h): the six X at the end of
 * tmp become letters and digits until a name is free; the file is made
 * 0600, close-on-exec, and never through a link. */
static int create_unique(int dirfd, char *tmp)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char *x = tmp + strlen(tmp) - 6;
    uint64_t seed = fci_hash_mix64(fci_mono_ns() ^ ((uint64_t)fci_getpid() << 32));
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r = fci_hash_mix64(seed + (uint64_t)attempt);
        for (int i = 0; i < 6; i++, r /= 62)
            x[i] = digits[r % 62];
        int fd;
        do
            fd = openat(dirfd, fci_io_at_name(dirfd, tmp),
                        O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Builds a complete arena in a temporary file beside path; returns its fd
 * and name. create_unique makes it 0600; fchmod applies the configured
 * mode (which check_config keeps owner-only-writable). */
static int build_temp(const fci_arena_config *cfg, char *tmp, size_t tmpsize, int *fdp,
                      char **basep, fci_err *err)
{
    const char *slash = strrchr(cfg->path, '/');
    int dlen = slash ? (int)(slash - cfg->path) + 1 : 0;
    const char *name = slash ? slash + 1 : cfg->path;
    if ((size_t)snprintf(tmp, tmpsize, "%.*s.%s.XXXXXX", dlen, cfg->path, name) >= tmpsize)
        return fci_err_set(err, FC_EINVAL, "arena %s: path too long", cfg->path);
    int fd = create_unique(cfg->dirfd, tmp);
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "arena %s: create %s",
                             cfg->path, tmp);
    int rc = 0;
    char *base = NULL;
    if (fchmod(fd, cfg->file_mode) != 0)
        rc = fci_err_errno(err, FC_EIO, errno, "arena %s: fchmod", tmp);
    else if (fci_io_ftruncate(FCI_IO_SITE_ARENA_TRUNCATE, fd, cfg->size) != 0)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "arena %s: ftruncate to %zu",
                           tmp, cfg->size);
    else if ((rc = allocate_blocks(fd, cfg->path, tmp, cfg->size, err)) == 0)
        rc = map_file(fd, tmp, cfg->size, &base, err);
    if (rc != 0) {
        close(fd);
        unlinkat(cfg->dirfd, fci_io_at_name(cfg->dirfd, tmp), 0);
        return rc;
    }
    header_init(base, cfg, fci_proc_start_time(fci_getpid()));
    *fdp = fd;
    *basep = base;
    return 0;
}

/*
 * Puts the built file at path: link() when there was none (fails if a rival
 * creator got there first), rename() over a dead owner's file after making
 * sure the path still names the inode we judged dead. Returns FC_EAGAIN
 * when the path changed under us, so the caller looks again.
 */
static int install_temp(int dirfd, const char *path, const char *tmp, ino_t old_ino,
                        fci_err *err)
{
    const char *tmp_name = fci_io_at_name(dirfd, tmp);
    if (old_ino == 0) {
        if (linkat(dirfd, tmp_name, dirfd, fci_io_at_name(dirfd, path), 0) == 0) {
            unlinkat(dirfd, tmp_name, 0);
            return 0;
        }
        if (errno == EEXIST)
            return FC_EAGAIN;
        return fci_err_errno(err, fci_errno_code(errno), errno, "arena %s: link", path);
    }
    struct stat st;
    if (fci_io_lstat(dirfd, path, &st) != 0 || st.st_ino != old_ino)
        return FC_EAGAIN;
    if (fci_io_rename(FCI_IO_SITE_ARENA_RENAME, dirfd, tmp, path) != 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "arena %s: rename", path);
    return 0;
}

/* Looks, builds, installs; when a rival creator changed the path in the
 * meantime, looks again (a few times, then gives up). */
static int create_file(const fci_arena_config *cfg, fci_arena **out, fci_err *err)
{
    char tmp[PATH_MAX];
    for (int attempt = 0; attempt < 8; attempt++) {
        ino_t old_ino;
        int fd = -1, rc;
        char *base = NULL;
        if ((rc = examine_existing(cfg->dirfd, cfg->path, &old_ino, err)) != 0)
            return rc;
        if ((rc = build_temp(cfg, tmp, sizeof tmp, &fd, &base, err)) != 0)
            return rc;
        rc = install_temp(cfg->dirfd, cfg->path, tmp, old_ino, err);
        if (rc == 0)
            return handle_open(base, cfg->size, fd, cfg->dirfd, cfg->path, 1, out, err);
        munmap(base, cfg->size);
        close(fd);
        unlinkat(cfg->dirfd, fci_io_at_name(cfg->dirfd, tmp), 0);
        if (rc != FC_EAGAIN)
            return rc;
    }
    return fci_err_set(err, FC_EBUSY, "arena %s: keeps changing under us; another creator?",
                       cfg->path);
}

/* Options are checked once here, so both kinds of arena get the same
 * rules. */
int fci_arena_create(const fci_arena_config *cfg, fci_arena **out, fci_err *err)
{
    if (cfg == NULL || out == NULL)
        return fci_err_set(err, FC_EINVAL, "arena: create needs a config");
    int rc = config_check(cfg, err);
    if (rc != 0)
        return rc;
    return cfg->path ? create_file(cfg, out, err) : create_anonymous(cfg, out, err);
}

/* The child shares the parent's mapping (and fd) but is another process:
 * it needs its own slot so its pins and mappings are its own and die with
 * it. The inherited handle still names the parent's slot; we simply forget
 * it (the parent keeps using it). Ownership stays with the parent.
 *
 * No pthread_atfork handler is registered: the library would need a global
 * list of open arenas (global mutable state), and a handler cannot report
 * a failure (slot table full). The store's fork wrapper calls this. */
int fci_arena_after_fork(fci_arena *a, fci_err *err)
{
    if (a == NULL)
        return fci_err_set(err, FC_EINVAL, "arena: after_fork on NULL");
    if (a->pid == fci_getpid() && a->slot >= 0)
        return 0;   /* not a child, or already done */
    a->slot = -1;
    a->is_owner = 0;
    return fci_slot_claim(a, err);
}

/* Gives back what this process holds in the arena before unmapping, so a
 * normal exit leaves nothing pinned or counted. */
void fci_arena_detach(fci_arena *a)
{
    if (a == NULL)
        return;
    fci_slot_release(a);
    if (a->is_owner && a->pid == fci_getpid()) {
        /* release: a creator that sees 0 also sees our slot freed */
        int32_t expect = (int32_t)a->pid;
        atomic_compare_exchange_strong_explicit(&a->hdr->owner_pid, &expect, 0,
                                                memory_order_release, memory_order_relaxed);
    }
    munmap(a->base, a->size);
    if (a->fd >= 0)
        close(a->fd);
    free(a->path);
    free(a);
}

/* Offsets come from shared memory another process wrote: the check is
 * written so that no off/len pair can overflow past it. */
void *fci_arena_ptr(const fci_arena *a, uint64_t off, uint64_t len)
{
    if (a == NULL || off == 0 || off > a->size || len > a->size - off)
        return NULL;
    return a->base + off;
}

/* Lets an attaching process find the store the arena belongs to. */
const char *fci_arena_store_dir(const fci_arena *a)
{
    return a->hdr->dir;   /* dir_len < FCI_ARENA_DIR_MAX and the rest is zero */
}

/* Offset first, sequence second: a reader that loads them in the other
 * order never gets an offset older than its sequence (SHM_PROTOCOL.md 3). */
void fci_arena_publish(fci_arena *a, uint64_t off, uint64_t seq)
{
    /* release: the record at off is complete before anyone reads off */
    atomic_store_explicit(&a->hdr->current_version_off, off, memory_order_release);
    /* seq_cst: orders this store before the writer's later scan of pins
     * (fci_readers_oldest), the writer's half of the pin handshake */
    atomic_store_explicit(&a->hdr->published_seq, seq, memory_order_seq_cst);
}

uint64_t fci_arena_current_off(const fci_arena *a)
{
    /* acquire: pairs with fci_arena_publish's release of the offset */
    return atomic_load_explicit(&a->hdr->current_version_off, memory_order_acquire);
}

void fci_arena_publish_last_seq(fci_arena *a, uint64_t seq)
{
    /* release: the memtable entries up to seq, and any version published
     * before them, are visible to whoever acquires seq */
    atomic_store_explicit(&a->hdr->last_sequence, seq, memory_order_release);
    fci_arena_seq_changed(a); /* fc_wait's wake: every publication passes here */
}

uint64_t fci_arena_last_seq(const fci_arena *a)
{
    /* acquire: pairs with fci_arena_publish_last_seq */
    return atomic_load_explicit(&a->hdr->last_sequence, memory_order_acquire);
}

/* The reader's half of the pin handshake (SHM_PROTOCOL.md 4): a pin the
 * writer might have missed is retried, never trusted. */
int fci_arena_pin_current(fci_arena *a, uint64_t *seq, uint64_t *off)
{
    if (a == NULL || a->slot < 0 || a->pid != fci_getpid())
        return FC_EINVAL;
    fci_reader_slot *sl = &a->slots[a->slot];
    for (;;) {
        /* acquire: the offset loaded next is at least as new as this seq */
        uint64_t s = atomic_load_explicit(&a->hdr->published_seq, memory_order_acquire);
        /* acquire: the record at o is complete */
        uint64_t o = atomic_load_explicit(&a->hdr->current_version_off, memory_order_acquire);
        /* seq_cst store then seq_cst load: the reader's half of the
         * handshake; either the writer's scan sees this pin or we see its
         * newer sequence and pin again */
        atomic_store_explicit(&sl->pinned_seq, s, memory_order_seq_cst);
        if (atomic_load_explicit(&a->hdr->published_seq, memory_order_seq_cst) == s) {
            /* relaxed load and store, not an add: only this process
             * writes its slot's counter, and its pins are taken one at a
             * time under its reader lock (read.c); a stat, read by nobody
             * for a decision */
            uint64_t n = atomic_load_explicit(&sl->n_pins, memory_order_relaxed);
            atomic_store_explicit(&sl->n_pins, n + 1, memory_order_relaxed);
            *seq = s;
            *off = o;
            return 0;
        }
    }
}

/* Clearing the pin lets the writer reuse what it protected. */
void fci_arena_unpin(fci_arena *a)
{
    if (a == NULL || a->slot < 0 || a->pid != fci_getpid())
        return;
    /* release: our reads of pinned records are done before the writer may
     * see the pin gone and reuse them */
    atomic_store_explicit(&a->slots[a->slot].pinned_seq, 0, memory_order_release);
}

/* A snapshot for people and tools; nothing in it is used for decisions,
 * so every load is relaxed. */
void fci_arena_stats_get(const fci_arena *a, fci_arena_stats *st, fci_reader_info *readers,
                         uint32_t max_readers)
{
    memset(st, 0, sizeof *st);
    const fci_arena_header *h = a->hdr;
    st->arena_size = h->arena_size;
    st->heap_size = h->arena_size - h->heap_off;
    /* relaxed loads below: a statistics snapshot, nothing is dereferenced */
    st->heap_reserved = atomic_load_explicit(&h->alloc_top, memory_order_relaxed) - h->heap_off;
    st->bytes_in_use = atomic_load_explicit(&h->alloc_in_use, memory_order_relaxed);
    st->blocks_in_use = atomic_load_explicit(&h->alloc_blocks, memory_order_relaxed);
    st->slots_total = a->slot_count;
    st->limiter_capacity = h->max_mappings;
    st->limiter_in_use = h->max_mappings - fci_limiter_available(a);
    st->mapped_bytes_cap = fci_limiter_bytes_cap(a);
    st->mapped_bytes_in_use = fci_limiter_bytes_in_use(a);
    st->published_seq = atomic_load_explicit(&h->published_seq, memory_order_relaxed);
    for (uint32_t s = 0; s < a->slot_count; s++) {
        const fci_reader_slot *sl = &a->slots[s];
        int32_t pid = FCI_OWNER_PID(atomic_load_explicit(&sl->owner, memory_order_relaxed));
        if (pid == 0)
            continue;
        st->slots_live++;
        if (st->readers_reported >= max_readers || readers == NULL)
            continue;
        fci_reader_info *r = &readers[st->readers_reported++];
        r->slot = s;
        r->pid = pid;
        r->pinned_seq = atomic_load_explicit(&sl->pinned_seq, memory_order_relaxed);
        r->held = FCI_HELD_COUNT(atomic_load_explicit(&sl->held, memory_order_relaxed));
        r->n_pins = atomic_load_explicit(&sl->n_pins, memory_order_relaxed);
        r->n_acquired = atomic_load_explicit(&sl->n_acquired, memory_order_relaxed);
        r->n_refused = atomic_load_explicit(&sl->n_refused, memory_order_relaxed);
    }
}
