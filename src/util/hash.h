/*
 * hash.h - every hash function of the library, in one place.
 *
 * Two of them are formats: fci_hash is LevelDB's hash (bloom filters must
 * match the ones LevelDB writes) and fci_hash64 is stored on disk by the
 * hash index. Their values are pinned by tests/check_util_hash.c: changing
 * either breaks existing files. The others only need to agree between the
 * processes of one build sharing an arena (lease slots, block cache sets)
 * or within one process (the table cache).
 */
#ifndef FC_UTIL_HASH_H
#define FC_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* LevelDB's util/hash.cc Hash(): a murmur-like 32-bit hash. */
uint32_t fci_hash(const char *data, size_t n, uint32_t seed);

/* The hash index's 64-bit hash (stored on disk: never change it). */
uint64_t fci_hash64(const char *data, size_t n);

/* 64-bit FNV-1a: short keys, no alignment needs. */
uint64_t fci_hash_fnv1a(const void *data, size_t n);

/* splitmix64's finaliser: spreads small consecutive numbers over all bits. */
uint64_t fci_hash_mix64(uint64_t x);

/* Mixes two numbers (a file and an offset) into one well-spread word. */
uint64_t fci_hash_pair64(uint64_t a, uint64_t b);

#endif
