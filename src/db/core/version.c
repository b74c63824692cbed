/*
 * version.c - versions of the level structure, and compaction picking.
 *
 * Level 0 is kept newest file first (by number), because a get must see the
 * newest table first and L0 files may overlap. Levels 1..6 are kept sorted
 * by smallest key and must not overlap: a get there needs at most one file.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/version.h"
#include "format/dbformat.h"
#include "util/error.h"

static void version_finish(fci_version *v);

int fci_file_meta_new(uint64_t number, uint64_t size, fci_slice smallest, fci_slice largest,
                      fci_file_meta **out)
{
    fci_file_meta *f = calloc(1, sizeof *f);
    if (f == NULL)
        return FC_ENOMEM;
    f->refs = 1;
    f->number = number;
    f->size = size;
    if (fci_buf_append(&f->smallest, smallest.data, smallest.size) != 0 ||
        fci_buf_append(&f->largest, largest.data, largest.size) != 0) {
        fci_file_meta_unref(f);
        return FC_ENOMEM;
    }
    *out = f;
    return 0;
}

void fci_file_meta_unref(fci_file_meta *f)
{
    if (f == NULL || --f->refs > 0)
        return;
    fci_buf_free(&f->smallest);
    fci_buf_free(&f->largest);
    free(f);
}

fci_version *fci_version_new(void)
{
    fci_version *v = calloc(1, sizeof *v);
    if (v != NULL) {
        v->refs = 1;
        v->compaction_level = -1;
    }
    return v;
}

/* One more holder (a version set, a compaction) keeps v. */
static void version_ref(fci_version *v)
{
    v->refs++;
}

void fci_version_unref(fci_version *v)
{
    if (v == NULL || --v->refs > 0)
        return;
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++)
            fci_file_meta_unref(v->files[l][i]);
        free(v->files[l]);
    }
    free(v);
}

static fci_slice user_of(const fci_buf *ikey)
{
    return fci_ikey_user(fci_buf_slice(ikey));
}

static int deleted_in(const fci_version_delta *d, int level, uint64_t number)
{
    for (size_t i = 0; i < d->ndeleted; i++)
        if (d->deleted[i].level == level && d->deleted[i].number == number)
            return 1;
    return 0;
}

/* qsort orders: L0 newest first; other levels by smallest internal key. */
static int cmp_newest_first(const void *a, const void *b)
{
    const fci_file_meta *fa = *(fci_file_meta *const *)a, *fb = *(fci_file_meta *const *)b;
    return fa->number > fb->number ? -1 : fa->number < fb->number ? 1 : 0;
}

static int cmp_smallest(const void *a, const void *b)
{
    const fci_file_meta *fa = *(fci_file_meta *const *)a, *fb = *(fci_file_meta *const *)b;
    int r = fci_ikey_compare(fci_buf_slice(&fa->smallest), fci_buf_slice(&fb->smallest));
    return r != 0 ? r : cmp_newest_first(a, b);
}

/* Collects base's surviving files plus the added ones for one level. */
static int build_level(const fci_version *base, const fci_version_delta *d, int level,
                       fci_version *v)
{
    size_t cap = base->nfiles[level] + d->nadded;
    fci_file_meta **files = calloc(cap ? cap : 1, sizeof *files);
    if (files == NULL)
        return FC_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < base->nfiles[level]; i++) {
        fci_file_meta *f = base->files[level][i];
        if (!deleted_in(d, level, f->number)) {
            f->refs++;
            files[n++] = f;
        }
    }
    for (size_t i = 0; i < d->nadded; i++)
        if (d->added[i].level == level) {
            d->added[i].file->refs++;
            files[n++] = d->added[i].file;
        }
    qsort(files, n, sizeof *files, level == 0 ? cmp_newest_first : cmp_smallest);
    v->files[level] = files;
    v->nfiles[level] = n;
    return 0;
}

