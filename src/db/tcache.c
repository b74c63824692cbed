/*
 * tcache.c - this process's open tables.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/tcache.h"
#include "format/filename.h"
#include "format/compress.h"
#include "shm/arena.h"
#include "shm/bcache.h"
#include "util/io.h"

void fci_tcache_init(fci_tcache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static fci_tcache_entry **slot_for(fci_tcache *c, uint64_t number)
{
    fci_tcache_entry **p = &c->buckets[(number * 0x9e3779b97f4a7c15ull) >> 56];
    while (*p && (*p)->number != number)
        p = &(*p)->next;
    return p;
}

/* Tables are named .ldb by LevelDB today and .sst by older versions. */
static int open_table_file(const char *dir, uint64_t number, fci_err *err)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, dir, FCI_FILE_TABLE, number);
    int fd = fci_io_open(FCI_IO_SITE_TABLE_OPEN, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0 && errno == ENOENT) {
        fci_filename(path, sizeof path, dir, FCI_FILE_TABLE_SST, number);
        fd = fci_io_open(FCI_IO_SITE_TABLE_OPEN, path, O_RDONLY | O_CLOEXEC, 0);
    }
    if (fd < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "open table %s", path);
    return fd;
}

/* The table layer knows no paths: a failure while reading names the file. */
static int table_failed(uint64_t number, int rc, fci_err *err)
{
    char name[32];
    fci_filename(name, sizeof name, NULL, FCI_FILE_TABLE, number);
    return fci_err_prefix(err, rc, name);
}

/* Maps when the Limiter allows, else keeps the fd for pread. */
static int entry_open(fci_tcache_entry *e, struct fci_arena *a, int fd, fci_err *err)
{
    struct stat st;
    e->fd = fd; /* entry_free closes it if this fails */
    if (fci_io_fstat(FCI_IO_SITE_TABLE_STAT, fd, &st) != 0)
        return fci_err_errno(err, FC_EIO, errno, "stat table %llu", (unsigned long long)e->number);
    e->size = (size_t)st.st_size;
    e->fd = -1;
    if (st.st_size > 0 && fci_limiter_acquire(a, NULL) == 0) {
        e->map = fci_io_mmap(FCI_IO_SITE_TABLE_MMAP, NULL, e->size, PROT_READ, MAP_SHARED, fd, 0);
        if (e->map != MAP_FAILED) {
            e->limiter_unit = 1;
            close(fd);
            return fci_table_open(&e->table, e->map, e->size, 0, err);
        }
        e->map = NULL;
        fci_limiter_release(a, NULL);
    }
    e->fd = fd;
    return fci_table_open_fd(&e->table, fd, e->size, 0, err);
}

/* What a cache miss needs to fill a frame with one block. */
typedef struct fill_ctx {
    const fci_table *t;
    fci_block_handle h;
    int verify;
} fill_ctx;

/* Reads the block and writes its uncompressed contents into the frame. */
static int fill_block(void *arg, char *buf, size_t cap, size_t *len, fci_err *err)
{
    fill_ctx *x = arg;
    char *scratch = NULL;
    if (x->t->base == NULL && (scratch = malloc((size_t)x->h.size + FCI_BLOCK_TRAILER_SIZE)) == NULL)
        return fci_err_set(err, FC_ENOMEM, "table: no memory for a %llu-byte block",
                           (unsigned long long)x->h.size);
    fci_slice raw, contents;
    int type;
    int rc = fci_table_read_raw(x->t, x->h, scratch, &raw, err);
    if (rc == 0)
        rc = fci_block_unwrap(raw, x->h.offset, x->verify, &type, &contents, err);
    if (rc == 0 && type == FC_COMPRESSION_NONE) {
        *len = contents.size;
        if (contents.size <= cap)
            memcpy(buf, contents.data, contents.size);
        else
            rc = FCI_BCACHE_BYPASS;
    } else if (rc == 0 && (rc = fci_uncompressed_length(type, contents, len, err)) == 0) {
        rc = *len <= cap ? fci_uncompress(type, contents, buf, *len, err) : FCI_BCACHE_BYPASS;
    }
    free(scratch);
    return rc;
}

/* The tables' fetcher: uncompressed blocks of a mapped table stay
 * zero-copy in the mapping; every other block comes pinned from the shared
 * cache, or from the heap when the cache cannot take it. */
static int cached_fetch(void *arg, const fci_table *t, fci_block_handle h, fci_block_ref *ref,
                        fci_err *err)
{
    fci_tcache_entry *e = arg;
    int verify = (t->flags & FCI_TABLE_VERIFY_CHECKSUMS) != 0;
    fci_slice raw;
    if (t->base != NULL) {
        int rc = fci_table_read_raw(t, h, NULL, &raw, err);
        if (rc != 0)
            return rc;
        if ((unsigned char)raw.data[h.size] == FC_COMPRESSION_NONE)
            return fci_table_read_block(t, h, verify, ref, err);
    }
    fill_ctx x = { t, h, verify };
    fci_bcache_ref br;
    int rc = fci_bcache_get(e->cache->bc, e->number, h.offset, fill_block, &x, &br, err);
    if (rc == FCI_BCACHE_BYPASS)
        return fci_table_read_block(t, h, verify, ref, err);
    if (rc != 0)
        return table_failed(e->number, rc, err);
    memset(ref, 0, sizeof *ref);
    ref->data = fci_slice_make(br.data, br.len);
    ref->pin = (void *)br.pin;
    return 0;
}

