/*
 * block.c - building and reading LevelDB table blocks (see block.h).
 */
#include "config.h"

#include <string.h>

#include "forkcache.h"
#include "format/block.h"
#include "util/coding.h"

/* ---- builder ------------------------------------------------------------- */

/* The first restart point is always offset 0, so even an empty block has
 * one restart, as LevelDB writes it. */
static int start_block(fci_block_builder *b)
{
    b->counter = 0;
    b->num_entries = 0;
    b->finished = 0;
    return fci_buf_put_fixed32(&b->restarts, 0);
}

void fci_block_builder_init(fci_block_builder *b, int restart_interval)
{
    fci_buf_init(&b->buf);
    fci_buf_init(&b->restarts);
    fci_buf_init(&b->last_key);
    b->restart_interval = restart_interval < 1 ? 1 : restart_interval;
    b->counter = 0;
    b->num_entries = 0;
    b->finished = 0;
}

void fci_block_builder_free(fci_block_builder *b)
{
    fci_buf_free(&b->buf);
    fci_buf_free(&b->restarts);
    fci_buf_free(&b->last_key);
}

void fci_block_builder_reset(fci_block_builder *b)
{
    fci_buf_clear(&b->buf);
    fci_buf_clear(&b->restarts);
    fci_buf_clear(&b->last_key);
    b->counter = 0;
    b->num_entries = 0;
    b->finished = 0;
}

size_t fci_block_builder_size_estimate(const fci_block_builder *b)
{
    size_t restarts = b->restarts.size ? b->restarts.size : 4;
    return b->buf.size + restarts + 4;
}

static size_t common_prefix(fci_slice a, fci_slice b)
{
    size_t n = a.size < b.size ? a.size : b.size, i = 0;
    while (i < n && a.data[i] == b.data[i])
        i++;
    return i;
}

/* Restart offsets are 32-bit, so a block must stay under 4 GiB; refusing
 * here keeps the builder from ever writing a block its reader rejects. */
int fci_block_builder_add(fci_block_builder *b, fci_slice key, fci_slice value)
{
    int rc;
    if (b->restarts.size == 0 && (rc = start_block(b)) != 0)
        return rc;
    size_t shared = 0;
    if (b->counter < b->restart_interval) {
        shared = common_prefix(fci_buf_slice(&b->last_key), key);
    } else {
        if (b->buf.size > UINT32_MAX)
            return FC_ETOOBIG;
        if ((rc = fci_buf_put_fixed32(&b->restarts, (uint32_t)b->buf.size)) != 0)
            return rc;
        b->counter = 0;
    }
    size_t non_shared = key.size - shared;
    uint64_t total = (uint64_t)b->buf.size + 15 + non_shared + value.size +
                     b->restarts.size + 8;
    if (key.size > UINT32_MAX || value.size > UINT32_MAX || total > UINT32_MAX)
        return FC_ETOOBIG;
    size_t old = b->buf.size;
    if ((rc = fci_buf_reserve(&b->buf, 15 + non_shared + value.size)) != 0)
        return rc;
    fci_buf_put_varint32(&b->buf, (uint32_t)shared);
    fci_buf_put_varint32(&b->buf, (uint32_t)non_shared);
    fci_buf_put_varint32(&b->buf, (uint32_t)value.size);
    fci_buf_append(&b->buf, key.data + shared, non_shared);
    fci_buf_append(&b->buf, value.data, value.size);
    fci_buf_truncate(&b->last_key, shared);
    if ((rc = fci_buf_append(&b->last_key, key.data + shared, non_shared)) != 0) {
        fci_buf_truncate(&b->buf, old);
        return rc;
    }
    b->counter++;
    b->num_entries++;
    return 0;
}

int fci_block_builder_finish(fci_block_builder *b, fci_slice *out)
{
    int rc;
    if (!b->finished) {
        if (b->restarts.size == 0 && (rc = start_block(b)) != 0)
            return rc;
        if ((rc = fci_buf_append(&b->buf, b->restarts.data, b->restarts.size)) != 0)
            return rc;
        if ((rc = fci_buf_put_fixed32(&b->buf, (uint32_t)(b->restarts.size / 4))) != 0)
            return rc;
        b->finished = 1;
    }
    *out = fci_buf_slice(&b->buf);
    return 0;
}

/* ---- reader -------------------------------------------------------------- */

/* A block must hold its restart count and as many restart offsets as that
 * count claims; everything before them is entries. */
