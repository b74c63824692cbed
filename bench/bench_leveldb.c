/*
 * bench_leveldb.c - the LevelDB anchor of `forkcache bench`: the same keys
 * and values in a LevelDB database, read by one process (LevelDB locks
 * its directory, so a second process cannot open it).
 *
 * LevelDB gets its normal read path: leveldb_get with default read
 * options (its 8 MiB block cache, a malloc'd copy of each value), a
 * 10-bit bloom filter like forkcache's, and blocks stored uncompressed
 * like forkcache's, so both read the same bytes. Built only when
 * configure found LevelDB.
 */
#include "config.h"

#include "bench/bench.h"

#ifndef HAVE_LEVELDB
int bench_leveldb(const char *dir, const bench_params *p, bench_result *r)
{
    (void)dir;
    (void)p;
    (void)r;
    return 1;
}
#else

#include <errno.h>
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_pss.h"
#include "tool/tool.h"

#define BUILD_BATCH 1000
#define BUILD_WRITE_BUFFER ((size_t)64 << 20)

/* Options shared by the build and the reader; destroy with ldb_opts_free. */
typedef struct ldb_opts {
    leveldb_options_t *o;
    leveldb_filterpolicy_t *bloom;
} ldb_opts;

static int ldb_opts_make(ldb_opts *x, int create)
{
    x->o = leveldb_options_create();
    x->bloom = leveldb_filterpolicy_create_bloom(10);
    if (x->o == NULL || x->bloom == NULL)
        return -1;
    leveldb_options_set_create_if_missing(x->o, (unsigned char)create);
    leveldb_options_set_compression(x->o, leveldb_no_compression);
    leveldb_options_set_filter_policy(x->o, x->bloom);
    if (create)
        leveldb_options_set_write_buffer_size(x->o, BUILD_WRITE_BUFFER);
    return 0;
}

static void ldb_opts_free(ldb_opts *x)
{
    if (x->o)
        leveldb_options_destroy(x->o);
    if (x->bloom)
        leveldb_filterpolicy_destroy(x->bloom);
}

/* Writes keys in order in batches and compacts, like the forkcache store. */
static int put_all(leveldb_t *db, const bench_dataset *b, const char *dir)
{
    bench_verify v = { 0, NULL };
    char key[BENCH_KEY_LEN + 1], *val = malloc(b->shape->value_size + 1), *err = NULL;
    leveldb_writebatch_t *batch = leveldb_writebatch_create();
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    int rc = val && batch && wo && bench_verify_init(&v, b->shape->value_size) == 0 ? 0 : -1;
    if (rc != 0)
        tool_fail("bench", dir, "out of memory");
    bench_progress pr;
    bench_progress_start(&pr, b->name, b->shape->keys);
    for (uint64_t i = 0; rc == 0 && i < b->shape->keys; i++) {
        bench_key(key, i);
        bench_value(&v, i, val);
        leveldb_writebatch_put(batch, key, BENCH_KEY_LEN, val, b->shape->value_size);
        if ((i + 1) % BUILD_BATCH == 0 || i + 1 == b->shape->keys) {
            leveldb_write(db, wo, batch, &err);
            leveldb_writebatch_clear(batch);
            bench_progress_update(&pr, i + 1);
        }
        if (err) {
            tool_fail("bench", dir, "leveldb_write: %s", err);
            rc = -1;
        }
    }
    if (rc == 0)
        leveldb_compact_range(db, NULL, 0, NULL, 0);
    bench_progress_end(&pr, rc == 0 ? b->shape->keys : 0);
    bench_verify_free(&v);
    leveldb_free(err);
    if (batch)
        leveldb_writebatch_destroy(batch);
    if (wo)
        leveldb_writeoptions_destroy(wo);
    free(val);
    return rc;
}

static int ldb_fill_here(const bench_dataset *b, const char *dir)
{
    ldb_opts x = { NULL, NULL };
    char *err = NULL;
    leveldb_t *db = NULL;
    if (ldb_opts_make(&x, 1) == 0)
        db = leveldb_open(x.o, dir, &err);
    int rc = -1;
    if (db == NULL)
        tool_fail("bench", dir, "leveldb_open: %s", err ? err : "out of memory");
    else
        rc = put_all(db, b, dir);
    if (db)
        leveldb_close(db);
    leveldb_free(err);
    ldb_opts_free(&x);
    return rc;
}

