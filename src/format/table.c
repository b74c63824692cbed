/*
 * table.c - reading LevelDB tables from a memory region or through pread:
 * open, point lookups, two-level iteration and full verification (see
 * table.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/bloom.h"
#include "format/compress.h"
#include "format/dbformat.h"
#include "format/table.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/io.h"

/* ---- reading blocks ------------------------------------------------------ */

/* A handle must leave room for its trailer inside the file; checked before
 * any allocation, so a damaged handle cannot ask for more than the file. */
static int check_handle(const fci_table *t, fci_block_handle h, fci_err *err)
{
    if (h.offset > t->size || h.size > t->size - h.offset ||
        FCI_BLOCK_TRAILER_SIZE > t->size - h.offset - h.size)
        return fci_err_set(err, FC_ECORRUPT,
                           "table: block handle (offset %llu, size %llu) outside the %llu-byte file",
                           (unsigned long long)h.offset, (unsigned long long)h.size,
                           (unsigned long long)t->size);
    return 0;
}

/* fci_io_pread retries and continues by itself: a short count is the end
 * of the file. */
static int pread_all(int fd, char *dst, size_t n, uint64_t offset, fci_err *err)
{
    ssize_t r = fci_io_pread(FCI_IO_SITE_TABLE_PREAD, fd, dst, n, offset);
    if (r < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "table: pread at offset %llu",
                             (unsigned long long)offset);
    if ((size_t)r < n)
        return fci_err_set(err, FC_ECORRUPT, "table: file ends before offset %llu",
                           (unsigned long long)(offset + (uint64_t)r));
    return 0;
}

/* Through the owner's descriptor when it lends one per read (a table
 * whose descriptor may be closed while idle), else through t->fd. */
static int table_pread(const fci_table *t, char *dst, size_t n, uint64_t offset, fci_err *err)
{
    if (t->file == NULL)
        return pread_all(t->fd, dst, n, offset, err);
    int fd = t->file->acquire(t->file->arg, err);
    if (fd < 0)
        return fd;
    int rc = pread_all(fd, dst, n, offset, err);
    t->file->release(t->file->arg);
    return rc;
}

int fci_table_read_raw(const fci_table *t, fci_block_handle h, char *scratch, fci_slice *raw,
                       fci_err *err)
{
    int rc = check_handle(t, h, err);
    if (rc != 0)
        return rc;
    size_t n = (size_t)h.size + FCI_BLOCK_TRAILER_SIZE;
    if (t->base) {
        *raw = fci_slice_make(t->base + h.offset, n);
        return 0;
    }
    if ((rc = table_pread(t, scratch, n, h.offset, err)) != 0)
        return rc;
    *raw = fci_slice_make(scratch, n);
    return 0;
}

int fci_block_unwrap(fci_slice raw, uint64_t offset, int verify, int *type, fci_slice *contents,
                     fci_err *err)
{
    if (raw.size < FCI_BLOCK_TRAILER_SIZE)
        return fci_err_set(err, FC_ECORRUPT, "table: offset %llu: block without trailer",
                           (unsigned long long)offset);
    size_t n = raw.size - FCI_BLOCK_TRAILER_SIZE;
    if (verify) {
        uint32_t expected = fci_crc32c_unmask(fci_get_fixed32(raw.data + n + 1));
        uint32_t actual = fci_crc32c(raw.data, n + 1);
        if (expected != actual)
            return fci_err_set(err, FC_ECORRUPT,
                               "table: offset %llu: bad block checksum (expected %08x, found %08x)",
                               (unsigned long long)offset, expected, actual);
    }
    *type = (unsigned char)raw.data[n];
    *contents = fci_slice_make(raw.data, n);
    return 0;
}

