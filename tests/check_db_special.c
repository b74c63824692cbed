/*
 * check_db_special.c - store files that are not regular files.
 *
 * CURRENT, the MANIFEST, a live WAL and a live table are each replaced by
 * a FIFO and by a symbolic link to /dev/zero. Opening the store (writer and
 * read-only), reading the table's keys and fc_verify must each come back
 * promptly with an error naming the file and what it is; a FIFO's open
 * must not wait for a writer, nor /dev/zero be read for ever. Each check
 * runs in a forked child under alarm(), so a regression fails the test
 * instead of hanging the suite.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/vset.h"
#include "format/dbformat.h"
#include "format/filename.h"

#define GUARD_SECONDS 20   /* far beyond a prompt answer; only a hang trips it */

/* A table at L0 and below, and writes left in the WAL at close. */
static void build_store(void)
{
    fc_options o = fct_small_opts();
    fc_store *s = fct_open_in(&o);
    char k[32], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%06d", i);
        int n = snprintf(v, sizeof v, "value-%d", i);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, (size_t)n), 0);
    }
    ck_assert_int_eq(fc_flush(s), 0);
    ck_assert_int_eq(fc_put(s, "wal", 3, "x", 1), 0);
    ck_assert_int_eq(fc_close(s), 0);
}

/* The name of one file of the store (kind), and for a table a user key
 * it holds (in key, NUL-terminated). */
static void pick(const char *kind, char *name, size_t cap, char *key, size_t kcap)
{
    fci_vset vs;
    fci_err err;
    key[0] = '\0';
    ck_assert_int_eq(fci_vset_init(&vs, AT_FDCWD, fct_dir, 0600), 0);
    ck_assert_msg(fci_vset_recover(&vs, 0, &err) == 0, "%s", err.msg);
    if (strcmp(kind, "CURRENT") == 0) {
        snprintf(name, cap, "CURRENT");
    } else if (strcmp(kind, "MANIFEST") == 0) {
        uint64_t m;
        ck_assert_int_eq(fci_current_read(AT_FDCWD, fct_dir, &m, name, cap, &err), 0);
    } else if (strcmp(kind, "WAL") == 0) {
        fci_filename(name, cap, NULL, FCI_FILE_WAL, vs.log_number);
    } else {
        int l = 0;
        while (l < FCI_NUM_LEVELS && vs.current->nfiles[l] == 0)
            l++;
        ck_assert_int_lt(l, FCI_NUM_LEVELS);
        const fci_file_meta *f = vs.current->files[l][0];
        fci_filename(name, cap, NULL, FCI_FILE_TABLE, f->number);
        fci_slice u = fci_ikey_user(fci_buf_slice(&f->smallest));
        snprintf(key, kcap, "%.*s", (int)u.size, u.data);
    }
    fci_vset_free(&vs);
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", fct_dir, name);
    ck_assert_msg(stat(path, &st) == 0, "%s is not there", path);
}

/* Puts a FIFO, or a symbolic link to /dev/zero, where name was. */
static void replace(const char *name, int fifo)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fct_dir, name);
    ck_assert_int_eq(unlink(path), 0);
    if (fifo)
        ck_assert_int_eq(mkfifo(path, 0600), 0);
    else
        ck_assert_int_eq(symlink("/dev/zero", path), 0);
}

/* The message names the file and what it found. */
static int says(const char *msg, const char *name, int fifo)
{
    return strstr(msg, name) != NULL &&
           strstr(msg, fifo ? "a FIFO" : "a symbolic link") != NULL;
}

typedef struct seen {
    const char *name;
    int fifo, named, damage;
} seen;

static void collect(void *arg, const fc_verify_finding *f)
{
    seen *s = arg;
    fprintf(stderr, "    verify [%d] %s: %s\n", f->severity, f->file, f->message);
    if (f->severity == FC_VERIFY_DAMAGE)
        s->damage++;
    if (f->severity != FC_VERIFY_NOTE && says(f->message, s->name, s->fifo))
        s->named++;
}

/* A get of key: its code (opening the table happens here, not at open). */
static int get(fc_store *s, const char *key)
{
    fc_txn *t;
    char buf[64];
    size_t len;
    if (fc_txn_begin(s, &t) != 0)
        return FC_EIO;
    int rc = fc_get_copy(t, key, strlen(key), buf, sizeof buf, &len);
    fc_txn_end(t);
    return rc;
}

