/*
 * bench_write_engines.c - the write benchmark's C engines (bench_write.h):
 * forkcache, LMDB and Redis, each as a parent-side resource (store,
 * environment directory, server) and a worker-side connection that does
 * one operation per call. APCu runs in PHP (bench_write.c starts it).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_common.h"
#include "bench/bench_write.h"

#ifdef HAVE_LMDB
#include <lmdb.h>
#endif

#define KEY_LEN 16
#define KEY_BUF 24          /* "%016llu" of a number below 10^16, and room */
#define LMDB_MAP_SIZE ((size_t)1 << 30)

struct bw_ctx {
    int engine, op;
    uint64_t keys;
    size_t value_size;
    char *value;
    char dir[4096];          /* the engine's scratch directory */
    fc_store *fc;
    fc_batch *batch;         /* syncput's one-put batch */
    pid_t redis;
    char sock[4300];
    int fd;                  /* a worker's Redis connection */
    char *req;               /* a worker's SET request, key patched per op */
    size_t req_len, key_at;
#ifdef HAVE_LMDB
    MDB_env *env;
    MDB_dbi dbi;
#endif
};

/* A scratch directory of its own for one row of one engine. */
static int scratch_dir(bw_ctx *c, const char *base, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/fc-bw-%s.XXXXXX", base ? base : tmp && *tmp ? tmp : "/tmp",
             name);
    if (mkdtemp(c->dir) == NULL) {
        fprintf(stderr, "bench write: mkdtemp %s: %s\n", c->dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void key_of(char out[KEY_BUF], uint64_t i)
{
    snprintf(out, KEY_BUF, "%016" PRIu64, (uint64_t)(i % 10000000000000000ull));
}

/* ---- forkcache ------------------------------------------------------------ */

static int fc_open_store(bw_ctx *c)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/store", c->dir);
    fc_options o;
    fc_options_init(&o);
    o.arena_size = (size_t)512 << 20;
    o.queue_slots = 64;
    if (fc_open(path, &o, &c->fc) != 0) {
        fprintf(stderr, "bench write: forkcache open: %s\n", fc_errmsg(NULL));
        return -1;
    }
    return 0;
}

static int fc_op(bw_ctx *c, uint64_t r)
{
    char k[KEY_BUF];
    if (c->op == BW_INCR)
        return fc_incr(c->fc, "ctr", 3, 1, 0, 0, NULL) == 0 ? 0 : -1;
    key_of(k, r % c->keys);
    if (c->op == BW_PUT)
        return fc_put(c->fc, k, KEY_LEN, c->value, c->value_size) == 0 ? 0 : -1;
    fc_batch_clear(c->batch);
    if (fc_batch_put(c->batch, k, KEY_LEN, c->value, c->value_size) != 0)
        return -1;
    return fc_write(c->fc, c->batch, FC_WRITE_SYNC) == 0 ? 0 : -1;
}

/* ---- LMDB ----------------------------------------------------------------- */

#ifdef HAVE_LMDB
/* Opens the environment in this process (LMDB's rule: never across a
 * fork): without MDB_NOSYNC only for syncput. */
static int lmdb_attach(bw_ctx *c)
{
    MDB_txn *t;
    unsigned flags = c->op == BW_SYNCPUT ? 0 : MDB_NOSYNC;
    if (mdb_env_create(&c->env) != 0 || mdb_env_set_mapsize(c->env, LMDB_MAP_SIZE) != 0 ||
        mdb_env_open(c->env, c->dir, flags, 0600) != 0)
        return -1;
    if (mdb_txn_begin(c->env, NULL, 0, &t) != 0)
        return -1;
    if (mdb_dbi_open(t, NULL, 0, &c->dbi) != 0) {
        mdb_txn_abort(t);
        return -1;
    }
    return mdb_txn_commit(t) == 0 ? 0 : -1;
}

/* One write transaction: a put, or incr's read, add and put. */
static int lmdb_op(bw_ctx *c, uint64_t r)
{
    MDB_txn *t;
    char k[KEY_BUF], num[24];
    MDB_val key = { KEY_LEN, k }, val = { c->value_size, c->value };
    if (mdb_txn_begin(c->env, NULL, 0, &t) != 0)
        return -1;
    if (c->op == BW_INCR) {
        MDB_val cur;
        key = (MDB_val){ 3, "ctr" };
        long long n = 0;
        if (mdb_get(t, c->dbi, &key, &cur) == 0 && cur.mv_size < sizeof num) {
            memcpy(num, cur.mv_data, cur.mv_size);
            num[cur.mv_size] = '\0';
            n = strtoll(num, NULL, 10);
        }
        val = (MDB_val){ (size_t)snprintf(num, sizeof num, "%lld", n + 1), num };
    } else {
        key_of(k, r % c->keys);
    }
    if (mdb_put(t, c->dbi, &key, &val, 0) != 0) {
        mdb_txn_abort(t);
        return -1;
    }
    return mdb_txn_commit(t) == 0 ? 0 : -1;
}

static int64_t lmdb_counter(bw_ctx *c)
{
    MDB_txn *t;
    MDB_val key = { 3, "ctr" }, cur;
    char num[24];
    int64_t v = -1;
    if (lmdb_attach(c) != 0 || mdb_txn_begin(c->env, NULL, MDB_RDONLY, &t) != 0)
        return -1;
    if (mdb_get(t, c->dbi, &key, &cur) == 0 && cur.mv_size < sizeof num) {
        memcpy(num, cur.mv_data, cur.mv_size);
        num[cur.mv_size] = '\0';
        v = strtoll(num, NULL, 10);
    }
    mdb_txn_abort(t);
    mdb_env_close(c->env);
    c->env = NULL;
    return v;
}
#endif

/* ---- Redis ---------------------------------------------------------------- */

/* The SET request with a placeholder key, patched for each put. */
static int redis_prepare(bw_ctx *c)
{
    char head[64];
    int h = snprintf(head, sizeof head, "*3\r\n$3\r\nSET\r\n$%d\r\n", KEY_LEN);
    int v = snprintf(NULL, 0, "\r\n$%zu\r\n", c->value_size);
    c->req_len = (size_t)h + KEY_LEN + (size_t)v + c->value_size + 2;
    if ((c->req = malloc(c->req_len + 1)) == NULL)
        return -1;
    c->key_at = (size_t)h;
    memcpy(c->req, head, (size_t)h);
    snprintf(c->req + h + KEY_LEN, (size_t)v + 1, "\r\n$%zu\r\n", c->value_size);
    memcpy(c->req + h + KEY_LEN + v, c->value, c->value_size);
    memcpy(c->req + c->req_len - 2, "\r\n", 2);
    return 0;
}

static int redis_op(bw_ctx *c, uint64_t r)
{
    static const char incr[] = "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n";
    char reply[64], k[KEY_BUF];
    if (c->op == BW_INCR)
        return redis_roundtrip(c->fd, incr, sizeof incr - 1, reply, sizeof reply, 4) > 0 &&
                       reply[0] == ':' ? 0 : -1;
    key_of(k, r % c->keys);
    memcpy(c->req + c->key_at, k, KEY_LEN);
    return redis_roundtrip(c->fd, c->req, c->req_len, reply, sizeof reply, 5) > 0 &&
                   reply[0] == '+' ? 0 : -1;
}

static int64_t redis_counter(bw_ctx *c)
{
    static const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nctr\r\n";
    char reply[64];
    int fd = redis_connect(c->sock);
    ssize_t n = fd < 0 ? -1 : redis_roundtrip(fd, get, sizeof get - 1, reply, sizeof reply - 1, 5);
    if (fd >= 0)
        close(fd);
    if (n <= 0 || reply[0] != '$')
        return -1;
    reply[n] = '\0';
    char *nl = strstr(reply, "\r\n");
    return nl ? strtoll(nl + 2, NULL, 10) : -1;
}

/* ---- the engine interface ------------------------------------------------- */

int bw_engine_open(int engine, const bw_params *p, bw_ctx **out)
{
    *out = NULL;
#ifndef HAVE_LMDB
    if (engine == BW_LMDB)
        return 1;
#endif
    if (engine == BW_APCU || (engine == BW_REDIS && p->op == BW_SYNCPUT))
        return 1;
    bw_ctx *c = calloc(1, sizeof *c);
    char *value = malloc(p->value_size);
    if (c == NULL || value == NULL) {
        free(c);
        free(value);
        return -1;
    }
    *c = (bw_ctx){ .engine = engine, .op = p->op, .keys = p->keys, .value_size = p->value_size,
                   .value = value, .fd = -1 };
    for (size_t i = 0; i < p->value_size; i++)
        c->value[i] = (char)('a' + i % 26);
    /* Redis's socket path must fit sockaddr_un: its directory is in TMPDIR */
    int rc = scratch_dir(c, engine == BW_REDIS ? NULL : p->scratch, bw_engine_name(engine));
    if (rc == 0 && engine == BW_FC)
        rc = fc_open_store(c);
    if (rc == 0 && engine == BW_REDIS && (c->redis = redis_start(c->dir, c->sock,
                                                                 sizeof c->sock)) <= 0)
        rc = 1;
    if (rc != 0) {
        bw_engine_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int bw_engine_attach(bw_ctx *c, int worker)
{
    (void)worker;
    if (c->engine == BW_FC)
        return fc_after_fork(c->fc) == 0 && fc_batch_new(&c->batch) == 0 ? 0 : -1;
    if (c->engine == BW_REDIS)
        return (c->fd = redis_connect(c->sock)) >= 0 && redis_prepare(c) == 0 ? 0 : -1;
#ifdef HAVE_LMDB
    return lmdb_attach(c);
#else
    return -1;
#endif
}

int bw_engine_op(bw_ctx *c, uint64_t r)
{
    if (c->engine == BW_FC)
        return fc_op(c, r);
    if (c->engine == BW_REDIS)
        return redis_op(c, r);
#ifdef HAVE_LMDB
    return lmdb_op(c, r);
#else
    return -1;
#endif
}

/* The worker is about to _exit: only what outlives it needs closing. */
void bw_engine_detach(bw_ctx *c)
{
    if (c->fd >= 0)
        close(c->fd);
}

int64_t bw_engine_counter(bw_ctx *c)
{
    if (c->engine == BW_FC)
        return bench_fc_counter(c->fc);
    if (c->engine == BW_REDIS)
        return redis_counter(c);
#ifdef HAVE_LMDB
    return lmdb_counter(c);
#else
    return -1;
#endif
}

void bw_engine_close(bw_ctx *c)
{
    if (c == NULL)
        return;
    if (c->fc != NULL)
        fc_close(c->fc);
    redis_stop(c->redis);
    if (c->dir[0] != '\0')
        bench_remove(c->dir);
    free(c->value);
    free(c);
}