/* Levels 1+ must be disjoint by user key, or a get could miss a newer entry. */
static int check_disjoint(const fci_version *v, int level, struct fci_err *err)
{
    for (size_t i = 1; i < v->nfiles[level]; i++) {
        fci_file_meta *a = v->files[level][i - 1], *b = v->files[level][i];
        if (fci_bytewise_compare(user_of(&a->largest), user_of(&b->smallest)) >= 0)
            return fci_err_set(err, FC_ECORRUPT,
                               "level %d: files %llu and %llu overlap", level,
                               (unsigned long long)a->number, (unsigned long long)b->number);
    }
    return 0;
}

static int check_delta(const fci_version *base, const fci_version_delta *d, struct fci_err *err)
{
    for (size_t i = 0; i < d->ndeleted; i++) {
        int level = d->deleted[i].level, found = 0;
        if (level < 0 || level >= FCI_NUM_LEVELS)
            return fci_err_set(err, FC_ECORRUPT, "deleted file at bad level %d", level);
        for (size_t k = 0; k < base->nfiles[level]; k++)
            found |= base->files[level][k]->number == d->deleted[i].number;
        if (!found)
            return fci_err_set(err, FC_ECORRUPT, "deleted file %llu is not at level %d",
                               (unsigned long long)d->deleted[i].number, level);
    }
    for (size_t i = 0; i < d->nadded; i++)
        if (d->added[i].level < 0 || d->added[i].level >= FCI_NUM_LEVELS)
            return fci_err_set(err, FC_ECORRUPT, "new file at bad level %d", d->added[i].level);
    return 0;
}

int fci_version_apply(const fci_version *base, const fci_version_delta *delta,
                      fci_version **out, struct fci_err *err)
{
    int rc = check_delta(base, delta, err);
    if (rc != 0)
        return rc;
    fci_version *v = fci_version_new();
    if (v == NULL)
        return FC_ENOMEM;
    for (int l = 0; l < FCI_NUM_LEVELS && rc == 0; l++) {
        rc = build_level(base, delta, l, v);
        if (rc == 0 && l > 0)
            rc = check_disjoint(v, l, err);
    }
    if (rc != 0) {
        fci_version_unref(v);
        return rc;
    }
    version_finish(v);
    *out = v;
    return 0;
}

double fci_level_max_bytes(int level)
{
    double result = 10.0 * 1048576.0;
    for (int l = 1; l < level; l++)
        result *= 10;
    return result;
}

/* Sum of the sizes of files. */
static uint64_t files_bytes(fci_file_meta *const *files, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += files[i]->size;
    return sum;
}

uint64_t fci_level_bytes(const fci_version *v, int level)
{
    return files_bytes(v->files[level], v->nfiles[level]);
}

void fci_version_finish(fci_version *v)
{
    version_finish(v);
}

/* L0 is scored by file count, not bytes: every L0 file costs a lookup on
 * every get, whatever its size. */
static void version_finish(fci_version *v)
{
    v->compaction_level = -1;
    v->compaction_score = -1;
    for (int l = 0; l < FCI_NUM_LEVELS - 1; l++) {
        double score = l == 0 ? (double)v->nfiles[0] / FCI_L0_COMPACTION_TRIGGER
                              : (double)fci_level_bytes(v, l) / fci_level_max_bytes(l);
        if (score > v->compaction_score) {
            v->compaction_score = score;
            v->compaction_level = l;
        }
    }
}

static int before_range(const fci_file_meta *f, const fci_slice *begin)
{
    return begin && begin->data && fci_bytewise_compare(user_of(&f->largest), *begin) < 0;
}

static int after_range(const fci_file_meta *f, const fci_slice *end)
{
    return end && end->data && fci_bytewise_compare(user_of(&f->smallest), *end) > 0;
}

/* One pass over a level; returns 1 in *grew when an L0 file widened the
 * range, so the caller restarts with the wider range. */
