/*
 * check_interop_store.c - a store written by forkcache's writer is a
 * LevelDB database: real LevelDB (only its public C API) opens it with
 * paranoid checks and reads exactly what forkcache wrote, wherever the data
 * sat at close (WAL only, L0, many levels after compactions, synced
 * writes); LevelDB then writes more (snappy tables and its own WAL) and
 * forkcache reopens the store, reads all of it, compacts it and hands it
 * back to LevelDB once more.
 */
#include "config.h"

#include <dirent.h>
#include <leveldb/c.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/ttl.h"
#include "util/coding.h"

/* ---- the model: what the store must hold ---------------------------------- */

#define MAXKEYS 8000

/* gen[i] < 0: key i absent (never written or deleted); else the value of
 * generation gen[i] is expected. */
typedef struct model {
    int nkeys;
    int gen[MAXKEYS];
} model;

static void model_init(model *m, int nkeys)
{
    m->nkeys = nkeys;
    for (int i = 0; i < nkeys; i++)
        m->gen[i] = -1;
}

/* Values of varied lengths (10..330 bytes), compressible so LevelDB's
 * snappy really compresses the blocks it writes. */
static size_t val_of(char *buf, int i, int gen)
{
    int n = sprintf(buf, "v%d.%d:", i, gen);
    int len = 10 + (i * 7 + gen * 13) % 320;
    for (int k = n; k < len; k++)
        buf[k] = (char)('a' + (i + gen + k / 16) % 26);
    buf[len] = '\0';
    return (size_t)len;
}

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ---- forkcache side --------------------------------------------------------- */

static fc_store *fc_open_ok(const fc_options *o)
{
    fc_store *s = NULL;
    int rc = fc_open(fct_dir, o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

static void fc_put_model(fc_store *s, model *m, int i, int gen)
{
    char k[32], v[400];
    fct_key_of(k, "key", 6, i);
    size_t vl = val_of(v, i, gen);
    int rc = fc_put(s, k, strlen(k), v, vl);
    ck_assert_msg(rc == 0, "fc_put %s: %s", k, fc_errmsg(s));
    m->gen[i] = gen;
}

static void fc_del_model(fc_store *s, model *m, int i)
{
    char k[32];
    fct_key_of(k, "key", 6, i);
    int rc = fc_del(s, k, strlen(k));
    ck_assert_msg(rc == 0, "fc_del %s: %s", k, fc_errmsg(s));
    m->gen[i] = -1;
}

/* A batch of puts and deletes of random keys; the model changes only
 * after the batch is written, in batch order. */
static void fc_batch_model(fc_store *s, model *m, int nops, int gen, unsigned flags)
{
    fc_batch *b;
    ck_assert_int_eq(fc_batch_new(&b), 0);
    int idx[64], put[64];
    for (int j = 0; j < nops; j++) {
        char k[32], v[400];
        idx[j] = (int)(rnd() % (unsigned)m->nkeys);
        put[j] = rnd() % 4 != 0;
        fct_key_of(k, "key", 6, idx[j]);
        if (put[j]) {
            size_t vl = val_of(v, idx[j], gen);
            ck_assert_int_eq(fc_batch_put(b, k, strlen(k), v, vl), 0);
        } else {
            ck_assert_int_eq(fc_batch_del(b, k, strlen(k)), 0);
        }
    }
    int rc = fc_write(s, b, flags);
    ck_assert_msg(rc == 0, "fc_write: %s", fc_errmsg(s));
    for (int j = 0; j < nops; j++)
        m->gen[idx[j]] = put[j] ? gen : -1;
    fc_batch_free(b);
}

/* Loads every key, then `ops` random puts (overwrites), deletes and batches. */
static void fc_workload(fc_store *s, model *m, int ops, int gen0, unsigned flags)
{
    for (int i = 0; i < m->nkeys; i++)
        fc_put_model(s, m, i, gen0);
    for (int op = 0; op < ops; op++) {
        int gen = gen0 + 1 + op;
        unsigned r = rnd() % 10;
        int i = (int)(rnd() % (unsigned)m->nkeys);
        if (r < 5)
            fc_put_model(s, m, i, gen);
        else if (r < 8)
            fc_del_model(s, m, i);
        else
            fc_batch_model(s, m, 1 + (int)(rnd() % 60), gen, flags);
    }
}

/* Every key of the model through fc_get: present ones byte for byte,
 * absent ones FC_ENOTFOUND. */
static void model_check_fc(fc_store *s, const model *m)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < m->nkeys; i++) {
        char k[32], v[400];
        fct_key_of(k, "key", 6, i);
        fc_val got;
        int rc = fc_get(t, k, strlen(k), &got);
        if (m->gen[i] < 0) {
            ck_assert_msg(rc == FC_ENOTFOUND, "forkcache: %s should be absent, got %s", k,
                          fc_strerror(rc));
            continue;
        }
        ck_assert_msg(rc == 0, "forkcache: %s: %s (%s)", k, fc_strerror(rc), fc_errmsg(s));
        size_t vl = val_of(v, i, m->gen[i]);
        ck_assert_msg(got.size == vl && memcmp(got.data, v, vl) == 0,
                      "forkcache: %s: wrong value (%zu bytes, expected gen %d, %zu bytes)", k,
                      got.size, m->gen[i], vl);
    }
    fc_txn_end(t);
}