/* In the child: each way in must fail, naming the file. Exits with the
 * number of the first check that did not hold (0: all held). */
static int child_checks(const char *name, const char *key, int fifo)
{
    fc_options o = fct_small_opts();
    for (int ro = 0; ro < 2; ro++) {
        fc_store *s = NULL;
        o.flags = ro ? FC_READONLY : FC_CREATE;
        int rc = fc_open(fct_dir, &o, &s);
        fprintf(stderr, "    open%s: %s: %s\n", ro ? " read-only" : "", fc_strerror(rc),
                rc ? fc_errmsg(NULL) : "opened");
        if (rc == 0) {
            /* Tables open at the first read: a get must then fail. */
            if (key[0] == '\0')
                return 1 + ro;   /* other files are read by open itself */
            rc = get(s, key);
            fprintf(stderr, "    get %s: %s: %s\n", key, fc_strerror(rc), fc_errmsg(s));
            int ok = rc != 0 && rc != FC_ENOTFOUND && says(fc_errmsg(s), name, fifo);
            fc_close(s);
            if (!ok)
                return 3 + ro;
        } else if (!says(fc_errmsg(NULL), name, fifo)) {
            return 5 + ro;
        }
    }
    seen sn = { name, fifo, 0, 0 };
    int rc = fc_verify(fct_dir, collect, &sn);
    if (rc != FC_ECORRUPT || sn.named == 0)
        return 7;
    return 0;
}

static void check_kind(const char *kind, int fifo)
{
    char name[256], key[256];
    build_store();
    pick(kind, name, sizeof name, key, sizeof key);
    replace(name, fifo);
    fprintf(stderr, "%s (%s) as %s:\n", kind, name, fifo ? "a FIFO" : "a link to /dev/zero");
    pid_t pid = fc_fork();   /* the parent opened stores: liburcu needs its hooks */
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Check's own SIGALRM handler would kill the whole test: die alone */
        signal(SIGALRM, SIG_DFL);
        alarm(GUARD_SECONDS);
        _exit(child_checks(name, key, fifo));
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(!WIFSIGNALED(status), "%s as %s: the child died of signal %d (%s)", kind,
                  fifo ? "a FIFO" : "a link to /dev/zero", WTERMSIG(status),
                  WTERMSIG(status) == SIGALRM ? "it hung" : "a crash");
    ck_assert_msg(WEXITSTATUS(status) == 0, "%s as %s: check %d did not hold", kind,
                  fifo ? "a FIFO" : "a link to /dev/zero", WEXITSTATUS(status));
}

START_TEST(current_fifo) { check_kind("CURRENT", 1); }
END_TEST
START_TEST(current_dev_zero) { check_kind("CURRENT", 0); }
END_TEST
START_TEST(manifest_fifo) { check_kind("MANIFEST", 1); }
END_TEST
START_TEST(manifest_dev_zero) { check_kind("MANIFEST", 0); }
END_TEST
START_TEST(wal_fifo) { check_kind("WAL", 1); }
END_TEST
START_TEST(wal_dev_zero) { check_kind("WAL", 0); }
END_TEST
START_TEST(table_fifo) { check_kind("table", 1); }
END_TEST
START_TEST(table_dev_zero) { check_kind("table", 0); }
END_TEST

/* Issue 16, item 1: someone who may write the store directory plants
 * symbolic links under the names a new store writes first (the MANIFEST,
 * CURRENT's temporary file, WALs, tables), all pointing at a file outside
 * the store. Creating the store and writing to it may fail (saying it met
 * a symbolic link) or succeed, but never write through a link: the file
 * outside keeps its bytes. */
