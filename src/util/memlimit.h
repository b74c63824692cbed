/*
 * memlimit.h - how much memory this process may use: the tightest memory
 * cgroup limit on its way to the root (v2 memory.max, v1
 * memory.limit_in_bytes) or physical memory when lower. The store sizes
 * its defaults from it (the byte Limiter's cap, the block cache).
 *
 * FORKCACHE_MEMORY_LIMIT, when set, replaces the answer: bytes with an
 * optional K, M, G or T suffix (powers of 1024). Tests use it to give a
 * store a memory limit without a cgroup; operators may too.
 */
#ifndef FC_UTIL_MEMLIMIT_H
#define FC_UTIL_MEMLIMIT_H

#include <stdint.h>

#define FCI_MEMORY_LIMIT_ENV "FORKCACHE_MEMORY_LIMIT"

/* Bytes this process may use; never 0 (4 GiB when nothing can be read). */
uint64_t fci_memory_limit(void);

/* "512M" -> 536870912; 0 on a malformed or zero size. */
uint64_t fci_parse_size(const char *s);

/* The limit of one cgroup directory: its memory.max (v2) or
 * memory.limit_in_bytes (v1); UINT64_MAX when it sets none. */
uint64_t fci_cgroup_dir_limit(const char *dir);

#endif
