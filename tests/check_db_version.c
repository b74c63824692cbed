/*
 * check_db_version.c - building versions from deltas, level invariants,
 * compaction scores and picking.
 */
#include "config.h"

#include <stdlib.h>

#include "fct_internal.h"
#include "forkcache.h"
#include "db/core/vbuild.h"
#include "db/core/version.h"
#include "format/dbformat.h"
#include "util/error.h"

#define MAXF (2u << 20) /* max_file_size: the default */

/* Applies "add (level, file)..." to base; files are released here. */
typedef struct add_spec { int level; fci_file_meta *file; } add_spec;

static int apply(fci_version *base, add_spec *adds, size_t nadd, int dlevel, uint64_t dnum,
                 fci_version **out, fci_err *err)
{
    fci_version_delta d;
    memset(&d, 0, sizeof d);
    d.added = calloc(nadd + 1, sizeof *d.added);
    for (size_t i = 0; i < nadd; i++) {
        d.added[i].level = adds[i].level;
        d.added[i].file = adds[i].file;
    }
    d.nadded = nadd;
    d.deleted = calloc(1, sizeof *d.deleted);
    if (dnum) {
        d.deleted[0].level = dlevel;
        d.deleted[0].number = dnum;
        d.ndeleted = 1;
    }
    int rc = fci_version_apply(base, &d, out, err);
    for (size_t i = 0; i < nadd; i++)
        fci_file_meta_unref(adds[i].file);
    free(d.added);
    free(d.deleted);
    return rc;
}

START_TEST(l0_newest_first_and_l1_sorted)
{
    fci_version *base = fci_version_new(), *v;
    add_spec adds[] = {
        { 0, fct_meta(3, 100, "a", "z") }, { 0, fct_meta(7, 100, "b", "c") },
        { 0, fct_meta(5, 100, "a", "b") }, { 1, fct_meta(9, 100, "m", "p") },
        { 1, fct_meta(8, 100, "a", "f") }, { 1, fct_meta(10, 100, "g", "k") },
    };
    ck_assert_int_eq(apply(base, adds, 6, 0, 0, &v, NULL), 0);
    ck_assert_uint_eq(v->nfiles[0], 3);
    ck_assert_uint_eq(v->files[0][0]->number, 7);
    ck_assert_uint_eq(v->files[0][1]->number, 5);
    ck_assert_uint_eq(v->files[0][2]->number, 3);
    ck_assert_uint_eq(v->nfiles[1], 3);
    ck_assert_uint_eq(v->files[1][0]->number, 8);
    ck_assert_uint_eq(v->files[1][1]->number, 10);
    ck_assert_uint_eq(v->files[1][2]->number, 9);
    ck_assert_uint_eq(fci_level_bytes(v, 1), 300);
    fci_version_unref(base);
    fci_version_unref(v);
}
END_TEST

START_TEST(delete_and_keep_base_intact)
{
    fci_version *base = fci_version_new(), *v1, *v2;
    add_spec adds[] = { { 1, fct_meta(4, 10, "a", "b") }, { 1, fct_meta(6, 10, "c", "d") } };
    ck_assert_int_eq(apply(base, adds, 2, 0, 0, &v1, NULL), 0);
    ck_assert_int_eq(apply(v1, NULL, 0, 1, 4, &v2, NULL), 0);
    ck_assert_uint_eq(v2->nfiles[1], 1);
    ck_assert_uint_eq(v2->files[1][0]->number, 6);
    ck_assert_uint_eq(v1->nfiles[1], 2); /* versions are immutable */
    ck_assert_int_eq(v1->files[1][1]->refs, 2); /* shared by v1 and v2 */
    fci_version_unref(v1);
    ck_assert_int_eq(v2->files[1][0]->refs, 1);
    fci_version_unref(v2);
    fci_version_unref(base);
}
END_TEST

START_TEST(invalid_deltas_refused)
{
    fci_version *base = fci_version_new(), *v = NULL;
    fci_err err;
    ck_assert_int_eq(apply(base, NULL, 0, 1, 42, &v, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "42"));
    add_spec overlap[] = { { 2, fct_meta(4, 10, "a", "m") }, { 2, fct_meta(5, 10, "k", "z") } };
    ck_assert_int_eq(apply(base, overlap, 2, 0, 0, &v, &err), FC_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "overlap"));
    add_spec bad[] = { { 7, fct_meta(4, 10, "a", "m") } };
    ck_assert_int_eq(apply(base, bad, 1, 0, 0, &v, &err), FC_ECORRUPT);
    ck_assert_int_eq(apply(base, NULL, 0, -1, 3, &v, &err), FC_ECORRUPT);
    ck_assert_ptr_null(v);
    /* Overlap is allowed in L0. */
    add_spec l0[] = { { 0, fct_meta(4, 10, "a", "m") }, { 0, fct_meta(5, 10, "k", "z") } };
    ck_assert_int_eq(apply(base, l0, 2, 0, 0, &v, &err), 0);
    fci_version_unref(v);
    fci_version_unref(base);
}
END_TEST