/* ---- LevelDB side ----------------------------------------------------------- */

typedef struct ldb {
    leveldb_options_t *opt;
    leveldb_readoptions_t *ro;
    leveldb_writeoptions_t *wo;
    leveldb_t *db;
} ldb;

/* Opens the directory forkcache left, refusing to create anything, with
 * every check LevelDB has (paranoid_checks, checksums on every read). */
static void ldb_open(ldb *l)
{
    char *errstr = NULL;
    l->opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->opt, 0);
    leveldb_options_set_paranoid_checks(l->opt, 1);
    leveldb_options_set_write_buffer_size(l->opt, 64 * 1024);
    leveldb_options_set_max_file_size(l->opt, 64 * 1024);
    l->ro = leveldb_readoptions_create();
    leveldb_readoptions_set_verify_checksums(l->ro, 1);
    l->wo = leveldb_writeoptions_create();
    l->db = leveldb_open(l->opt, fct_dir, &errstr);
    ck_assert_msg(l->db != NULL, "leveldb_open: %s", errstr ? errstr : "?");
}

static void ldb_close(ldb *l)
{
    leveldb_close(l->db);
    leveldb_options_destroy(l->opt);
    leveldb_readoptions_destroy(l->ro);
    leveldb_writeoptions_destroy(l->wo);
}

/* Walks LevelDB's iterator over the whole store next to the model: the same
 * keys in the same order with the same values, nothing extra; then gets
 * every absent key and expects NULL. */
static void ldb_verify(ldb *l, const model *m)
{
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->ro);
    int i = 0, seen = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl, vl;
        const char *kp = leveldb_iter_key(it, &kl);
        const char *vp = leveldb_iter_value(it, &vl);
        while (i < m->nkeys && m->gen[i] < 0)
            i++;
        ck_assert_msg(i < m->nkeys, "leveldb: extra key %.*s", (int)kl, kp);
        char k[32], v[400];
        fct_key_of(k, "key", 6, i);
        ck_assert_msg(kl == strlen(k) && memcmp(kp, k, kl) == 0,
                      "leveldb: key %.*s where %s was expected", (int)kl, kp, k);
        size_t want = val_of(v, i, m->gen[i]);
        ck_assert_msg(vl == want && memcmp(vp, v, vl) == 0, "leveldb: %s: wrong value", k);
        i++;
        seen++;
    }
    char *errstr = NULL;
    leveldb_iter_get_error(it, &errstr);
    ck_assert_msg(errstr == NULL, "leveldb iterator: %s", errstr ? errstr : "");
    leveldb_iter_destroy(it);
    while (i < m->nkeys && m->gen[i] < 0)
        i++;
    ck_assert_msg(i == m->nkeys, "leveldb: iteration stopped before key %d", i);
    int absent = 0;
    for (int j = 0; j < m->nkeys; j++) {
        if (m->gen[j] >= 0)
            continue;
        char k[32];
        size_t vl;
        fct_key_of(k, "key", 6, j);
        char *v = leveldb_get(l->db, l->ro, k, strlen(k), &vl, &errstr);
        ck_assert_msg(errstr == NULL, "leveldb_get %s: %s", k, errstr ? errstr : "");
        ck_assert_msg(v == NULL, "leveldb: deleted key %s has a value", k);
        absent++;
    }
    ck_assert_int_eq(seen + absent, m->nkeys);
}