/* Decompresses contents into fresh heap memory owned by ref. */
static int inflate_block(int type, fci_slice contents, uint64_t offset, fci_block_ref *ref,
                         fci_err *err)
{
    size_t len;
    int rc = fci_uncompressed_length(type, contents, &len, err);
    if (rc == 0) {
        char *mem = malloc(len ? len : 1);
        if (mem == NULL)
            return fci_err_set(err, FC_ENOMEM, "table: offset %llu: no memory for a %zu-byte block",
                               (unsigned long long)offset, len);
        if ((rc = fci_uncompress(type, contents, mem, len, err)) != 0) {
            free(mem);
        } else {
            ref->owned = mem;
            ref->data = fci_slice_make(mem, len);
            return 0;
        }
    }
    if (rc == FC_EUNSUPPORTED)
        return fci_err_set(err, rc, "table: offset %llu: unsupported compression type %d",
                           (unsigned long long)offset, type);
    if (err && err->code == rc) {
        fci_err inner = *err;
        return fci_err_set(err, rc, "table: offset %llu: %s", (unsigned long long)offset, inner.msg);
    }
    return rc;
}

int fci_table_read_block(const fci_table *t, fci_block_handle h, int verify, fci_block_ref *ref,
                         fci_err *err)
{
    memset(ref, 0, sizeof *ref);
    int rc = check_handle(t, h, err), type;
    if (rc != 0)
        return rc;
    char *scratch = NULL;
    if (t->base == NULL) {
        scratch = malloc((size_t)h.size + FCI_BLOCK_TRAILER_SIZE);
        if (scratch == NULL)
            return fci_err_set(err, FC_ENOMEM, "table: no memory for a %llu-byte block",
                               (unsigned long long)h.size);
    }
    fci_slice raw, contents;
    if ((rc = fci_table_read_raw(t, h, scratch, &raw, err)) != 0 ||
        (rc = fci_block_unwrap(raw, h.offset, verify, &type, &contents, err)) != 0) {
        free(scratch);
        return rc;
    }
    if (type == FC_COMPRESSION_NONE) {
        ref->data = contents;    /* into the mapping, or into scratch */
        ref->owned = scratch;
        return 0;
    }
    rc = inflate_block(type, contents, h.offset, ref, err);
    free(scratch);
    return rc;
}

/* Data block read as the table is configured (fetcher, flags). */
static int fetch_block(const fci_table *t, fci_block_handle h, fci_block_ref *ref, fci_err *err)
{
    if (t->fetcher)
        return t->fetcher->fetch(t->fetcher->arg, t, h, ref, err);
    return fci_table_read_block(t, h, (t->flags & FCI_TABLE_VERIFY_CHECKSUMS) != 0, ref, err);
}

void fci_table_release_block(const fci_table *t, fci_block_ref *ref)
{
    if (ref->pin && t->fetcher && t->fetcher->release)
        t->fetcher->release(t->fetcher->arg, t, ref);
    if (ref->owned != NULL)   /* a mapped block has none: no call per get */
        free(ref->owned);
    memset(ref, 0, sizeof *ref);
}

/* ---- open ---------------------------------------------------------------- */

/*
 * The filter is an optimisation: a metaindex or filter block that cannot
 * be read leaves the table without one (as LevelDB does); fci_table_verify
 * reports the damage.
 */
static void load_filter(fci_table *t, fci_block_handle meta_h)
{
    fci_block_ref meta;
    fci_block mb;
    if (fci_table_read_block(t, meta_h, 1, &meta, NULL) != 0)
        return;
    if (fci_block_init(&mb, meta.data.data, meta.data.size, NULL) == 0) {
        fci_block_iter it;
        fci_block_iter_init(&it, &mb, fci_bytewise_compare);
        fci_slice name = fci_slice_str(FCI_FILTER_META_KEY);
        fci_block_iter_seek(&it, name);
        if (fci_block_iter_valid(&it) && fci_bytewise_compare(it.key, name) == 0) {
            const char *p = it.value.data;
            fci_block_handle fh;
            if (fci_block_handle_decode(&p, p + it.value.size, &fh) == 0 &&
                fci_table_read_block(t, fh, 1, &t->filter_ref, NULL) == 0) {
                t->filter_handle = fh;
                t->has_filter = 1;
                fci_filter_reader_init(&t->filter, t->filter_ref.data);
            }
        }
        fci_block_iter_free(&it);
    }
    fci_table_release_block(t, &meta);
}