START_TEST(scores)
{
    fci_version *base = fci_version_new(), *v;
    ck_assert_int_eq(base->compaction_level, -1);
    add_spec adds[] = {
        { 0, fct_meta(1, 1, "a", "b") }, { 0, fct_meta(2, 1, "a", "b") },
        { 0, fct_meta(3, 1, "a", "b") }, { 1, fct_meta(9, 25u << 20, "m", "p") },
    };
    ck_assert_int_eq(apply(base, adds, 4, 0, 0, &v, NULL), 0);
    ck_assert_int_eq(v->compaction_level, 1);
    ck_assert(v->compaction_score > 2.4 && v->compaction_score < 2.6);
    ck_assert(fci_level_max_bytes(1) == 10.0 * 1048576.0);
    ck_assert(fci_level_max_bytes(3) == 1000.0 * 1048576.0);
    fci_version_unref(v);
    fci_version_unref(base);
}
END_TEST

START_TEST(l0_overlap_range_expands)
{
    fci_version *base = fci_version_new(), *v;
    add_spec adds[] = { { 0, fct_meta(1, 1, "a", "c") }, { 0, fct_meta(2, 1, "c", "f") },
                        { 0, fct_meta(3, 1, "f", "h") }, { 0, fct_meta(4, 1, "x", "z") } };
    ck_assert_int_eq(apply(base, adds, 4, 0, 0, &v, NULL), 0);
    fci_slice lo = fci_slice_str("a"), hi = fci_slice_str("b");
    fci_file_meta **files;
    size_t n;
    ck_assert_int_eq(fci_version_overlaps(v, 0, &lo, &hi, &files, &n), 0);
    ck_assert_uint_eq(n, 3); /* a-c pulls in c-f, which pulls in f-h */
    free(files);
    ck_assert_int_eq(fci_version_overlaps(v, 0, NULL, NULL, &files, &n), 0);
    ck_assert_uint_eq(n, 4);
    free(files);
    fci_version_unref(v);
    fci_version_unref(base);
}
END_TEST

START_TEST(pick_l0_compaction)
{
    fci_version *base = fci_version_new(), *v;
    add_spec adds[] = { { 0, fct_meta(1, 1, "a", "c") }, { 0, fct_meta(2, 1, "b", "d") },
                        { 0, fct_meta(3, 1, "p", "q") }, { 0, fct_meta(4, 1, "c", "e") },
                        { 1, fct_meta(5, 1, "d", "g") }, { 1, fct_meta(6, 1, "h", "k") } };
    ck_assert_int_eq(apply(base, adds, 6, 0, 0, &v, NULL), 0);
    fci_buf ptrs[FCI_NUM_LEVELS];
    for (int i = 0; i < FCI_NUM_LEVELS; i++)
        fci_buf_init(&ptrs[i]);
    fci_compaction *c;
    ck_assert_int_eq(fci_compaction_pick(v, ptrs, MAXF, &c), 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->level, 0);
    ck_assert_uint_eq(c->ninputs[0], 3); /* 1, 2, 4 chain; 3 (p-q) stays */
    ck_assert_uint_eq(c->ninputs[1], 1);
    ck_assert_uint_eq(c->inputs[1][0]->number, 5);
    ck_assert(!fci_compaction_is_move(c));
    fci_compaction_free(c);
    fci_version_unref(v);
    fci_version_unref(base);
}
END_TEST

START_TEST(pick_round_robin_and_move)
{
    fci_version *base = fci_version_new(), *v;
    add_spec adds[] = { { 1, fct_meta(1, 8u << 20, "a", "b") },
                        { 1, fct_meta(2, 8u << 20, "c", "d") } };
    ck_assert_int_eq(apply(base, adds, 2, 0, 0, &v, NULL), 0);
    fci_buf ptrs[FCI_NUM_LEVELS];
    for (int i = 0; i < FCI_NUM_LEVELS; i++)
        fci_buf_init(&ptrs[i]);
    fci_compaction *c;
    ck_assert_int_eq(fci_compaction_pick(v, ptrs, MAXF, &c), 0);
    ck_assert_uint_eq(c->inputs[0][0]->number, 1);
    ck_assert(fci_compaction_is_move(c));
    fci_buf_append(&ptrs[1], c->inputs[0][0]->largest.data, c->inputs[0][0]->largest.size);
    fci_compaction_free(c);
    ck_assert_int_eq(fci_compaction_pick(v, ptrs, MAXF, &c), 0);
    ck_assert_uint_eq(c->inputs[0][0]->number, 2); /* next past the pointer */
    fci_compaction_free(c);
    fci_buf_free(&ptrs[1]);
    fci_version_unref(v);
    /* Nothing due: no compaction. */
    ck_assert_int_eq(fci_compaction_pick(base, ptrs, MAXF, &c), 0);
    ck_assert_ptr_null(c);
    fci_version_unref(base);
}
END_TEST

