/*
 * fct.h - the fixture every Check suite of forkcache shares, through the
 * public API only. Every name it exports starts with fct_ (FCT_ for
 * macros), so a suite's own helpers never collide with it and a reader
 * can tell at a glance what comes from here:
 *
 *   FCT_MAIN             a main() running one suite, one process per test
 *   fct_tmpdir/rmtree    scratch directories; fct_find_suffix finds files
 *   fct_key_of           the keys tests write ("key000042" and the like)
 *   fct_dir, fct_setup,  a scratch store directory per test (a checked
 *   fct_teardown         fixture), fct_small_opts, fct_open_in
 *   fct_put_str, fct_expect, fct_val_of   writing and checking values
 *   fct_shared, fct_run_workers, fct_wait_ok   forked reader processes
 *   fct_pin_reader       a forked reader holding a version pinned
 *   fct_now, fct_wait_byte, fct_kill, fct_reap  children and pipes
 *   fct_dir_snapshot     a directory's bytes as one comparable string
 *   fct_pss_kib          the memory this process's mappings cost
 *
 * What needs the library's internals (src/) is in fct_internal.h.
 */
#ifndef FCT_H
#define FCT_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "forkcache.h"

/* ---- running a suite and scratch files ---------------------------------- */

/* CK_FORK_GETENV: fork per test unless CK_FORK=no (handy under gdb). */
#define FCT_MAIN(suite_fn)                                       \
    int main(void)                                               \
    {                                                            \
        SRunner *sr = srunner_create(suite_fn());                \
        srunner_set_fork_status(sr, CK_FORK_GETENV);             \
        srunner_run_all(sr, CK_NORMAL);                          \
        int failed = srunner_ntests_failed(sr);                  \
        srunner_free(sr);                                        \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;        \
    }

/* Makes a fresh directory under $TMPDIR (or /tmp) and returns its path in a
 * static buffer; the test removes it with fct_rmtree. */
static inline const char *fct_tmpdir(void)
{
    static char path[4096];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fctest.XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(path) == NULL)
        return NULL;
    return path;
}

/* How many files in dir end in suffix; path gets the last one's full path.
 * Tests use it to find "the" WAL or table of a store. */
static inline int fct_find_suffix(const char *dir, const char *suffix, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t nl = strlen(e->d_name);
        if (nl > sl && strcmp(e->d_name + nl - sl, suffix) == 0) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

static inline int fct_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    return system(cmd);
}

/* ---- keys ---------------------------------------------------------------- */

/* Room for any key fct_key_of writes, terminator included. */
#define FCT_KEY_MAX 16

/* Key number i as prefix followed by i in digits zero-padded places, so keys
 * sort in number order; each suite keeps the shape its sizes were tuned
 * for (e.g. "key", 6 -> "key000042"). buf holds FCT_KEY_MAX bytes.
 * Returns the key's length. */
static inline size_t fct_key_of(char *buf, const char *prefix, int digits, long i)
{
    int n = snprintf(buf, FCT_KEY_MAX, "%s%0*ld", prefix, digits, i);
    ck_assert(n > 0 && n < FCT_KEY_MAX);
    return (size_t)n;
}

/* ---- a scratch store per test -------------------------------------------- */

/* The running test's store directory, made by fct_setup. */
static const char *fct_dir __attribute__((unused));

static inline void fct_setup(void)
{
    fct_dir = strdup(fct_tmpdir());
}

static inline void fct_teardown(void)
{
    fct_rmtree(fct_dir);
    free((void *)fct_dir);
}

/* 64 KiB memtables and tables: a few thousand writes flush and compact. */
static inline fc_options fct_small_opts(void)
{
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = 64 * 1024;
    o.max_file_size = 64 * 1024;
    o.arena_size = 64u << 20;
    o.block_cache_size = 1u << 20;
    return o;
}

/* Opens the store in fct_dir, failing the test with the library's message. */
static inline fc_store *fct_open_in(const fc_options *o)
{
    fc_store *s = NULL;
    int rc = fc_open(fct_dir, o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

/* Puts the C strings k and v, failing the test with the library's message. */
static inline void fct_put_str(fc_store *s, const char *k, const char *v)
{
    int rc = fc_put(s, k, strlen(k), v, strlen(v));
    ck_assert_msg(rc == 0, "put %s: %s", k, fc_errmsg(s));
}

/* In a fresh transaction, checks that k reads as want, or is absent when
 * want is NULL. */
static inline void fct_expect(fc_store *s, const char *k, const char *want)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    int rc = fc_get(t, k, strlen(k), &v);
    if (want == NULL) {
        ck_assert_msg(rc == FC_ENOTFOUND, "%s: expected absent, got %d", k, rc);
    } else {
        ck_assert_msg(rc == 0, "%s: %s (%s)", k, fc_strerror(rc), fc_errmsg(s));
        ck_assert_uint_eq(v.size, strlen(want));
        ck_assert_int_eq(memcmp(v.data, want, v.size), 0);
    }
    fc_txn_end(t);
}

/* In a fresh transaction: 0 with k's value copied into buf (cap bytes,
 * NUL-terminated), or the get's code. */
static inline int fct_get_str(fc_store *s, const char *k, char *buf, size_t cap)
{
    fc_txn *t;
    ck_assert_int_eq(fc_txn_begin(s, &t), 0);
    fc_val v;
    int rc = fc_get(t, k, strlen(k), &v);
    if (rc == 0) {
        ck_assert_uint_lt(v.size, cap);
        memcpy(buf, v.data, v.size);
        buf[v.size] = '\0';
    }
    fc_txn_end(t);
    return rc;
}

/* The value of key i in generation gen: names both, 50 to 100 bytes long
 * depending on i, so a stale or misplaced value never compares equal.
 * buf holds 128 bytes. */
static inline void fct_val_of(char *buf, int i, int gen)
{
    sprintf(buf, "value-%d-%d-%0*d", i, gen, 40 + i % 50, i);
}

/* ---- forked processes ---------------------------------------------------- */

/* Zeroed anonymous memory shared with every child forked afterwards. */
static inline void *fct_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    memset(p, 0, bytes);
    return p;
}

