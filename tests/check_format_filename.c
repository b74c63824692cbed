/*
 * check_format_filename.c - store file names both ways, and CURRENT
 * written the crash-safe way and read back strictly.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "forkcache.h"
#include "format/filename.h"

static void expect_name(fci_file_kind kind, uint64_t number, const char *want)
{
    char buf[64];
    int n = fci_filename(buf, sizeof buf, NULL, kind, number);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    fci_file_kind k;
    uint64_t num;
    ck_assert_int_eq(fci_filename_parse(buf, &k, &num), 0);
    ck_assert_int_eq(k, kind);
    ck_assert_uint_eq(num, number);
}

START_TEST(format_and_parse)
{
    expect_name(FCI_FILE_CURRENT, 0, "CURRENT");
    expect_name(FCI_FILE_LOCK, 0, "LOCK");
    expect_name(FCI_FILE_INFO_LOG, 0, "LOG");
    expect_name(FCI_FILE_OLD_INFO_LOG, 0, "LOG.old");
    expect_name(FCI_FILE_MANIFEST, 1, "MANIFEST-000001");
    expect_name(FCI_FILE_MANIFEST, 1234567, "MANIFEST-1234567");
    expect_name(FCI_FILE_WAL, 0, "000000.log");
    expect_name(FCI_FILE_WAL, 42, "000042.log");
    expect_name(FCI_FILE_TABLE, 999999, "999999.ldb");
    expect_name(FCI_FILE_TABLE_SST, 7, "000007.sst");
    expect_name(FCI_FILE_TEMP, 5, "000005.dbtmp");
    expect_name(FCI_FILE_WAL, UINT64_MAX, "18446744073709551615.log");
    ck_assert(fci_file_is_table(FCI_FILE_TABLE) && fci_file_is_table(FCI_FILE_TABLE_SST));
    ck_assert(!fci_file_is_table(FCI_FILE_WAL));

    char buf[64];
    ck_assert_int_eq(fci_filename(buf, sizeof buf, "/d", FCI_FILE_WAL, 3), 13);
    ck_assert_str_eq(buf, "/d/000003.log");
    ck_assert_int_eq(fci_filename(buf, 11, NULL, FCI_FILE_WAL, 3), 10);   /* room for NUL */
    ck_assert_int_eq(fci_filename(buf, 10, NULL, FCI_FILE_WAL, 3), FC_EINVAL);
    ck_assert_int_eq(fci_filename(buf, sizeof buf, NULL, (fci_file_kind)99, 3), FC_EINVAL);
}
END_TEST