/* LevelDB writes more with its defaults (snappy tables), some of it
 * compacted into tables, some left in its WAL. */
static void ldb_write_more(ldb *l, model *m, int gen0)
{
    char *errstr = NULL;
    for (int op = 0; op < 3000; op++) {
        char k[32], v[400];
        int i = (int)(rnd() % (unsigned)m->nkeys);
        fct_key_of(k, "key", 6, i);
        if (rnd() % 5 == 0) {
            leveldb_delete(l->db, l->wo, k, strlen(k), &errstr);
            m->gen[i] = -1;
        } else {
            size_t vl = val_of(v, i, gen0 + op);
            leveldb_put(l->db, l->wo, k, strlen(k), v, vl, &errstr);
            m->gen[i] = gen0 + op;
        }
        ck_assert_msg(errstr == NULL, "leveldb write: %s", errstr ? errstr : "");
        if (op == 2000)
            leveldb_compact_range(l->db, NULL, 0, NULL, 0);
    }
}

static int count_files(const char *suffix)
{
    DIR *d = opendir(fct_dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl > sl && strcmp(e->d_name + nl - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The round trip every case ends with: LevelDB reads forkcache's store,
 * writes more, closes; forkcache reads everything (LevelDB's snappy tables
 * and WAL), compacts it all into its own tables, writes a little more;
 * LevelDB reads the result once more. */
static void round_trip(model *m, const fc_options *o)
{
    ldb l;
    /* forkcache's own checker agrees with LevelDB that the store is sound. */
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
    ldb_open(&l);
    ldb_verify(&l, m);
    ldb_write_more(&l, m, 1000000);
    ldb_verify(&l, m);
    ldb_close(&l);

    fc_store *s = fc_open_ok(o);
    model_check_fc(s, m);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    model_check_fc(s, m);
    for (int op = 0; op < 500; op++)
        fc_batch_model(s, m, 8, 2000000 + op, 0);
    model_check_fc(s, m);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);

    ldb_open(&l);
    ldb_verify(&l, m);
    ldb_close(&l);
}

/* ---- cases ----------------------------------------------------------------- */

static model M;

/* Everything still in the memtable at close: LevelDB recovers it from
 * forkcache's WAL alone. */
START_TEST(wal_only)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 64u << 20;
    model_init(&M, 2000);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 3000, 0, 0);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(count_files(".ldb"), 0);
    round_trip(&M, &o);
}
END_TEST

/* A couple of explicit flushes (fewer than the L0 compaction trigger) and
 * more in the WAL: LevelDB reads overlapping L0 tables plus the WAL. */
START_TEST(l0_only)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 64u << 20;
    model_init(&M, 3000);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 1000, 0, 0);
    ck_assert_int_eq(fc_flush(s), 0);
    for (int op = 0; op < 1000; op++)
        fc_put_model(s, &M, (int)(rnd() % 3000), 10000 + op);
    for (int op = 0; op < 300; op++)
        fc_del_model(s, &M, (int)(rnd() % 3000));
    ck_assert_int_eq(fc_flush(s), 0);
    for (int op = 0; op < 200; op++)
        fc_batch_model(s, &M, 10, 20000 + op, 0);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(count_files(".ldb"), 2);
    round_trip(&M, &o);
}
END_TEST

/* Small buffers: many flushes and automatic compactions while loading,
 * data left in several levels and the memtable at close. */
