/*
 * vrec.c - encoding and checked reading of published version records.
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "db/core/vrec.h"
#include "format/dbformat.h"

static size_t total_files(const fci_version *v)
{
    size_t n = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        n += v->nfiles[l];
    return n;
}

size_t fci_vrec_size(const fci_version *v)
{
    size_t bytes = sizeof(fci_vrec) + total_files(v) * sizeof(fci_vrec_file);
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        for (size_t i = 0; i < v->nfiles[l]; i++)
            bytes += v->files[l][i]->smallest.size + v->files[l][i]->largest.size;
    return (bytes + 7) & ~(size_t)7;
}

void fci_vrec_encode(const fci_version *v, uint64_t vseq, uint64_t mem_root, uint64_t imm_root,
                     uint64_t next_file, void *dst)
{
    char *base = dst;
    fci_vrec *rec = dst;
    memset(rec, 0, sizeof *rec);
    rec->magic = FCI_VREC_MAGIC;
    rec->vseq = vseq;
    rec->length = fci_vrec_size(v);
    rec->mem_root = mem_root;
    rec->imm_root = imm_root;
    rec->next_file = next_file;
    fci_vrec_file *out = (fci_vrec_file *)(base + sizeof *rec);
    size_t keys = sizeof *rec + total_files(v) * sizeof(fci_vrec_file);
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        rec->nfiles[l] = (uint32_t)v->nfiles[l];
        for (size_t i = 0; i < v->nfiles[l]; i++, out++) {
            const fci_file_meta *f = v->files[l][i];
            out->number = f->number;
            out->size = f->size;
            out->smallest_off = (uint32_t)keys;
            out->smallest_len = (uint32_t)f->smallest.size;
            memcpy(base + keys, f->smallest.data, f->smallest.size);
            keys += f->smallest.size;
            out->largest_off = (uint32_t)keys;
            out->largest_len = (uint32_t)f->largest.size;
            memcpy(base + keys, f->largest.data, f->largest.size);
            keys += f->largest.size;
        }
    }
    memset(base + keys, 0, rec->length - keys);
}

static int key_in_record(const fci_vrec *rec, uint32_t off, uint32_t len)
{
    return off >= sizeof *rec && (uint64_t)off + len <= rec->length && len >= FCI_IKEY_TAG_SIZE;
}

int fci_vrec_open(const char *base, size_t size, uint64_t off, fci_vrec_view *view)
{
    if (off == 0 || (off & 7) != 0 || size < sizeof(fci_vrec) || off > size - sizeof(fci_vrec))
        return FC_ECORRUPT;
    const fci_vrec *rec = (const fci_vrec *)(base + off);
    if (rec->magic != FCI_VREC_MAGIC || rec->length > size - off)
        return FC_ECORRUPT;
    uint64_t total = 0;
    for (int l = 0; l < FCI_NUM_LEVELS; l++)
        total += rec->nfiles[l];
    if (total > (rec->length - sizeof *rec) / sizeof(fci_vrec_file))
        return FC_ECORRUPT;
    const fci_vrec_file *f = (const fci_vrec_file *)(rec + 1);
    view->rec = rec;
    for (int l = 0; l < FCI_NUM_LEVELS; l++) {
        view->level[l] = f;
        view->nfiles[l] = rec->nfiles[l];
        for (uint32_t i = 0; i < rec->nfiles[l]; i++, f++)
            if (!key_in_record(rec, f->smallest_off, f->smallest_len) ||
                !key_in_record(rec, f->largest_off, f->largest_len))
                return FC_ECORRUPT;
    }
    return 0;
}

fci_slice fci_vrec_smallest(const fci_vrec_view *view, const fci_vrec_file *f)
{
    return fci_slice_make((const char *)view->rec + f->smallest_off, f->smallest_len);
}

fci_slice fci_vrec_largest(const fci_vrec_view *view, const fci_vrec_file *f)
{
    return fci_slice_make((const char *)view->rec + f->largest_off, f->largest_len);
}

/* Binary search on largest keys: the first file whose largest user key is
 * >= user_key is the only candidate in a disjoint level. */
const fci_vrec_file *fci_vrec_find(const fci_vrec_view *view, int level, fci_slice user_key)
{
    if (level < 1 || level >= FCI_NUM_LEVELS)
        return NULL;
    const fci_vrec_file *files = view->level[level];
    uint32_t lo = 0, hi = view->nfiles[level];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        fci_slice largest = fci_ikey_user(fci_vrec_largest(view, &files[mid]));
        if (fci_slice_compare(largest, user_key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == view->nfiles[level])
        return NULL;
    fci_slice smallest = fci_ikey_user(fci_vrec_smallest(view, &files[lo]));
    return fci_slice_compare(user_key, smallest) >= 0 ? &files[lo] : NULL;
}