static void cached_release(void *arg, const fci_table *t, fci_block_ref *ref)
{
    fci_tcache_entry *e = arg;
    (void)t;
    fci_bcache_ref br = { .pin = ref->pin };
    fci_bcache_release(e->cache->bc, &br);
}

static void entry_free(fci_tcache_entry *e, struct fci_arena *a, int release_unit)
{
    fci_table_close(&e->table);
    if (e->map)
        munmap(e->map, e->size);
    if (e->fd >= 0)
        close(e->fd);
    if (e->limiter_unit && release_unit && a != NULL)
        fci_limiter_release(a, NULL);
    free(e);
}

/* mu held. This process's handle on the shared block cache, opened once
 * (opening resets the slot's pin records, so never twice). */
static void tcache_open_bcache(fci_tcache *c, struct fci_arena *a)
{
    if (c->bc_tried)
        return;
    c->bc_tried = 1;
    if (fci_bcache_open(a, &c->bc, NULL) != 0)
        c->bc = NULL; /* no cache in this arena: heap reads */
}

int fci_tcache_bcache_stats(fci_tcache *c, struct fci_arena *a, fci_bcache_stats *st)
{
    pthread_mutex_lock(&c->mu);
    tcache_open_bcache(c, a);
    int have = c->bc != NULL;
    if (have)
        fci_bcache_stats_get(c->bc, st);
    pthread_mutex_unlock(&c->mu);
    return have;
}

int fci_tcache_get(fci_tcache *c, struct fci_arena *a, const char *dir, uint64_t number,
                   const fci_table **out, fci_err *err)
{
    pthread_mutex_lock(&c->mu);
    fci_tcache_entry **p = slot_for(c, number);
    if (*p != NULL) {
        *out = &(*p)->table;
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    int rc = 0;
    fci_tcache_entry *e = calloc(1, sizeof *e);
    int fd = e ? open_table_file(dir, number, err) : fci_err_set(err, FC_ENOMEM, "out of memory");
    if (fd >= 0) {
        e->number = number;
        rc = entry_open(e, a, fd, err);
        if (rc == 0)
            tcache_open_bcache(c, a);
        if (rc == 0 && c->bc != NULL) {
            e->cache = c;
            e->fetcher = (fci_block_fetcher){ cached_fetch, cached_release, e };
            fci_table_set_fetcher(&e->table, &e->fetcher);
        }
        if (rc == 0) {
            *p = e;
            c->count++;
            if (e->map) c->mapped++; else c->preads++;
            *out = &e->table;
        } else {
            table_failed(number, rc, err);
            entry_free(e, a, 1);
        }
    } else {
        free(e);
        rc = fd;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void fci_tcache_evict(fci_tcache *c, struct fci_arena *a, uint64_t number)
{
    pthread_mutex_lock(&c->mu);
    fci_tcache_entry **p = slot_for(c, number);
    fci_tcache_entry *e = *p;
    if (e != NULL) {
        *p = e->next;
        c->count--;
        entry_free(e, a, 1);
    }
    pthread_mutex_unlock(&c->mu);
}

void fci_tcache_retain(fci_tcache *c, struct fci_arena *a, int (*keep)(void *, uint64_t), void *arg)
{
    pthread_mutex_lock(&c->mu);
    for (int b = 0; b < FCI_TCACHE_BUCKETS; b++) {
        fci_tcache_entry **p = &c->buckets[b];
        while (*p) {
            fci_tcache_entry *e = *p;
            if (keep(arg, e->number)) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            c->count--;
            entry_free(e, a, 1);
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void drop_all(fci_tcache *c, struct fci_arena *a, int release_units)
{
    for (int b = 0; b < FCI_TCACHE_BUCKETS; b++) {
        while (c->buckets[b]) {
            fci_tcache_entry *e = c->buckets[b];
            c->buckets[b] = e->next;
            entry_free(e, a, release_units);
        }
    }
    c->count = 0;
}

void fci_tcache_free(fci_tcache *c, struct fci_arena *a)
{
    drop_all(c, a, 1);
    fci_bcache_close(c->bc);
    c->bc = NULL;
    pthread_mutex_destroy(&c->mu);
}

void fci_tcache_forget(fci_tcache *c)
{
    pthread_mutex_init(&c->mu, NULL); /* the parent may have held it at fork */
    drop_all(c, NULL, 0);
    fci_bcache_close(c->bc); /* names the parent's slot; reopened lazily */
    c->bc = NULL;
    c->bc_tried = 0;
    c->mapped = c->preads = 0;         /* figures are per process */
}
