/*
 * check_db_verify.c - fc_verify on a real store (tables at several levels
 * and a WAL): clean when nothing is wrong, and for each kind of file a
 * flipped byte or a truncation is reported against that file, near the
 * damaged offset, with FC_ECORRUPT; a torn WAL tail is only a note.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/vset.h"
#include "format/filename.h"
#include "format/log_reader.h"

/* ---- collecting findings ------------------------------------------------- */

#define MAX_FOUND 256

typedef struct found_one {
    int severity;
    char file[256];
    uint64_t offset;
    char msg[1024];
} found_one;

typedef struct found {
    int n, damage, notes, errors;
    found_one f[MAX_FOUND];
} found;

static void collect(void *arg, const fc_verify_finding *f)
{
    found *fd = arg;
    ck_assert_ptr_nonnull(f->file);
    ck_assert_ptr_nonnull(f->message);
    ck_assert_msg(strchr(f->message, '\n') == NULL, "finding spans lines: %s", f->message);
    if (f->severity == FC_VERIFY_DAMAGE)
        fd->damage++;
    else if (f->severity == FC_VERIFY_NOTE)
        fd->notes++;
    else
        fd->errors++;
    if (fd->n < MAX_FOUND) {
        found_one *o = &fd->f[fd->n++];
        o->severity = f->severity;
        snprintf(o->file, sizeof o->file, "%s", f->file);
        o->offset = f->offset;
        snprintf(o->msg, sizeof o->msg, "%s", f->message);
    }
}

static int run_verify(found *fd)
{
    memset(fd, 0, sizeof *fd);
    int rc = fc_verify(fct_dir, collect, fd);
    for (int i = 0; i < fd->n; i++)
        fprintf(stderr, "  [%d] %s:%llu: %s\n", fd->f[i].severity, fd->f[i].file,
                (unsigned long long)fd->f[i].offset, fd->f[i].msg);
    return rc;
}

/* The first damage finding about file, or NULL. */
static const found_one *damage_in(const found *fd, const char *file)
{
    for (int i = 0; i < fd->n; i++)
        if (fd->f[i].severity == FC_VERIFY_DAMAGE && strcmp(fd->f[i].file, file) == 0)
            return &fd->f[i];
    return NULL;
}

/* ---- building the store -------------------------------------------------- */

static void put_n(fc_store *s, int from, int to, int gen)
{
    char k[32], v[160];
    for (int i = from; i < to; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        int n = snprintf(v, sizeof v, "value-%d-%d-%0*d", i, gen, 60 + i % 40, i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, (size_t)n), 0);
    }
}

/* Bulk data compacted down, a newer overlapping table in L0, and writes
 * left in the WAL at close. */
static void build_store(void)
{
    fc_options o = fct_small_opts();
    fc_store *s;
    ck_assert_msg(fc_open(fct_dir, &o, &s) == 0, "open: %s", fc_errmsg(NULL));
    put_n(s, 0, 3000, 1);
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    put_n(s, 0, 3000, 2);
    ck_assert_int_eq(fc_flush(s), 0);
    put_n(s, 100, 400, 3);
    ck_assert_int_eq(fc_flush(s), 0);
    put_n(s, 500, 700, 4);   /* stays in the WAL */
    ck_assert_int_eq(fc_close(s), 0);
}

/* The store as the MANIFEST describes it (through the writer's own replay). */
static void load_vset(fci_vset *vs)
{
    fci_err err;
    ck_assert_int_eq(fci_vset_init(vs, AT_FDCWD, fct_dir, 0600), 0);
    ck_assert_msg(fci_vset_recover(vs, 0, &err) == 0, "recover: %s", err.msg);
}

static void path_of(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "%s/%s", fct_dir, name);
}

static uint64_t file_size(const char *name)
{
    char p[4096];
    struct stat sb;
    path_of(p, sizeof p, name);
    ck_assert_int_eq(stat(p, &sb), 0);
    return (uint64_t)sb.st_size;
}

