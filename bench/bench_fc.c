/*
 * bench_fc.c - forkcache's three modes in `forkcache bench`, and the store
 * they read.
 *
 * The parent opens the store as its writer with the mode's options, forks
 * the readers (each calls fc_after_fork) and closes it afterwards:
 *   mmap   the default: tables mapped, values returned zero-copy from the
 *          mapping; the Limiter is sized so every reader maps every table.
 *   cache  the Limiter at 0: no table is mapped, blocks are read once into
 *          the shared block cache, sized to hold them all, and values are
 *          returned zero-copy from its frames.
 *   copy   the Limiter at 0 and no block cache: each get preads its block
 *          into the reader's own heap and fc_get_copy copies the value out,
 *          as a design where every process keeps private copies does.
 * Every reader does one transaction per get, as a web worker would.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "bench/bench.h"
#include "bench/bench_pss.h"
#include "tool/tool.h"

#define BUILD_BATCH 1000
#define BUILD_WRITE_BUFFER ((size_t)64 << 20)
#define RUN_ARENA ((size_t)256 << 20)
#define CACHE_SLACK 1.3   /* 8-way sets fill unevenly: room to spare */

static int build_fail(const char *dir, fc_store *s, const char *what, int rc)
{
    tool_fail("bench", dir, "%s: %s", what, tool_detail(s, rc));
    return -1;
}

/* Writes keys in order, in batches, then compacts: the readers meet one
 * sorted level of tables, as a cache filled once and then served would. */
static int fc_fill(const bench_dataset *b, const char *dir)
{
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = BUILD_WRITE_BUFFER;
    fc_store *s;
    int rc = fc_open(dir, &o, &s);
    if (rc != 0)
        return build_fail(dir, NULL, "open", rc);
    fc_batch *batch = NULL;
    bench_verify v;
    char *val = NULL;
    if (bench_verify_init(&v, b->shape->value_size) != 0 || fc_batch_new(&batch) != 0 ||
        (val = malloc(b->shape->value_size + 1)) == NULL) {
        tool_fail("bench", dir, "out of memory");
        rc = FC_ENOMEM;
    }
    bench_progress pr;
    bench_progress_start(&pr, b->name, b->shape->keys);
    char key[BENCH_KEY_LEN + 1];
    for (uint64_t i = 0; rc == 0 && i < b->shape->keys; i++) {
        bench_key(key, i);
        bench_value(&v, i, val);
        rc = fc_batch_put(batch, key, BENCH_KEY_LEN, val, b->shape->value_size);
        if (rc == 0 && (fc_batch_count(batch) == BUILD_BATCH || i + 1 == b->shape->keys)) {
            rc = fc_write(s, batch, 0);
            fc_batch_clear(batch);
            bench_progress_update(&pr, i + 1);
        }
        if (rc != 0)
            build_fail(dir, s, "write", rc);
    }
    if (rc == 0 && (rc = fc_compact_range(s, NULL, 0, NULL, 0)) != 0)
        build_fail(dir, s, "compact", rc);
    bench_progress_end(&pr, rc == 0 ? b->shape->keys : 0);
    int crc = fc_close(s);
    if (rc == 0 && crc != 0)
        rc = build_fail(dir, NULL, "close", crc);
    fc_batch_free(batch);
    bench_verify_free(&v);
    free(val);
    return rc == 0 ? 0 : -1;
}

/* One reader's handle: the inherited store, and the copy's buffer. */
typedef struct fc_reader {
    fc_store *s;
    int copy;
    size_t value_size;
    char *buf;
    tool_pss_match match;
    unsigned sink;          /* what warming read, so it is not optimized out */
} fc_reader;

static int fc_attach(void *ctx, char *err, size_t cap)
{
    fc_reader *r = ctx;
    int rc = fc_after_fork(r->s);
    if (rc != 0)
        return bench_err(err, cap, "fc_after_fork: %s", tool_detail(r->s, rc));
    if (r->copy && (r->buf = malloc(r->value_size + 1)) == NULL)
        return bench_err(err, cap, "out of memory");
    return 0;
}

/* One request: a transaction, one get (or get and copy), the check. */
static int fc_bench_get(void *ctx, const char *key, size_t klen, uint64_t i, int full,
                        const bench_verify *v, char *err, size_t cap)
{
    fc_reader *r = ctx;
    fc_txn *t;
    int rc = fc_txn_begin(r->s, &t);
    if (rc != 0)
        return bench_err(err, cap, "fc_txn_begin: %s", tool_detail(r->s, rc));
    const void *data;
    size_t len;
    if (r->copy) {
        rc = fc_get_copy(t, key, klen, r->buf, r->value_size, &len);
        data = r->buf;
    } else {
        fc_val val;
        rc = fc_get(t, key, klen, &val);
        data = val.data;
        len = val.size;
    }
    int ok = rc == 0 && bench_value_ok(v, i, key, data, len, full);
    fc_txn_end(t);
    if (rc != 0 && rc != FC_ENOTFOUND && rc != FC_ELIMIT)
        return bench_err(err, cap, "fc_get: %s", tool_detail(r->s, rc));
    return ok ? 0 : 1;
}

/* An iterator over the reader's share: mapped pages are faulted in, or
 * frames filled in the shared block cache, before the clock starts. */
