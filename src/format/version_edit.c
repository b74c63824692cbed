/*
 * version_edit.c - LevelDB's VersionEdit encoding (see version_edit.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "format/dbformat.h"
#include "format/version_edit.h"
#include "util/coding.h"

/* All zero is the empty edit: no fields set, no arrays allocated. */
void fci_edit_init(fci_version_edit *e)
{
    memset(e, 0, sizeof *e);
    fci_buf_init(&e->comparator);
}

/* Leaves the edit initialised, so it can be reused or freed again. */
void fci_edit_free(fci_version_edit *e)
{
    fci_buf_free(&e->comparator);
    for (size_t i = 0; i < e->n_compact_pointers; i++)
        fci_buf_free(&e->compact_pointers[i].key);
    for (size_t i = 0; i < e->n_new_files; i++) {
        fci_buf_free(&e->new_files[i].smallest);
        fci_buf_free(&e->new_files[i].largest);
    }
    free(e->compact_pointers);
    free(e->deleted);
    free(e->new_files);
    fci_edit_init(e);
}

/* Clearing frees: edits are short-lived and rarely reused. */
static void edit_clear(fci_version_edit *e)
{
    fci_edit_free(e);
}

/* The name is copied: the caller's string may be temporary. */
int fci_edit_set_comparator(fci_version_edit *e, fci_slice name)
{
    fci_buf_clear(&e->comparator);
    int rc = fci_buf_append(&e->comparator, name.data, name.size);
    if (rc == 0)
        e->has_comparator = 1;
    return rc;
}

/* Scalar setters: each one also marks its field present, which is what
 * decides whether it is encoded. */
void fci_edit_set_log_number(fci_version_edit *e, uint64_t n)
{
    e->has_log_number = 1;
    e->log_number = n;
}

void fci_edit_set_prev_log_number(fci_version_edit *e, uint64_t n)
{
    e->has_prev_log_number = 1;
    e->prev_log_number = n;
}

void fci_edit_set_next_file_number(fci_version_edit *e, uint64_t n)
{
    e->has_next_file_number = 1;
    e->next_file_number = n;
}

void fci_edit_set_last_sequence(fci_version_edit *e, uint64_t seq)
{
    e->has_last_sequence = 1;
    e->last_sequence = seq;
}

/* Makes room for one more element of an array; doubling keeps a decode of
 * n entries O(n) and its memory proportional to the input. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / elem)
        return FC_ENOMEM;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return FC_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* LevelDB has seven levels and refuses anything else. */
static int level_ok(int level)
{
    return level >= 0 && level < FCI_NUM_LEVELS;
}

int fci_edit_add_compact_pointer(fci_version_edit *e, int level, fci_slice ikey)
{
    if (!level_ok(level))
        return FC_EINVAL;
    int rc = grow((void **)&e->compact_pointers, &e->cap_compact_pointers,
                  e->n_compact_pointers, sizeof *e->compact_pointers);
    if (rc != 0)
        return rc;
    fci_edit_pointer *cp = &e->compact_pointers[e->n_compact_pointers];
    cp->level = level;
    fci_buf_init(&cp->key);
    if (fci_buf_append(&cp->key, ikey.data, ikey.size) != 0) {
        fci_buf_free(&cp->key);
        return FC_ENOMEM;
    }
    e->n_compact_pointers++;
    return 0;
}

/* Duplicates are allowed here and dropped at encode time. */
int fci_edit_delete_file(fci_version_edit *e, int level, uint64_t number)
{
    if (!level_ok(level))
        return FC_EINVAL;
    int rc = grow((void **)&e->deleted, &e->cap_deleted, e->n_deleted, sizeof *e->deleted);
    if (rc != 0)
        return rc;
    e->deleted[e->n_deleted].level = level;
    e->deleted[e->n_deleted].number = number;
    e->n_deleted++;
    return 0;
}

int fci_edit_add_file(fci_version_edit *e, int level, uint64_t number, uint64_t file_size,
                      fci_slice smallest, fci_slice largest)
{
    if (!level_ok(level))
        return FC_EINVAL;
    int rc = grow((void **)&e->new_files, &e->cap_new_files, e->n_new_files,
                  sizeof *e->new_files);
    if (rc != 0)
        return rc;
    fci_edit_file *f = &e->new_files[e->n_new_files];
    f->level = level;
    f->number = number;
    f->file_size = file_size;
    fci_buf_init(&f->smallest);
    fci_buf_init(&f->largest);
    if (fci_buf_append(&f->smallest, smallest.data, smallest.size) != 0 ||
        fci_buf_append(&f->largest, largest.data, largest.size) != 0) {
        fci_buf_free(&f->smallest);
        fci_buf_free(&f->largest);
        return FC_ENOMEM;
    }
    e->n_new_files++;
    return 0;
}

/* Orders as LevelDB's std::set<pair<level, number>> does. */
static int cmp_deleted(const void *a, const void *b)
{
    const fci_edit_deleted *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return 0;
}