static int overlap_pass(const fci_version *v, int level, fci_slice *lo, fci_slice *hi,
                        fci_file_meta **files, size_t *n, int *grew)
{
    *n = 0;
    *grew = 0;
    for (size_t i = 0; i < v->nfiles[level]; i++) {
        fci_file_meta *f = v->files[level][i];
        if (before_range(f, lo) || after_range(f, hi))
            continue;
        files[(*n)++] = f;
        if (level != 0)
            continue;
        fci_slice fs = user_of(&f->smallest), fl = user_of(&f->largest);
        if (lo->data && fci_bytewise_compare(fs, *lo) < 0) {
            *lo = fs;
            *grew = 1;
        }
        if (hi->data && fci_bytewise_compare(fl, *hi) > 0) {
            *hi = fl;
            *grew = 1;
        }
    }
    return 0;
}

int fci_version_overlaps(const fci_version *v, int level, const fci_slice *begin,
                         const fci_slice *end, fci_file_meta ***out, size_t *n)
{
    fci_file_meta **files = calloc(v->nfiles[level] + 1, sizeof *files);
    if (files == NULL)
        return FC_ENOMEM;
    fci_slice lo = begin ? *begin : fci_slice_make(NULL, 0);
    fci_slice hi = end ? *end : fci_slice_make(NULL, 0);
    int grew;
    do
        overlap_pass(v, level, &lo, &hi, files, n, &grew);
    while (grew);
    *out = files;
    return 0;
}

int fci_version_key_beyond(const fci_version *v, int level, fci_slice user_key)
{
    for (int l = level + 2; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++) {
            fci_file_meta *f = v->files[l][i];
            if (fci_bytewise_compare(user_key, user_of(&f->smallest)) >= 0 &&
                fci_bytewise_compare(user_key, user_of(&f->largest)) <= 0)
                return 1;
        }
    return 0;
}

void fci_compaction_free(fci_compaction *c)
{
    if (c == NULL)
        return;
    free(c->inputs[0]);
    free(c->inputs[1]);
    free(c->grandparents);
    fci_version_unref(c->version);
    free(c);
}

/* Widens [lo, hi] (user keys) to cover a set of files. */
static void widen(fci_file_meta **files, size_t n, fci_slice *lo, fci_slice *hi)
{
    for (size_t i = 0; i < n; i++) {
        if (fci_bytewise_compare(user_of(&files[i]->smallest), *lo) < 0)
            *lo = user_of(&files[i]->smallest);
        if (fci_bytewise_compare(user_of(&files[i]->largest), *hi) > 0)
            *hi = user_of(&files[i]->largest);
    }
}

/* Smallest and largest user keys over a set of files (n >= 1). */
static void range_of(fci_file_meta **files, size_t n, fci_slice *lo, fci_slice *hi)
{
    *lo = user_of(&files[0]->smallest);
    *hi = user_of(&files[0]->largest);
    widen(files, n, lo, hi);
}

/* LevelDB's SetupOtherInputs refinement: the level + 1 inputs may span
 * more of level L than the L inputs do; taking those L files too costs
 * no extra rewrite at level + 1 and saves a later compaction, so they are
 * added when that pulls in no further level + 1 file and the whole stays
 * under FCI_EXPANDED_COMPACTION_FILES tables' worth. */
static int expand_inputs(fci_compaction *c, fci_slice lo, fci_slice hi, uint64_t max_file_size)
{
    fci_file_meta **grown0 = NULL, **grown1 = NULL;
    size_t n0 = 0, n1 = 0;
    int rc = fci_version_overlaps(c->version, c->level, &lo, &hi, &grown0, &n0);
    uint64_t limit = FCI_EXPANDED_COMPACTION_FILES * max_file_size;
    if (rc == 0 && n0 > c->ninputs[0] &&
        files_bytes(c->inputs[1], c->ninputs[1]) + files_bytes(grown0, n0) < limit) {
        range_of(grown0, n0, &lo, &hi);
        rc = fci_version_overlaps(c->version, c->level + 1, &lo, &hi, &grown1, &n1);
        if (rc == 0 && n1 == c->ninputs[1]) {
            free(c->inputs[0]);
            c->inputs[0] = grown0;
            c->ninputs[0] = n0;
            grown0 = NULL;
        }
    }
    free(grown0);
    free(grown1);
    return rc;
}

