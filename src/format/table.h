/*
 * table.h - LevelDB's table files (.ldb/.sst): building them, and reading
 * them zero-copy from a memory region (doc/table_format.md).
 *
 *   data block 0 | trailer | ... | filter block | trailer |
 *   metaindex block | trailer | index block | trailer | footer (48 bytes)
 *
 * Every block is followed by a 5-byte trailer: 1 byte compression type and
 * a fixed32 masked CRC32C of the block contents plus that type byte. The
 * footer holds the metaindex and index block handles (varint64 offset and
 * size), zero padding up to 40 bytes, and the fixed64 magic.
 *
 * Reading: a table is a region (base pointer + length: an mmap, a frame)
 * or, when not mapped, an fd read with pread (an fd the owner may instead
 * lend for each read: fci_table_file). A get or an iterator hands out
 * slices pointing into the region for uncompressed blocks of a mapped table;
 * every other block is obtained through a fetcher (built in: heap memory;
 * later the shared block cache) and held by an fci_block_ref until the
 * caller releases it.
 */
#ifndef FC_FORMAT_TABLE_H
#define FC_FORMAT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "format/block.h"
#include "format/filter_block.h"
#include "format/hash_index.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

#define FCI_TABLE_MAGIC UINT64_C(0xdb4775248b80fb57)
#define FCI_FOOTER_SIZE 48
#define FCI_BLOCK_TRAILER_SIZE 5
#define FCI_MAX_BLOCK_HANDLE_LEN 20   /* two varint64s */

/* ---- block handles ------------------------------------------------------- */

typedef struct fci_block_handle {
    uint64_t offset;
    uint64_t size;    /* contents only, without the trailer */
} fci_block_handle;

/* 0 or FC_ECORRUPT; advances *p. */
int fci_block_handle_decode(const char **p, const char *end, fci_block_handle *h);

/* ---- options ------------------------------------------------------------- */

typedef struct fci_table_options {
    size_t block_size;        /* data block target; FC_DEFAULT_BLOCK_SIZE */
    int restart_interval;     /* data blocks; FC_DEFAULT_RESTART_INTERVAL */
    int bloom_bits_per_key;   /* 0 = no filter block; default 10 */
    int compression;          /* FC_COMPRESSION_*; default none */
    int ttl_framing;          /* values carry an expiry frame: write the
                                 FCI_TTL_META_KEY block; default 0 */
    int hash_index;           /* write a forkcache.hash meta block; default 0 */
    unsigned hash_tag_bits;   /* tests only: fewer tag bits force collisions; 0 = 16 */
    int hash_fill_reverse;    /* tests only: slots placed from the last key back */
} fci_table_options;

/* Meta block of a ttl_framing store's tables: fixed64, the latest expiry
 * (ms since the epoch) of the table's values; 0 when a value never
 * expires; 1 when the table holds no value at all (only deletions). */
#define FCI_TTL_META_KEY "forkcache.ttl"


void fci_table_options_init(fci_table_options *o);

/* ---- builder ------------------------------------------------------------- */

#define FCI_TABLE_MAX_EXTRA_META 4

typedef struct fci_table_builder {
    fci_table_options opt;
    int fd;                    /* output fd, or -1 */
    fci_buf *out;              /* output buffer, or NULL */
    fci_buf stage;             /* bytes not yet written to fd */
    uint64_t offset;           /* file size so far */
    fci_block_builder data;
    fci_block_builder index;
    fci_filter_builder filter;
    int has_filter;
    fci_buf last_key;          /* last key added (the largest) */
    fci_buf smallest;
    fci_buf scratch;           /* compressed block, handle encodings */
    fci_buf sep;               /* index key being shortened */
    int pending_index;         /* a data block waits for its index entry */
    fci_block_handle pending_handle;
    uint64_t num_entries;
    uint64_t data_blocks;
    int status;                /* sticky: first failure */
    int finished;
    int nextra;                /* extra meta blocks (forkcache.*) */
    char *extra_name[FCI_TABLE_MAX_EXTRA_META];
    fci_buf extra[FCI_TABLE_MAX_EXTRA_META];
    uint64_t ttl_max;          /* latest expiry of the values added */
    int ttl_never;             /* a value that never expires was added */
    uint64_t ttl_values;       /* values added */
    int has_hash;              /* building a forkcache.hash block */
    int run_fresh;             /* the current restart run began a new user key */
    fci_hash_index_builder hash;
} fci_table_builder;

/* Writes the table sequentially to fd from its current position (the caller
 * created it with O_CLOEXEC, and fsyncs and closes it after finish). */