int fci_block_init(fci_block *b, const char *data, size_t size, fci_err *err)
{
    memset(b, 0, sizeof *b);
    if (size < 4)
        return fci_err_set(err, FC_ECORRUPT, "block: %zu bytes, too short for a restart count", size);
    if (size > UINT32_MAX)
        return fci_err_set(err, FC_ECORRUPT, "block: %zu bytes, over the 4 GiB block limit", size);
    uint32_t n = fci_get_fixed32(data + size - 4);
    uint32_t max = (uint32_t)((size - 4) / 4);
    if (n > max)
        return fci_err_set(err, FC_ECORRUPT, "block: %u restart points do not fit in %zu bytes", n, size);
    b->data = data;
    b->size = (uint32_t)size;
    b->num_restarts = n;
    b->restarts_off = (uint32_t)(size - 4 - 4 * (size_t)n);
    return 0;
}

int fci_block_init_known(fci_block *b, const char *data, size_t size, uint32_t entries_end)
{
    memset(b, 0, sizeof *b);
    if (size > UINT32_MAX || size < 4 || entries_end > size - 4 || (size - 4 - entries_end) % 4 != 0)
        return FC_ECORRUPT;
    b->data = data;
    b->size = (uint32_t)size;
    b->restarts_off = entries_end;
    b->num_restarts = (uint32_t)((size - 4 - entries_end) / 4);
    return 0;
}

void fci_block_iter_init(fci_block_iter *it, const fci_block *b, fci_cmp_fn cmp)
{
    fci_buf_init(&it->key_buf);
    it->cmp = cmp;
    fci_block_iter_reset(it, b);
}

void fci_block_iter_reset(fci_block_iter *it, const fci_block *b)
{
    it->block = *b;
    it->current = b->restarts_off;
    it->next = b->restarts_off;
    it->restart_index = b->num_restarts;
    it->key = fci_slice_make(NULL, 0);
    it->value = fci_slice_make(NULL, 0);
    fci_buf_clear(&it->key_buf);
    it->status = 0;
    it->why = NULL;
    it->where = 0;
}

void fci_block_iter_free(fci_block_iter *it)
{
    fci_buf_free(&it->key_buf);
}

int fci_block_iter_status(const fci_block_iter *it, fci_err *err)
{
    if (it->status == 0)
        return 0;
    return fci_err_set(err, it->status, "block: offset %u: %s", it->where, it->why);
}

/* Marks the iterator broken and invalid; positions stay inside the block. */
static void corrupt(fci_block_iter *it, uint32_t where, const char *why)
{
    it->status = FC_ECORRUPT;
    it->why = why;
    it->where = where;
    it->current = it->block.restarts_off;
    it->next = it->block.restarts_off;
    it->restart_index = it->block.num_restarts;
    it->key = fci_slice_make(NULL, 0);
    it->value = fci_slice_make(NULL, 0);
}

static void mark_end(fci_block_iter *it)
{
    it->current = it->block.restarts_off;
    it->next = it->block.restarts_off;
    it->restart_index = it->block.num_restarts;
}

static uint32_t restart_point(const fci_block_iter *it, uint32_t i)
{
    return fci_get_fixed32(it->block.data + it->block.restarts_off + 4 * (size_t)i);
}

/*
 * Decodes the three varints at off. One-byte varints (every length under
 * 128) are by far the common case, so they skip the general decoder.
 */
static int decode_header(const char *p, const char *limit, uint32_t *shared,
                         uint32_t *non_shared, uint32_t *value_len, const char **rest)
{
    if (limit - p >= 3 && ((unsigned char)p[0] | (unsigned char)p[1] | (unsigned char)p[2]) < 128) {
        *shared = (unsigned char)p[0];
        *non_shared = (unsigned char)p[1];
        *value_len = (unsigned char)p[2];
        *rest = p + 3;
        return 0;
    }
    if (fci_get_varint32(&p, limit, shared) != 0 ||
        fci_get_varint32(&p, limit, non_shared) != 0 ||
        fci_get_varint32(&p, limit, value_len) != 0)
        return FC_ECORRUPT;
    *rest = p;
    return 0;
}

/*
 * Parses the entry at it->next, making it current. The previous key must
 * still be it->key (prefix compression); at a restart point the caller has
 * emptied it. Returns 1 when an entry was parsed, 0 at the end or on
 * corruption.
 */
