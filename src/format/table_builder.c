/*
 * table_builder.c - writing a LevelDB table (see table.h).
 *
 * The output is byte-compatible with what LevelDB's TableBuilder writes for
 * the same keys and options, so a forkcache table only needs a MANIFEST
 * entry for LevelDB to read it.
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

/* Staged output is written to the fd in pieces of about this size. */
#define FCI_TABLE_WRITE_CHUNK (256u << 10)

void fci_table_options_init(fci_table_options *o)
{
    o->block_size = FC_DEFAULT_BLOCK_SIZE;
    /* LevelDB's own defaults, so a table built without store options is
     * byte for byte the one LevelDB builds from the same entries. */
    o->restart_interval = 16;
    o->bloom_bits_per_key = FC_DEFAULT_BLOOM_BITS_PER_KEY;
    o->compression = FC_COMPRESSION_NONE;
    o->ttl_framing = 0;
    o->hash_index = 0;
    o->hash_tag_bits = 0;
    o->hash_fill_reverse = 0;
}

/* A block handle as LevelDB writes it: offset and size, two varint64s. */
static int block_handle_encode(fci_buf *dst, fci_block_handle h)
{
    int rc = fci_buf_put_varint64(dst, h.offset);
    return rc != 0 ? rc : fci_buf_put_varint64(dst, h.size);
}

int fci_block_handle_decode(const char **p, const char *end, fci_block_handle *h)
{
    if (fci_get_varint64(p, end, &h->offset) != 0 || fci_get_varint64(p, end, &h->size) != 0)
        return FC_ECORRUPT;
    return 0;
}

static int builder_init(fci_table_builder *tb, const fci_table_options *o)
{
    memset(tb, 0, sizeof *tb);
    if (o)
        tb->opt = *o;
    else
        fci_table_options_init(&tb->opt);
    tb->fd = -1;
    if (tb->opt.block_size == 0)
        tb->opt.block_size = FC_DEFAULT_BLOCK_SIZE;
    if (!fci_compression_supported(tb->opt.compression))
        return FC_EUNSUPPORTED;
    fci_block_builder_init(&tb->data, tb->opt.restart_interval);
    fci_block_builder_init(&tb->index, 1);
    tb->has_filter = tb->opt.bloom_bits_per_key > 0;
    fci_filter_builder_init(&tb->filter, tb->opt.bloom_bits_per_key);
    tb->has_hash = tb->opt.hash_index != 0;
    fci_hash_index_builder_init(&tb->hash);
    if (tb->opt.hash_tag_bits != 0)
        tb->hash.tag_bits = tb->opt.hash_tag_bits;
    tb->hash.fill_reverse = tb->opt.hash_fill_reverse;
    return 0;
}

int fci_table_builder_init_fd(fci_table_builder *tb, const fci_table_options *o, int fd)
{
    int rc = builder_init(tb, o);
    tb->fd = fd;
    return rc;
}

int fci_table_builder_init_buf(fci_table_builder *tb, const fci_table_options *o, fci_buf *out)
{
    int rc = builder_init(tb, o);
    tb->out = out;
    return rc;
}

void fci_table_builder_free(fci_table_builder *tb)
{
    fci_buf_free(&tb->stage);
    fci_block_builder_free(&tb->data);
    fci_block_builder_free(&tb->index);
    fci_filter_builder_free(&tb->filter);
    fci_hash_index_builder_free(&tb->hash);
    fci_buf_free(&tb->last_key);
    fci_buf_free(&tb->smallest);
    fci_buf_free(&tb->scratch);
    fci_buf_free(&tb->sep);
    for (int i = 0; i < tb->nextra; i++) {
        free(tb->extra_name[i]);
        fci_buf_free(&tb->extra[i]);
    }
    tb->nextra = 0;
}

/* Remembers the first failure so a half-written table is never finished. */
static int fail(fci_table_builder *tb, int rc)
{
    if (tb->status == 0)
        tb->status = rc;
    return rc;
}