int fci_table_builder_init_fd(fci_table_builder *tb, const fci_table_options *o, int fd);
/* Appends the table to out instead (tests, small tables). */
int fci_table_builder_init_buf(fci_table_builder *tb, const fci_table_options *o, fci_buf *out);
/* Internal keys in strictly increasing fci_ikey_compare order, else
 * FC_EINVAL. After any failure the builder refuses further work. */
int fci_table_builder_add(fci_table_builder *tb, fci_slice ikey, fci_slice value, fci_err *err);
/* Adds a meta block listed in the metaindex under name (which must start
 * with "forkcache."; LevelDB ignores names it does not know). Stored raw. */
int fci_table_builder_add_meta(fci_table_builder *tb, const char *name, fci_slice contents,
                               fci_err *err);
/* Writes the filter, metaindex, index and footer. */
int fci_table_builder_finish(fci_table_builder *tb, fci_err *err);
void fci_table_builder_free(fci_table_builder *tb);

static inline uint64_t fci_table_builder_file_size(const fci_table_builder *tb)
{
    return tb->offset;
}

static inline uint64_t fci_table_builder_num_entries(const fci_table_builder *tb)
{
    return tb->num_entries;
}

/* Smallest and largest internal keys added (for VersionEdit NewFile);
 * valid until free. Empty when no key was added. */
static inline fci_slice fci_table_builder_smallest(const fci_table_builder *tb)
{
    return fci_buf_slice(&tb->smallest);
}

static inline fci_slice fci_table_builder_largest(const fci_table_builder *tb)
{
    return fci_buf_slice(&tb->last_key);
}

/* ---- reading blocks ------------------------------------------------------ */

/* One block's uncompressed contents, held while a caller uses it. */
typedef struct fci_block_ref {
    fci_slice data;
    void *owned;   /* heap memory the built-in fetcher allocated, or NULL */
    void *pin;     /* a custom fetcher's handle (e.g. a cache frame) */
} fci_block_ref;

struct fci_table;

/*
 * How a table obtains blocks it cannot serve straight from its mapping
 * (compressed blocks, tables read with pread). fetch fills *ref with the
 * uncompressed contents of the block at h (it may use fci_table_read_raw,
 * fci_block_unwrap and fci_uncompress on memory it owns); release lets go.
 */
typedef struct fci_block_fetcher {
    int (*fetch)(void *arg, const struct fci_table *t, fci_block_handle h, fci_block_ref *ref,
                 fci_err *err);
    void (*release)(void *arg, const struct fci_table *t, fci_block_ref *ref);
    void *arg;
} fci_block_fetcher;

/*
 * Where a table read with pread finds its descriptor when the owner may
 * close it while the table stays open (the table cache closes idle ones):
 * acquire returns a descriptor that stays open until the matching release,
 * or a negative FC_E* code with err set. NULL: fd is open for the table's
 * life.
 */
typedef struct fci_table_file {
    int (*acquire)(void *arg, fci_err *err);
    void (*release)(void *arg);
    void *arg;
} fci_table_file;

#define FCI_TABLE_VERIFY_CHECKSUMS 0x1u   /* check every data block's CRC */

typedef struct fci_table {
    const char *base;          /* the mapped region, or NULL */
    uint64_t size;
    int fd;                    /* pread source when base == NULL (not owned) */
    unsigned flags;
    fci_block_handle metaindex_handle;
    fci_block_handle index_handle;
    fci_block_handle filter_handle;
    int has_filter;
    fci_block_ref index_ref;   /* kept for the table's life */
    fci_block_ref filter_ref;
    fci_block index;
    fci_filter_reader filter;
    const fci_block_fetcher *fetcher;  /* NULL: built in */
    int has_hash;              /* a forkcache.hash block was found and parsed */
    fci_block_ref hash_ref;
    fci_hash_index hash;
    const fci_table_file *file;        /* NULL: fd, for the table's life */
} fci_table;

/* Opens a table held in [base, base+size): checks the footer's magic,
 * loads index, metaindex and filter (their CRCs always checked). */
int fci_table_open(fci_table *t, const char *base, uint64_t size, unsigned flags, fci_err *err);
/* Same for a table read through pread(fd) (fd stays the caller's). */
int fci_table_open_fd(fci_table *t, int fd, uint64_t size, unsigned flags, fci_err *err);
void fci_table_close(fci_table *t);

/* Routes data block reads that need memory through f (NULL: built in). */
static inline void fci_table_set_fetcher(fci_table *t, const fci_block_fetcher *f)
{
    t->fetcher = f;
}

