/*
 * vbuild.c - a working level structure for replaying many edits (vbuild.h).
 *
 * Level 0 is an append-only list: a deletion does not search it, it
 * records (in a hash map keyed by level and number) that every copy added
 * so far is gone, and the copies are dropped when a version is made.
 * Levels 1..6 are arrays sorted by smallest key; an edit that touches one
 * merges its additions into a new array (so a refused edit leaves the old
 * one), and checks only the neighbours of what it added: the rest was
 * already disjoint.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/vbuild.h"
#include "format/dbformat.h"
#include "util/error.h"
#include "util/hash.h"

/* What the builder knows of one (level, number). */
typedef struct slot {
    uint64_t number;
    int level;               /* -1: an empty slot */
    uint32_t live;           /* copies at the level now */
    uint64_t dead_before;    /* L0: copies stamped at or below are deleted */
    uint64_t pending;        /* the stamp of the edit deleting it, while checked */
} slot;

typedef struct l0_entry {
    fci_file_meta *f;
    uint64_t stamp;          /* when it was added */
} l0_entry;

struct fci_vbuild {
    slot *map;               /* open addressing, linear probing, never shrinks */
    size_t map_cap, map_used;
    l0_entry *l0;
    size_t n0, cap0;
    fci_file_meta **lv[FCI_NUM_LEVELS];   /* [0] unused */
    size_t n[FCI_NUM_LEVELS];
    uint64_t stamp;          /* grows by one per edit and per L0 addition */
};

/* ---- the map --------------------------------------------------------------- */

static size_t slot_index(const fci_vbuild *b, int level, uint64_t number)
{
    return (size_t)(fci_hash_pair64(number, (uint64_t)level) & (b->map_cap - 1));
}

/* The slot of (level, number), or NULL when it was never seen. */
static slot *find(const fci_vbuild *b, int level, uint64_t number)
{
    for (size_t i = slot_index(b, level, number);; i = (i + 1) & (b->map_cap - 1)) {
        slot *s = &b->map[i];
        if (s->level < 0)
            return NULL;
        if (s->level == level && s->number == number)
            return s;
    }
}

/* Finds or adds; the caller made room first (reserve), so this cannot fail. */
static slot *get(fci_vbuild *b, int level, uint64_t number)
{
    size_t i = slot_index(b, level, number);
    while (b->map[i].level >= 0) {
        if (b->map[i].level == level && b->map[i].number == number)
            return &b->map[i];
        i = (i + 1) & (b->map_cap - 1);
    }
    b->map[i] = (slot){ number, level, 0, 0, 0 };
    b->map_used++;
    return &b->map[i];
}

/* Keeps the map at most half full once `more` keys are added. */
static int reserve(fci_vbuild *b, size_t more)
{
    if ((b->map_used + more) * 2 <= b->map_cap)
        return 0;
    size_t cap = b->map_cap ? b->map_cap : 64;
    while ((b->map_used + more) * 2 > cap) {
        if (cap > SIZE_MAX / 2 / sizeof(slot))
            return FC_ENOMEM;
        cap *= 2;
    }
    slot *old = b->map;
    size_t old_cap = b->map_cap;
    b->map = malloc(cap * sizeof *b->map);
    if (b->map == NULL) {
        b->map = old;
        return FC_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        b->map[i].level = -1;
    b->map_cap = cap;
    b->map_used = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].level >= 0)
            *get(b, old[i].level, old[i].number) = old[i];
    free(old);
    return 0;
}

/* ---- building -------------------------------------------------------------- */

static int reserve_l0(fci_vbuild *b, size_t more)
{
    if (b->n0 + more <= b->cap0)
        return 0;
    size_t cap = b->cap0 ? b->cap0 : 16;
    while (cap < b->n0 + more)
        cap *= 2;
    l0_entry *p = realloc(b->l0, cap * sizeof *p);
    if (p == NULL)
        return FC_ENOMEM;
    b->l0 = p;
    b->cap0 = cap;
    return 0;
}

/* The caller reserved room in the map and in L0. */
static void add_l0(fci_vbuild *b, fci_file_meta *f)
{
    f->refs++;
    get(b, 0, f->number)->live++;
    b->l0[b->n0++] = (l0_entry){ f, ++b->stamp };
}

