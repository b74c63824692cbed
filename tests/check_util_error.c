/*
 * check_util_error.c - error codes, their names and the detail messages.
 */
#include "config.h"

#include <errno.h>

#include "fct.h"
#include "forkcache.h"
#include "util/error.h"

START_TEST(success_name)
{
    ck_assert_str_eq(fc_strerror(FC_OK), "success");
}
END_TEST

/* Every code has its own non-empty name; a duplicate would make two
 * failures indistinguishable in a log. */
START_TEST(every_code_named_uniquely)
{
    for (int a = FC_ERRNO_LAST; a <= 0; a++) {
        const char *na = fc_strerror(a);
        ck_assert_ptr_nonnull(na);
        ck_assert_int_gt((int)strlen(na), 3);
        ck_assert_str_ne(na, "unknown forkcache error");
        for (int b = a + 1; b <= 0; b++)
            ck_assert_str_ne(na, fc_strerror(b));
    }
}
END_TEST

START_TEST(specific_names)
{
    ck_assert_str_eq(fc_strerror(FC_ENOTFOUND), "not found");
    ck_assert_str_eq(fc_strerror(FC_ECORRUPT), "data is corrupt");
    ck_assert_ptr_nonnull(strstr(fc_strerror(FC_EBUSY), "writer"));
    ck_assert_ptr_nonnull(strstr(fc_strerror(FC_ETOOBIG), "too large"));
}
END_TEST

START_TEST(unknown_codes)
{
    ck_assert_str_eq(fc_strerror(1), "unknown forkcache error");
    ck_assert_str_eq(fc_strerror(FC_ERRNO_LAST - 1), "unknown forkcache error");
    ck_assert_str_eq(fc_strerror(-1000000), "unknown forkcache error");
    ck_assert_str_eq(fc_strerror(2147483647), "unknown forkcache error");
}
END_TEST

START_TEST(codes_are_negative_and_dense)
{
    int codes[] = { FC_EINVAL, FC_ENOMEM, FC_EIO, FC_ECORRUPT, FC_ENOTFOUND, FC_EBUSY,
                    FC_EEXIST, FC_ENOSPC, FC_EUNSUPPORTED, FC_EVERSION, FC_ELIMIT,
                    FC_ETOOBIG, FC_ECLOSED, FC_EAGAIN, FC_ETIMEDOUT, FC_EMISMATCH,
                    FC_ENAN, FC_EPERM, FC_EREADONLY, FC_EINTERNAL, FC_EOVERFLOW,
                    FC_ESTALE };
    int n = (int)(sizeof codes / sizeof codes[0]);
    ck_assert_int_eq(n, -FC_ERRNO_LAST);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(codes[i], -(i + 1));
}
END_TEST

START_TEST(err_set_formats_and_returns_code)
{
    fci_err e;
    fci_err_clear(&e);
    int rc = fci_err_set(&e, FC_ECORRUPT, "%s: offset %d: expected %08x, found %08x",
                         "000005.ldb", 4096, 0xdeadbeefu, 0x12345678u);
    ck_assert_int_eq(rc, FC_ECORRUPT);
    ck_assert_int_eq(e.code, FC_ECORRUPT);
    ck_assert_str_eq(e.msg, "000005.ldb: offset 4096: expected deadbeef, found 12345678");
}
END_TEST

START_TEST(err_set_null_is_allowed)
{
    ck_assert_int_eq(fci_err_set(NULL, FC_EIO, "ignored %d", 1), FC_EIO);
    ck_assert_int_eq(fci_err_errno(NULL, FC_EIO, ENOENT, "ignored"), FC_EIO);
}
END_TEST

START_TEST(err_errno_appends_strerror)
{
    fci_err e;
    fci_err_clear(&e);
    ck_assert_int_eq(fci_err_errno(&e, FC_EIO, ENOENT, "open %s", "CURRENT"), FC_EIO);
    ck_assert_str_eq(e.msg, "open CURRENT: No such file or directory");
}
END_TEST

START_TEST(err_long_message_truncated_safely)
{
    fci_err e;
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    fci_err_set(&e, FC_EINVAL, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), FCI_ERR_MSG_MAX - 1);
    fci_err_errno(&e, FC_EIO, EIO, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), FCI_ERR_MSG_MAX - 1);
}
END_TEST

START_TEST(err_clear)
{
    fci_err e;
    fci_err_set(&e, FC_EIO, "x");
    fci_err_clear(&e);
    ck_assert_int_eq(e.code, 0);
    ck_assert_str_eq(e.msg, "");
    fci_err_clear(NULL);
}
END_TEST

START_TEST(errno_mapping)
{
    ck_assert_int_eq(fci_errno_code(ENOSPC), FC_ENOSPC);
    ck_assert_int_eq(fci_errno_code(EDQUOT), FC_ENOSPC);
    ck_assert_int_eq(fci_errno_code(ENOMEM), FC_ENOMEM);
    ck_assert_int_eq(fci_errno_code(ENOENT), FC_ENOTFOUND);
    ck_assert_int_eq(fci_errno_code(EEXIST), FC_EEXIST);
    ck_assert_int_eq(fci_errno_code(EACCES), FC_EPERM);
    ck_assert_int_eq(fci_errno_code(ELOOP), FC_EPERM);
    ck_assert_int_eq(fci_errno_code(EROFS), FC_EREADONLY);
    ck_assert_int_eq(fci_errno_code(EIO), FC_EIO);
    ck_assert_int_eq(fci_errno_code(EBADF), FC_EIO);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("util_error");
    TCase *tc = tcase_create("strerror");
    tcase_add_test(tc, success_name);
    tcase_add_test(tc, every_code_named_uniquely);
    tcase_add_test(tc, specific_names);
    tcase_add_test(tc, unknown_codes);
    tcase_add_test(tc, codes_are_negative_and_dense);
    suite_add_tcase(s, tc);
    tc = tcase_create("detail");
    tcase_add_test(tc, err_set_formats_and_returns_code);
    tcase_add_test(tc, err_set_null_is_allowed);
    tcase_add_test(tc, err_errno_appends_strerror);
    tcase_add_test(tc, err_long_message_truncated_safely);
    tcase_add_test(tc, err_clear);
    tcase_add_test(tc, errno_mapping);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(error_suite)