static int parse_next(fci_block_iter *it)
{
    const char *base = it->block.data;
    uint32_t off = it->next;
    uint32_t limit = it->block.restarts_off;
    if (off >= limit) {
        mark_end(it);
        return 0;
    }
    uint32_t shared, non_shared, value_len;
    const char *p;
    if (decode_header(base + off, base + limit, &shared, &non_shared, &value_len, &p) != 0) {
        corrupt(it, off, "entry header runs past the entries");
        return 0;
    }
    uint64_t avail = (uint64_t)(base + limit - p);
    if ((uint64_t)non_shared + value_len > avail) {
        corrupt(it, off, "entry key or value runs past the entries");
        return 0;
    }
    if (shared > it->key.size) {
        corrupt(it, off, "entry shares more bytes than the previous key has");
        return 0;
    }
    if (shared == 0) {
        /* Whole key stored: point into the block, no copy. */
        it->key = fci_slice_make(p, non_shared);
    } else {
        fci_buf *kb = &it->key_buf;
        if (it->key.data != kb->data) {
            /* Previous key lives in the block: copy its prefix first. */
            fci_buf_clear(kb);
            if (fci_buf_append(kb, it->key.data, shared) != 0) {
                corrupt(it, off, "out of memory rebuilding a key");
                it->status = FC_ENOMEM;
                return 0;
            }
        } else {
            fci_buf_truncate(kb, shared);
        }
        if (fci_buf_append(kb, p, non_shared) != 0) {
            corrupt(it, off, "out of memory rebuilding a key");
            it->status = FC_ENOMEM;
            return 0;
        }
        it->key = fci_buf_slice(kb);
    }
    it->value = fci_slice_make(p + non_shared, value_len);
    it->current = off;
    it->next = (uint32_t)(p + non_shared + value_len - base);
    return 1;
}

/* Readies parsing from restart point i; 0 when its offset is bad. */
static int seek_restart(fci_block_iter *it, uint32_t i)
{
    uint32_t off = restart_point(it, i);
    if (off > it->block.restarts_off) {
        corrupt(it, it->block.restarts_off + 4 * i, "restart point past the entries");
        return 0;
    }
    it->key = fci_slice_make(NULL, 0);
    it->restart_index = i;
    it->next = off;
    return 1;
}

void fci_block_iter_first(fci_block_iter *it)
{
    if (it->status != 0)
        return;
    if (it->block.num_restarts == 0) {
        mark_end(it);
        return;
    }
    if (seek_restart(it, 0))
        parse_next(it);
}

void fci_block_iter_seek_entry(fci_block_iter *it, uint32_t off)
{
    if (it->status != 0)
        return;
    it->key = fci_slice_make(NULL, 0);
    it->restart_index = 0;   /* unknown; only prev needs it and searches */
    it->next = off;
    parse_next(it);
}

void fci_block_iter_last(fci_block_iter *it)
{
    if (it->status != 0)
        return;
    if (it->block.num_restarts == 0) {
        mark_end(it);
        return;
    }
    if (!seek_restart(it, it->block.num_restarts - 1))
        return;
    while (parse_next(it) && it->next < it->block.restarts_off)
        ;
}

void fci_block_iter_next(fci_block_iter *it)
{
    if (!fci_block_iter_valid(it))
        return;
    parse_next(it);
}

/*
 * Entries only chain forward, so going back means restarting from the
 * restart point before the current entry and scanning up to it. Every step
 * lands strictly before the old position, so no input can loop forever.
 */
void fci_block_iter_prev(fci_block_iter *it)
{
    if (!fci_block_iter_valid(it))
        return;
    uint32_t original = it->current;
    if (it->block.num_restarts == 0 || restart_point(it, 0) >= original) {
        mark_end(it);
        return;
    }
    /* The last restart point before the current entry. Parsing forward
     * does not track it (a point lookup never goes back), so search. */
    uint32_t left = 0, right = it->block.num_restarts - 1;
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        if (restart_point(it, mid) < original)
            left = mid;
        else
            right = mid - 1;
    }
    if (!seek_restart(it, left))
        return;
    while (parse_next(it) && it->next < original)
        ;
}

/* Binary search over the restart points (each holds a whole key), then a
 * linear scan inside the chosen restart interval. */
void fci_block_iter_seek(fci_block_iter *it, fci_slice target)
{
    if (it->status != 0)
        return;
    if (it->block.num_restarts == 0) {
        mark_end(it);
        return;
    }
    uint32_t left = 0, right = it->block.num_restarts - 1;
    const char *base = it->block.data;
    uint32_t limit = it->block.restarts_off;
    while (left < right) {
        uint32_t mid = left + (right - left + 1) / 2;
        uint32_t off = restart_point(it, mid);
        uint32_t shared, non_shared, value_len;
        const char *p;
        if (off >= limit ||
            decode_header(base + off, base + limit, &shared, &non_shared, &value_len, &p) != 0 ||
            shared != 0 || non_shared > (uint64_t)(base + limit - p)) {
            corrupt(it, off, "bad entry at a restart point");
            return;
        }
        if (it->cmp(fci_slice_make(p, non_shared), target) < 0)
            left = mid;
        else
            right = mid - 1;
    }
    if (!seek_restart(it, left))
        return;
    while (parse_next(it)) {
        if (it->cmp(it->key, target) >= 0)
            return;
    }
}