fci_vbuild *fci_vbuild_new(const fci_version *base)
{
    fci_vbuild *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    size_t total = 0;
    for (int l = 0; base != NULL && l < FCI_NUM_LEVELS; l++)
        total += base->nfiles[l];
    if (reserve(b, total + 1) != 0 || reserve_l0(b, base ? base->nfiles[0] + 1 : 1) != 0) {
        fci_vbuild_free(b);
        return NULL;
    }
    for (int l = 0; base != NULL && l < FCI_NUM_LEVELS; l++) {
        size_t n = base->nfiles[l];
        if (l == 0) {
            for (size_t i = 0; i < n; i++)
                add_l0(b, base->files[0][i]);
            continue;
        }
        b->lv[l] = malloc((n ? n : 1) * sizeof *b->lv[l]);
        if (b->lv[l] == NULL) {
            fci_vbuild_free(b);
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            fci_file_meta *f = base->files[l][i];
            f->refs++;
            get(b, l, f->number)->live = 1;
            b->lv[l][i] = f;
        }
        b->n[l] = n;
    }
    return b;
}

void fci_vbuild_free(fci_vbuild *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n0; i++)
        fci_file_meta_unref(b->l0[i].f);
    for (int l = 1; l < FCI_NUM_LEVELS; l++) {
        for (size_t i = 0; i < b->n[l]; i++)
            fci_file_meta_unref(b->lv[l][i]);
        free(b->lv[l]);
    }
    free(b->l0);
    free(b->map);
    free(b);
}

/* Levels 1+ are ordered by smallest internal key, then newest first, as
 * fci_version_apply orders them. */
static int cmp_smallest(const void *a, const void *b)
{
    const fci_file_meta *x = *(fci_file_meta *const *)a, *y = *(fci_file_meta *const *)b;
    int r = fci_ikey_compare(fci_buf_slice(&x->smallest), fci_buf_slice(&y->smallest));
    if (r != 0)
        return r;
    return x->number > y->number ? -1 : x->number < y->number;
}

/* Two neighbours of a level above 0 share a user key. */
static int overlap(const fci_file_meta *lo, const fci_file_meta *hi)
{
    return fci_bytewise_compare(fci_ikey_user(fci_buf_slice(&lo->largest)),
                                fci_ikey_user(fci_buf_slice(&hi->smallest))) >= 0;
}

/* The deletions first, as fci_version_apply checks them: each names a
 * file at its level now. Marks them pending under this edit's stamp. */
static int check_deleted(fci_vbuild *b, const fci_version_delta *d, uint64_t stamp,
                         struct fci_err *err)
{
    for (size_t i = 0; i < d->ndeleted; i++) {
        int level = d->deleted[i].level;
        if (level < 0 || level >= FCI_NUM_LEVELS)
            return fci_err_set(err, FC_ECORRUPT, "deleted file at bad level %d", level);
        slot *s = find(b, level, d->deleted[i].number);
        if (s == NULL || s->live == 0)
            return fci_err_set(err, FC_ECORRUPT, "deleted file %llu is not at level %d",
                               (unsigned long long)d->deleted[i].number, level);
    }
    for (size_t i = 0; i < d->ndeleted; i++)
        find(b, d->deleted[i].level, d->deleted[i].number)->pending = stamp;
    for (size_t i = 0; i < d->nadded; i++)
        if (d->added[i].level < 0 || d->added[i].level >= FCI_NUM_LEVELS)
            return fci_err_set(err, FC_ECORRUPT, "new file at bad level %d", d->added[i].level);
    return 0;
}

/* Level l after the edit, into *out (n entries, borrowed pointers): the
 * old files not deleted, merged with the added ones; an added file must
 * not overlap its neighbours. */
static int merge_level(fci_vbuild *b, const fci_version_delta *d, int l, uint64_t stamp,
                       fci_file_meta ***out, size_t *n, struct fci_err *err)
{
    size_t k = 0;
    for (size_t i = 0; i < d->nadded; i++)
        k += d->added[i].level == l;
    fci_file_meta **add = malloc((k ? k : 1) * sizeof *add);
    fci_file_meta **m = malloc((b->n[l] + k + 1) * sizeof *m);
    if (add == NULL || m == NULL) {
        free(add);
        free(m);
        return FC_ENOMEM;
    }
    k = 0;
    for (size_t i = 0; i < d->nadded; i++)
        if (d->added[i].level == l)
            add[k++] = d->added[i].file;
    qsort(add, k, sizeof *add, cmp_smallest);
    size_t i = 0, j = 0, o = 0;
    int prev_added = 0, rc = 0;
    while (rc == 0 && (i < b->n[l] || j < k)) {
        fci_file_meta *f;
        int added = j < k && (i == b->n[l] || cmp_smallest(&add[j], &b->lv[l][i]) < 0);
        if (added) {
            f = add[j++];
        } else {
            f = b->lv[l][i++];
            if (find(b, l, f->number)->pending == stamp)
                continue;   /* deleted by this edit */
        }
        if (o > 0 && (added || prev_added) && overlap(m[o - 1], f))
            rc = fci_err_set(err, FC_ECORRUPT, "level %d: files %llu and %llu overlap", l,
                             (unsigned long long)m[o - 1]->number,
                             (unsigned long long)f->number);
        m[o++] = f;
        prev_added = added;
    }
    free(add);
    if (rc != 0) {
        free(m);
        return rc;
    }
    *out = m;
    *n = o;
    return 0;
}

