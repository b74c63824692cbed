/*
 * check_db_dirfd.c - a store opened through a name that is re-pointed
 * while the store is open.
 *
 * A deploy swaps a symbolic link (`ln -sfn store-2 LINK`, which renames a
 * new link over the old one) while a program still writes through LINK.
 * The handle must go on with the directory it opened: every later file it
 * creates, reads, renames or removes belongs to that directory. Before the
 * store kept one directory descriptor, every path was rebuilt from the
 * name: new tables went into store-2, store-1's MANIFEST named them, and
 * the obsolete-file sweep deleted store-2's files, while every put and the
 * close reported success.
 */
#include "config.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"

#define NKEYS 4000

/* The scratch layout under fct_dir: store-1, store-2 and LINK. */
typedef struct layout {
    char one[PATH_MAX], two[PATH_MAX], link[PATH_MAX];
} layout;

static void layout_make(layout *l)
{
    snprintf(l->one, sizeof l->one, "%s/store-1", fct_dir);
    snprintf(l->two, sizeof l->two, "%s/store-2", fct_dir);
    snprintf(l->link, sizeof l->link, "%s/LINK", fct_dir);
    ck_assert_int_eq(mkdir(l->one, 0700), 0);
    ck_assert_int_eq(mkdir(l->two, 0700), 0);
    ck_assert_int_eq(symlink("store-1", l->link), 0);
}

/* What ln -sfn does: a new link renamed over the old name, atomically. */
static void repoint(const layout *l, const char *target)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", l->link);
    ck_assert_int_eq(symlink(target, tmp), 0);
    ck_assert_int_eq(rename(tmp, l->link), 0);
}

