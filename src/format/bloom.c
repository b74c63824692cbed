/*
 * bloom.c - LevelDB's bloom filter (see bloom.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "format/bloom.h"

/* LevelDB rounds bits_per_key * 0.69 down (a size_t cast). */
int fci_bloom_num_probes(int bits_per_key)
{
    int k = (int)(bits_per_key * 0.69);
    if (k < 1)
        k = 1;
    if (k > 30)
        k = 30;
    return k;
}

/* Double hashing: one hash per key, rotated to get the probe step, as
 * LevelDB does, so the bit positions match its filters exactly. */
int fci_bloom_create_hashed(int bits_per_key, const uint32_t *hashes, size_t n, fci_buf *dst)
{
    if (bits_per_key < 1)
        return FC_EINVAL;
    if (n > SIZE_MAX / 8 / (size_t)bits_per_key)
        return FC_ENOMEM;
    size_t bits = n * (size_t)bits_per_key;
    if (bits < 64)
        bits = 64;
    size_t bytes = (bits + 7) / 8;
    bits = bytes * 8;
    int k = fci_bloom_num_probes(bits_per_key);
    size_t start = dst->size;
    int rc = fci_buf_reserve(dst, bytes + 1);
    if (rc != 0)
        return rc;
    memset(dst->data + start, 0, bytes);
    dst->data[start + bytes] = (char)k;
    dst->size = start + bytes + 1;
    unsigned char *array = (unsigned char *)dst->data + start;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = hashes[i];
        uint32_t delta = (h >> 17) | (h << 15);
        for (int j = 0; j < k; j++) {
            uint32_t pos = (uint32_t)(h % bits);
            array[pos / 8] |= (unsigned char)(1u << (pos % 8));
            h += delta;
        }
    }
    return 0;
}

int fci_bloom_create(int bits_per_key, const fci_slice *keys, size_t n, fci_buf *dst)
{
    uint32_t small[64] = { 0 };
    uint32_t *h = small;
    if (n > 64) {
        if (n > SIZE_MAX / sizeof *h)
            return FC_ENOMEM;
        h = malloc(n * sizeof *h);
        if (h == NULL)
            return FC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        h[i] = fci_bloom_hash(keys[i]);
    int rc = fci_bloom_create_hashed(bits_per_key, h, n, dst);
    if (h != small)
        free(h);
    return rc;
}

int fci_bloom_may_match(fci_slice filter, fci_slice key)
{
    if (filter.size < 2)
        return 0;
    const unsigned char *array = (const unsigned char *)filter.data;
    size_t bits = (filter.size - 1) * 8;
    unsigned k = array[filter.size - 1];
    if (k > 30)
        return 1;
    uint32_t h = fci_bloom_hash(key);
    uint32_t delta = (h >> 17) | (h << 15);
    for (unsigned j = 0; j < k; j++) {
        uint32_t pos = (uint32_t)(h % bits);
        if ((array[pos / 8] & (1u << (pos % 8))) == 0)
            return 0;
        h += delta;
    }
    return 1;
}
