/*
 * dbformat.h - LevelDB's internal keys: a user key followed by an 8-byte
 * little-endian tag (sequence << 8 | type). Tables and memtables store these,
 * so that a delete is a newer entry (a tombstone) rather than an erasure.
 *
 * Order: user key ascending (bytewise), then sequence descending, then type
 * descending - so the newest entry for a key comes first.
 */
#ifndef FC_FORMAT_DBFORMAT_H
#define FC_FORMAT_DBFORMAT_H

#include <stdint.h>

#include "util/buf.h"
#include "util/slice.h"

#define FCI_TYPE_DELETION 0
#define FCI_TYPE_VALUE 1
/* Seeking for (key, seq) uses the highest type so it lands on the first
 * entry with sequence <= seq, whatever that entry's type. */
#define FCI_TYPE_FOR_SEEK FCI_TYPE_VALUE

#define FCI_MAX_SEQUENCE ((UINT64_C(1) << 56) - 1)
#define FCI_IKEY_TAG_SIZE 8

typedef struct fci_parsed_ikey {
    fci_slice user_key;
    uint64_t sequence;
    int type;
} fci_parsed_ikey;

static inline uint64_t fci_pack_tag(uint64_t sequence, int type)
{
    return (sequence << 8) | (uint64_t)type;
}

/* Appends user_key + tag to b. 0 or FC_ENOMEM. */
int fci_ikey_append(fci_buf *b, fci_slice user_key, uint64_t sequence, int type);

/* Splits an internal key; FC_ECORRUPT when shorter than the tag or when the
 * type is neither value nor deletion. */
int fci_ikey_parse(fci_slice ikey, fci_parsed_ikey *out);

/* The user-key part; an input shorter than a tag yields an empty slice so
 * damaged data cannot make callers read before the buffer. */
static inline fci_slice fci_ikey_user(fci_slice ikey)
{
    if (ikey.size < FCI_IKEY_TAG_SIZE)
        return fci_slice_make(ikey.data, 0);
    return fci_slice_make(ikey.data, ikey.size - FCI_IKEY_TAG_SIZE);
}

/* The tag; 0 for an input shorter than a tag. */
uint64_t fci_ikey_tag(fci_slice ikey);

/* The internal-key order described above. Total on any input, including
 * malformed keys (they compare by their bytes), so no input can crash a
 * sort or a binary search. */
int fci_ikey_compare(fci_slice a, fci_slice b);

/* A lookup key: user key + tag (snapshot, FCI_TYPE_FOR_SEEK), which sorts
 * before every entry of that key visible at the snapshot. Built on the
 * stack for ordinary keys, since every get builds one. */
typedef struct fci_lookup_key {
    char stack[256];
    fci_buf heap;
    fci_slice ikey;
} fci_lookup_key;

/* 0 or FC_ENOMEM; always pair with fci_lookup_key_free. */
int fci_lookup_key_init(fci_lookup_key *lk, fci_slice user_key, uint64_t snapshot);
void fci_lookup_key_free(fci_lookup_key *lk);

/* Comparator name stored in the MANIFEST: the user comparator's, as
 * LevelDB records it. */
#define FCI_IKEY_COMPARATOR_NAME "leveldb.BytewiseComparator"

/*
 * Index-block helpers (LevelDB's FindShortestSeparator/FindShortSuccessor
 * over internal keys): shrink *start to a short key k with
 * start <= k < limit, or to a short k >= key, so index blocks stay small.
 * They only ever shorten; on any doubt they leave the key as it is.
 */
int fci_ikey_shortest_separator(fci_buf *start, fci_slice limit);
int fci_ikey_short_successor(fci_buf *key);

#endif