/* fci_io_write retries EINTR and finishes short writes by itself. */
static int write_all(int fd, const char *p, size_t n, fci_err *err)
{
    if (fci_io_write(FCI_IO_SITE_TABLE_WRITE, fd, p, n) < 0)
        return fci_err_errno(err, fci_errno_code(errno), errno, "table: write");
    return 0;
}

static int flush_stage(fci_table_builder *tb, fci_err *err)
{
    if (tb->fd < 0 || tb->stage.size == 0)
        return 0;
    int rc = write_all(tb->fd, tb->stage.data, tb->stage.size, err);
    fci_buf_clear(&tb->stage);
    return rc;
}

/* Output goes to the caller's buffer, or is staged and written in large
 * pieces; blocks larger than a piece go straight through. */
static int emit(fci_table_builder *tb, const char *p, size_t n, fci_err *err)
{
    int rc;
    if (tb->out) {
        rc = fci_buf_append(tb->out, p, n);
        if (rc != 0)
            return fci_err_set(err, rc, "table: no memory for %zu output bytes", n);
    } else if (n >= FCI_TABLE_WRITE_CHUNK) {
        if ((rc = flush_stage(tb, err)) != 0 || (rc = write_all(tb->fd, p, n, err)) != 0)
            return rc;
    } else {
        if ((rc = fci_buf_append(&tb->stage, p, n)) != 0)
            return fci_err_set(err, rc, "table: no memory for %zu output bytes", n);
        if (tb->stage.size >= FCI_TABLE_WRITE_CHUNK && (rc = flush_stage(tb, err)) != 0)
            return rc;
    }
    tb->offset += n;
    return 0;
}

/* Contents, then type byte and masked CRC of contents + type. */
static int write_raw_block(fci_table_builder *tb, fci_slice contents, int type,
                           fci_block_handle *h, fci_err *err)
{
    char trailer[FCI_BLOCK_TRAILER_SIZE];
    trailer[0] = (char)type;
    uint32_t crc = fci_crc32c_extend(fci_crc32c(contents.data, contents.size), trailer, 1);
    fci_put_fixed32(trailer + 1, fci_crc32c_mask(crc));
    h->offset = tb->offset;
    h->size = contents.size;
    int rc = emit(tb, contents.data, contents.size, err);
    if (rc == 0)
        rc = emit(tb, trailer, sizeof trailer, err);
    return rc;
}

/* Compression is kept only when it saves at least 1/8, as LevelDB does;
 * otherwise the block stays raw (and zero-copy readable). */
static int write_block(fci_table_builder *tb, fci_block_builder *bb, fci_block_handle *h,
                       fci_err *err)
{
    fci_slice raw;
    int rc = fci_block_builder_finish(bb, &raw);
    if (rc != 0)
        return fci_err_set(err, rc, "table: cannot finish a block");
    fci_slice contents = raw;
    int type = FC_COMPRESSION_NONE;
    if (tb->opt.compression != FC_COMPRESSION_NONE) {
        fci_buf_clear(&tb->scratch);
        if ((rc = fci_compress(tb->opt.compression, raw, &tb->scratch, err)) != 0)
            return rc;
        if (tb->scratch.size < raw.size - raw.size / 8) {
            contents = fci_buf_slice(&tb->scratch);
            type = tb->opt.compression;
        }
    }
    rc = write_raw_block(tb, contents, type, h, err);
    fci_block_builder_reset(bb);
    return rc;
}

