/*
 * bloom.h - LevelDB's built-in bloom filter policy
 * ("leveldb.BuiltinBloomFilter2"), bit for bit, so filters written by
 * LevelDB answer here and ours answer in LevelDB.
 *
 * A filter is a bit array (at least 64 bits) followed by one byte holding
 * the number of probes k. Tables build filters over user keys.
 */
#ifndef FC_FORMAT_BLOOM_H
#define FC_FORMAT_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/hash.h"
#include "util/slice.h"

#define FCI_BLOOM_POLICY_NAME "leveldb.BuiltinBloomFilter2"
#define FCI_BLOOM_HASH_SEED 0xbc9f1d34u

static inline uint32_t fci_bloom_hash(fci_slice key)
{
    return fci_hash(key.data, key.size, FCI_BLOOM_HASH_SEED);
}

/* Probes per key for a bits-per-key setting: bits_per_key * 0.69 (ln 2),
 * clamped to [1, 30]. */
int fci_bloom_num_probes(int bits_per_key);

/* Appends to dst the filter for keys[0..n). 0 or FC_ENOMEM / FC_EINVAL. */
int fci_bloom_create(int bits_per_key, const fci_slice *keys, size_t n, fci_buf *dst);

/* Same, from precomputed fci_bloom_hash values (the filter block keeps
 * hashes instead of copies of the keys). */
int fci_bloom_create_hashed(int bits_per_key, const uint32_t *hashes, size_t n, fci_buf *dst);

/* 0 when key is surely not in the set the filter was built from, 1 when it
 * may be. As LevelDB: a filter under 2 bytes matches nothing, and the
 * encodings LevelDB reserves for the future (k > 30) match everything. */
int fci_bloom_may_match(fci_slice filter, fci_slice key);

#endif
