/*
 * bench_lmdb.c - the LMDB anchor of `forkcache bench`: the same keys and
 * values in an LMDB environment, read by the same number of processes.
 *
 * Each reader opens the environment after fork (LMDB's rule) and reads
 * with LMDB's recommended fast path for short read transactions: one
 * read-only txn made at attach, then per get mdb_txn_renew, mdb_get,
 * mdb_txn_reset. Built only when configure found LMDB.
 */
#include "config.h"

#include "bench/bench.h"

#ifndef HAVE_LMDB
int bench_lmdb(const char *dir, const bench_params *p, bench_result *r)
{
    (void)dir;
    (void)p;
    (void)r;
    return 1;
}
#else

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_pss.h"
#include "tool/tool.h"

#define COMMIT_EVERY 100000

/* Generous and sparse: the file only grows as far as pages are used; a
 * value bigger than about half a page takes overflow pages of its own. */
static size_t map_size(const bench_shape *s)
{
    uint64_t per = s->value_size + BENCH_KEY_LEN + 64;
    if (s->value_size > 1500)
        per = (s->value_size + 64 + 4095) / 4096 * 4096 + 64;
    return (size_t)(s->keys * per * 2) + ((size_t)64 << 20);
}

static int lmdb_fail(const char *dir, const char *what, int rc)
{
    tool_fail("bench", dir, "lmdb %s: %s", what, mdb_strerror(rc));
    return -1;
}

/* Keys come in order, so MDB_APPEND fills pages to the brim. */
static int put_all(MDB_env *env, const bench_dataset *b, const char *dir)
{
    bench_verify v;
    char key[BENCH_KEY_LEN + 1], *val = malloc(b->shape->value_size + 1);
    if (val == NULL || bench_verify_init(&v, b->shape->value_size) != 0) {
        free(val);
        tool_fail("bench", dir, "out of memory");
        return -1;
    }
    bench_progress pr;
    bench_progress_start(&pr, b->name, b->shape->keys);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < b->shape->keys; i++) {
        if (txn == NULL && (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0)
            rc = mdb_dbi_open(txn, NULL, 0, &dbi);
        bench_key(key, i);
        bench_value(&v, i, val);
        MDB_val k = { BENCH_KEY_LEN, key }, d = { b->shape->value_size, val };
        if (rc == 0)
            rc = mdb_put(txn, dbi, &k, &d, MDB_APPEND);
        if (rc == 0 && ((i + 1) % COMMIT_EVERY == 0 || i + 1 == b->shape->keys)) {
            rc = mdb_txn_commit(txn);
            txn = NULL;
            bench_progress_update(&pr, i + 1);
        }
    }
    if (txn)
        mdb_txn_abort(txn);
    bench_progress_end(&pr, rc == 0 ? b->shape->keys : 0);
    bench_verify_free(&v);
    free(val);
    return rc == 0 ? 0 : lmdb_fail(dir, "load", rc);
}

static int lmdb_fill(const bench_dataset *b, const char *dir)
{
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc != 0)
        return lmdb_fail(dir, "env", rc);
    if ((rc = mdb_env_set_mapsize(env, map_size(b->shape))) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOSYNC, 0644)) != 0) {
        mdb_env_close(env);
        return lmdb_fail(dir, "open", rc);
    }
    rc = put_all(env, b, dir);
    int src = mdb_env_sync(env, 1);
    mdb_env_close(env);
    if (rc == 0 && src != 0)
        return lmdb_fail(dir, "sync", src);
    return rc;
}

typedef struct lmdb_reader {
    const char *path;
    size_t map;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    tool_pss_match match;
    unsigned sink;          /* what warming read, so it is not optimized out */
} lmdb_reader;

static int lmdb_attach(void *ctx, char *err, size_t cap)
{
    lmdb_reader *r = ctx;
    int rc = mdb_env_create(&r->env);
    if (rc == 0 && (rc = mdb_env_set_mapsize(r->env, r->map)) == 0 &&
        (rc = mdb_env_open(r->env, r->path, MDB_RDONLY, 0644)) == 0 &&
        (rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn)) == 0 &&
        (rc = mdb_dbi_open(r->txn, NULL, 0, &r->dbi)) == 0) {
        mdb_txn_reset(r->txn);
        return 0;
    }
    snprintf(err, cap, "lmdb open %s: %s", r->path, mdb_strerror(rc));
    return -1;
}

static int lmdb_get(void *ctx, const char *key, size_t klen, uint64_t i, int full,
                    const bench_verify *v, char *err, size_t cap)
{
    lmdb_reader *r = ctx;
    int rc = mdb_txn_renew(r->txn);
    if (rc != 0)
        return bench_err(err, cap, "mdb_txn_renew: %s", mdb_strerror(rc));
    MDB_val k = { klen, (void *)key }, d;
    rc = mdb_get(r->txn, r->dbi, &k, &d);
    int ok = rc == 0 && bench_value_ok(v, i, key, d.mv_data, d.mv_size, full);
    mdb_txn_reset(r->txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return bench_err(err, cap, "mdb_get: %s", mdb_strerror(rc));
    return ok ? 0 : 1;
}

/* A cursor over the reader's share, in the reader's txn: its pages are
 * faulted in before the clock starts. */
static int lmdb_warm(void *ctx, uint64_t from, uint64_t to, char *err, size_t cap)
{
    lmdb_reader *r = ctx;
    char key[BENCH_KEY_LEN + 1];
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_renew(r->txn);
    if (rc == 0)
        rc = mdb_cursor_open(r->txn, r->dbi, &cur);
    bench_key(key, from);
    MDB_val k = { BENCH_KEY_LEN, key }, d;
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    for (uint64_t n = from; rc == 0 && n < to; n++) {
        r->sink += bench_touch(d.mv_data, d.mv_size);
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_reset(r->txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return bench_err(err, cap, "lmdb warming up: %s", mdb_strerror(rc));
    return 0;
}

static void lmdb_detach(void *ctx)
{
    lmdb_reader *r = ctx;
    mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

int bench_lmdb(const char *dir, const bench_params *p, bench_result *r)
{
    bench_dataset d;
    if (bench_dataset_ready(&d, dir, "lmdb", "LMDB env", &p->shape, lmdb_fill) != 0)
        return -1;
    memset(r, 0, sizeof *r);
    lmdb_reader rd = { .path = d.real, .map = map_size(&p->shape), .match = { d.real, "data.mdb", 0 } };
    bench_target t = { .mode = "lmdb", .ctx = &rd, .attach = lmdb_attach, .get = lmdb_get,
                       .warm = lmdb_warm, .pss = &rd.match, .detach = lmdb_detach };
    snprintf(r->note, sizeof r->note, "read txn reset/renew per get");
    int rc = bench_run(&t, p, r);
    r->data_mib = (double)bench_dir_bytes(d.path, "data.mdb") / (1 << 20);
    return rc;
}

#endif