static void flip_byte(const char *name, uint64_t off)
{
    char p[4096];
    unsigned char b;
    path_of(p, sizeof p, name);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static void cut(const char *name, uint64_t size)
{
    char p[4096];
    path_of(p, sizeof p, name);
    ck_assert_int_eq(truncate(p, (off_t)size), 0);
}

/* Name of the newest file of kind (a WAL: the one holding the last writes). */
/* Appends n bytes to a store file, as a crash in the middle of an append
 * leaves them. */
static void append_bytes(const char *name, const char *bytes, size_t n)
{
    char path[4096];
    path_of(path, sizeof path, name);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, n), (ssize_t)n);
    close(fd);
}

static void newest(fci_file_kind kind, char *name, size_t cap)
{
    DIR *d = opendir(fct_dir);
    struct dirent *de;
    uint64_t best = 0;
    ck_assert_ptr_nonnull(d);
    name[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        fci_file_kind k;
        uint64_t n;
        if (fci_filename_parse(de->d_name, &k, &n) == 0 && k == kind && n >= best) {
            best = n;
            snprintf(name, cap, "%s", de->d_name);
        }
    }
    closedir(d);
    ck_assert_msg(name[0] != '\0', "no file of kind %d", (int)kind);
}

static void manifest_name(char *name, size_t cap)
{
    uint64_t m;
    fci_err err;
    ck_assert_int_eq(fci_current_read(AT_FDCWD, fct_dir, &m, name, cap, &err), 0);
}

/* A live table from the middle of the largest level, and its number. */
static void some_table(char *name, size_t cap)
{
    fci_vset vs;
    load_vset(&vs);
    int best = -1;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        if (best < 0 || vs.current->nfiles[l] > vs.current->nfiles[best])
            best = l;
    ck_assert_uint_gt(vs.current->nfiles[best], 0);
    const fci_file_meta *f = vs.current->files[best][vs.current->nfiles[best] / 2];
    fci_filename(name, cap, NULL, FCI_FILE_TABLE, f->number);
    fci_vset_free(&vs);
}

/* Offset of the middle record of a log file, for cuts inside a record. */
static uint64_t middle_record(const char *name, uint64_t *end)
{
    char p[4096];
    fci_log_reader r;
    fci_slice rec;
    uint64_t offs[4096];
    int n = 0;
    path_of(p, sizeof p, name);
    ck_assert_int_eq(fci_log_reader_open(&r, AT_FDCWD, p, 0, NULL), 0);
    while (fci_log_reader_read(&r, &rec, NULL) == 1 && n < 4096)
        offs[n++] = r.record_offset;
    fci_log_reader_free(&r);
    ck_assert_int_ge(n, 2);
    *end = offs[n / 2 + 1];
    return offs[n / 2];
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(clean_store)
{
    build_store();
    fci_vset vs;
    load_vset(&vs);
    int levels = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        levels += vs.current->nfiles[l] > 0;
    ck_assert_msg(levels >= 2, "tables at %d levels only", levels);
    ck_assert_uint_gt(vs.current->nfiles[0], 0);
    fci_vset_free(&vs);
    char wal[256];
    newest(FCI_FILE_WAL, wal, sizeof wal);
    ck_assert_uint_gt(file_size(wal), 1000);

    found fd;
    ck_assert_int_eq(run_verify(&fd), 0);
    ck_assert_int_eq(fd.damage, 0);
    ck_assert_int_eq(fd.errors, 0);
    ck_assert_int_eq(fd.notes, 0);
    /* no callback at all is fine too */
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}
END_TEST

START_TEST(not_a_store)
{
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ENOTFOUND);   /* empty directory */
    ck_assert_int_eq(fd.errors, 1);
    ck_assert_int_eq(fc_verify("/nonexistent/forkcache-verify", NULL, NULL), FC_ENOTFOUND);
    ck_assert_int_eq(fc_verify(NULL, NULL, NULL), FC_EINVAL);
}
END_TEST

START_TEST(current_flipped)
{
    build_store();
    uint64_t size = file_size("CURRENT");
    flip_byte("CURRENT", size / 2);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, "CURRENT");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_le(f->offset, size);
    ck_assert_int_eq(fd.damage, 1);   /* the newest MANIFEST is used instead: nothing else */
}
END_TEST

