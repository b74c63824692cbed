/*
 * bench_format.c - micro-benchmark of the table read path (not a test):
 * builds a 1M-key table ("key%08d", 100-byte values, bloom 10, no
 * compression) in a file, maps it, and prints the median over several runs
 * of ns per block seek (a data block and the index block) and ns per table
 * get, hit and miss.
 *
 * Usage: bench/bench_format [nkeys] (default 1000000); scratch file in
 * $TMPDIR (or /tmp), removed at the end.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/dbformat.h"
#include "format/table.h"

#define RUNS 5
#define OPS 200000

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static uint64_t rng = 88172645463325252ull;

/* xorshift: cheap, and the same sequence every run */
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Lookup keys prepared up front so only the lookups are timed. */
static char *make_lookups(int nkeys, int miss, size_t *stride)
{
    *stride = 24;
    char *keys = malloc(*stride * OPS);
    for (int i = 0; i < OPS; i++) {
        char user[16];
        int n = snprintf(user, sizeof user, miss ? "key%08dx" : "key%08d", (int)(next_rand() % (uint64_t)nkeys));
        fci_buf b = FCI_BUF_INIT;
        fci_ikey_append(&b, fci_slice_make(user, (size_t)n), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
        keys[*stride * i] = (char)b.size;
        memcpy(keys + *stride * i + 1, b.data, b.size);
        fci_buf_free(&b);
    }
    return keys;
}

static fci_slice lookup(const char *keys, size_t stride, int i)
{
    const char *p = keys + stride * (size_t)i;
    return fci_slice_make(p + 1, (unsigned char)p[0]);
}

static double bench_gets(const fci_table *t, const char *keys, size_t stride, int want)
{
    fci_table_get_result r;
    fci_table_get_init(&r);
    size_t sum = 0;
    double start = now_ns();
    for (int i = 0; i < OPS; i++) {
        int rc = fci_table_get(t, lookup(keys, stride, i), &r, NULL);
        if (rc != want) {
            fprintf(stderr, "get %d: rc %d, expected %d\n", i, rc, want);
            exit(1);
        }
        sum += r.value.size;
    }
    double ns = (now_ns() - start) / OPS;
    fci_table_get_free(t, &r);
    if (want == 0 && sum != (size_t)OPS * 100) {
        fprintf(stderr, "bad value sizes\n");
        exit(1);
    }
    return ns;
}

/* Seeks over one block with targets drawn from its own keys. */
static double bench_block_seek(const fci_block *b, fci_slice *targets, int ntargets)
{
    fci_block_iter it;
    fci_block_iter_init(&it, b, fci_ikey_compare);
    double start = now_ns();
    int found = 0;
    for (int i = 0; i < OPS; i++) {
        fci_block_iter_seek(&it, targets[i % ntargets]);
        found += fci_block_iter_valid(&it);
    }
    double ns = (now_ns() - start) / OPS;
    fci_block_iter_free(&it);
    if (found != OPS) {
        fprintf(stderr, "block seek missed\n");
        exit(1);
    }
    return ns;
}

/* Copies every key of a block, in a random order, as seek targets. */
static fci_slice *block_targets(const fci_block *b, int *n, fci_buf *store)
{
    fci_block_iter it;
    fci_block_iter_init(&it, b, fci_ikey_compare);
    size_t offs[1 << 16], lens[1 << 16];
    int count = 0;
    for (fci_block_iter_first(&it); fci_block_iter_valid(&it) && count < (1 << 16); fci_block_iter_next(&it)) {
        offs[count] = store->size;
        lens[count] = it.key.size;
        fci_buf_append(store, it.key.data, it.key.size);
        count++;
    }
    fci_block_iter_free(&it);
    fci_slice *t = malloc(sizeof *t * (size_t)count);
    for (int i = 0; i < count; i++)
        t[i] = fci_slice_make(store->data + offs[i], lens[i]);
    for (int i = count - 1; i > 0; i--) {
        int j = (int)(next_rand() % (uint64_t)(i + 1));
        fci_slice x = t[i];
        t[i] = t[j];
        t[j] = x;
    }
    *n = count;
    return t;
}

int main(int argc, char **argv)
{
    int nkeys = argc > 1 ? atoi(argv[1]) : 1000000;
    if (nkeys < 1)
        nkeys = 1;
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_format.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        perror("mkostemp");
        return 1;
    }
    fci_table_options o;
    fci_table_options_init(&o);
    fci_table_builder tb;
    fci_table_builder_init_fd(&tb, &o, fd);
    char value[100];
    memset(value, 'v', sizeof value);
    fci_buf k = FCI_BUF_INIT;
    double t0 = now_ns();
    for (int i = 0; i < nkeys; i++) {
        char user[16];
        int n = snprintf(user, sizeof user, "key%08d", i);
        fci_buf_clear(&k);
        fci_ikey_append(&k, fci_slice_make(user, (size_t)n), 1, FCI_TYPE_VALUE);
        if (fci_table_builder_add(&tb, fci_buf_slice(&k), fci_slice_make(value, sizeof value), NULL) != 0) {
            fprintf(stderr, "add failed\n");
            return 1;
        }
    }
    fci_err err;
    if (fci_table_builder_finish(&tb, &err) != 0) {
        fprintf(stderr, "finish: %s\n", err.msg);
        return 1;
    }
    double build_s = (now_ns() - t0) / 1e9;
    uint64_t size = fci_table_builder_file_size(&tb);
    uint64_t blocks = tb.data_blocks;
    fci_table_builder_free(&tb);
    fci_buf_free(&k);
    char *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    fci_table t;
    if (fci_table_open(&t, map, size, 0, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    printf("table: %d keys, %llu bytes, %llu data blocks, index block %u bytes, built in %.2f s\n",
           nkeys, (unsigned long long)size, (unsigned long long)blocks, t.index.size, build_s);

    /* a data block from the middle of the table */
    fci_block_iter ix;
    fci_block_iter_init(&ix, &t.index, fci_ikey_compare);
    fci_block_iter_first(&ix);
    for (uint64_t i = 0; i < blocks / 2; i++)
        fci_block_iter_next(&ix);
    fci_block_handle h;
    const char *p = ix.value.data;
    fci_block_handle_decode(&p, p + ix.value.size, &h);
    fci_block_iter_free(&ix);
    fci_block data;
    fci_block_init(&data, map + h.offset, h.size, NULL);
    fci_buf dstore = FCI_BUF_INIT, istore = FCI_BUF_INIT;
    int nd, ni;
    fci_slice *dt = block_targets(&data, &nd, &dstore);
    fci_slice *it = block_targets(&t.index, &ni, &istore);

    size_t stride;
    char *hits = make_lookups(nkeys, 0, &stride);
    char *misses = make_lookups(nkeys, 1, &stride);
    double r_data[RUNS], r_index[RUNS], r_hit[RUNS], r_miss[RUNS];
    for (int run = 0; run < RUNS; run++) {
        r_data[run] = bench_block_seek(&data, dt, nd);
        r_index[run] = bench_block_seek(&t.index, it, ni);
        r_hit[run] = bench_gets(&t, hits, stride, 0);
        r_miss[run] = bench_gets(&t, misses, stride, FC_ENOTFOUND);
    }
    printf("block seek, data block (%d entries, %llu bytes): %.1f ns\n", nd,
           (unsigned long long)h.size, median(r_data, RUNS));
    printf("block seek, index block (%d entries): %.1f ns\n", ni, median(r_index, RUNS));
    printf("table get, hit (random key, zero-copy value): %.1f ns\n", median(r_hit, RUNS));
    printf("table get, miss (absent key, bloom filter): %.1f ns\n", median(r_miss, RUNS));
    printf("(median of %d runs of %d operations each)\n", RUNS, OPS);

    free(hits);
    free(misses);
    free(dt);
    free(it);
    fci_buf_free(&dstore);
    fci_buf_free(&istore);
    fci_table_close(&t);
    munmap(map, size);
    unlink(path);
    return 0;
}