START_TEST(many_levels)
{
    fc_options o = fct_small_opts();
    model_init(&M, MAXKEYS);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 8000, 0, 0);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_gt(count_files(".ldb"), 8);
    round_trip(&M, &o);
}
END_TEST

/* forkcache writing snappy-compressed tables (as LevelDB does by default):
 * LevelDB reads them, and fc_verify checks every block's checksum. */
START_TEST(snappy_tables_and_verify)
{
    fc_options o = fct_small_opts();
    o.compression = FC_COMPRESSION_SNAPPY;
    model_init(&M, MAXKEYS);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 8000, 0, 0);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_gt(count_files(".ldb"), 2);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
    round_trip(&M, &o);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

/* The same load, then fc_compact_range over everything. */
START_TEST(after_full_compaction)
{
    fc_options o = fct_small_opts();
    model_init(&M, MAXKEYS);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 8000, 0, 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    model_check_fc(s, &M);
    /* A range compaction over part of the keys too. */
    for (int op = 0; op < 2000; op++)
        fc_put_model(s, &M, (int)(rnd() % 2000), 50000 + op);
    ck_assert_int_eq(fc_compact_range(s, "key000500", 9, "key001500", 9), 0);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    round_trip(&M, &o);
}
END_TEST

/* FC_SYNC on open and FC_WRITE_SYNC batches. */
START_TEST(with_sync)
{
    fc_options o = fct_small_opts();
    o.flags |= FC_SYNC;
    model_init(&M, 1500);
    fc_store *s = fc_open_ok(&o);
    fc_workload(s, &M, 1000, 0, FC_WRITE_SYNC);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    round_trip(&M, &o);
}
END_TEST

/* The live WAL's path (the only .log file) and its size. */
static off_t live_wal(char *path, size_t cap)
{
    ck_assert_int_eq(fct_find_suffix(fct_dir, ".log", path, cap), 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* A writer that dies without closing leaves its WAL with the zero fill
 * written ahead of its records: LevelDB (which skips zero-length records
 * of type 0) replays it and reads every pair. The model lives in shared
 * memory so the child's writes update the parent's copy. */
START_TEST(wal_with_zero_tail)
{
    fc_options o;
    fc_options_init(&o);
    o.arena_size = 64u << 20;
    model *m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    model_init(m, 2000);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_store *s = fc_open_ok(&o);
        fc_workload(s, m, 3000, 0, FC_WRITE_SYNC);
        _exit(0);   /* no close: the zero fill stays */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[4300];
    off_t size = live_wal(path, sizeof path);
    char tail[4096], zeros[sizeof tail];
    memset(zeros, 0, sizeof zeros);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert(size > (off_t)sizeof tail);
    ck_assert_int_eq(pread(fd, tail, sizeof tail, size - (off_t)sizeof tail), (ssize_t)sizeof tail);
    close(fd);
    ck_assert_msg(memcmp(tail, zeros, sizeof tail) == 0, "%s does not end in zeros", path);
    round_trip(m, &o);
    munmap(m, sizeof *m);
}
END_TEST

typedef struct loader {
    fc_store *s;
    int nkeys;
    int done;
    int rc;
    int compactions;   /* finished by the test thread so far */
} loader;

#define LOAD_ROUNDS 4

/* Another thread of the writer process loads keys while the test thread
 * compacts: memtable flushes on the background thread overlap manual
 * compactions. */
/* It loads in rounds and starts each round only once another compaction
 * has finished, so at least LOAD_ROUNDS - 1 compactions overlap its writes
 * however fast it runs (it once finished before the third began). */
static void *load_thread(void *arg)
{
    loader *ld = arg;
    for (int i = 0; i < ld->nkeys && ld->rc == 0; i++) {
        if (i > 0 && i % (ld->nkeys / LOAD_ROUNDS) == 0) {
            int seen = __atomic_load_n(&ld->compactions, __ATOMIC_ACQUIRE);
            while (__atomic_load_n(&ld->compactions, __ATOMIC_ACQUIRE) == seen)
                sched_yield();
        }
        char k[32], v[400];
        fct_key_of(k, "key", 6, i);
        size_t vl = val_of(v, i, 7);
        ld->rc = fc_put(ld->s, k, strlen(k), v, vl);
    }
    __atomic_store_n(&ld->done, 1, __ATOMIC_RELEASE); /* the joiner reads it after */
    return NULL;
}

/* fc_compact_range in one thread while another writes: every table a
 * flush or a compaction is still writing must survive the obsolete-file
 * sweep the other one runs when it finishes, or the version names a table
 * that is gone (forkcache's reads fail, LevelDB refuses the open). */
START_TEST(compact_range_while_writing)
{
    fc_options o = fct_small_opts();
    model_init(&M, MAXKEYS);
    fc_store *s = fc_open_ok(&o);
    loader ld = { s, MAXKEYS, 0, 0, 0 };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, load_thread, &ld), 0);
    int compactions = 0;
    while (!__atomic_load_n(&ld.done, __ATOMIC_ACQUIRE)) {
        int rc = fc_compact_range(s, NULL, 0, NULL, 0);
        ck_assert_msg(rc == 0, "fc_compact_range: %s", fc_errmsg(s));
        compactions++;
        __atomic_store_n(&ld.compactions, compactions, __ATOMIC_RELEASE);
    }
    pthread_join(th, NULL);
    ck_assert_msg(ld.rc == 0, "loader: %s", fc_errmsg(s));
    ck_assert_int_gt(compactions, 2);
    for (int i = 0; i < MAXKEYS; i++)
        M.gen[i] = 7;
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    s = fc_open_ok(&o);
    model_check_fc(s, &M);
    ck_assert_int_eq(fc_close(s), 0);
    round_trip(&M, &o);
}
END_TEST

