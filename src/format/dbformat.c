/*
 * dbformat.c - internal keys and their comparator.
 */
#include "config.h"

#include "forkcache.h"
#include "format/dbformat.h"
#include "util/coding.h"

int fci_ikey_append(fci_buf *b, fci_slice user_key, uint64_t sequence, int type)
{
    int rc = fci_buf_reserve(b, user_key.size + FCI_IKEY_TAG_SIZE);
    if (rc != 0)
        return rc;
    fci_buf_append(b, user_key.data, user_key.size);
    return fci_buf_put_fixed64(b, fci_pack_tag(sequence, type));
}

int fci_lookup_key_init(fci_lookup_key *lk, fci_slice user_key, uint64_t snapshot)
{
    fci_buf_init(&lk->heap);
    if (user_key.size + FCI_IKEY_TAG_SIZE <= sizeof lk->stack) {
        if (user_key.size > 0)
            memcpy(lk->stack, user_key.data, user_key.size);
        fci_put_fixed64(lk->stack + user_key.size, fci_pack_tag(snapshot, FCI_TYPE_FOR_SEEK));
        lk->ikey = fci_slice_make(lk->stack, user_key.size + FCI_IKEY_TAG_SIZE);
        return 0;
    }
    int rc = fci_ikey_append(&lk->heap, user_key, snapshot, FCI_TYPE_FOR_SEEK);
    lk->ikey = fci_buf_slice(&lk->heap);
    return rc;
}

void fci_lookup_key_free(fci_lookup_key *lk)
{
    fci_buf_free(&lk->heap);
}

uint64_t fci_ikey_tag(fci_slice ikey)
{
    if (ikey.size < FCI_IKEY_TAG_SIZE)
        return 0;
    return fci_get_fixed64(ikey.data + ikey.size - FCI_IKEY_TAG_SIZE);
}

int fci_ikey_parse(fci_slice ikey, fci_parsed_ikey *out)
{
    if (ikey.size < FCI_IKEY_TAG_SIZE)
        return FC_ECORRUPT;
    uint64_t tag = fci_ikey_tag(ikey);
    int type = (int)(tag & 0xff);
    if (type != FCI_TYPE_VALUE && type != FCI_TYPE_DELETION)
        return FC_ECORRUPT;
    out->user_key = fci_ikey_user(ikey);
    out->sequence = tag >> 8;
    out->type = type;
    return 0;
}

int fci_ikey_compare(fci_slice a, fci_slice b)
{
    if (a.size < FCI_IKEY_TAG_SIZE || b.size < FCI_IKEY_TAG_SIZE)
        return fci_bytewise_compare(a, b);
    int r = fci_slice_compare(fci_ikey_user(a), fci_ikey_user(b));
    if (r != 0)
        return r;
    uint64_t ta = fci_ikey_tag(a), tb = fci_ikey_tag(b);
    if (ta == tb)
        return 0;
    return ta > tb ? -1 : 1; /* larger tag = newer = sorts first */
}

/* Bytewise FindShortestSeparator on user keys: after the common prefix, bump
 * the first differing byte if that still stays below limit. Returns 1 when
 * the key was shortened. */
static int user_shortest_separator(fci_buf *start, fci_slice limit)
{
    size_t n = start->size < limit.size ? start->size : limit.size;
    size_t diff = 0;
    while (diff < n && start->data[diff] == limit.data[diff])
        diff++;
    if (diff >= n)
        return 0; /* one is a prefix of the other */
    unsigned char byte = (unsigned char)start->data[diff];
    if (byte < 0xff && byte + 1 < (unsigned char)limit.data[diff]) {
        start->data[diff] = (char)(byte + 1);
        fci_buf_truncate(start, diff + 1);
        return 1;
    }
    return 0;
}

/* Bytewise FindShortSuccessor: the first byte that is not 0xff is bumped and
 * the rest cut; an all-0xff key has no shorter successor. */
static int user_short_successor(fci_buf *key)
{
    for (size_t i = 0; i < key->size; i++) {
        unsigned char byte = (unsigned char)key->data[i];
        if (byte != 0xff) {
            key->data[i] = (char)(byte + 1);
            fci_buf_truncate(key, i + 1);
            return 1;
        }
    }
    return 0;
}

/* Shared tail: a shortened user key gets the largest possible tag, so it
 * sorts before every real entry with that user key. */
static int shorten_ikey(fci_buf *ikey, fci_slice limit, int successor)
{
    if (ikey->size < FCI_IKEY_TAG_SIZE)
        return 0;
    fci_buf user = FCI_BUF_INIT;
    fci_slice ukey = fci_ikey_user(fci_buf_slice(ikey));
    int rc = fci_buf_append(&user, ukey.data, ukey.size);
    if (rc != 0)
        return rc;
    int shorter = successor ? user_short_successor(&user)
                            : user_shortest_separator(&user, fci_ikey_user(limit));
    if (shorter && user.size < ukey.size) {
        fci_buf_clear(ikey);
        rc = fci_ikey_append(ikey, fci_buf_slice(&user), FCI_MAX_SEQUENCE, FCI_TYPE_FOR_SEEK);
    }
    fci_buf_free(&user);
    return rc;
}

int fci_ikey_shortest_separator(fci_buf *start, fci_slice limit)
{
    if (limit.size < FCI_IKEY_TAG_SIZE)
        return 0;
    return shorten_ikey(start, limit, 0);
}

int fci_ikey_short_successor(fci_buf *key)
{
    return shorten_ikey(key, fci_slice_make(NULL, 0), 1);
}