/* The build runs in a child of its own: LevelDB's background thread,
 * once started, outlives the database in its process, and a reader forked
 * from that process later finds LevelDB sure it has a thread that fork did
 * not copy, so its first compaction waited for ever (make demo hung on a
 * fresh bench directory). */
static int ldb_fill(const bench_dataset *b, const char *dir)
{
    fflush(NULL); /* the child's exit must not print the parent's output twice */
    pid_t pid = fc_fork();
    if (pid < 0) {
        tool_fail("bench", dir, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)
        _exit(ldb_fill_here(b, dir) == 0 ? 0 : 1);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

typedef struct ldb_reader {
    const char *path;
    ldb_opts x;
    leveldb_t *db;
    leveldb_readoptions_t *ro;
    tool_pss_match match;
    unsigned sink;          /* what warming read, so it is not optimized out */
} ldb_reader;

static int ldb_attach(void *ctx, char *err, size_t cap)
{
    ldb_reader *r = ctx;
    char *e = NULL;
    if (ldb_opts_make(&r->x, 0) == 0 && (r->ro = leveldb_readoptions_create()) != NULL)
        r->db = leveldb_open(r->x.o, r->path, &e);
    if (r->db != NULL)
        return 0;
    snprintf(err, cap, "leveldb_open %s: %s", r->path, e ? e : "out of memory");
    leveldb_free(e);
    return -1;
}

static int ldb_get(void *ctx, const char *key, size_t klen, uint64_t i, int full,
                   const bench_verify *v, char *err, size_t cap)
{
    ldb_reader *r = ctx;
    char *e = NULL;
    size_t len = 0;
    char *val = leveldb_get(r->db, r->ro, key, klen, &len, &e);
    if (e != NULL) {
        snprintf(err, cap, "leveldb_get: %s", e);
        leveldb_free(e);
        leveldb_free(val);
        return -1;
    }
    int ok = val != NULL && bench_value_ok(v, i, key, val, len, full);
    leveldb_free(val);
    return ok ? 0 : 1;
}

/* An iterator over the reader's share: the tables' pages are faulted in
 * before the clock starts (LevelDB maps its tables). */
static int ldb_warm(void *ctx, uint64_t from, uint64_t to, char *err, size_t cap)
{
    ldb_reader *r = ctx;
    char key[BENCH_KEY_LEN + 1];
    leveldb_iterator_t *it = leveldb_create_iterator(r->db, r->ro);
    if (it == NULL)
        return bench_err(err, cap, "leveldb: no iterator");
    bench_key(key, from);
    leveldb_iter_seek(it, key, BENCH_KEY_LEN);
    for (uint64_t n = from; n < to && leveldb_iter_valid(it); n++) {
        size_t len;
        const char *v = leveldb_iter_value(it, &len);
        r->sink += bench_touch(v, len);
        leveldb_iter_next(it);
    }
    char *e = NULL;
    leveldb_iter_get_error(it, &e);
    leveldb_iter_destroy(it);
    if (e != NULL) {
        snprintf(err, cap, "leveldb warming up: %s", e);
        leveldb_free(e);
        return -1;
    }
    return 0;
}

static void ldb_detach(void *ctx)
{
    ldb_reader *r = ctx;
    leveldb_close(r->db);
    leveldb_readoptions_destroy(r->ro);
    ldb_opts_free(&r->x);
}

int bench_leveldb(const char *dir, const bench_params *p, bench_result *r)
{
    bench_dataset d;
    if (bench_dataset_ready(&d, dir, "leveldb", "LevelDB db", &p->shape, ldb_fill) != 0)
        return -1;
    memset(r, 0, sizeof *r);
    ldb_reader rd = { .path = d.real, .match = { d.real, ".ldb", 0 } };
    bench_target t = { .mode = "leveldb", .ctx = &rd, .attach = ldb_attach, .get = ldb_get,
                       .warm = ldb_warm, .pss = &rd.match, .detach = ldb_detach };
    bench_params one = *p;
    one.procs = 1;
    snprintf(r->note, sizeof r->note, "one process: LevelDB locks its directory");
    int rc = bench_run(&t, &one, r);
    r->data_mib = (double)bench_dir_bytes(d.path, ".ldb") / (1 << 20);
    return rc;
}

#endif
