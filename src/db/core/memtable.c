/*
 * memtable.c - LevelDB memtable entries on the shared skiplist.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "db/core/memtable.h"
#include "format/dbformat.h"
#include "util/buf.h"
#include "util/coding.h"

/* An entry starts with its length-prefixed internal key; anything that does
 * not decode compares as its raw bytes, so ordering stays total. */
static inline fci_slice entry_ikey(fci_slice entry)
{
    /* Fast path: internal keys under 128 bytes have a one-byte length,
     * and this runs for every comparison of every insert and seek. */
    if (entry.size > 0 && (unsigned char)entry.data[0] < 0x80 &&
        (size_t)(unsigned char)entry.data[0] < entry.size)
        return fci_slice_make(entry.data + 1, (unsigned char)entry.data[0]);
    const char *p = entry.data;
    fci_slice ikey;
    if (fci_get_length_prefixed(&p, entry.data + entry.size, &ikey) != 0)
        return entry;
    return ikey;
}

/* fci_ikey_compare's order, inlined: it runs for every comparison of every
 * insert and seek. */
static int entry_compare(fci_slice a, fci_slice b)
{
    fci_slice ka = entry_ikey(a), kb = entry_ikey(b);
    if (ka.size < FCI_IKEY_TAG_SIZE || kb.size < FCI_IKEY_TAG_SIZE)
        return fci_bytewise_compare(ka, kb);
    size_t ua = ka.size - FCI_IKEY_TAG_SIZE, ub = kb.size - FCI_IKEY_TAG_SIZE;
    int r = fci_bytewise_compare_short(ka.data, ua, kb.data, ub);
    if (r != 0)
        return r;
    uint64_t ta = fci_get_fixed64(ka.data + ua), tb = fci_get_fixed64(kb.data + ub);
    return ta == tb ? 0 : ta > tb ? -1 : 1; /* larger tag = newer = sorts first */
}

int fci_memtable_create(fci_memtable *mt, char *base, size_t size, fci_skiplist_alloc alloc,
                        void *alloc_ctx)
{
    return fci_skiplist_create(&mt->list, base, size, entry_compare, alloc, alloc_ctx);
}

int fci_memtable_attach(fci_memtable *mt, char *base, size_t size, uint64_t root)
{
    return fci_skiplist_attach(&mt->list, base, size, root, entry_compare);
}

uint64_t fci_memtable_node_bound(size_t klen, size_t vlen)
{
    uint64_t ikey = (uint64_t)klen + FCI_IKEY_TAG_SIZE;
    uint64_t entry = (uint64_t)fci_varint_length(ikey) + ikey + (uint64_t)fci_varint_length(vlen) + vlen;
    return (sizeof(fci_skiplist_node) + FCI_SKIPLIST_MAX_HEIGHT * 8u + entry + 7) & ~(uint64_t)7;
}

/* Encodes the entry straight into its skiplist node: one copy of the key
 * and value, into shared memory, and no malloc. */
int fci_memtable_add(fci_memtable *mt, uint64_t seq, int type, fci_slice key, fci_slice value)
{
    if (key.size > FC_MAX_KEY_SIZE || value.size > FC_MAX_VALUE_SIZE)
        return FC_ETOOBIG;
    size_t ikey_len = key.size + FCI_IKEY_TAG_SIZE;
    size_t len = (size_t)fci_varint_length(ikey_len) + ikey_len +
                 (size_t)fci_varint_length(value.size) + value.size;
    uint64_t node;
    char *p;
    int rc = fci_skiplist_alloc_node(&mt->list, len, &node, &p);
    if (rc != 0)
        return rc;
    p = fci_put_varint32(p, (uint32_t)ikey_len);
    memcpy(p, key.data, key.size);
    fci_put_fixed64(p + key.size, fci_pack_tag(seq, type));
    p = fci_put_varint32(p + ikey_len, (uint32_t)value.size);
    memcpy(p, value.data, value.size);
    return fci_skiplist_link(&mt->list, node);
}

int fci_memtable_entry(const fci_memtable *mt, uint64_t node, fci_slice *ikey, fci_slice *value)
{
    fci_slice e = fci_skiplist_entry(&mt->list, node);
    const char *p = e.data, *end = e.data + e.size;
    if (e.data == NULL || fci_get_length_prefixed(&p, end, ikey) != 0 ||
        fci_get_length_prefixed(&p, end, value) != 0 || ikey->size < FCI_IKEY_TAG_SIZE)
        return FC_ECORRUPT;
    return 0;
}

/* A small stack buffer covers ordinary keys without a malloc per get. */
static uint64_t seek_key(const fci_memtable *mt, fci_slice ikey, int before)
{
    char stack[256];
    fci_buf b = FCI_BUF_INIT;
    fci_slice target;
    if (ikey.size + FCI_MAX_VARINT32_LEN <= sizeof stack) {
        char *end = fci_put_varint32(stack, (uint32_t)ikey.size);
        memcpy(end, ikey.data, ikey.size);
        target = fci_slice_make(stack, (size_t)(end - stack) + ikey.size);
    } else {
        if (fci_buf_put_length_prefixed(&b, ikey) != 0)
            return 0;
        target = fci_buf_slice(&b);
    }
    uint64_t node = before ? fci_skiplist_seek_before(&mt->list, target)
                           : fci_skiplist_seek(&mt->list, target);
    fci_buf_free(&b);
    return node;
}

uint64_t fci_memtable_seek(const fci_memtable *mt, fci_slice ikey)
{
    return seek_key(mt, ikey, 0);
}

uint64_t fci_memtable_seek_before(const fci_memtable *mt, fci_slice ikey)
{
    return seek_key(mt, ikey, 1);
}

int fci_memtable_get_ikey(const fci_memtable *mt, fci_slice ikey, fci_slice *value,
                          uint64_t *seq)
{
    fci_slice key = fci_ikey_user(ikey);
    uint64_t node = fci_memtable_seek(mt, ikey);
    fci_slice found, val;
    fci_parsed_ikey parsed;
    if (node == 0)
        return FC_ENOTFOUND;
    /* damage, not a miss: a miss would let a get return an older value */
    if (fci_memtable_entry(mt, node, &found, &val) != 0 || fci_ikey_parse(found, &parsed) != 0)
        return FC_ECORRUPT;
    if (fci_bytewise_compare(parsed.user_key, key) != 0)
        return FC_ENOTFOUND;
    if (parsed.type == FCI_TYPE_DELETION)
        return FCI_MEMTABLE_DELETED;
    *value = val;
    if (seq != NULL)
        *seq = parsed.sequence;
    return 0;
}

int fci_memtable_get(const fci_memtable *mt, fci_slice key, uint64_t snapshot, fci_slice *value)
{
    fci_lookup_key lk;
    int rc = fci_lookup_key_init(&lk, key, snapshot);
    if (rc == 0)
        rc = fci_memtable_get_ikey(mt, lk.ikey, value, NULL);
    fci_lookup_key_free(&lk);
    return rc;
}