int fci_table_find_meta(const fci_table *t, const char *name, fci_block_handle *h, fci_err *err)
{
    fci_block_ref meta;
    fci_block mb;
    int rc = fci_table_read_block(t, t->metaindex_handle, 1, &meta, err);
    if (rc != 0)
        return rc;
    if ((rc = fci_block_init(&mb, meta.data.data, meta.data.size, err)) == 0) {
        fci_block_iter it;
        fci_block_iter_init(&it, &mb, fci_bytewise_compare);
        fci_slice key = fci_slice_str(name);
        fci_block_iter_seek(&it, key);
        rc = FC_ENOTFOUND;
        if (fci_block_iter_valid(&it) && fci_bytewise_compare(it.key, key) == 0) {
            const char *p = it.value.data;
            rc = fci_block_handle_decode(&p, p + it.value.size, h);
            if (rc != 0)
                rc = fci_err_set(err, rc, "metaindex: bad handle for '%s'", name);
        } else if (it.status != 0) {
            rc = fci_block_iter_status(&it, err);
        }
        fci_block_iter_free(&it);
    }
    fci_table_release_block(t, &meta);
    return rc;
}

int fci_table_max_expiry(const fci_table *t, uint64_t *max_expiry, fci_err *err)
{
    fci_block_handle h;
    int rc = fci_table_find_meta(t, FCI_TTL_META_KEY, &h, err);
    if (rc != 0)
        return rc;
    fci_block_ref ref;
    if ((rc = fci_table_read_block(t, h, 1, &ref, err)) != 0)
        return rc;
    if (ref.data.size == 8)
        *max_expiry = fci_get_fixed64(ref.data.data);
    else
        rc = fci_err_set(err, FC_ECORRUPT, "table: offset %llu: %s block of %zu bytes, expected 8",
                         (unsigned long long)h.offset, FCI_TTL_META_KEY, ref.data.size);
    fci_table_release_block(t, &ref);
    return rc;
}

/* Like the filter, the hash index is an optimisation: a table whose
 * block is missing or damaged is read through its index block. */
static void load_hash(fci_table *t)
{
    fci_block_handle h;
    if (fci_table_find_meta(t, FCI_HASH_INDEX_META_KEY, &h, NULL) != 0)
        return;
    if (fci_table_read_block(t, h, 1, &t->hash_ref, NULL) != 0)
        return;
    if (fci_hash_index_parse(&t->hash, t->hash_ref.data) == 0)
        t->has_hash = 1;
    else
        fci_table_release_block(t, &t->hash_ref);
}