/* A worker's body: its exit status (0 = every check held). */
typedef int (*fct_worker)(fc_store *s, int w, void *arg);

/* Forks worker w: it calls fc_after_fork (exit 100 if that fails), then
 * exits with fn's answer. */
static inline pid_t fct_fork_worker(fc_store *s, int w, fct_worker fn, void *arg)
{
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fc_after_fork(s) != 0 ? 100 : fn(s, w, arg));
    return pid;
}

/* Reaps pid and fails the test unless it exited 0. */
static inline void fct_wait_ok(pid_t pid, const char *what)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: status %d (exit %d)", what,
                  status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Runs n workers at once and checks that each exited 0. */
static inline void fct_run_workers(fc_store *s, int n, fct_worker fn, void *arg)
{
    pid_t kids[64];
    ck_assert_int_le(n, 64);
    for (int w = 0; w < n; w++)
        kids[w] = fct_fork_worker(s, w, fn, arg);
    for (int w = 0; w < n; w++)
        fct_wait_ok(kids[w], "worker");
}

/* Forks a reader that pins the current version (a transaction held
 * open) until it reads a byte from *release, or is killed. Returns its pid
 * once the pin is held; the caller writes to and closes *release. */
static inline pid_t fct_pin_reader(fc_store *s, int *release)
{
    int ready[2], go[2];
    ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fc_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fc_txn *t;
        char c = 'r';
        if (fc_after_fork(s) != 0 || fc_txn_begin(s, &t) != 0)
            _exit(2);
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        if (read(go[0], &c, 1) != 1)
            _exit(4);
        _exit(fc_txn_end(t) == 0 ? 0 : 5);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *release = go[1];
    return pid;
}

/* Seconds since an arbitrary start, for bounding stress loops. */
static inline double fct_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one byte from fd (a child's "I am ready"), failing the test on EOF. */
static inline void fct_wait_byte(int fd)
{
    char c;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    ck_assert_int_eq((int)n, 1);
}

/* SIGKILLs pid and reaps it. */
static inline void fct_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Waits for pid and returns its exit status, or -1 if it did not exit. */
static inline int fct_reap(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* ---- a directory's state ------------------------------------------------- */

/* FNV-1a over the file's bytes. */
static inline uint64_t fct_file_hash(const char *path)
{
    FILE *f = fopen(path, "re");
    uint64_t h = 14695981039346656037ull;
    if (f == NULL)
        return 0;
    int c;
    while ((c = getc(f)) != EOF) {
        h ^= (uint64_t)(unsigned char)c;
        h *= 1099511628211ull;
    }
    fclose(f);
    return h;
}

/* qsort order for an array of C strings. */
static inline int fct_strptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's state as one string (each file's name, size, mtime in
 * nanoseconds and a content hash, sorted by name), so a test can prove that
 * something left the directory byte for byte alone. The caller frees the
 * result; NULL when dir cannot be read. */
static inline char *fct_dir_snapshot(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **lines = NULL;
    size_t n = 0, total = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096], line[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        snprintf(line, sizeof line, "%s %lld %lld.%09ld %016llx\n", e->d_name,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                 (unsigned long long)fct_file_hash(path));
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = strdup(line);
        total += strlen(line);
    }
    closedir(d);
    if (n > 1)
        qsort(lines, n, sizeof *lines, fct_strptr_cmp);
    char *out = malloc(total);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* ---- memory a process's mappings cost ------------------------------------ */

/* One smaps header line ("lo-hi perms offset dev inode [path]") decided:
 * 0 not counted, 1 a file whose name ends in suffix, 2 shared anonymous
 * memory (an arena not in a file shows as "/dev/zero (deleted)"). -1 when
 * the line is not a header but one of the "Name: value" lines. */
static inline int fct_pss_kind(const char *line, const char *suffix)
{
    char perms[8] = "", path[4096] = "";
    if (sscanf(line, "%*x-%*x %7s %*s %*s %*s %4095[^\n]", perms, path) < 1 || strlen(perms) < 4)
        return -1;
    if (perms[3] == 's' && strncmp(path, "/dev/zero", 9) == 0)
        return 2;
    size_t pl = strlen(path), sl = strlen(suffix);
    return path[0] == '/' && pl >= sl && strcmp(path + pl - sl, suffix) == 0 ? 1 : 0;
}

/* Proportional set size in KiB of this process's mappings of files named
 * *suffix (into *files) and of shared anonymous memory (into *anon), from
 * /proc/self/smaps: a page shared by n processes counts 1/n in each, so the
 * sum over processes is what the data really costs. Their sum, or -1 when
 * smaps cannot be read. */
static inline long fct_pss_kib(const char *suffix, long *files, long *anon)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    if (f == NULL)
        return -1;
    long kib[3] = { 0, 0, 0 };
    int kind = 0;
    char line[4608];
    while (fgets(line, sizeof line, f)) {
        long v;
        if (strncmp(line, "Pss:", 4) == 0) {
            if (kind > 0 && sscanf(line, "Pss: %ld kB", &v) == 1)
                kib[kind] += v;
            continue;
        }
        int k = fct_pss_kind(line, suffix);
        if (k >= 0)
            kind = k;
    }
    fclose(f);
    *files = kib[1];
    *anon = kib[2];
    return kib[1] + kib[2];
}

#endif
