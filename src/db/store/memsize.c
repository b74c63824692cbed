/*
 * memsize.c - sizes that follow the memory limit (see memsize.h and
 * docs/DESIGN.md, "Data past memory").
 */
#include "config.h"

#include "forkcache.h"
#include "db/store/memsize.h"

uint64_t fci_mapped_cap_for(uint64_t option, uint64_t memory)
{
    return option != 0 ? option : memory / FCI_MAPPED_SHARE_DIV;
}

/* Whole pages, so frames carve evenly; 0 stays 0 (no cache). */
static size_t page_floor(size_t n)
{
    return n & ~(size_t)4095;
}

size_t fci_bcache_size_for(size_t option, size_t arena_size, uint64_t memory)
{
    size_t want = option;
    if (option == FC_BLOCK_CACHE_AUTO) {
        uint64_t share = memory / FCI_BCACHE_SHARE_DIV, room = arena_size / 8;
        want = share > FC_DEFAULT_BLOCK_CACHE_SIZE ? (size_t)share : FC_DEFAULT_BLOCK_CACHE_SIZE;
        want = want < room ? want : (size_t)room;
    }
    uint64_t most = memory / FCI_BCACHE_MAX_DIV;
    return page_floor(want < most ? want : (size_t)most);
}