static int flush_data(fci_table_builder *tb, fci_err *err)
{
    if (fci_block_builder_empty(&tb->data))
        return 0;
    uint32_t entries_end = fci_block_builder_entries_size(&tb->data);
    int rc = write_block(tb, &tb->data, &tb->pending_handle, err);
    if (rc != 0)
        return rc;
    tb->pending_index = 1;
    tb->data_blocks++;
    if (tb->has_hash &&
        (rc = fci_hash_index_builder_add_block(&tb->hash, tb->pending_handle.offset,
                                               tb->pending_handle.size, entries_end,
                                               tb->opt.compression != FC_COMPRESSION_NONE)) != 0)
        return fci_err_set(err, rc, "table: hash index");
    if (tb->has_filter && (rc = fci_filter_builder_start_block(&tb->filter, tb->offset)) != 0)
        return fci_err_set(err, rc, "table: filter block");
    return 0;
}

/* The index entry of a finished block waits for the next key, so that a
 * short separator between the two blocks can stand in for the last key. */
static int add_index_entry(fci_table_builder *tb, fci_slice next, fci_err *err)
{
    fci_buf_clear(&tb->sep);
    int rc = fci_buf_append(&tb->sep, tb->last_key.data, tb->last_key.size);
    if (rc == 0)
        rc = next.data ? fci_ikey_shortest_separator(&tb->sep, next)
                       : fci_ikey_short_successor(&tb->sep);
    if (rc == 0) {
        fci_buf_clear(&tb->scratch);
        rc = block_handle_encode(&tb->scratch, tb->pending_handle);
    }
    if (rc == 0)
        rc = fci_block_builder_add(&tb->index, fci_buf_slice(&tb->sep), fci_buf_slice(&tb->scratch));
    if (rc != 0)
        return fci_err_set(err, rc, "table: cannot add an index entry");
    tb->pending_index = 0;
    return 0;
}

/* In a ttl_framing store, the latest expiry over the table's values, for
 * the meta block that lets the writer drop a wholly expired table unread. */
static void track_expiry(fci_table_builder *tb, fci_slice ikey, fci_slice value)
{
    if (!tb->opt.ttl_framing || (fci_ikey_tag(ikey) & 0xff) != FCI_TYPE_VALUE)
        return;
    tb->ttl_values++;
    uint64_t expiry = value.size >= 8 ? fci_get_fixed64(value.data) : 0;
    if (expiry == 0)
        tb->ttl_never = 1;
    else if (expiry > tb->ttl_max)
        tb->ttl_max = expiry;
}

/* The FCI_TTL_META_KEY block, added when the table is finished. */
static int add_expiry_meta(fci_table_builder *tb, fci_err *err)
{
    char v[8];
    fci_put_fixed64(v, tb->ttl_never ? 0 : tb->ttl_values == 0 ? 1 : tb->ttl_max);
    return fci_table_builder_add_meta(tb, FCI_TTL_META_KEY, fci_slice_make(v, sizeof v), err);
}

/* Called after ikey went into the data block. The hash index names the
 * restart run of a user key's first (newest) entry, so only the first of
 * equal user keys is recorded; new_user says whether ikey is one. */
static int hash_add_key(fci_table_builder *tb, fci_slice ikey, int new_user)
{
    if (fci_block_builder_run_started(&tb->data))
        tb->run_fresh = new_user;
    if (!new_user)
        return 0;
    return fci_hash_index_builder_add_key(&tb->hash, fci_ikey_user(ikey),
                                          fci_block_builder_run_offset(&tb->data), tb->run_fresh);
}

/* Adds the hash index as one more meta block; a table too large for the
 * format goes without one (reads fall back to the index block). */
static int add_hash_meta(fci_table_builder *tb, fci_err *err)
{
    fci_buf contents = FCI_BUF_INIT;
    int rc = fci_hash_index_builder_finish(&tb->hash, &contents);
    if (rc == 0)
        rc = fci_table_builder_add_meta(tb, FCI_HASH_INDEX_META_KEY, fci_buf_slice(&contents), err);
    else if (rc == FC_ELIMIT)
        rc = 0;
    else
        rc = fci_err_set(err, rc, "table: hash index");
    fci_buf_free(&contents);
    return rc;
}

