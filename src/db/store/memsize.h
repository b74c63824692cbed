/*
 * memsize.h - the sizes that follow the memory the store's processes may
 * use: the cap on mapped table bytes (the byte Limiter) and the shared
 * block cache.
 */
#ifndef FC_DB_MEMSIZE_H
#define FC_DB_MEMSIZE_H

#include <stddef.h>
#include <stdint.h>

/* Mapped bytes, summed over processes, may take this share of memory. */
#define FCI_MAPPED_SHARE_DIV 2
/* The default block cache takes this share of it... */
#define FCI_BCACHE_SHARE_DIV 16
/* ...and any block cache at most this share (a bigger request is cut). */
#define FCI_BCACHE_MAX_DIV   4

/* max_mapped_bytes for the arena: the option, or 0 -> memory / 2. */
uint64_t fci_mapped_cap_for(uint64_t option, uint64_t memory);

/* The block cache to carve: FC_BLOCK_CACHE_AUTO -> memory / 16 (at least
 * FC_DEFAULT_BLOCK_CACHE_SIZE, at most an eighth of the arena); any size
 * is then cut to memory / 4, so that the cache's frames, which are shared
 * memory no reclaim can take back, never push a process past its limit. */
size_t fci_bcache_size_for(size_t option, size_t arena_size, uint64_t memory);

#endif