START_TEST(key_beyond_and_range)
{
    fci_version *base = fci_version_new(), *v;
    add_spec adds[] = { { 1, fct_meta(1, 1, "a", "c") }, { 3, fct_meta(2, 1, "m", "p") } };
    ck_assert_int_eq(apply(base, adds, 2, 0, 0, &v, NULL), 0);
    ck_assert(fci_version_key_beyond(v, 1, fci_slice_str("n")));
    ck_assert(!fci_version_key_beyond(v, 1, fci_slice_str("b")));
    ck_assert(!fci_version_key_beyond(v, 2, fci_slice_str("n"))); /* L3 is level+1 */
    fci_compaction *c;
    fci_slice lo = fci_slice_str("b");
    ck_assert_int_eq(fci_compaction_range(v, 1, &lo, NULL, MAXF, &c), 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->ninputs[0], 1);
    fci_compaction_free(c);
    ck_assert_int_eq(fci_compaction_range(v, 2, NULL, NULL, MAXF, &c), 0);
    ck_assert_ptr_null(c); /* L2 is empty */
    ck_assert_int_eq(fci_compaction_range(v, 6, NULL, NULL, MAXF, &c), FC_EINVAL);
    fci_version_unref(v);
    fci_version_unref(base);
}
END_TEST

/* ---- the replay builder agrees with fci_version_apply --------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* The same files, in the same order, level by level. */
static void same_levels(const fci_version *a, const fci_version *b, int step)
{
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        ck_assert_msg(a->nfiles[l] == b->nfiles[l], "step %d level %d: %zu files, builder %zu",
                      step, l, a->nfiles[l], b->nfiles[l]);
        for (size_t i = 0; i < a->nfiles[l]; i++)
            ck_assert_msg(a->files[l][i]->number == b->files[l][i]->number,
                          "step %d level %d [%zu]: %llu, builder %llu", step, l, i,
                          (unsigned long long)a->files[l][i]->number,
                          (unsigned long long)b->files[l][i]->number);
    }
    ck_assert_int_eq(a->compaction_level, b->compaction_level);
}

/* Random edits over few numbers, levels and keys, so deletions of absent
 * files, duplicates in L0 and overlaps above it all happen: every edit is
 * accepted or refused by both alike, and the levels always agree. */
START_TEST(builder_matches_apply)
{
    fci_version *cur = fci_version_new();
    fci_vbuild *b = fci_vbuild_new(cur);
    ck_assert_ptr_nonnull(b);
    int refused = 0, accepted = 0;
    for (int step = 0; step < 4000; step++) {
        fci_version_delta d;
        memset(&d, 0, sizeof d);
        d.deleted = calloc(4, sizeof *d.deleted);
        d.added = calloc(4, sizeof *d.added);
        d.ndeleted = rnd(3);
        for (size_t i = 0; i < d.ndeleted; i++) {
            d.deleted[i].level = (int)rnd(4);
            d.deleted[i].number = 1 + rnd(30);
            /* mostly files that are there */
            int l = d.deleted[i].level;
            if (rnd(4) != 0 && cur->nfiles[l] > 0)
                d.deleted[i].number = cur->files[l][rnd((unsigned)cur->nfiles[l])]->number;
        }
        d.nadded = rnd(4);
        for (size_t i = 0; i < d.nadded; i++) {
            char lo[2] = { (char)('a' + rnd(20)), 0 }, hi[2] = { (char)(lo[0] + rnd(2)), 0 };
            d.added[i].level = (int)rnd(4);
            d.added[i].file = fct_meta(1 + rnd(30), 1000 + rnd(100000), lo, hi);
        }
        fci_version *next = NULL;
        fci_err e1, e2;
        int rc1 = fci_version_apply(cur, &d, &next, &e1);
        int rc2 = fci_vbuild_apply(b, &d, &e2);
        ck_assert_msg(rc1 == rc2, "step %d: apply %d (%s), builder %d (%s)", step, rc1,
                      rc1 ? e1.msg : "", rc2, rc2 ? e2.msg : "");
        if (rc1 == 0) {
            fci_version_unref(cur);
            cur = next;
            accepted++;
        } else {
            ck_assert_str_eq(e1.msg, e2.msg);
            refused++;
        }
        for (size_t i = 0; i < d.nadded; i++)
            fci_file_meta_unref(d.added[i].file);
        free(d.added);
        free(d.deleted);
        if (step % 50 == 0 || step == 3999) {
            fci_version *v;
            ck_assert_int_eq(fci_vbuild_version(b, &v), 0);
            same_levels(cur, v, step);
            fci_version_unref(v);
        }
    }
    ck_assert_int_gt(accepted, 500);
    ck_assert_int_gt(refused, 500);
    fci_vbuild_free(b);
    fci_version_unref(cur);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("db_version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, l0_newest_first_and_l1_sorted);
    tcase_add_test(tc, delete_and_keep_base_intact);
    tcase_add_test(tc, invalid_deltas_refused);
    tcase_add_test(tc, scores);
    tcase_add_test(tc, l0_overlap_range_expands);
    tcase_add_test(tc, pick_l0_compaction);
    tcase_add_test(tc, pick_round_robin_and_move);
    tcase_add_test(tc, key_beyond_and_range);
    tcase_add_test(tc, builder_matches_apply);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(version_suite)
