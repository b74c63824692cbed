/*
 * hash.c - the library's hash functions (see hash.h).
 */
#include "config.h"

#include <string.h>

#include "util/coding.h"
#include "util/hash.h"

/* All arithmetic wraps modulo 2^32 as in LevelDB; tail bytes are taken as
 * unsigned, as current LevelDB does. */
uint32_t fci_hash(const char *data, size_t n, uint32_t seed)
{
    const uint32_t m = 0xc6a4a793u;
    const uint32_t r = 24;
    const unsigned char *p = (const unsigned char *)data;
    const unsigned char *end = p + n;
    uint32_t h = seed ^ ((uint32_t)n * m);
    while (end - p >= 4) {
        uint32_t w = fci_get_fixed32((const char *)p);
        p += 4;
        h += w;
        h *= m;
        h ^= (h >> 16);
    }
    switch (end - p) {
    case 3:
        h += (uint32_t)p[2] << 16;
        /* fall through */
    case 2:
        h += (uint32_t)p[1] << 8;
        /* fall through */
    case 1:
        h += p[0];
        h *= m;
        h ^= (h >> r);
        break;
    default:
        break;
    }
    return h;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* The hash is defined on little-endian words, whatever the host. */
static inline uint64_t load_word(const char *p, size_t n)
{
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&w, p, n);
#else
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)(unsigned char)p[i] << (8 * i);
#endif
    return w;
}

/* A word-at-a-time multiply-rotate hash with a final avalanche: the hash
 * index takes its slot and its tag from different bits, so both must be
 * well mixed. Its values are stored on disk. */
uint64_t fci_hash64(const char *data, size_t n)
{
    const uint64_t k1 = UINT64_C(0x9e3779b97f4a7c15), k2 = UINT64_C(0xc2b2ae3d27d4eb4f);
    uint64_t h = (uint64_t)n * k1;
    const char *p = data;
    for (; n >= 8; p += 8, n -= 8)
        h = rotl64(h ^ (rotl64(load_word(p, 8) * k2, 31) * k1), 27) * 5 + 0x52dce729;
    if (n > 0)
        h ^= rotl64(load_word(p, n) * k2, 31) * k1;
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 29;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 32;
    return h;
}

/* One multiply per byte: cheap for the short keys of the lease table. */
uint64_t fci_hash_fnv1a(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* A split-ordered hash table sorts by bit-reversed hash, so the high bits
 * must depend on the low ones too. */
uint64_t fci_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

/* Each input gets its own odd multiplier before the final avalanche, so
 * (a, b) and (b, a) land apart. */
uint64_t fci_hash_pair64(uint64_t a, uint64_t b)
{
    uint64_t x = a * UINT64_C(0x9e3779b97f4a7c15) ^
                 (b + UINT64_C(0x632be59bd9b4e019)) * UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 31;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 29;
    return x;
}