/* ---- a ttl_framing store ---------------------------------------------------- */

#define TTL_T0 UINT64_C(1700000000000)
#define TTL_KEYS 3000

/* Key i's expiry in the ttl case: every third one at T0 + 1000 ms. */
static uint64_t ttl_expiry_of(int i)
{
    return i % 3 == 0 ? TTL_T0 + 1000 : 0;
}

/* LevelDB sees each value with its 8-byte frame in front: the expiry (as
 * documented: fixed64 little-endian, ms since the epoch, 0 = never). */
static void ldb_check_framed(ldb *l)
{
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->ro);
    int i = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it), i++) {
        size_t kl, vl;
        const char *kp = leveldb_iter_key(it, &kl);
        const char *vp = leveldb_iter_value(it, &vl);
        char k[32], v[400];
        fct_key_of(k, "key", 6, i);
        size_t want = val_of(v, i, 1);
        ck_assert_msg(kl == strlen(k) && memcmp(kp, k, kl) == 0, "leveldb: key %.*s", (int)kl, kp);
        ck_assert_uint_eq(vl, FC_TTL_FRAME_SIZE + want);
        ck_assert_uint_eq(fci_get_fixed64(vp), ttl_expiry_of(i));
        ck_assert_int_eq(memcmp(vp + FC_TTL_FRAME_SIZE, v, want), 0);
    }
    char *errstr = NULL;
    leveldb_iter_get_error(it, &errstr);
    ck_assert_msg(errstr == NULL, "leveldb iterator: %s", errstr ? errstr : "");
    leveldb_iter_destroy(it);
    ck_assert_int_eq(i, TTL_KEYS);
}

/* LevelDB writes framed values itself: one that never expires, and key 1
 * again with an expiry already past at T0 + 1000. */
static void ldb_put_framed(ldb *l, const char *key, uint64_t expiry, const char *val)
{
    char buf[64];
    fci_put_fixed64(buf, expiry);
    memcpy(buf + FC_TTL_FRAME_SIZE, val, strlen(val));
    char *errstr = NULL;
    leveldb_put(l->db, l->wo, key, strlen(key), buf, FC_TTL_FRAME_SIZE + strlen(val), &errstr);
    ck_assert_msg(errstr == NULL, "leveldb_put: %s", errstr ? errstr : "");
}

