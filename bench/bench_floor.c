/*
 * bench_floor.c - the physical floor of `forkcache bench`: a bare hash
 * probe over one mapped file holding the same keys and values, read by one
 * process. No transactions, no versions, no levels: a get formats the key,
 * hashes it, reads one bucket and one record. What a store costs above
 * this is its own overhead; what this costs is the memory system's.
 *
 * The file DIR/floor-N-B/floor.dat: a 64-byte header, 2^k buckets of 8
 * bytes (at least twice the keys, linear probing), then the records, each
 * its key (16 bytes) and its value. A bucket holds the record's index + 1
 * in its low 40 bits and 24 bits of the key's hash above, so a probe reads
 * a record only when the tag matches.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_pss.h"
#include "tool/tool.h"

#define FLOOR_MAGIC 0x524f4f4c46434621ull   /* "!FCFLOOR" */
#define FLOOR_HDR 64
#define INDEX_BITS 40
#define INDEX_MASK ((1ull << INDEX_BITS) - 1)

typedef struct floor_hdr {
    uint64_t magic, keys, value_size, buckets;
} floor_hdr;

/* A 64-bit mix of the 16 key bytes (two words, multiply and fold). */
static uint64_t key_hash(const char *key)
{
    uint64_t a, b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 8);
    uint64_t h = (a ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    h ^= (b + (h >> 29)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static uint64_t bucket_count(uint64_t keys)
{
    uint64_t n = 1024;
    while (n < keys * 2)
        n <<= 1;
    return n;
}

static size_t record_size(const bench_shape *s)
{
    return BENCH_KEY_LEN + s->value_size;
}

/* Buckets in memory, then header, buckets and records written in order. */
static int floor_fill(const bench_dataset *d, const char *dir)
{
    const bench_shape *s = d->shape;
    uint64_t nb = bucket_count(s->keys);
    uint64_t *b = calloc(nb, sizeof *b);
    char *rec = malloc(record_size(s));
    bench_verify v;
    if (b == NULL || rec == NULL || bench_verify_init(&v, s->value_size) != 0) {
        free(b);
        free(rec);
        tool_fail("bench", dir, "out of memory for the floor's buckets");
        return -1;
    }
    char path[4200], key[BENCH_KEY_LEN + 1];
    snprintf(path, sizeof path, "%s/floor.dat", dir);
    FILE *f = fopen(path, "we");
    int rc = f ? 0 : -1;
    for (uint64_t i = 0; i < s->keys; i++) {
        bench_key(key, i);
        uint64_t h = key_hash(key), at = h & (nb - 1);
        while (b[at] != 0)
            at = (at + 1) & (nb - 1);
        b[at] = (i + 1) | (h >> INDEX_BITS << INDEX_BITS);
    }
    floor_hdr hd = { FLOOR_MAGIC, s->keys, s->value_size, nb };
    char pad[FLOOR_HDR] = { 0 };
    memcpy(pad, &hd, sizeof hd);
    if (rc == 0 && (fwrite(pad, FLOOR_HDR, 1, f) != 1 || fwrite(b, sizeof *b, nb, f) != nb))
        rc = -1;
    bench_progress pr;
    bench_progress_start(&pr, d->name, s->keys);
    for (uint64_t i = 0; rc == 0 && i < s->keys; i++) {
        bench_key(rec, i);
        bench_value(&v, i, rec + BENCH_KEY_LEN);
        if (fwrite(rec, record_size(s), 1, f) != 1)
            rc = -1;
        if ((i + 1) % 100000 == 0)
            bench_progress_update(&pr, i + 1);
    }
    bench_progress_end(&pr, rc == 0 ? s->keys : 0);
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        tool_fail("bench", path, "write: %s", strerror(errno));
    bench_verify_free(&v);
    free(b);
    free(rec);
    return rc;
}

typedef struct floor_reader {
    char path[4200];
    const char *base;
    size_t size;
    const uint64_t *buckets;
    const char *records;
    uint64_t mask;
    size_t rec;
    tool_pss_match match;
    unsigned sink;
} floor_reader;

static int floor_attach(void *ctx, char *err, size_t cap)
{
    floor_reader *r = ctx;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size < FLOOR_HDR) {
        if (fd >= 0)
            close(fd);
        return bench_err(err, cap, "floor %s: %s", r->path, strerror(errno));
    }
    r->size = (size_t)st.st_size;
    void *m = mmap(NULL, r->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return bench_err(err, cap, "floor mmap %s: %s", r->path, strerror(errno));
    floor_hdr h;
    memcpy(&h, m, sizeof h);
    r->base = m;
    r->buckets = (const uint64_t *)(r->base + FLOOR_HDR);
    r->records = (const char *)(r->buckets + h.buckets);
    r->mask = h.buckets - 1;
    r->rec = BENCH_KEY_LEN + h.value_size;
    if (h.magic != FLOOR_MAGIC || FLOOR_HDR + h.buckets * 8 + h.keys * r->rec != r->size)
        return bench_err(err, cap, "floor %s: not a floor file of this shape", r->path);
    return 0;
}

static int floor_get(void *ctx, const char *key, size_t klen, uint64_t i, int full,
                     const bench_verify *v, char *err, size_t cap)
{
    floor_reader *r = ctx;
    (void)klen;
    (void)err;
    (void)cap;
    uint64_t h = key_hash(key), tag = h >> INDEX_BITS;
    for (uint64_t at = h & r->mask;; at = (at + 1) & r->mask) {
        uint64_t e = r->buckets[at];
        if (e == 0)
            return 1;
        if (e >> INDEX_BITS != tag)
            continue;
        const char *rec = r->records + ((e & INDEX_MASK) - 1) * r->rec;
        if (memcmp(rec, key, BENCH_KEY_LEN) == 0)
            return bench_value_ok(v, i, key, rec + BENCH_KEY_LEN, r->rec - BENCH_KEY_LEN, full)
                   ? 0 : 1;
    }
}

/* The reader's share of records in order, and every bucket. */
static int floor_warm(void *ctx, uint64_t from, uint64_t to, char *err, size_t cap)
{
    floor_reader *r = ctx;
    (void)err;
    (void)cap;
    for (uint64_t at = 0; at <= r->mask; at += 512)
        r->sink += (unsigned)r->buckets[at];
    for (uint64_t n = from; n < to; n++)
        r->sink += bench_touch(r->records + n * r->rec, r->rec);
    return 0;
}

static void floor_detach(void *ctx)
{
    floor_reader *r = ctx;
    munmap((void *)r->base, r->size);
}

int bench_floor(const char *dir, const bench_params *p, bench_result *r)
{
    bench_dataset d;
    if (bench_dataset_ready(&d, dir, "floor", "floor file", &p->shape, floor_fill) != 0)
        return -1;
    memset(r, 0, sizeof *r);
    floor_reader rd = { .match = { d.real, "floor.dat", 0 } };
    snprintf(rd.path, sizeof rd.path, "%s/floor.dat", d.real);
    bench_target t = { .mode = "floor", .ctx = &rd, .attach = floor_attach, .get = floor_get,
                       .warm = floor_warm, .pss = &rd.match, .detach = floor_detach };
    bench_params one = *p;
    one.procs = 1;
    snprintf(r->note, sizeof r->note, "bare hash probe, one process: compare ns_per_get");
    int rc = bench_run(&t, &one, r);
    r->data_mib = (double)bench_dir_bytes(d.path, "floor.dat") / (1 << 20);
    return rc;
}