/* A handle on dir; arena "" puts the arena file in the directory. */
static fc_store *open_with(const char *dir, unsigned flags, const char *arena)
{
    fc_options o = fct_small_opts();
    o.flags |= flags;
    o.arena_path = arena;
    fc_store *s = NULL;
    int rc = fc_open(dir, &o, &s);
    ck_assert_msg(rc == 0, "fc_open %s: %s: %s", dir, fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

static fc_store *open_at(const char *dir, unsigned flags)
{
    return open_with(dir, flags, NULL);
}

/* Key i and its value in generation gen (k 32 bytes, v 128). */
static void kv(char *k, char *v, int i, int gen)
{
    fct_key_of(k, "key", 6, i);
    fct_val_of(v, i, gen);
}

/* Keys [from, to) of generation gen, each put acknowledged. */
static void put_range(fc_store *s, int from, int to, int gen)
{
    for (int i = from; i < to; i++) {
        char k[32], v[128];
        kv(k, v, i, gen);
        int rc = fc_put(s, k, strlen(k), v, strlen(v));
        ck_assert_msg(rc == 0, "put %s: %s", k, fc_errmsg(s));
    }
}

/* Every key [0, n) reads as generation gen in s. */
static void expect_range(fc_store *s, int n, int gen)
{
    for (int i = 0; i < n; i++) {
        char k[32], v[128];
        kv(k, v, i, gen);
        fct_expect(s, k, v);
    }
}

/* A valid store of its own in store-2, with a table and a WAL, whose bytes
 * the test then watches. */
static char *second_store(const layout *l)
{
    fc_store *s = open_at(l->two, FC_CREATE);
    put_range(s, 0, 500, 2);
    ck_assert_int_eq(fc_flush(s), 0);
    put_range(s, 500, 600, 2);
    ck_assert_int_eq(fc_close(s), 0);
    char *snap = fct_dir_snapshot(l->two);
    ck_assert_ptr_nonnull(snap);
    return snap;
}

static void no_damage(void *arg, const fc_verify_finding *f)
{
    ck_assert_msg(f->severity == FC_VERIFY_NOTE, "%s: %s/%s: %s", (const char *)arg,
                  (const char *)arg, f->file, f->message);
}

/* store-2 is byte for byte as before, and still a store of its own. */
static void second_untouched(const layout *l, const char *before)
{
    char *after = fct_dir_snapshot(l->two);
    ck_assert_ptr_nonnull(after);
    ck_assert_msg(strcmp(before, after) == 0, "store-2 changed:\nbefore:\n%s\nafter:\n%s",
                  before, after);
    free(after);
    ck_assert_int_eq(fc_verify(l->two, no_damage, (void *)l->two), 0);
}

/* Forked workers write too, after the switch: keys NKEYS + [w * 500,
 * (w + 1) * 500). */
static int put_worker(fc_store *s, int w, void *arg)
{
    (void)arg;
    for (int i = NKEYS + w * 500; i < NKEYS + (w + 1) * 500; i++) {
        char k[32], v[128];
        kv(k, v, i, 1);
        if (fc_put(s, k, strlen(k), v, strlen(v)) != 0)
            return 1;
    }
    return 0;
}

/* The writer: half its keys, LINK re-pointed, the other half and forked
 * workers' writes, then a flush, a compaction and more writes before the
 * close. Every write lands in store-1; store-2 is not touched. Run with an
 * anonymous arena (_i 0) and with the arena file in the directory (_i 1). */
START_TEST(writer_keeps_the_directory_it_opened)
{
    layout l;
    layout_make(&l);
    char *two = second_store(&l);
    fc_store *s = open_with(l.link, FC_CREATE, _i ? "" : NULL);
    put_range(s, 0, NKEYS / 2, 1);
    ck_assert_int_eq(fc_flush(s), 0);
    repoint(&l, "store-2");
    put_range(s, NKEYS / 2, NKEYS, 1);          /* memtables fill: flushes */
    fct_run_workers(s, 2, put_worker, NULL);
    ck_assert_msg(fc_flush(s) == 0, "%s", fc_errmsg(s));
    ck_assert_msg(fc_compact_range(s, NULL, 0, NULL, 0) == 0, "%s", fc_errmsg(s));
    put_range(s, 0, NKEYS / 4, 3);              /* left in the WAL */
    expect_range(s, NKEYS / 4, 3);
    ck_assert_int_eq(fc_close(s), 0);

    second_untouched(&l, two);
    ck_assert_int_eq(fc_verify(l.one, no_damage, l.one), 0);
    s = open_at(l.one, FC_READONLY);
    expect_range(s, NKEYS / 4, 3);
    for (int i = NKEYS / 4; i < NKEYS + 1000; i++) {
        char k[32], v[128];
        kv(k, v, i, 1);
        fct_expect(s, k, v);
    }
    ck_assert_int_eq(fc_close(s), 0);
    free(two);
}
END_TEST

/* A forked reader of a re-pointed store: tables opened after the switch
 * (by the parent's reads and by the child's, which inherit the handle's
 * descriptor) are store-1's. */
static int read_all(fc_store *s, int w, void *arg)
{
    (void)w;
    (void)arg;
    for (int i = 0; i < NKEYS; i++) {
        char k[32], v[128];
        kv(k, v, i, 1);
        fc_txn *t;
        fc_val got;
        if (fc_txn_begin(s, &t) != 0)
            return 1;
        int rc = fc_get(t, k, strlen(k), &got);
        int ok = rc == 0 && got.size == strlen(v) && memcmp(got.data, v, got.size) == 0;
        fc_txn_end(t);
        if (!ok)
            return 2;
    }
    return 0;
}

/* Read-only opens and forked readers resolve table names through the
 * handle's descriptor too: their tables are opened lazily, after the
 * switch here, and must still be store-1's. */
START_TEST(readers_keep_the_directory_they_opened)
{
    layout l;
    layout_make(&l);
    char *two = second_store(&l);
    fc_store *s = open_at(l.one, FC_CREATE);
    put_range(s, 0, NKEYS, 1);
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert_int_eq(fc_close(s), 0);

    fc_options o = fct_small_opts();
    o.flags = FC_READONLY;
    o.max_mappings = 0;                /* pread: descriptors closed and reopened */
    ck_assert_int_eq(fc_open(l.link, &o, &s), 0);
    repoint(&l, "store-2");
    fct_run_workers(s, 2, read_all, NULL);
    ck_assert_int_eq(read_all(s, 0, NULL), 0);
    ck_assert_int_eq(fc_close(s), 0);
    second_untouched(&l, two);
    free(two);
}
END_TEST

/* A process attaching to store-2's writer with the arena of store-1's: the
 * arena names another directory than the one the process opened. */
static int attach_other(fc_store *s, int w, void *arg)
{
    (void)s;
    (void)w;
    const layout *l = arg;
    char arena[PATH_MAX + 32];
    snprintf(arena, sizeof arena, "%s/%s", l->one, FC_ARENA_FILE);
    fc_options o = fct_small_opts();
    o.flags = FC_ATTACH;
    o.arena_path = arena;
    fc_store *t = NULL;
    int rc = fc_open(l->two, &o, &t);
    if (rc == 0)
        fc_close(t);
    return rc == FC_EINVAL && strstr(fc_errmsg(NULL), "belongs to store") != NULL ? 0 : 1;
}

START_TEST(attach_refuses_another_stores_arena)
{
    layout l;
    layout_make(&l);
    fc_store *one = open_with(l.one, FC_CREATE, "");
    fc_store *two = open_at(l.two, FC_CREATE);
    fct_put_str(one, "k", "v");
    fct_run_workers(one, 1, attach_other, &l);
    ck_assert_int_eq(fc_close(two), 0);
    ck_assert_int_eq(fc_close(one), 0);
}
END_TEST

/* fc_verify reads the directory its name led to when it started; a
 * symbolic link to a store verifies like the store. */
START_TEST(verify_through_a_link)
{
    layout l;
    layout_make(&l);
    fc_store *s = open_at(l.link, FC_CREATE);
    put_range(s, 0, 1000, 1);
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert_int_eq(fc_close(s), 0);
    ck_assert_int_eq(fc_verify(l.link, no_damage, l.link), 0);
}
END_TEST

static Suite *dirfd_suite(void)
{
    Suite *s = suite_create("db_dirfd");
    TCase *tc = tcase_create("repointed");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, writer_keeps_the_directory_it_opened, 0, 2);
    tcase_add_test(tc, readers_keep_the_directory_they_opened);
    tcase_add_test(tc, verify_through_a_link);
    tcase_add_test(tc, attach_refuses_another_stores_arena);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(dirfd_suite)