/* Every check passed and every allocation is made: nothing here fails. */
static void commit(fci_vbuild *b, const fci_version_delta *d, uint64_t stamp,
                   fci_file_meta **merged[FCI_NUM_LEVELS], size_t nmerged[FCI_NUM_LEVELS])
{
    for (size_t i = 0; i < d->ndeleted; i++) {
        slot *s = find(b, d->deleted[i].level, d->deleted[i].number);
        s->live = 0;
        s->dead_before = stamp;   /* L0: every copy added before this edit */
    }
    for (int l = 1; l < FCI_NUM_LEVELS; l++) {
        if (merged[l] == NULL)
            continue;
        for (size_t i = 0; i < b->n[l]; i++)
            if (find(b, l, b->lv[l][i]->number)->pending == stamp)
                fci_file_meta_unref(b->lv[l][i]);
        free(b->lv[l]);
        b->lv[l] = merged[l];
        b->n[l] = nmerged[l];
    }
    for (size_t i = 0; i < d->nadded; i++) {
        fci_file_meta *f = d->added[i].file;
        int l = d->added[i].level;
        if (l == 0) {
            add_l0(b, f);
        } else {
            f->refs++;
            get(b, l, f->number)->live = 1;
        }
    }
}

int fci_vbuild_apply(fci_vbuild *b, const fci_version_delta *d, struct fci_err *err)
{
    uint64_t stamp = ++b->stamp;
    int rc = check_deleted(b, d, stamp, err);
    if (rc == 0 && ((rc = reserve(b, d->nadded)) != 0 || (rc = reserve_l0(b, d->nadded)) != 0))
        fci_err_set(err, rc, "out of memory replaying version edits");
    fci_file_meta **merged[FCI_NUM_LEVELS] = { NULL };
    size_t nmerged[FCI_NUM_LEVELS] = { 0 };
    int touched[FCI_NUM_LEVELS] = { 0 };
    for (size_t i = 0; rc == 0 && i < d->ndeleted; i++)
        touched[d->deleted[i].level] = 1;   /* levels checked above */
    for (size_t i = 0; rc == 0 && i < d->nadded; i++)
        touched[d->added[i].level] = 1;
    for (int l = 1; rc == 0 && l < FCI_NUM_LEVELS; l++)
        if (touched[l])
            rc = merge_level(b, d, l, stamp, &merged[l], &nmerged[l], err);
    if (rc == 0) {
        commit(b, d, stamp, merged, nmerged);
        return 0;
    }
    for (int l = 1; l < FCI_NUM_LEVELS; l++)
        free(merged[l]);
    if (rc == FC_ENOMEM)
        fci_err_set(err, rc, "out of memory replaying version edits");
    return rc;
}

/* L0 newest first, as a get must see it. */
static int cmp_newest_first(const void *a, const void *b)
{
    const fci_file_meta *x = *(fci_file_meta *const *)a, *y = *(fci_file_meta *const *)b;
    return x->number > y->number ? -1 : x->number < y->number;
}

int fci_vbuild_version(fci_vbuild *b, fci_version **out)
{
    fci_version *v = fci_version_new();
    if (v == NULL)
        return FC_ENOMEM;
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        size_t cap = l == 0 ? b->n0 : b->n[l];
        v->files[l] = malloc((cap ? cap : 1) * sizeof *v->files[l]);
        if (v->files[l] == NULL) {
            fci_version_unref(v);
            return FC_ENOMEM;
        }
        size_t n = 0;
        if (l == 0) {
            for (size_t i = 0; i < b->n0; i++)
                if (b->l0[i].stamp > find(b, 0, b->l0[i].f->number)->dead_before)
                    v->files[0][n++] = b->l0[i].f;
            qsort(v->files[0], n, sizeof *v->files[0], cmp_newest_first);
        } else {
            n = b->n[l];
            if (n > 0)   /* a level never touched has no array at all */
                memcpy(v->files[l], b->lv[l], n * sizeof *b->lv[l]);
        }
        for (size_t i = 0; i < n; i++)
            v->files[l][i]->refs++;
        v->nfiles[l] = n;
    }
    fci_version_finish(v);
    *out = v;
    return 0;
}