START_TEST(current_truncated)
{
    build_store();
    cut("CURRENT", 8);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, "CURRENT");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->offset, 8);
    ck_assert_ptr_nonnull(strstr(f->msg, "newline"));
}
END_TEST

START_TEST(current_names_missing_manifest)
{
    build_store();
    char p[4096];
    path_of(p, sizeof p, "CURRENT");
    FILE *f = fopen(p, "we");
    ck_assert_ptr_nonnull(f);
    fputs("MANIFEST-999999\n", f);
    fclose(f);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *d = damage_in(&fd, "CURRENT");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(strstr(d->msg, "does not exist"));
}
END_TEST

START_TEST(manifest_flipped)
{
    build_store();
    char m[256];
    manifest_name(m, sizeof m);
    uint64_t size = file_size(m), at = size / 2;
    flip_byte(m, at);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, m);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_le(f->offset, at);
    ck_assert_uint_lt(at - f->offset, 32768);
}
END_TEST

/* Cut inside a middle record, the MANIFEST ends as a crash before an
 * edit's sync leaves it: that is a note at the record's start. The edits
 * cut off were synced and relied on, though, and what they recorded is
 * found missing: the tables the writer went on to use. */
START_TEST(manifest_truncated)
{
    build_store();
    char m[256];
    manifest_name(m, sizeof m);
    uint64_t end, start = middle_record(m, &end);
    cut(m, start + (end - start) / 2);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    ck_assert_int_gt(fd.damage, 0);
    int noted = 0;
    for (int i = 0; i < fd.n; i++)
        noted |= fd.f[i].severity == FC_VERIFY_NOTE && strcmp(fd.f[i].file, m) == 0 &&
                 fd.f[i].offset == start && strstr(fd.f[i].msg, "partial record") != NULL;
    ck_assert_msg(noted, "no note of the partial record at %llu", (unsigned long long)start);
}
END_TEST

START_TEST(table_flipped)
{
    build_store();
    char t[256];
    some_table(t, sizeof t);
    uint64_t at = file_size(t) / 2;
    flip_byte(t, at);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, t);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_le(f->offset, at);
    ck_assert_uint_lt(at - f->offset, 8192);   /* the block holding it */
    ck_assert_int_eq(fd.damage, 1);
}
END_TEST

START_TEST(table_truncated)
{
    build_store();
    char t[256];
    some_table(t, sizeof t);
    uint64_t half = file_size(t) / 2;
    cut(t, half);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, t);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->offset, half);
    ck_assert_ptr_nonnull(strstr(f->msg, "MANIFEST says"));
}
END_TEST

START_TEST(table_missing_and_sst_name)
{
    build_store();
    char t[256], from[4096], to[4096];
    some_table(t, sizeof t);
    /* LevelDB's older .sst spelling is a table all the same */
    path_of(from, sizeof from, t);
    strcpy(to, from);
    strcpy(strstr(to, ".ldb"), ".sst");
    ck_assert_int_eq(rename(from, to), 0);
    found fd;
    ck_assert_int_eq(run_verify(&fd), 0);
    ck_assert_int_eq(unlink(to), 0);
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, t);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(strstr(f->msg, "missing"));
}
END_TEST

START_TEST(wal_flipped)
{
    build_store();
    char w[256];
    newest(FCI_FILE_WAL, w, sizeof w);
    uint64_t at = file_size(w) / 2;
    flip_byte(w, at);
    found fd;
    ck_assert_int_eq(run_verify(&fd), FC_ECORRUPT);
    const found_one *f = damage_in(&fd, w);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_le(f->offset, at);
    ck_assert_uint_lt(at - f->offset, 32768);
}
END_TEST