START_TEST(planted_symlinks_are_not_followed)
{
    char victim[4200], link[4300];
    snprintf(victim, sizeof victim, "%s.victim", fct_dir);
    FILE *f = fopen(victim, "we");
    ck_assert_ptr_nonnull(f);
    fputs("precious\n", f);
    ck_assert_int_eq(fclose(f), 0);
    static const char *const kinds[][2] = {
        { "MANIFEST-", "" }, { "", ".dbtmp" }, { "", ".log" }, { "", ".ldb" },
    };
    for (int n = 1; n <= 12; n++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            char name[64];
            snprintf(name, sizeof name, "%s%06d%s", kinds[k][0], n, kinds[k][1]);
            snprintf(link, sizeof link, "%s/%s", fct_dir, name);
            ck_assert_int_eq(symlink(victim, link), 0);
        }
    fc_options o = fct_small_opts();
    fc_store *s = NULL;
    char why[512] = "";
    int rc = fc_open(fct_dir, &o, &s);
    if (rc != 0)
        snprintf(why, sizeof why, "%s", fc_errmsg(NULL));
    if (rc == 0) {
        char k[32];
        for (int i = 0; i < 2000 && rc == 0; i++) {
            snprintf(k, sizeof k, "key%06d", i);
            rc = fc_put(s, k, strlen(k), "value", 5);
        }
        if (rc == 0)
            rc = fc_flush(s);
        if (rc != 0)
            snprintf(why, sizeof why, "%s", fc_errmsg(s));
        fc_close(s);
    }
    /* Refusing is one right answer; if so, it must say why. */
    ck_assert_msg(rc == 0 || strstr(why, "symbolic link") != NULL, "refused, but: %s", why);
    f = fopen(victim, "re");
    ck_assert_ptr_nonnull(f);
    char got[64] = "";
    ck_assert_ptr_nonnull(fgets(got, sizeof got, f));
    ck_assert_int_eq(fgetc(f), EOF);
    fclose(f);
    ck_assert_str_eq(got, "precious\n");
    unlink(victim);
}
END_TEST

/* LOCK planted as a symbolic link to a name outside the store: the writer
 * refuses to open (FC_EPERM, the system's "too many levels of symbolic
 * links"), and nothing is created at the link's target. */
START_TEST(lock_as_a_link_is_refused)
{
    char target[4200], link[4300];
    struct stat st;
    snprintf(target, sizeof target, "%s.lock-target", fct_dir);
    snprintf(link, sizeof link, "%s/LOCK", fct_dir);
    ck_assert_int_eq(symlink(target, link), 0);
    fc_options o = fct_small_opts();
    o.flags |= FC_CREATE;
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_msg(strstr(fc_errmsg(NULL), "LOCK") != NULL, "%s", fc_errmsg(NULL));
    ck_assert_int_ne(lstat(target, &st), 0);
}
END_TEST

/* Issue 16, item 1: a writer refuses a store directory that another user
 * could write into (as ssh refuses its files): writable by every user, or
 * owned by someone who is neither this user nor root. */
START_TEST(writer_refuses_a_directory_others_may_write)
{
    fc_options o = fct_small_opts();
    fc_store *s = NULL;
    ck_assert_int_eq(chmod(fct_dir, 0777), 0);
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_msg(strstr(fc_errmsg(NULL), "writable by every user") != NULL, "%s",
                  fc_errmsg(NULL));
    ck_assert_int_eq(chmod(fct_dir, 01777), 0); /* sticky does not make it safe */
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
    ck_assert_int_eq(chmod(fct_dir, 0770), 0); /* a group of cooperating users */
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    ck_assert_int_eq(fc_close(s), 0);
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(fct_dir, 65534, 65534), 0);
        ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_EPERM);
        ck_assert_msg(strstr(fc_errmsg(NULL), "owned by uid 65534") != NULL, "%s",
                      fc_errmsg(NULL));
        ck_assert_int_eq(chown(fct_dir, 0, 0), 0);
    }
    ck_assert_int_eq(chmod(fct_dir, 0700), 0);
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), 0);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *special_suite(void)
{
    Suite *s = suite_create("db_special");
    TCase *tc = tcase_create("special");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, current_fifo);
    tcase_add_test(tc, current_dev_zero);
    tcase_add_test(tc, manifest_fifo);
    tcase_add_test(tc, manifest_dev_zero);
    tcase_add_test(tc, wal_fifo);
    tcase_add_test(tc, wal_dev_zero);
    tcase_add_test(tc, table_fifo);
    tcase_add_test(tc, table_dev_zero);
    tcase_add_test(tc, planted_symlinks_are_not_followed);
    tcase_add_test(tc, lock_as_a_link_is_refused);
    tcase_add_test(tc, writer_refuses_a_directory_others_may_write);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(special_suite)