/* Reads through f from now on instead of fd (set after open, before
 * the table is shared). */
static inline void fci_table_set_file(fci_table *t, const fci_table_file *f)
{
    t->file = f;
}

/* The raw block at h, contents plus trailer (h.size + 5 bytes): a pointer
 * into the mapping, or read into scratch (that many bytes) with pread. */
int fci_table_read_raw(const fci_table *t, fci_block_handle h, char *scratch, fci_slice *raw,
                       fci_err *err);
/* Checks a raw block's trailer (CRC when verify), gives its type and the
 * contents as stored. offset is only for messages. */
int fci_block_unwrap(fci_slice raw, uint64_t offset, int verify, int *type, fci_slice *contents,
                     fci_err *err);
/* The built-in fetch: zero-copy for uncompressed blocks of a mapped table,
 * heap memory otherwise. */
int fci_table_read_block(const fci_table *t, fci_block_handle h, int verify, fci_block_ref *ref,
                         fci_err *err);
void fci_table_release_block(const fci_table *t, fci_block_ref *ref);

/* Looks a meta block up by name in the metaindex (e.g. a "forkcache."
 * block). 0 and *h, FC_ENOTFOUND, or an error. */
int fci_table_find_meta(const fci_table *t, const char *name, fci_block_handle *h, fci_err *err);

/* The table's FCI_TTL_META_KEY figure: 0 and *max_expiry, FC_ENOTFOUND
 * when it has none, FC_ECORRUPT (detail in err) when it is malformed.
 * Reads only the metaindex and that block, never a data block. */
int fci_table_max_expiry(const fci_table *t, uint64_t *max_expiry, fci_err *err);

/* ---- point lookups ------------------------------------------------------- */

typedef struct fci_table_get_result {
    fci_slice key;        /* the internal key found */
    fci_slice value;      /* into the mapping when zero-copy, else into ref */
    uint64_t sequence;
    int type;             /* FCI_TYPE_VALUE or FCI_TYPE_DELETION */
    int filtered;         /* 1 when the bloom filter ruled the key out */
    fci_block_ref ref;    /* block holding value, released by get_done */
    fci_block_iter it;    /* reused across gets (its key buffer) */
} fci_table_get_result;

void fci_table_get_init(fci_table_get_result *r);
/*
 * Finds the first entry whose internal key is >= ikey (a lookup key: user
 * key + tag (sequence, FCI_TYPE_FOR_SEEK)) and returns 0 when it has the
 * same user key, FC_ENOTFOUND when there is none, or an error. The caller
 * checks r->type: a deletion means "deleted as of r->sequence". The slices
 * stay valid until fci_table_get_done (called by the next get as well).
 */
int fci_table_get(const fci_table *t, fci_slice ikey, fci_table_get_result *r, fci_err *err);
void fci_table_get_done(const fci_table *t, fci_table_get_result *r);
void fci_table_get_free(const fci_table *t, fci_table_get_result *r);

/* ---- iteration ----------------------------------------------------------- */

/* Two levels: the index block's entries, each the handle of a data block. */
typedef struct fci_table_iter {
    const fci_table *t;
    fci_block_iter index_it;
    fci_block_iter data_it;
    fci_block data_block;
    fci_block_ref ref;
    int has_block;
    uint64_t block_offset;
    int status;
    fci_err err;
} fci_table_iter;

void fci_table_iter_init(fci_table_iter *it, const fci_table *t);
void fci_table_iter_free(fci_table_iter *it);
int fci_table_iter_valid(const fci_table_iter *it);
void fci_table_iter_first(fci_table_iter *it);
void fci_table_iter_last(fci_table_iter *it);
void fci_table_iter_seek(fci_table_iter *it, fci_slice ikey);
void fci_table_iter_next(fci_table_iter *it);
void fci_table_iter_prev(fci_table_iter *it);
static inline fci_slice fci_table_iter_key(const fci_table_iter *it)
{
    return it->data_it.key;
}
static inline fci_slice fci_table_iter_value(const fci_table_iter *it)
{
    return it->data_it.value;
}
/* 0 or the first error met (detail copied into *err). */
int fci_table_iter_status(const fci_table_iter *it, fci_err *err);

/* ---- checking ------------------------------------------------------------ */

/*
 * Walks every block: handles inside the file and in order, every CRC,
 * compression, entry layout, internal keys strictly increasing across the
 * whole table, index keys separating their blocks, and every key passing
 * the filter. Reports the first problem with its file offset.
 */
int fci_table_verify(const fci_table *t, fci_err *err);

#endif