/* Given inputs[0], pulls in the overlapping files of level + 1 (and, at
 * level 0, every L0 file overlapping the range), grows the level-L inputs
 * where that is free, and notes the grandparents. */
static int fill_inputs(fci_compaction *c, uint64_t max_file_size)
{
    fci_slice lo, hi;
    range_of(c->inputs[0], c->ninputs[0], &lo, &hi);
    int rc = 0;
    if (c->level == 0) {
        free(c->inputs[0]);
        c->inputs[0] = NULL;
        rc = fci_version_overlaps(c->version, 0, &lo, &hi, &c->inputs[0], &c->ninputs[0]);
        if (rc != 0)
            return rc;
        range_of(c->inputs[0], c->ninputs[0], &lo, &hi);
    }
    rc = fci_version_overlaps(c->version, c->level + 1, &lo, &hi, &c->inputs[1], &c->ninputs[1]);
    if (rc == 0 && c->ninputs[1] > 0) {
        widen(c->inputs[1], c->ninputs[1], &lo, &hi);
        rc = expand_inputs(c, lo, hi, max_file_size);
        range_of(c->inputs[0], c->ninputs[0], &lo, &hi);
        widen(c->inputs[1], c->ninputs[1], &lo, &hi);
    }
    c->max_grandparent_overlap = FCI_GRANDPARENT_OVERLAP_FILES * max_file_size;
    if (rc == 0 && c->level + 2 < FCI_NUM_LEVELS)
        rc = fci_version_overlaps(c->version, c->level + 2, &lo, &hi, &c->grandparents,
                                  &c->ngrandparents);
    return rc;
}

static fci_compaction *compaction_new(fci_version *v, int level)
{
    fci_compaction *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->level = level;
    c->version = v;
    version_ref(v);
    return c;
}

/* Round robin: the first file past the compact pointer, else the first. */
static fci_file_meta *pick_file(const fci_version *v, int level, const fci_buf *pointer)
{
    if (level == 0 || pointer->size == 0)
        return v->files[level][level == 0 ? v->nfiles[0] - 1 : 0];
    for (size_t i = 0; i < v->nfiles[level]; i++)
        if (fci_ikey_compare(fci_buf_slice(&v->files[level][i]->largest),
                             fci_buf_slice(pointer)) > 0)
            return v->files[level][i];
    return v->files[level][0];
}

int fci_compaction_pick(fci_version *v, fci_buf compact_pointer[FCI_NUM_LEVELS],
                        uint64_t max_file_size, fci_compaction **out)
{
    *out = NULL;
    if (v->compaction_score < 1 || v->compaction_level < 0)
        return 0;
    int level = v->compaction_level;
    fci_compaction *c = compaction_new(v, level);
    if (c == NULL || (c->inputs[0] = calloc(1, sizeof *c->inputs[0])) == NULL) {
        fci_compaction_free(c);
        return FC_ENOMEM;
    }
    c->inputs[0][0] = pick_file(v, level, &compact_pointer[level]);
    c->ninputs[0] = 1;
    int rc = fill_inputs(c, max_file_size);
    if (rc != 0) {
        fci_compaction_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int fci_compaction_range(fci_version *v, int level, const fci_slice *begin, const fci_slice *end,
                         uint64_t max_file_size, fci_compaction **out)
{
    *out = NULL;
    if (level < 0 || level >= FCI_NUM_LEVELS - 1)
        return FC_EINVAL;
    fci_compaction *c = compaction_new(v, level);
    if (c == NULL)
        return FC_ENOMEM;
    int rc = fci_version_overlaps(v, level, begin, end, &c->inputs[0], &c->ninputs[0]);
    if (rc == 0 && c->ninputs[0] > 0)
        rc = fill_inputs(c, max_file_size);
    if (rc != 0 || c->ninputs[0] == 0) {
        fci_compaction_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int fci_compaction_is_move(const fci_compaction *c)
{
    return c->ninputs[0] == 1 && c->ninputs[1] == 0 &&
           files_bytes(c->grandparents, c->ngrandparents) <= c->max_grandparent_overlap;
}
