/*
 * ldb_tool.c - real LevelDB on the other side of tests/cli_interop.sh.
 *
 *   ldb_tool create DIR FWD REV
 *       Writes a database with LevelDB (snappy on, small memtables and
 *       tables): binary keys and values, overwrites and deletes, pushed into
 *       several levels, and a last batch of writes left in the WAL. Before
 *       closing, writes LevelDB's own reading of it, forward to FWD and
 *       backward to REV, as "hexkey<TAB>hexvalue" lines (the format of
 *       `forkcache scan --hex`). Fails unless at least two levels hold
 *       tables and the WAL holds writes.
 *   ldb_tool dump DIR OUT
 *       Opens DIR with LevelDB (which rewrites it: recovery) and writes its
 *       forward reading to OUT.
 *
 * Exit 0 on success, 1 on any failure (with a message on stderr).
 */
#include "config.h"

#include <leveldb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#define NKEYS 6000

static void die(const char *what, char *err)
{
    fprintf(stderr, "ldb_tool: %s: %s\n", what, err ? err : "failed");
    leveldb_free(err);
    exit(1);
}

static uint64_t rng = 88172645463325252ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Key i: a two-byte big-endian group (so groups sort together and share
 * prefixes), then bytes that include NUL, TAB, newline and 0xff. */
static size_t odd_key(char *buf, int i)
{
    static const char odd[] = { '\0', '\t', '\n', '\xff', ' ', '\\' };
    buf[0] = (char)((i / 64) >> 8);
    buf[1] = (char)(i / 64);
    size_t n = 2 + (size_t)(i % 5);
    for (size_t j = 2; j < n; j++)
        buf[j] = odd[(i + (int)j) % 6];
    n += (size_t)sprintf(buf + n, "%d", i);
    return n;
}

/* Mostly compressible (snappy pays), sometimes empty, sometimes random. */
static size_t val_of(char *buf, int i, int gen)
{
    size_t n = (size_t)sprintf(buf, "%d/%d:", i, gen);
    size_t len = (size_t)((i * 37 + gen * 11) % 300);
    if (i % 97 == 0)
        return 0;
    for (size_t j = 0; j < len; j++)
        buf[n + j] = (i % 13 == 0) ? (char)next_rand() : (char)('A' + (gen + (int)j / 16) % 26);
    return n + len;
}

static void put_range(leveldb_t *db, leveldb_writeoptions_t *wo, int from, int to, int step,
                      int gen)
{
    char k[64], v[512];
    char *err = NULL;
    for (int i = from; i < to; i += step) {
        size_t kl = odd_key(k, i), vl = val_of(v, i, gen);
        leveldb_put(db, wo, k, kl, v, vl, &err);
        if (err)
            die("put", err);
    }
}

static void del_range(leveldb_t *db, leveldb_writeoptions_t *wo, int from, int to, int step)
{
    char k[64];
    char *err = NULL;
    for (int i = from; i < to; i += step) {
        size_t kl = odd_key(k, i);
        leveldb_delete(db, wo, k, kl, &err);
        if (err)
            die("delete", err);
    }
}

static void hex(FILE *f, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", (unsigned char)p[i]);
}

/* LevelDB's iteration of the whole database, one direction. */
static void dump(leveldb_t *db, const char *path, int reverse)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        die(path, NULL);
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_readoptions_set_verify_checksums(ro, 1);
    leveldb_iterator_t *it = leveldb_create_iterator(db, ro);
    for (reverse ? leveldb_iter_seek_to_last(it) : leveldb_iter_seek_to_first(it);
         leveldb_iter_valid(it); reverse ? leveldb_iter_prev(it) : leveldb_iter_next(it)) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(it, &kl), *v = leveldb_iter_value(it, &vl);
        hex(f, k, kl);
        fputc('\t', f);
        hex(f, v, vl);
        fputc('\n', f);
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    if (err)
        die("iterate", err);
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    if (fclose(f) != 0)
        die(path, NULL);
}

static leveldb_t *open_db(const char *dir, leveldb_options_t **opt)
{
    *opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(*opt, 1);
    leveldb_options_set_compression(*opt, leveldb_snappy_compression);
    leveldb_options_set_write_buffer_size(*opt, 64 * 1024);
    leveldb_options_set_max_file_size(*opt, 64 * 1024);
    leveldb_options_set_block_size(*opt, 1024);
    char *err = NULL;
    leveldb_t *db = leveldb_open(*opt, dir, &err);
    if (err)
        die("open", err);
    return db;
}

/* How many levels hold tables, from LevelDB's own counters. */
static int levels_used(leveldb_t *db)
{
    int used = 0;
    fprintf(stderr, "ldb_tool: files per level:");
    for (int l = 0; l < 7; l++) {
        char name[64];
        snprintf(name, sizeof name, "leveldb.num-files-at-level%d", l);
        char *v = leveldb_property_value(db, name);
        int n = v ? atoi(v) : 0;
        leveldb_free(v);
        fprintf(stderr, " %d", n);
        used += n > 0;
    }
    fprintf(stderr, "\n");
    return used;
}

/* Bytes in the directory's *.log files (the WAL). */
static long long wal_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    long long total = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct stat st;
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0 &&
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            stat(path, &st) == 0)
            total += st.st_size;
    }
    closedir(d);
    return total;
}

static int create(const char *dir, const char *fwd, const char *rev)
{
    leveldb_options_t *opt;
    leveldb_t *db = open_db(dir, &opt);
    leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
    put_range(db, wo, 0, NKEYS, 1, 0);
    leveldb_compact_range(db, NULL, 0, NULL, 0);       /* the old data sinks */
    put_range(db, wo, 0, NKEYS, 3, 1);                 /* overwrites above it */
    del_range(db, wo, 0, NKEYS, 7);
    put_range(db, wo, NKEYS / 2, NKEYS, 5, 2);
    /* Small enough to stay in the memtable: only the WAL holds these. */
    put_range(db, wo, 0, NKEYS, 211, 3);
    del_range(db, wo, 100, NKEYS, 401);
    put_range(db, wo, NKEYS, NKEYS + 20, 1, 3);        /* keys no table has */
    int used = levels_used(db);
    long long wal = wal_bytes(dir);
    fprintf(stderr, "ldb_tool: WAL bytes %lld\n", wal);
    if (used < 2 || wal <= 0) {
        fprintf(stderr, "ldb_tool: wanted tables in 2+ levels and writes in the WAL\n");
        return 1;
    }
    dump(db, fwd, 0);
    dump(db, rev, 1);
    leveldb_writeoptions_destroy(wo);
    leveldb_close(db);
    leveldb_options_destroy(opt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "create") == 0)
        return create(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "dump") == 0) {
        leveldb_options_t *opt;
        leveldb_t *db = open_db(argv[2], &opt);
        dump(db, argv[3], 0);
        leveldb_close(db);
        leveldb_options_destroy(opt);
        return 0;
    }
    fprintf(stderr, "usage: ldb_tool create DIR FWD REV | ldb_tool dump DIR OUT\n");
    return 2;
}