/* A framed store, its tables carrying the forkcache.ttl meta block, is a
 * LevelDB database whose values show the frame; what LevelDB writes in
 * the same framing forkcache reads back, expiry included. */
START_TEST(ttl_framed_store)
{
    fc_options o = fct_small_opts();
    o.ttl_framing = 1;
    fc_store *s = fc_open_ok(&o);
    ck_assert_int_eq(fci_ttl_set_clock(s, TTL_T0), 0);
    char k[32], v[400];
    for (int i = 0; i < TTL_KEYS; i++) {
        fct_key_of(k, "key", 6, i);
        size_t vl = val_of(v, i, 0);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, vl), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    for (int i = 0; i < TTL_KEYS; i++) {   /* newer versions: in L0 and the WAL */
        fct_key_of(k, "key", 6, i);
        size_t vl = val_of(v, i, 1);
        ck_assert_int_eq(fc_put_ttl(s, k, strlen(k), v, vl, i % 3 == 0 ? 1000 : 0), 0);
        if (i == TTL_KEYS / 2)
            ck_assert_int_eq(fc_flush(s), 0);
    }
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);

    ldb l;
    ldb_open(&l);
    ldb_check_framed(&l);
    ldb_put_framed(&l, "key000001", TTL_T0 + 1, "expired by leveldb");
    ldb_put_framed(&l, "zz-leveldb", 0, "from leveldb");
    leveldb_compact_range(l.db, NULL, 0, NULL, 0);
    ldb_close(&l);

    o.ttl_framing = 0; /* the FORKCACHE file decides */
    s = fc_open_ok(&o);
    ck_assert_int_eq(fci_ttl_set_clock(s, TTL_T0 + 1000), 0);
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    for (int i = 0; i < TTL_KEYS; i++) {
        fct_key_of(k, "key", 6, i);
        fc_val got;
        int rc = fc_get(t, k, strlen(k), &got);
        if (i % 3 == 0 || i == 1) {
            ck_assert_msg(rc == FC_ENOTFOUND, "%s should have expired: %s", k, fc_strerror(rc));
            continue;
        }
        size_t vl = val_of(v, i, 1);
        ck_assert_msg(rc == 0 && got.size == vl && memcmp(got.data, v, vl) == 0, "%s", k);
    }
    fc_val got;
    ck_assert_int_eq(fc_get(t, "zz-leveldb", 10, &got), 0);
    ck_assert_uint_eq(got.size, 12);
    ck_assert_int_eq(memcmp(got.data, "from leveldb", 12), 0);
    ck_assert_int_eq(fc_txn_end(t), 0);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
    ldb_open(&l);  /* and LevelDB reads what forkcache left, frames intact */
    for (int i = 0; i < TTL_KEYS; i++) {
        if (i % 3 == 0 || i == 1)
            continue;
        fct_key_of(k, "key", 6, i);
        size_t vl = val_of(v, i, 1), gl;
        char *errstr = NULL;
        char *g = leveldb_get(l.db, l.ro, k, strlen(k), &gl, &errstr);
        ck_assert_msg(g != NULL && errstr == NULL, "leveldb_get %s", k);
        ck_assert_uint_eq(gl, FC_TTL_FRAME_SIZE + vl);
        ck_assert_uint_eq(fci_get_fixed64(g), 0);
        ck_assert_int_eq(memcmp(g + FC_TTL_FRAME_SIZE, v, vl), 0);
        leveldb_free(g);
    }
    ldb_close(&l);
}
END_TEST

static Suite *interop_store_suite(void)
{
    Suite *s = suite_create("interop_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wal_only);
    tcase_add_test(tc, l0_only);
    tcase_add_test(tc, many_levels);
    tcase_add_test(tc, after_full_compaction);
    tcase_add_test(tc, snappy_tables_and_verify);
    tcase_add_test(tc, with_sync);
    tcase_add_test(tc, wal_with_zero_tail);
    tcase_add_test(tc, compact_range_while_writing);
    tcase_add_test(tc, ttl_framed_store);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(interop_store_suite)