static int fc_warm(void *ctx, uint64_t from, uint64_t to, char *err, size_t cap)
{
    fc_reader *r = ctx;
    char key[BENCH_KEY_LEN + 1];
    fc_txn *t = NULL;
    fc_iter *it = NULL;
    int rc = fc_txn_begin(r->s, &t);
    if (rc == 0)
        rc = fc_iter_new(t, &it);
    bench_key(key, from);
    if (rc == 0)
        rc = fc_iter_seek(it, key, BENCH_KEY_LEN);
    for (uint64_t n = from; rc == 0 && n < to; n++) {
        fc_val v = fc_iter_value(it);
        r->sink += bench_touch(v.data, v.size);
        rc = fc_iter_next(it);
    }
    fc_iter_free(it);
    if (t)
        fc_txn_end(t);
    if (rc != 0 && rc != FC_ENOTFOUND)
        return bench_err(err, cap, "warming up: %s", tool_detail(r->s, rc));
    return 0;
}

static void fc_detach(void *ctx)
{
    fc_reader *r = ctx;
    fc_close(r->s);
    free(r->buf);
}

/* Room for every block, in frames of about the size the library picks
 * (db/framesize.c: the blocks' 99th percentile, a sixteenth past the
 * block size for these values), with slack for 8-way sets filling
 * unevenly. No more than that: a sparse cache touches pages it half
 * uses. A block is cut once past 4 KiB, so it holds as many entries as
 * fit plus the one that crossed. */
static size_t cache_bytes(const bench_shape *sh, uint64_t table_bytes)
{
    uint64_t entry = sh->value_size + BENCH_KEY_LEN + 8 + 3;
    uint64_t per_block = FC_DEFAULT_BLOCK_SIZE / entry + 1;
    uint64_t block = per_block * entry, blocks = sh->keys / per_block + 1;
    uint64_t floor = FC_DEFAULT_BLOCK_SIZE * 17 / 16;
    size_t frame = (size_t)(block > floor ? block : floor);
    if (blocks < table_bytes / block)
        blocks = table_bytes / block;
    size_t bytes = (size_t)((double)blocks * (double)frame * CACHE_SLACK) + ((size_t)16 << 20);
    return (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
}

/* Half the machine's memory: a cache bigger than that is not offered. */
static size_t memory_cap(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize / 2 : (size_t)4 << 30;
}

/* The mode's options; a note when the cache cannot hold the data. */
static void mode_options(const char *mode, const bench_shape *sh, const char *path,
                         const bench_params *p, fc_options *o, bench_result *r)
{
    uint64_t table_bytes = bench_dir_bytes(path, ".ldb");
    fc_options_init(o);
    o->flags = 0;
    o->arena_size = RUN_ARENA;
    if (strcmp(mode, "mmap") == 0) {
        /* Every reader maps every table, and the parent may too; a table
         * holds at least half max_file_size (but for a level's last). */
        uint64_t per = table_bytes / (FC_DEFAULT_MAX_FILE_SIZE / 2) + 64;
        uint64_t all = per * (uint64_t)(p->procs + 1);
        o->max_mappings = (int)(all < (1u << 20) ? all : (1u << 20));
        return;
    }
    o->max_mappings = 0;
    o->block_cache_size = 0;
    if (strcmp(mode, "cache") != 0)
        return;
    size_t need = cache_bytes(sh, table_bytes), want = need, cap = memory_cap();
    while (want > cap)
        want >>= 1;
    o->block_cache_size = want;
    /* The arena's heap hands out power-of-two blocks: room for the one
     * the cache is carved from (reserved, only the frames are touched). */
    size_t block = (size_t)1 << 20;
    while (block < want)
        block <<= 1;
    o->arena_size = block + RUN_ARENA;
    if (need > cap)
        snprintf(r->note, sizeof r->note, "block cache %zu MiB < the %zu MiB the data needs",
                 o->block_cache_size >> 20, need >> 20);
}

/* What the shared block cache did, for the cache mode's note: misses are
 * the blocks read into it (the warm-up reads each once), so misses near
 * the number of blocks mean it held the whole data set. */
static void cache_note(fc_store *s, bench_result *r)
{
    fc_stats st;
    if (r->note[0] || fc_stats_get(s, &st) != 0)
        return;
    snprintf(r->note, sizeof r->note, "block cache %llu MiB: %llu misses, %llu hits",
             (unsigned long long)(st.block_cache_size >> 20),
             (unsigned long long)st.block_cache_misses, (unsigned long long)st.block_cache_hits);
}

int bench_fc(const char *dir, const char *mode, const bench_params *p, bench_result *r)
{
    bench_dataset d;
    if (bench_dataset_ready(&d, dir, "forkcache", "forkcache store", &p->shape, fc_fill) != 0)
        return -1;
    memset(r, 0, sizeof *r);
    fc_options o;
    mode_options(mode, &p->shape, d.path, p, &o, r);
    fc_store *s;
    int rc = fc_open(d.path, &o, &s);
    if (rc != 0) {
        tool_fail("bench", d.path, "open for mode %s: %s", mode, tool_detail(NULL, rc));
        return -1;
    }
    fc_reader rd = { .s = s, .copy = strcmp(mode, "copy") == 0,
                     .value_size = p->shape.value_size, .match = { d.real, ".ldb", 1 } };
    bench_target t = { .ctx = &rd, .attach = fc_attach, .get = fc_bench_get, .warm = fc_warm,
                       .pss = &rd.match, .detach = fc_detach };
    snprintf(t.mode, sizeof t.mode, "%s", mode);
    rc = bench_run(&t, p, r);
    if (rc == 0 && strcmp(mode, "cache") == 0)
        cache_note(s, r);
    r->data_mib = (double)bench_dir_bytes(d.path, ".ldb") / (1 << 20);
    int crc = fc_close(s);
    if (rc == 0 && crc != 0) {
        tool_fail("bench", d.path, "close: %s", fc_strerror(crc));
        rc = -1;
    }
    return rc;
}