/* Deleted files go out sorted and once each, as LevelDB's std::set
 * iterates them, so our MANIFEST bytes match what LevelDB would write. */
static int encode_deleted(const fci_version_edit *e, fci_buf *out)
{
    if (e->n_deleted == 0)
        return 0;
    fci_edit_deleted *d = malloc(e->n_deleted * sizeof *d);
    if (d == NULL)
        return FC_ENOMEM;
    memcpy(d, e->deleted, e->n_deleted * sizeof *d);
    qsort(d, e->n_deleted, sizeof *d, cmp_deleted);
    int rc = 0;
    for (size_t i = 0; i < e->n_deleted && rc == 0; i++) {
        if (i > 0 && cmp_deleted(&d[i - 1], &d[i]) == 0)
            continue;
        rc = fci_buf_put_varint32(out, FCI_EDIT_DELETED_FILE);
        if (rc == 0)
            rc = fci_buf_put_varint32(out, (uint32_t)d[i].level);
        if (rc == 0)
            rc = fci_buf_put_varint64(out, d[i].number);
    }
    free(d);
    return rc;
}

/* Absent fields are not written at all, as in LevelDB. */
static int put_u64_field(fci_buf *out, int has, uint32_t tag, uint64_t v)
{
    if (!has)
        return 0;
    int rc = fci_buf_put_varint32(out, tag);
    return rc ? rc : fci_buf_put_varint64(out, v);
}

/* On failure out is cut back, so it never holds half an edit. */
int fci_edit_encode(const fci_version_edit *e, fci_buf *out)
{
    size_t old = out->size;
    int rc = 0;
    if (e->has_comparator) {
        rc = fci_buf_put_varint32(out, FCI_EDIT_COMPARATOR);
        if (rc == 0)
            rc = fci_buf_put_length_prefixed(out, fci_buf_slice(&e->comparator));
    }
    if (rc == 0)
        rc = put_u64_field(out, e->has_log_number, FCI_EDIT_LOG_NUMBER, e->log_number);
    if (rc == 0)
        rc = put_u64_field(out, e->has_prev_log_number, FCI_EDIT_PREV_LOG_NUMBER,
                           e->prev_log_number);
    if (rc == 0)
        rc = put_u64_field(out, e->has_next_file_number, FCI_EDIT_NEXT_FILE_NUMBER,
                           e->next_file_number);
    if (rc == 0)
        rc = put_u64_field(out, e->has_last_sequence, FCI_EDIT_LAST_SEQUENCE,
                           e->last_sequence);
    for (size_t i = 0; rc == 0 && i < e->n_compact_pointers; i++) {
        const fci_edit_pointer *cp = &e->compact_pointers[i];
        rc = fci_buf_put_varint32(out, FCI_EDIT_COMPACT_POINTER);
        if (rc == 0)
            rc = fci_buf_put_varint32(out, (uint32_t)cp->level);
        if (rc == 0)
            rc = fci_buf_put_length_prefixed(out, fci_buf_slice(&cp->key));
    }
    if (rc == 0)
        rc = encode_deleted(e, out);
    for (size_t i = 0; rc == 0 && i < e->n_new_files; i++) {
        const fci_edit_file *f = &e->new_files[i];
        rc = fci_buf_put_varint32(out, FCI_EDIT_NEW_FILE);
        if (rc == 0)
            rc = fci_buf_put_varint32(out, (uint32_t)f->level);
        if (rc == 0)
            rc = fci_buf_put_varint64(out, f->number);
        if (rc == 0)
            rc = fci_buf_put_varint64(out, f->file_size);
        if (rc == 0)
            rc = fci_buf_put_length_prefixed(out, fci_buf_slice(&f->smallest));
        if (rc == 0)
            rc = fci_buf_put_length_prefixed(out, fci_buf_slice(&f->largest));
    }
    if (rc != 0)
        fci_buf_truncate(out, old);
    return rc;
}

/* A small cursor so every field read names where it failed. */
typedef struct cursor {
    const char *p, *start, *end;
    unsigned long long field;   /* offset of the tag being decoded */
    const char *what;           /* what was being read when it failed */
    int out_of_range;           /* it was read, but value is past max */
    uint64_t value, max;
} cursor;

/* Field readers record what they read, for the error message. */
static int get_u32(cursor *c, uint32_t *v, const char *what)
{
    c->what = what;
    return fci_get_varint32(&c->p, c->end, v);
}

/* A number is read whole, then held to [0, max]: one past the range is
 * refused here, with its value, before it can reach a counter. */
static int get_u64(cursor *c, uint64_t *v, const char *what, uint64_t max)
{
    c->what = what;
    if (fci_get_varint64(&c->p, c->end, v) != 0)
        return FC_ECORRUPT;
    if (*v <= max)
        return 0;
    c->out_of_range = 1;
    c->value = *v;
    c->max = max;
    return FC_ECORRUPT;
}