START_TEST(parse_accepts_any_digit_count)
{
    fci_file_kind k;
    uint64_t n;
    ck_assert_int_eq(fci_filename_parse("7.log", &k, &n), 0);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(fci_filename_parse("00000000000000000000000012.ldb", &k, &n), 0);
    ck_assert_uint_eq(n, 12);
    ck_assert_int_eq(fci_filename_parse("MANIFEST-0", &k, &n), 0);
    ck_assert_int_eq(k, FCI_FILE_MANIFEST);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(parse_rejects)
{
    static const char *bad[] = {
        "", "CURRENT ", "current", "LOCK.old", "LOG.old.old", "LOGx", "MANIFEST",
        "MANIFEST-", "MANIFEST-x", "MANIFEST-1x", "MANIFEST--1", "MANIFEST-+1",
        "MANIFEST-18446744073709551616", "manifest-000001", ".log", "log", "000001",
        "000001.", "000001.LOG", "000001.log.", "000001.logx", "0x01.log", "-1.log",
        " 1.log", "1 .log", "18446744073709551616.log", "99999999999999999999.ldb",
        "000001.tmp", "000001.dbtmp2", "a000001.sst", "000001.sst/", NULL
    };
    fci_file_kind k = FCI_FILE_LOCK;
    uint64_t n = 77;
    for (size_t i = 0; bad[i]; i++)
        ck_assert_msg(fci_filename_parse(bad[i], &k, &n) == FC_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(fci_filename_parse(NULL, &k, &n), FC_EINVAL);
    ck_assert_int_eq(k, FCI_FILE_LOCK);   /* untouched on failure */
    ck_assert_uint_eq(n, 77);
    ck_assert_int_eq(fci_filename_parse("18446744073709551615.sst", &k, &n), 0);
    ck_assert_uint_eq(n, UINT64_MAX);
}
END_TEST

static void put_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

START_TEST(current_write_and_read)
{
    const char *dir = fct_tmpdir();
    char path[4200], name[64];
    fci_err err = { 0, "" };
    uint64_t num = 0;

    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, NULL, 0, &err), FC_ENOTFOUND);
    ck_assert_int_eq(fci_current_write(AT_FDCWD, dir, 1, 0600, &err), 0);
    snprintf(path, sizeof path, "%s/CURRENT", dir);
    char buf[64] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(read(fd, buf, sizeof buf - 1), 16);
    close(fd);
    ck_assert_str_eq(buf, "MANIFEST-000001\n");
    snprintf(path, sizeof path, "%s/000001.dbtmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);     /* the temp file was renamed */

    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, name, sizeof name, &err), 0);
    ck_assert_uint_eq(num, 1);
    ck_assert_str_eq(name, "MANIFEST-000001");

    ck_assert_int_eq(fci_current_write(AT_FDCWD, dir, 1234567, 0600, &err), 0);
    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, name, sizeof name, &err), 0);
    ck_assert_uint_eq(num, 1234567);
    ck_assert_str_eq(name, "MANIFEST-1234567");

    /* A name spelled with more zeros comes back as written. */
    put_file(dir, "CURRENT", "MANIFEST-0000009\n", 17);
    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, name, sizeof name, &err), 0);
    ck_assert_uint_eq(num, 9);
    ck_assert_str_eq(name, "MANIFEST-0000009");
    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, name, 5, &err), FC_EINVAL);

    /* Writing into a directory that does not exist fails cleanly. */
    snprintf(path, sizeof path, "%s/nope", dir);
    ck_assert_int_lt(fci_current_write(AT_FDCWD, path, 1, 0600, &err), 0);
    fct_rmtree(dir);
}
END_TEST

START_TEST(current_corrupt)
{
    const char *dir = fct_tmpdir();
    fci_err err = { 0, "" };
    uint64_t num = 42;
    static const struct { const char *data; size_t n; } bad[] = {
        { "", 0 }, { "\n", 1 }, { "MANIFEST-000001", 15 }, { "MANIFEST-000001\n\n", 17 },
        { "MANIFEST-\n", 10 }, { "000001.log\n", 11 }, { "CURRENT\n", 8 },
        { "MANIFEST-000001 \n", 17 }, { "MANIFEST-0\0001\n", 13 }, { "garbage\n", 8 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_file(dir, "CURRENT", bad[i].data, bad[i].n);
        ck_assert_msg(fci_current_read(AT_FDCWD, dir, &num, NULL, 0, &err) == FC_ECORRUPT,
                      "case %zu", i);
        ck_assert_ptr_nonnull(strstr(err.msg, "CURRENT"));
        ck_assert_uint_eq(num, 42);
    }
    char huge[5000];
    memset(huge, 'M', sizeof huge);
    huge[sizeof huge - 1] = '\n';
    put_file(dir, "CURRENT", huge, sizeof huge);
    ck_assert_int_eq(fci_current_read(AT_FDCWD, dir, &num, NULL, 0, &err), FC_ECORRUPT);
    fct_rmtree(dir);
}
END_TEST

static Suite *filename_suite(void)
{
    Suite *s = suite_create("format_filename");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, format_and_parse);
    tcase_add_test(tc, parse_accepts_any_digit_count);
    tcase_add_test(tc, parse_rejects);
    tcase_add_test(tc, current_write_and_read);
    tcase_add_test(tc, current_corrupt);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(filename_suite)