static int table_open(fci_table *t, fci_err *err)
{
    char footer_buf[FCI_FOOTER_SIZE];
    const char *footer;
    int rc;
    if (t->size < FCI_FOOTER_SIZE)
        return fci_err_set(err, FC_ECORRUPT, "table: %llu bytes, too short for a footer",
                           (unsigned long long)t->size);
    uint64_t foff = t->size - FCI_FOOTER_SIZE;
    if (t->base) {
        footer = t->base + foff;
    } else {
        if ((rc = table_pread(t, footer_buf, sizeof footer_buf, foff, err)) != 0)
            return rc;
        footer = footer_buf;
    }
    uint64_t magic = fci_get_fixed64(footer + FCI_FOOTER_SIZE - 8);
    if (magic != FCI_TABLE_MAGIC)
        return fci_err_set(err, FC_ECORRUPT, "table: offset %llu: bad magic %016llx (not a table)",
                           (unsigned long long)(foff + 40), (unsigned long long)magic);
    const char *p = footer, *end = footer + 40;
    if (fci_block_handle_decode(&p, end, &t->metaindex_handle) != 0 ||
        fci_block_handle_decode(&p, end, &t->index_handle) != 0)
        return fci_err_set(err, FC_ECORRUPT, "table: offset %llu: bad block handles in footer",
                           (unsigned long long)foff);
    if ((rc = fci_table_read_block(t, t->index_handle, 1, &t->index_ref, err)) != 0)
        return rc;
    if ((rc = fci_block_init(&t->index, t->index_ref.data.data, t->index_ref.data.size, err)) != 0) {
        fci_err inner = err ? *err : (fci_err){ 0, "" };
        return fci_err_set(err, rc, "table: index block at offset %llu: %s",
                           (unsigned long long)t->index_handle.offset, inner.msg);
    }
    load_filter(t, t->metaindex_handle);
    load_hash(t);
    return 0;
}

static void table_reset(fci_table *t, const char *base, uint64_t size, int fd, unsigned flags)
{
    memset(t, 0, sizeof *t);
    t->base = base;
    t->size = size;
    t->fd = fd;
    t->flags = flags;
}

int fci_table_open(fci_table *t, const char *base, uint64_t size, unsigned flags, fci_err *err)
{
    table_reset(t, base, size, -1, flags);
    if (base == NULL && size > 0)
        return fci_err_set(err, FC_EINVAL, "table: NULL region");
    int rc = table_open(t, err);
    if (rc != 0)
        fci_table_close(t);
    return rc;
}

int fci_table_open_fd(fci_table *t, int fd, uint64_t size, unsigned flags, fci_err *err)
{
    table_reset(t, NULL, size, fd, flags);
    int rc = table_open(t, err);
    if (rc != 0)
        fci_table_close(t);
    return rc;
}

void fci_table_close(fci_table *t)
{
    const fci_block_fetcher *f = t->fetcher;
    t->fetcher = NULL;   /* open-time blocks always come from the built-in reader */
    fci_table_release_block(t, &t->index_ref);
    fci_table_release_block(t, &t->filter_ref);
    fci_table_release_block(t, &t->hash_ref);
    t->fetcher = f;
    t->has_filter = 0;
    t->has_hash = 0;
    memset(&t->index, 0, sizeof t->index);
}

/* ---- point lookups ------------------------------------------------------- */

static const fci_block empty_block;

void fci_table_get_init(fci_table_get_result *r)
{
    memset(r, 0, sizeof *r);
    fci_block_iter_init(&r->it, &empty_block, fci_ikey_compare);
}

void fci_table_get_done(const fci_table *t, fci_table_get_result *r)
{
    fci_table_release_block(t, &r->ref);
    r->key = r->value = fci_slice_make(NULL, 0);
}

void fci_table_get_free(const fci_table *t, fci_table_get_result *r)
{
    fci_table_get_done(t, r);
    fci_block_iter_free(&r->it);
}

/* Makes the entry under r->it the result. */
static int take_entry(const fci_table *t, fci_block_handle h, fci_table_get_result *r,
                      fci_err *err)
{
    fci_parsed_ikey pk;
    if (fci_ikey_parse(r->it.key, &pk) != 0) {
        fci_table_get_done(t, r);
        return fci_err_set(err, FC_ECORRUPT, "table: block at offset %llu: bad internal key",
                           (unsigned long long)h.offset);
    }
    r->key = r->it.key;
    r->value = r->it.value;
    r->sequence = pk.sequence;
    r->type = pk.type;
    return 0;
}

