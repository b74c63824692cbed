/*
 * version_test.h - what the suites that craft versions share: a file's
 * metadata from its number, size and user-key range.
 */
#ifndef FC_VERSION_TEST_H
#define FC_VERSION_TEST_H

#include "fc_test.h"
#include "db/core/version.h"
#include "format/dbformat.h"

/* A file spanning [lo, hi] (user keys; sequences 100 and 90). */
static inline fci_file_meta *meta(uint64_t number, uint64_t size, const char *lo, const char *hi)
{
    fci_buf s = FCI_BUF_INIT, l = FCI_BUF_INIT;
    ck_assert_int_eq(fci_ikey_append(&s, fci_slice_str(lo), 100, FCI_TYPE_VALUE), 0);
    ck_assert_int_eq(fci_ikey_append(&l, fci_slice_str(hi), 90, FCI_TYPE_VALUE), 0);
    fci_file_meta *f;
    ck_assert_int_eq(fci_file_meta_new(number, size, fci_buf_slice(&s), fci_buf_slice(&l), &f), 0);
    fci_buf_free(&s);
    fci_buf_free(&l);
    return f;
}

#endif