int fci_table_builder_add(fci_table_builder *tb, fci_slice ikey, fci_slice value, fci_err *err)
{
    int rc;
    if (tb->status != 0)
        return fci_err_set(err, tb->status, "table: builder failed earlier");
    if (tb->finished)
        return fci_err_set(err, FC_EINVAL, "table: add after finish");
    if (ikey.size < FCI_IKEY_TAG_SIZE)
        return fci_err_set(err, FC_EINVAL, "table: %zu-byte key is not an internal key", ikey.size);
    if (tb->num_entries > 0 && fci_ikey_compare(ikey, fci_buf_slice(&tb->last_key)) <= 0)
        return fci_err_set(err, FC_EINVAL, "table: keys out of order");
    if (tb->pending_index && (rc = add_index_entry(tb, ikey, err)) != 0)
        return fail(tb, rc);
    if (tb->has_filter && (rc = fci_filter_builder_add_key(&tb->filter, fci_ikey_user(ikey))) != 0)
        return fail(tb, fci_err_set(err, rc, "table: filter"));
    if (tb->num_entries == 0 && (rc = fci_buf_append(&tb->smallest, ikey.data, ikey.size)) != 0)
        return fail(tb, fci_err_set(err, rc, "table: no memory"));
    int new_user = tb->num_entries == 0 ||
                   fci_bytewise_compare(fci_ikey_user(ikey),
                                        fci_ikey_user(fci_buf_slice(&tb->last_key))) != 0;
    fci_buf_clear(&tb->last_key);
    if ((rc = fci_buf_append(&tb->last_key, ikey.data, ikey.size)) != 0)
        return fail(tb, fci_err_set(err, rc, "table: no memory"));
    if ((rc = fci_block_builder_add(&tb->data, ikey, value)) != 0)
        return fail(tb, fci_err_set(err, rc, "table: entry of %zu + %zu bytes does not fit a block",
                                    ikey.size, value.size));
    if (tb->has_hash && (rc = hash_add_key(tb, ikey, new_user)) != 0)
        return fail(tb, fci_err_set(err, rc, "table: hash index"));
    tb->num_entries++;
    track_expiry(tb, ikey, value);
    if (fci_block_builder_size_estimate(&tb->data) >= tb->opt.block_size &&
        (rc = flush_data(tb, err)) != 0)
        return fail(tb, rc);
    return 0;
}

int fci_table_builder_add_meta(fci_table_builder *tb, const char *name, fci_slice contents,
                               fci_err *err)
{
    if (strncmp(name, "forkcache.", 10) != 0)
        return fci_err_set(err, FC_EINVAL, "table: meta block name '%s' lacks the forkcache. prefix", name);
    if (tb->nextra == FCI_TABLE_MAX_EXTRA_META)
        return fci_err_set(err, FC_ELIMIT, "table: more than %d extra meta blocks", FCI_TABLE_MAX_EXTRA_META);
    for (int i = 0; i < tb->nextra; i++)
        if (strcmp(tb->extra_name[i], name) == 0)
            return fci_err_set(err, FC_EEXIST, "table: meta block '%s' added twice", name);
    char *copy = strdup(name);
    if (copy == NULL)
        return fci_err_set(err, FC_ENOMEM, "table: no memory");
    fci_buf_init(&tb->extra[tb->nextra]);
    if (fci_buf_append(&tb->extra[tb->nextra], contents.data, contents.size) != 0) {
        free(copy);
        return fci_err_set(err, FC_ENOMEM, "table: no memory");
    }
    tb->extra_name[tb->nextra++] = copy;
    return 0;
}

/* Metaindex keys must be in bytewise order: "filter." sorts before
 * "forkcache.", and the extra names are sorted among themselves. */