/* Seeks ikey in the data block at h and fills r with what it finds. */
static int seek_in_block(const fci_table *t, fci_block_handle h, fci_slice ikey,
                         fci_table_get_result *r, fci_err *err)
{
    int rc = fetch_block(t, h, &r->ref, err);
    if (rc != 0)
        return rc;
    fci_block b;
    if ((rc = fci_block_init(&b, r->ref.data.data, r->ref.data.size, err)) != 0) {
        fci_table_get_done(t, r);
        return rc;
    }
    fci_block_iter_reset(&r->it, &b);
    fci_block_iter_seek(&r->it, ikey);
    if (!fci_block_iter_valid(&r->it)) {
        rc = fci_block_iter_status(&r->it, err);
        fci_table_get_done(t, r);
        return rc != 0 ? rc : FC_ENOTFOUND;
    }
    if (fci_slice_compare(fci_ikey_user(r->it.key), fci_ikey_user(ikey)) != 0) {
        fci_table_get_done(t, r);
        return FC_ENOTFOUND;
    }
    return take_entry(t, h, r, err);
}

#define HASH_NEXT 3   /* the slot belongs to another key: probe on */

/* A block the hash index names. Its table writes only uncompressed data
 * blocks, so a mapped one is served in place without looking at the block
 * trailer (one cache miss less); anything else goes the usual way. */
static int fetch_hashed(const fci_table *t, fci_block_handle h, fci_block_ref *ref, fci_err *err)
{
    if (t->base == NULL || !(t->hash.flags & FCI_HASH_INDEX_RAW_BLOCKS) ||
        (t->flags & FCI_TABLE_VERIFY_CHECKSUMS))
        return fetch_block(t, h, ref, err);
    if (h.offset > t->size || h.size > t->size - h.offset ||
        t->size - h.offset - h.size < FCI_BLOCK_TRAILER_SIZE)
        return fci_err_set(err, FC_ECORRUPT, "table: hash index names a block at %llu+%llu past "
                           "the end (%llu bytes)", (unsigned long long)h.offset,
                           (unsigned long long)h.size, (unsigned long long)t->size);
    memset(ref, 0, sizeof *ref);
    ref->data = fci_slice_make(t->base + h.offset, h.size);
    return 0;
}

/*
 * Scans the restart run a slot names. A slot is the key's own when the
 * run holds the key's first entry, which is so when the key turns up and
 * the run does not begin by continuing an earlier key (a slot of another
 * key with the same tag fails one of the two). Then the first entry at or
 * after ikey is the table's answer. (Our builder places slots in key
 * order, so a present key's probe meets only smaller keys' slots first;
 * the checks keep the reader right for any slot order.) Returns 0, FC_ENOTFOUND, HASH_NEXT,
 * FCI_HASH_UNSURE (the key's entries go on in the next block) or an error.
 */
static int scan_run(const fci_table *t, const fci_hash_loc *loc, fci_slice ikey,
                    fci_table_get_result *r, fci_err *err)
{
    fci_block_handle h = { loc->offset, loc->size };
    int rc = fetch_hashed(t, h, &r->ref, err);
    if (rc != 0)
        return rc;
    fci_block b;
    if (fci_block_init_known(&b, r->ref.data.data, r->ref.data.size, loc->entries_end) != 0) {
        fci_table_get_done(t, r);
        return fci_err_set(err, FC_ECORRUPT, "table: hash index: block at offset %llu does not "
                           "end its entries at %u", (unsigned long long)h.offset, loc->entries_end);
    }
    fci_block_iter_reset(&r->it, &b);
    fci_slice user = fci_ikey_user(ikey);
    int saw = 0, first = 1;
    rc = HASH_NEXT;
    for (fci_block_iter_seek_entry(&r->it, loc->run_off); fci_block_iter_valid(&r->it);
         fci_block_iter_next(&r->it), first = 0) {
        int c = fci_slice_compare(fci_ikey_user(r->it.key), user);
        if (c < 0)
            continue;
        if (c > 0 || (first && !loc->fresh)) {
            rc = saw ? FC_ENOTFOUND : HASH_NEXT;
            break;
        }
        saw = 1;
        if (fci_ikey_compare(r->it.key, ikey) >= 0)
            return take_entry(t, h, r, err);
    }
    if (!fci_block_iter_valid(&r->it)) {
        int st = fci_block_iter_status(&r->it, err);
        rc = st != 0 ? st : saw ? FCI_HASH_UNSURE : HASH_NEXT;
    }
    fci_table_get_done(t, r);
    return rc;
}

