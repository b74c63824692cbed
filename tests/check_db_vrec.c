/*
 * check_db_vrec.c - published version records: round trip, lookups by key,
 * and refusal of damaged records.
 */
#include "config.h"

#include <stdlib.h>

#include "fct.h"
#include "forkcache.h"
#include "db/core/vrec.h"
#include "format/dbformat.h"

static fci_file_meta *meta(uint64_t number, const char *lo, const char *hi)
{
    fci_buf s = FCI_BUF_INIT, l = FCI_BUF_INIT;
    fci_ikey_append(&s, fci_slice_str(lo), 9, FCI_TYPE_VALUE);
    fci_ikey_append(&l, fci_slice_str(hi), 9, FCI_TYPE_VALUE);
    fci_file_meta *f;
    ck_assert_int_eq(fci_file_meta_new(number, number * 100, fci_buf_slice(&s), fci_buf_slice(&l), &f), 0);
    fci_buf_free(&s);
    fci_buf_free(&l);
    return f;
}

static fci_version *sample(void)
{
    fci_version *base = fci_version_new(), *v;
    fci_version_delta d;
    memset(&d, 0, sizeof d);
    d.added = calloc(5, sizeof *d.added);
    const int levels[5] = { 0, 0, 1, 1, 3 };
    const char *ranges[5][2] = { { "a", "z" }, { "c", "d" }, { "b", "f" }, { "h", "m" }, { "q", "t" } };
    for (int i = 0; i < 5; i++) {
        d.added[i].level = levels[i];
        d.added[i].file = meta((uint64_t)i + 10, ranges[i][0], ranges[i][1]);
    }
    d.nadded = 5;
    ck_assert_int_eq(fci_version_apply(base, &d, &v, NULL), 0);
    for (int i = 0; i < 5; i++)
        fci_file_meta_unref(d.added[i].file);
    free(d.added);
    fci_version_unref(base);
    return v;
}

/* A record placed at offset 64 of an 8-aligned region. */
static char *encode(const fci_version *v, size_t *region)
{
    size_t need = fci_vrec_size(v);
    *region = 64 + need;
    char *buf = aligned_alloc(8, (*region + 7) & ~(size_t)7);
    memset(buf, 0, *region);
    fci_vrec_encode(v, 7, 1000, 2000, 55, buf + 64);
    return buf;
}

START_TEST(round_trip)
{
    fci_version *v = sample();
    size_t size;
    char *buf = encode(v, &size);
    fci_vrec_view view;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), 0);
    ck_assert_uint_eq(view.rec->vseq, 7);
    ck_assert_uint_eq(view.rec->mem_root, 1000);
    ck_assert_uint_eq(view.rec->imm_root, 2000);
    ck_assert_uint_eq(view.nfiles[0], 2);
    ck_assert_uint_eq(view.nfiles[1], 2);
    ck_assert_uint_eq(view.nfiles[3], 1);
    ck_assert_uint_eq(view.level[0][0].number, 11); /* newest first */
    ck_assert_uint_eq(view.level[1][1].size, 1300);
    fci_slice k = fci_ikey_user(fci_vrec_largest(&view, &view.level[3][0]));
    ck_assert_uint_eq(k.size, 1);
    ck_assert_int_eq(k.data[0], 't');
    free(buf);
    fci_version_unref(v);
}
END_TEST

START_TEST(find_by_key)
{
    fci_version *v = sample();
    size_t size;
    char *buf = encode(v, &size);
    fci_vrec_view view;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), 0);
    ck_assert_uint_eq(fci_vrec_find(&view, 1, fci_slice_str("b"))->number, 12);
    ck_assert_uint_eq(fci_vrec_find(&view, 1, fci_slice_str("f"))->number, 12);
    ck_assert_ptr_null(fci_vrec_find(&view, 1, fci_slice_str("g")));
    ck_assert_uint_eq(fci_vrec_find(&view, 1, fci_slice_str("k"))->number, 13);
    ck_assert_ptr_null(fci_vrec_find(&view, 1, fci_slice_str("a")));
    ck_assert_ptr_null(fci_vrec_find(&view, 1, fci_slice_str("zz")));
    ck_assert_ptr_null(fci_vrec_find(&view, 2, fci_slice_str("k")));
    ck_assert_ptr_null(fci_vrec_find(&view, 0, fci_slice_str("k"))); /* L0 is scanned, not searched */
    free(buf);
    fci_version_unref(v);
}
END_TEST

START_TEST(damage_refused)
{
    fci_version *v = sample();
    size_t size;
    char *buf = encode(v, &size);
    fci_vrec_view view;
    fci_vrec *rec = (fci_vrec *)(buf + 64);
    ck_assert_int_eq(fci_vrec_open(buf, size, 0, &view), FC_ECORRUPT);
    ck_assert_int_eq(fci_vrec_open(buf, size, 60, &view), FC_ECORRUPT);
    ck_assert_int_eq(fci_vrec_open(buf, size, size, &view), FC_ECORRUPT);
    ck_assert_int_eq(fci_vrec_open(buf, size - 8, 64, &view), FC_ECORRUPT); /* length past region */
    rec->magic ^= 1;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), FC_ECORRUPT);
    rec->magic ^= 1;
    rec->nfiles[6] = 0xffffffffu;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), FC_ECORRUPT);
    rec->nfiles[6] = 0;
    fci_vrec_file *f = (fci_vrec_file *)(rec + 1);
    f[2].largest_off = (uint32_t)rec->length - 2;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), FC_ECORRUPT);
    free(buf);
    fci_version_unref(v);
}
END_TEST

START_TEST(empty_version)
{
    fci_version *v = fci_version_new();
    size_t size;
    char *buf = encode(v, &size);
    fci_vrec_view view;
    ck_assert_int_eq(fci_vrec_open(buf, size, 64, &view), 0);
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        ck_assert_uint_eq(view.nfiles[l], 0);
    ck_assert_ptr_null(fci_vrec_find(&view, 1, fci_slice_str("k")));
    free(buf);
    fci_version_unref(v);
}
END_TEST

static Suite *vrec_suite(void)
{
    Suite *s = suite_create("db_vrec");
    TCase *tc = tcase_create("vrec");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, find_by_key);
    tcase_add_test(tc, damage_refused);
    tcase_add_test(tc, empty_version);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(vrec_suite)