START_TEST(wal_torn_tail_is_a_note)
{
    build_store();
    char w[256];
    newest(FCI_FILE_WAL, w, sizeof w);
    uint64_t end, start = middle_record(w, &end);
    cut(w, start + (end - start) / 2);
    found fd;
    ck_assert_int_eq(run_verify(&fd), 0);
    ck_assert_int_eq(fd.damage, 0);
    ck_assert_int_eq(fd.notes, 1);
    ck_assert_str_eq(fd.f[0].file, w);
    ck_assert_uint_eq(fd.f[0].offset, start);
    ck_assert_ptr_nonnull(strstr(fd.f[0].msg, "torn"));
}
END_TEST

/* A power loss between appending a MANIFEST edit and syncing it leaves a
 * torn tail: that edit was never relied on (the writer acts on an edit only
 * once it is synced), and recovery drops it, so it is a note, as a torn WAL
 * tail is. Power-loss states found verify calling it damage. */
START_TEST(manifest_torn_tail_is_a_note)
{
    build_store();
    char m[256];
    manifest_name(m, sizeof m);
    uint64_t size = file_size(m);
    append_bytes(m, "\x11\x22\x33\x44\x55\x66\x77", 7); /* a header cut short */
    found fd;
    ck_assert_int_eq(run_verify(&fd), 0);
    ck_assert_int_eq(fd.damage, 0);
    ck_assert_int_eq(fd.notes, 1);
    ck_assert_str_eq(fd.f[0].file, m);
    ck_assert_uint_eq(fd.f[0].offset, size);
    ck_assert_ptr_nonnull(strstr(fd.f[0].msg, "partial record"));
}
END_TEST

START_TEST(orphan_table_is_a_note)
{
    build_store();
    char t[256], from[4096], to[4096];
    some_table(t, sizeof t);
    path_of(from, sizeof from, t);
    path_of(to, sizeof to, "999990.ldb");
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    ck_assert_int_eq(system(cmd), 0);
    found fd;
    ck_assert_int_eq(run_verify(&fd), 0);
    ck_assert_int_eq(fd.notes, 1);
    ck_assert_str_eq(fd.f[0].file, "999990.ldb");
}
END_TEST

/* Damage anywhere never crashes or hangs verify: flip bytes all over each
 * kind of file, one at a time, and check only the outcome's range. */
static void flip_everywhere(const char *name, int steps)
{
    uint64_t size = file_size(name);
    for (int i = 0; i < steps; i++) {
        uint64_t at = size * (uint64_t)i / (uint64_t)steps;
        flip_byte(name, at);
        int rc = fc_verify(fct_dir, NULL, NULL);
        ck_assert_msg(rc == 0 || rc == FC_ECORRUPT, "%s at %llu: rc %d", name,
                      (unsigned long long)at, rc);
        flip_byte(name, at);   /* put it back */
    }
    ck_assert_int_eq(fc_verify(fct_dir, NULL, NULL), 0);
}

START_TEST(damage_everywhere)
{
    build_store();
    char name[256];
    manifest_name(name, sizeof name);
    flip_everywhere(name, 40);
    some_table(name, sizeof name);
    flip_everywhere(name, 60);
    newest(FCI_FILE_WAL, name, sizeof name);
    flip_everywhere(name, 40);
    flip_everywhere("CURRENT", (int)file_size("CURRENT"));
}
END_TEST

static Suite *verify_suite(void)
{
    Suite *s = suite_create("db_verify");
    TCase *tc = tcase_create("verify");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, clean_store);
    tcase_add_test(tc, not_a_store);
    tcase_add_test(tc, current_flipped);
    tcase_add_test(tc, current_truncated);
    tcase_add_test(tc, current_names_missing_manifest);
    tcase_add_test(tc, manifest_flipped);
    tcase_add_test(tc, manifest_truncated);
    tcase_add_test(tc, table_flipped);
    tcase_add_test(tc, table_truncated);
    tcase_add_test(tc, table_missing_and_sst_name);
    tcase_add_test(tc, wal_flipped);
    tcase_add_test(tc, wal_torn_tail_is_a_note);
    tcase_add_test(tc, manifest_torn_tail_is_a_note);
    tcase_add_test(tc, orphan_table_is_a_note);
    tcase_add_test(tc, damage_everywhere);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(verify_suite)