/* Probes the hash index in place of the index block and the bloom filter. */
static int get_hashed(const fci_table *t, fci_slice ikey, fci_table_get_result *r, fci_err *err)
{
    fci_hash_probe p;
    fci_hash_probe_start(&p, &t->hash, fci_ikey_user(ikey), t->base);
    for (;;) {
        fci_hash_loc loc;
        int rc = fci_hash_probe_next(&p, &loc);
        if (rc == FCI_HASH_ABSENT) {
            r->filtered = 1;
            return FC_ENOTFOUND;
        }
        if (rc != 0)
            return rc;
        rc = scan_run(t, &loc, ikey, r, err);
        if (rc != HASH_NEXT)
            return rc;
    }
}

/* As LevelDB's Table::InternalGet: index, then filter, then one block. */
int fci_table_get(const fci_table *t, fci_slice ikey, fci_table_get_result *r, fci_err *err)
{
    fci_table_get_done(t, r);
    r->filtered = 0;
    if (t->has_hash) {
        int rc = get_hashed(t, ikey, r, err);
        if (rc != FCI_HASH_UNSURE)
            return rc;
    }
    fci_block_iter ix;
    fci_block_iter_init(&ix, &t->index, fci_ikey_compare);
    fci_block_iter_seek(&ix, ikey);
    if (!fci_block_iter_valid(&ix)) {
        int rc = fci_block_iter_status(&ix, err);
        fci_block_iter_free(&ix);
        return rc != 0 ? rc : FC_ENOTFOUND;
    }
    fci_block_handle h;
    const char *p = ix.value.data;
    int rc = fci_block_handle_decode(&p, p + ix.value.size, &h);
    fci_block_iter_free(&ix);
    if (rc != 0)
        return fci_err_set(err, FC_ECORRUPT, "table: index block at offset %llu: bad block handle",
                           (unsigned long long)t->index_handle.offset);
    if (t->has_filter && !fci_filter_key_may_match(&t->filter, h.offset, fci_ikey_user(ikey))) {
        r->filtered = 1;
        return FC_ENOTFOUND;
    }
    return seek_in_block(t, h, ikey, r, err);
}

/* ---- iteration ----------------------------------------------------------- */

void fci_table_iter_init(fci_table_iter *it, const fci_table *t)
{
    memset(it, 0, sizeof *it);
    it->t = t;
    fci_block_iter_init(&it->index_it, &t->index, fci_ikey_compare);
    fci_block_iter_init(&it->data_it, &empty_block, fci_ikey_compare);
}

static void drop_block(fci_table_iter *it)
{
    if (it->has_block)
        fci_table_release_block(it->t, &it->ref);
    it->has_block = 0;
    fci_block_iter_reset(&it->data_it, &empty_block);
}

void fci_table_iter_free(fci_table_iter *it)
{
    drop_block(it);
    fci_block_iter_free(&it->index_it);
    fci_block_iter_free(&it->data_it);
}

/* The first failure sticks: the iterator then stays invalid. */
static void iter_fail(fci_table_iter *it, int rc)
{
    it->status = rc;
    drop_block(it);
}