static int write_metaindex(fci_table_builder *tb, const fci_block_handle *filter_h,
                           const fci_block_handle *extra_h, fci_block_handle *h, fci_err *err)
{
    fci_block_builder meta;
    fci_block_builder_init(&meta, 1);
    int order[FCI_TABLE_MAX_EXTRA_META], rc = 0;
    for (int i = 0; i < tb->nextra; i++) {
        int j = i;
        while (j > 0 && strcmp(tb->extra_name[order[j - 1]], tb->extra_name[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    fci_buf hb = FCI_BUF_INIT;
    if (tb->has_filter) {
        rc = block_handle_encode(&hb, *filter_h);
        if (rc == 0)
            rc = fci_block_builder_add(&meta, fci_slice_str(FCI_FILTER_META_KEY), fci_buf_slice(&hb));
    }
    for (int i = 0; rc == 0 && i < tb->nextra; i++) {
        fci_buf_clear(&hb);
        rc = block_handle_encode(&hb, extra_h[order[i]]);
        if (rc == 0)
            rc = fci_block_builder_add(&meta, fci_slice_str(tb->extra_name[order[i]]), fci_buf_slice(&hb));
    }
    if (rc != 0)
        rc = fci_err_set(err, rc, "table: metaindex");
    else
        rc = write_block(tb, &meta, h, err);
    fci_buf_free(&hb);
    fci_block_builder_free(&meta);
    return rc;
}

static int write_footer(fci_table_builder *tb, fci_block_handle metaindex, fci_block_handle index,
                        fci_err *err)
{
    char footer[FCI_FOOTER_SIZE];
    memset(footer, 0, sizeof footer);
    char *p = fci_put_varint64(footer, metaindex.offset);
    p = fci_put_varint64(p, metaindex.size);
    p = fci_put_varint64(p, index.offset);
    fci_put_varint64(p, index.size);
    fci_put_fixed64(footer + FCI_FOOTER_SIZE - 8, FCI_TABLE_MAGIC);
    return emit(tb, footer, sizeof footer, err);
}

int fci_table_builder_finish(fci_table_builder *tb, fci_err *err)
{
    int rc;
    if (tb->status != 0)
        return fci_err_set(err, tb->status, "table: builder failed earlier");
    if (tb->finished)
        return fci_err_set(err, FC_EINVAL, "table: finished twice");
    if ((rc = flush_data(tb, err)) != 0)
        return fail(tb, rc);
    if (tb->opt.ttl_framing && (rc = add_expiry_meta(tb, err)) != 0)
        return fail(tb, rc);
    fci_block_handle filter_h = { 0, 0 }, meta_h, index_h;
    fci_block_handle extra_h[FCI_TABLE_MAX_EXTRA_META];
    if (tb->has_filter) {
        fci_slice f;
        if ((rc = fci_filter_builder_finish(&tb->filter, &f)) != 0)
            return fail(tb, fci_err_set(err, rc, "table: filter block"));
        if ((rc = write_raw_block(tb, f, FC_COMPRESSION_NONE, &filter_h, err)) != 0)
            return fail(tb, rc);
    }
    if (tb->has_hash && (rc = add_hash_meta(tb, err)) != 0)
        return fail(tb, rc);
    for (int i = 0; i < tb->nextra; i++)
        if ((rc = write_raw_block(tb, fci_buf_slice(&tb->extra[i]), FC_COMPRESSION_NONE,
                                  &extra_h[i], err)) != 0)
            return fail(tb, rc);
    if ((rc = write_metaindex(tb, &filter_h, extra_h, &meta_h, err)) != 0)
        return fail(tb, rc);
    if (tb->pending_index && (rc = add_index_entry(tb, fci_slice_make(NULL, 0), err)) != 0)
        return fail(tb, rc);
    if ((rc = write_block(tb, &tb->index, &index_h, err)) != 0)
        return fail(tb, rc);
    if ((rc = write_footer(tb, meta_h, index_h, err)) != 0 || (rc = flush_stage(tb, err)) != 0)
        return fail(tb, rc);
    tb->finished = 1;
    return 0;
}