/* Levels index arrays of seven later: refuse anything larger here. */
static int get_level(cursor *c, int *level)
{
    uint32_t v;
    if (get_u32(c, &v, "level") != 0)
        return FC_ECORRUPT;
    if (v >= FCI_NUM_LEVELS) {
        c->out_of_range = 1;
        c->value = v;
        c->max = FCI_NUM_LEVELS - 1;
        return FC_ECORRUPT;
    }
    *level = (int)v;
    return 0;
}

/* Internal keys must at least split into user key and tag. */
static int get_ikey(cursor *c, fci_slice *key, const char *what)
{
    fci_parsed_ikey parsed;
    c->what = what;
    if (fci_get_length_prefixed(&c->p, c->end, key) != 0)
        return FC_ECORRUPT;
    return fci_ikey_parse(*key, &parsed) == 0 ? 0 : FC_ECORRUPT;
}

/* One tag and its fields; an unknown tag leaves what == NULL so the
 * message names the tag instead of a field. */
static int decode_field(fci_version_edit *e, cursor *c, uint32_t tag)
{
    fci_slice s, small, large;
    uint64_t a, b;
    int level;
    switch (tag) {
    case FCI_EDIT_COMPARATOR:
        c->what = "comparator name";
        if (fci_get_length_prefixed(&c->p, c->end, &s) != 0)
            return FC_ECORRUPT;
        return fci_edit_set_comparator(e, s);
    case FCI_EDIT_LOG_NUMBER:
        if (get_u64(c, &a, "log number", FCI_FILE_NUMBER_MAX) != 0)
            return FC_ECORRUPT;
        fci_edit_set_log_number(e, a);
        return 0;
    case FCI_EDIT_PREV_LOG_NUMBER:
        if (get_u64(c, &a, "previous log number", FCI_FILE_NUMBER_MAX) != 0)
            return FC_ECORRUPT;
        fci_edit_set_prev_log_number(e, a);
        return 0;
    case FCI_EDIT_NEXT_FILE_NUMBER:
        if (get_u64(c, &a, "next file number", FCI_FILE_NUMBER_MAX) != 0)
            return FC_ECORRUPT;
        fci_edit_set_next_file_number(e, a);
        return 0;
    case FCI_EDIT_LAST_SEQUENCE:
        if (get_u64(c, &a, "last sequence", FCI_MAX_SEQUENCE) != 0)
            return FC_ECORRUPT;
        fci_edit_set_last_sequence(e, a);
        return 0;
    case FCI_EDIT_COMPACT_POINTER:
        if (get_level(c, &level) != 0 || get_ikey(c, &s, "compact pointer key") != 0)
            return FC_ECORRUPT;
        return fci_edit_add_compact_pointer(e, level, s);
    case FCI_EDIT_DELETED_FILE:
        if (get_level(c, &level) != 0 ||
            get_u64(c, &a, "deleted file number", FCI_FILE_NUMBER_MAX) != 0)
            return FC_ECORRUPT;
        return fci_edit_delete_file(e, level, a);
    case FCI_EDIT_NEW_FILE:
        if (get_level(c, &level) != 0 ||
            get_u64(c, &a, "new file number", FCI_FILE_NUMBER_MAX) != 0 ||
            get_u64(c, &b, "new file size", FCI_FILE_SIZE_MAX) != 0 ||
            get_ikey(c, &small, "new file smallest key") != 0 ||
            get_ikey(c, &large, "new file largest key") != 0)
            return FC_ECORRUPT;
        return fci_edit_add_file(e, level, a, b, small, large);
    default:
        c->what = NULL;
        return FC_ECORRUPT;
    }
}

/* All or nothing: on any error the edit is left empty, so a caller can
 * never apply half of a damaged edit. */
int fci_edit_decode(fci_version_edit *e, fci_slice src, fci_err *err)
{
    edit_clear(e);
    if (src.size == 0)
        return 0;   /* (an empty slice may carry a NULL pointer) */
    cursor c = { src.data, src.data, src.data + src.size, 0, NULL, 0, 0, 0 };
    while (c.p < c.end) {
        uint32_t tag = 0;
        c.field = (unsigned long long)(c.p - c.start);
        int rc = get_u32(&c, &tag, "tag");
        if (rc == 0)
            rc = decode_field(e, &c, tag);
        if (rc == 0)
            continue;
        edit_clear(e);
        if (rc == FC_ENOMEM)
            return fci_err_set(err, rc, "version edit: no memory");
        if (c.out_of_range)
            return fci_err_set(err, FC_ECORRUPT,
                               "version edit: offset %llu: %s %llu is out of range "
                               "(allowed: 0 to %llu)", c.field, c.what,
                               (unsigned long long)c.value, (unsigned long long)c.max);
        if (c.what == NULL)
            return fci_err_set(err, FC_ECORRUPT, "version edit: offset %llu: unknown tag %lu",
                               c.field, (unsigned long)tag);
        return fci_err_set(err, FC_ECORRUPT, "version edit: offset %llu: bad %s", c.field,
                           c.what);
    }
    return 0;
}