/* Loads the data block the index iterator points at (if not loaded). */
static int load_block(fci_table_iter *it)
{
    if (!fci_block_iter_valid(&it->index_it)) {
        if (fci_block_iter_status(&it->index_it, &it->err) != 0)
            iter_fail(it, it->index_it.status);
        drop_block(it);
        return 0;
    }
    fci_block_handle h;
    const char *p = it->index_it.value.data;
    if (fci_block_handle_decode(&p, p + it->index_it.value.size, &h) != 0) {
        iter_fail(it, fci_err_set(&it->err, FC_ECORRUPT, "table: index entry at offset %llu: bad block handle",
                                  (unsigned long long)(it->t->index_handle.offset + it->index_it.current)));
        return 0;
    }
    if (it->has_block && it->block_offset == h.offset)
        return 1;
    drop_block(it);
    int rc = fetch_block(it->t, h, &it->ref, &it->err);
    if (rc != 0) {
        iter_fail(it, rc);
        return 0;
    }
    it->has_block = 1;
    if ((rc = fci_block_init(&it->data_block, it->ref.data.data, it->ref.data.size, &it->err)) != 0) {
        fci_err inner = it->err;
        iter_fail(it, fci_err_set(&it->err, rc, "table: block at offset %llu: %s",
                                  (unsigned long long)h.offset, inner.msg));
        return 0;
    }
    it->block_offset = h.offset;
    fci_block_iter_reset(&it->data_it, &it->data_block);
    return 1;
}

/* A block iterator that ran into damage ends the table iterator. */
static int data_failed(fci_table_iter *it)
{
    if (it->data_it.status == 0)
        return 0;
    fci_err inner;
    fci_block_iter_status(&it->data_it, &inner);
    iter_fail(it, fci_err_set(&it->err, it->data_it.status, "table: block at offset %llu: %s",
                              (unsigned long long)it->block_offset, inner.msg));
    return 1;
}

static void skip_forward(fci_table_iter *it)
{
    while (it->status == 0 && !fci_block_iter_valid(&it->data_it)) {
        if (data_failed(it) || !fci_block_iter_valid(&it->index_it)) {
            drop_block(it);
            return;
        }
        fci_block_iter_next(&it->index_it);
        if (!load_block(it))
            return;
        fci_block_iter_first(&it->data_it);
    }
}

static void skip_backward(fci_table_iter *it)
{
    while (it->status == 0 && !fci_block_iter_valid(&it->data_it)) {
        if (data_failed(it) || !fci_block_iter_valid(&it->index_it)) {
            drop_block(it);
            return;
        }
        fci_block_iter_prev(&it->index_it);
        if (!load_block(it))
            return;
        fci_block_iter_last(&it->data_it);
    }
}

int fci_table_iter_valid(const fci_table_iter *it)
{
    return it->status == 0 && it->has_block && fci_block_iter_valid(&it->data_it);
}

void fci_table_iter_first(fci_table_iter *it)
{
    if (it->status != 0)
        return;
    fci_block_iter_first(&it->index_it);
    if (load_block(it))
        fci_block_iter_first(&it->data_it);
    skip_forward(it);
}

void fci_table_iter_last(fci_table_iter *it)
{
    if (it->status != 0)
        return;
    fci_block_iter_last(&it->index_it);
    if (load_block(it))
        fci_block_iter_last(&it->data_it);
    skip_backward(it);
}

void fci_table_iter_seek(fci_table_iter *it, fci_slice ikey)
{
    if (it->status != 0)
        return;
    fci_block_iter_seek(&it->index_it, ikey);
    if (load_block(it))
        fci_block_iter_seek(&it->data_it, ikey);
    skip_forward(it);
}

void fci_table_iter_next(fci_table_iter *it)
{
    if (!fci_table_iter_valid(it))
        return;
    fci_block_iter_next(&it->data_it);
    skip_forward(it);
}

void fci_table_iter_prev(fci_table_iter *it)
{
    if (!fci_table_iter_valid(it))
        return;
    fci_block_iter_prev(&it->data_it);
    skip_backward(it);
}

int fci_table_iter_status(const fci_table_iter *it, fci_err *err)
{
    if (it->status == 0)
        return 0;
    return fci_err_set(err, it->status, "%s", it->err.msg);
}
