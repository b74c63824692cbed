/*
 * framesize.c - sizing the shared block cache's frames to the store's
 * blocks.
 *
 * Every frame has one size, and a block larger than a frame bypasses the
 * cache (each get then reads it privately). A frame much larger than the
 * blocks wastes the rest of it: with frames of twice the block size, the
 * cache took 1.8 times the data's memory. A block is cut once it passes
 * block_size, so it ends past it by up to one entry: the real sizes depend
 * on the values, and the tables already written say what they are. The
 * data block sizes are the handles in each table's index; for a fresh
 * store the rule of thumb below stands in until there are tables.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/store/framesize.h"
#include "db/store/memsize.h"
#include "util/memlimit.h"
#include "db/core/store.h"
#include "format/dbformat.h"
#include "format/filename.h"
#include "format/table.h"
#include "shm/bcache.h"
#include "util/io.h"

typedef struct sizes {
    uint64_t *v;
    size_t n, cap;
    int compressed;   /* a sampled table's first block is not raw */
} sizes;

static size_t round64(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

static size_t clamp(size_t f)
{
    f = round64(f);
    if (f < FCI_BCACHE_MIN_FRAME)
        f = FCI_BCACHE_MIN_FRAME;
    return f > FCI_BCACHE_MAX_FRAME ? FCI_BCACHE_MAX_FRAME : f;
}

static int push(sizes *z, uint64_t size)
{
    if (z->n == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 1024;
        uint64_t *v = realloc(z->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        z->v = v;
        z->cap = cap;
    }
    z->v[z->n++] = size;
    return 0;
}

/* Whether the block at h is stored compressed (its trailer's type byte). */
static int block_compressed(const fci_table *t, fci_block_handle h)
{
    char *scratch = malloc((size_t)h.size + FCI_BLOCK_TRAILER_SIZE);
    fci_slice raw, contents;
    int type = 0;
    int ok = scratch != NULL && fci_table_read_raw(t, h, scratch, &raw, NULL) == 0 &&
             fci_block_unwrap(raw, h.offset, 0, &type, &contents, NULL) == 0;
    free(scratch);
    return ok && type != 0;
}

/* Adds the data block sizes of one open table. */
static void sample_table(const fci_table *t, sizes *z)
{
    fci_block_iter it;
    fci_block_iter_init(&it, &t->index, fci_ikey_compare);
    int first = 1;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it); fci_block_iter_next(&it)) {
        fci_block_handle h;
        const char *p = it.value.data;
        if (fci_block_handle_decode(&p, p + it.value.size, &h) != 0 ||
            h.size > FCI_BCACHE_MAX_FRAME)
            break;
        if (first && block_compressed(t, h))
            z->compressed = 1;
        first = 0;
        if (push(z, h.size) != 0)
            break;
    }
    fci_block_iter_free(&it);
}

static void sample_file(int dirfd, const char *dir, const char *name, sizes *z)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return;
    int fd = fci_io_open_regular(FCI_IO_SITE_FRAME_TABLE_OPEN, dirfd, path, O_RDONLY | O_CLOEXEC,
                                 0, NULL);
    if (fd < 0)
        return;
    struct stat st;
    fci_table t;
    if (fci_io_fstat(FCI_IO_SITE_FRAME_TABLE_STAT, fd, &st) == 0 && S_ISREG(st.st_mode) &&
        fci_table_open_fd(&t, fd, (uint64_t)st.st_size, 0, NULL) == 0) {
        sample_table(&t, z);
        fci_table_close(&t);
    }
    close(fd);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the directory's tables, sorted; NULL when there are none. */
static char **table_names(int dirfd, const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = fci_io_opendir(dirfd, dir);
    if (d == NULL)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        fci_file_kind kind;
        uint64_t number;
        if (fci_filename_parse(e->d_name, &kind, &number) != 0 || !fci_file_is_table(kind))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (more == NULL)
                break;
            names = more;
        }
        if ((names[*n] = strdup(e->d_name)) == NULL)
            break;
        (*n)++;
    }
    closedir(d);
    if (*n > 0)
        qsort(names, *n, sizeof *names, by_name);
    return names;
}

static int by_size(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Tables spread evenly over the sorted names: old and new ones alike. */
static void sample_dir(int dirfd, const char *dir, sizes *z)
{
    size_t n;
    char **names = table_names(dirfd, dir, &n);
    size_t step = n > FCI_FRAME_SAMPLE_TABLES ? n / FCI_FRAME_SAMPLE_TABLES : 1;
    for (size_t i = 0, taken = 0; i < n && taken < FCI_FRAME_SAMPLE_TABLES; i += step, taken++)
        sample_file(dirfd, dir, names[i], z);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

size_t fci_frame_size_for(int dirfd, const char *dir, size_t block_size)
{
    sizes z = { 0 };
    sample_dir(dirfd, dir, &z);
    size_t frame;
    if (z.compressed) {
        frame = block_size * 2;
    } else if (z.n == 0) {
        frame = block_size + block_size / 8;
    } else {
        qsort(z.v, z.n, sizeof *z.v, by_size);
        size_t p99 = (size_t)z.v[(z.n - 1) * 99 / 100];
        size_t floor = block_size + block_size / 16;
        frame = p99 > floor ? p99 : floor;
    }
    free(z.v);
    return clamp(frame);
}

int fci_frame_bcache_create(fc_store *s, fci_err *err)
{
    size_t size = fci_bcache_size_for(s->opts.block_cache_size, s->opts.arena_size,
                                      fci_memory_limit());
    if (size == 0)
        return 0;
    int rc = fci_bcache_create(s->arena, size,
                               fci_frame_size_for(s->dirfd, s->dir, s->opts.block_size), err);
    if (rc == FC_ENOMEM) {
        /* The heap's message speaks of blocks; say which option to change. */
        char what[160];
        snprintf(what, sizeof what, "block cache of %zu bytes does not fit the arena "
                 "(arena_size %zu must exceed the power of two at or above it)",
                 size, s->opts.arena_size);
        fci_err_prefix(err, rc, what);
    }
    return rc;
}
