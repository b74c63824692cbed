/*
 * layout.h - the bytes of the shared arena, as every process sees them.
 *
 * Everything here lives inside one MAP_SHARED region that processes may map
 * at different addresses, so structures hold 64-bit offsets from the arena
 * base, never pointers. Every struct is fixed-layout; its size and the
 * offsets another process depends on are pinned with _Static_assert, and a
 * change to any of them must bump FCI_ARENA_LAYOUT_VERSION. Fields that two
 * processes write side by side get a cache line of their own.
 *
 * Who writes which field, and with which memory order, is in
 * docs/SHM_PROTOCOL.md.
 */
#ifndef FC_SHM_LAYOUT_H
#define FC_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FCI_CACHELINE 64

/* "FCARENA1" read as a little-endian word; a big-endian reader sees it
 * byte-swapped, which attach reports as a byte-order mismatch. */
#define FCI_ARENA_MAGIC          0x31414e4552414346ull
/* 2: ttl_off (at 600, padding in 1) and values framed with their expiry in
 * ttl_framing stores, which a build of layout 1 would misread. Layout 1's
 * header differs only in that padding word (arena.c replaces a closed
 * layout-1 file). */
/* 3: the write lane (lane_off at 176), fc_wait's futex words (184, 188),
 * the queue's reply word and space_waiters: a build of layout 2 would
 * apply writes without the write lock and read replies from the payload.
 * Every older layout's owner fields sit where ours do (arena.c replaces a
 * closed file of an older layout). */
#define FCI_ARENA_LAYOUT_VERSION 3u
#define FCI_ARENA_LAYOUT_OLDEST  1u
/* Written natively; read back byte-swapped on a machine of the other order. */
#define FCI_ARENA_BOM            0x0102030405060708ull

#define FCI_ARENA_DIR_MAX        256    /* bytes for the store directory path */
#define FCI_ALLOC_MIN_SHIFT      6      /* smallest block: 64 bytes */
#define FCI_ALLOC_CLASSES        42     /* blocks of 2^6 .. 2^47 bytes */
#define FCI_MAX_READER_SLOTS     65535u /* the Limiter word has 16 bits of slot */
#define FCI_MAX_MAPPINGS         ((1u << 24) - 1) /* 24 bits of count */

/*
 * The Limiter word (fci_arena_header.limiter): the count of mappings still
 * allowed plus a descriptor of the one transfer in flight, so that the count
 * and a slot's holdings change together even if a process dies between the
 * two steps (docs/SHM_PROTOCOL.md, "Limiter").
 *   bits  0..23  count still allowed
 *   bits 24..39  slot index + 1 of the transfer in flight, 0 = none
 *   bits 40..63  that transfer's tag (low 24 bits of the slot's op tag)
 */
#define FCI_LIM_COUNT(w)  ((uint32_t)((w) & 0xffffffu))
#define FCI_LIM_SLOT(w)   ((uint32_t)(((w) >> 24) & 0xffffu))
#define FCI_LIM_TAG(w)    ((uint32_t)((w) >> 40))
#define FCI_LIM_MAKE(count, slot1, tag) \
    ((uint64_t)(count) | ((uint64_t)(slot1) << 24) | ((uint64_t)((tag) & 0xffffffu) << 40))
#define FCI_TAG_MASK      0xffffffu

/* Header of the arena, at offset 0. Lines 0 and 4 are written once by the
 * creator before the magic is published; the others are live. */
typedef struct fci_arena_header {
    /* line 0: identity and geometry, immutable once magic is stored */
    _Atomic uint64_t magic;          /* stored last (release) by the creator */
    uint32_t layout_version;
    uint32_t header_size;            /* sizeof(fci_arena_header) */
    uint64_t bom;                    /* FCI_ARENA_BOM */
    uint64_t arena_size;             /* bytes mapped, == file size */
    uint64_t slot_off;               /* reader slot table */
    uint64_t heap_off;               /* allocator heap, up to arena_size */
    uint32_t slot_count;
    uint32_t max_mappings;           /* Limiter capacity */
    uint64_t create_time_ns;         /* CLOCK_REALTIME at creation, for humans */

    /* line 1: who owns the arena and who writes */
    _Alignas(FCI_CACHELINE) _Atomic int32_t owner_pid;  /* creator; 0 after its detach */
    int32_t pad1;
    _Atomic uint64_t owner_start;    /* creator's start time (/proc stat field 22) */
    _Atomic uint64_t writer_owner;   /* reserved for the writer module: pid | gen<<32;
                                        0 after its close, pid 0 gen 1 once a later
                                        writer retired the arena (db/core/writerid.h) */
    _Atomic uint64_t writer_start;   /* the writer's start time */
    /* the writer's counters, for fc_stats in any process (relaxed: figures) */
    _Atomic uint64_t writer_flushes;
    _Atomic uint64_t writer_compactions;
    _Atomic uint64_t writer_bytes_compacted;
    _Atomic uint64_t writer_stalls;  /* stall count << 8 | current FCI_STALL_* */

    /* line 2: publication, written by the writer, read by every reader */
    _Alignas(FCI_CACHELINE) _Atomic uint64_t current_version_off; /* 0 = none yet */
    _Atomic uint64_t published_seq;  /* sequence of current_version_off's version */
    _Atomic uint64_t last_sequence;  /* newest write sequence readers may see */
    _Atomic uint64_t wq_off;         /* the write queue (0 = none), set by the writer */
    _Atomic uint64_t bcache_off;     /* shared block cache header, 0 = none (release by the writer) */
    _Atomic uint64_t lease_off;      /* lease table (shm/lease.h), 0 = none (release by the writer) */
    _Atomic uint64_t lane_off;       /* the write lane (shm/lane.h), 0 = none (release by the writer) */
    /* fc_wait's futex words (SHM_PROTOCOL.md 15): seq_changes is bumped
     * after every store of last_sequence (and when the writer leaves);
     * seq_waiters counts processes inside fc_wait, so a publication makes
     * the FUTEX_WAKE system call only when someone sleeps (zero padding in
     * older arenas reads as "nobody waits") */
    _Atomic uint32_t seq_changes;
    _Atomic uint32_t seq_waiters;

    /* line 3: the Limiter, hit by every process that maps a table */
    _Alignas(FCI_CACHELINE) _Atomic uint64_t limiter;  /* FCI_LIM_* word */
    /* the byte Limiter: an FCI_LIM_* word whose count is in units of
     * 1 << mapped_shift mapped bytes; its holdings are the byte slots after
     * the slot table (fci_byte_slot). Both u32s are written once by the
     * creator before the magic. */
    _Atomic uint64_t mapped_limiter;
    uint32_t mapped_units;           /* byte Limiter capacity, in units */
    uint32_t mapped_shift;           /* log2 of a unit's bytes */
    /* the operation counters (shm/counters.h), 0 = none: stored once by the
     * writer (release) after the block is zeroed; read-mostly, so it sits
     * well on this line */
    _Atomic uint64_t counters_off;
    uint64_t pad3[4];

    /* line 4: the store directory, written once at creation */
    _Alignas(FCI_CACHELINE) uint32_t dir_len;
    char dir[FCI_ARENA_DIR_MAX];

    /* allocator: written only by the writer; counters read by stats */
    _Alignas(FCI_CACHELINE) _Atomic uint64_t alloc_top;    /* bump pointer (offset) */
    _Atomic uint64_t alloc_in_use;   /* bytes in allocated blocks */
    _Atomic uint64_t alloc_blocks;   /* blocks allocated */
    /* the expiry/eviction block (src/db/ttl.h), 0 = none: stored once by the
     * writer (release) after the block is filled (padding in layout 1) */
    _Atomic uint64_t ttl_off;
    /* the oldest reader pin as the writer last saw it, for the writer's
     * max_snapshot_age_ms (src/db/core/publish.c); figures, relaxed; zero pad in
     * older arenas reads as "nothing watched" */
    _Atomic uint64_t pin_watch_seq;  /* version pinned longest, 0 = none */
    _Atomic uint64_t pin_watch_since; /* CLOCK_MONOTONIC ns when the writer first saw it */
    _Atomic uint64_t pin_stale_pid;  /* its reader once older than the limit, 0 = none */
    /* the clear/follow block (src/db/core/follow.h), 0 = none: stored once
     * by the writer (release) after the block is filled (padding before) */
    _Atomic uint64_t follow_off;
    uint64_t free_head[FCI_ALLOC_CLASSES]; /* offset of first free block, 0 = none */
} fci_arena_header;

_Static_assert(sizeof(fci_arena_header) % FCI_CACHELINE == 0, "header is whole lines");
_Static_assert(sizeof(fci_arena_header) == 1024, "header size is part of the layout");
_Static_assert(offsetof(fci_arena_header, magic) == 0, "magic first");
_Static_assert(offsetof(fci_arena_header, layout_version) == 8, "version at 8");
_Static_assert(offsetof(fci_arena_header, bom) == 16, "bom at 16");
_Static_assert(offsetof(fci_arena_header, arena_size) == 24, "size at 24");
_Static_assert(offsetof(fci_arena_header, slot_off) == 32, "slot_off at 32");
_Static_assert(offsetof(fci_arena_header, heap_off) == 40, "heap_off at 40");
_Static_assert(offsetof(fci_arena_header, slot_count) == 48, "slot_count at 48");
_Static_assert(offsetof(fci_arena_header, owner_pid) == 64, "owner line");
_Static_assert(offsetof(fci_arena_header, bcache_off) == 160, "publication line");
_Static_assert(offsetof(fci_arena_header, current_version_off) == 128, "publication line");
_Static_assert(offsetof(fci_arena_header, published_seq) == 136, "publication line");
_Static_assert(offsetof(fci_arena_header, last_sequence) == 144, "publication line");
_Static_assert(offsetof(fci_arena_header, wq_off) == 152, "publication line");
_Static_assert(offsetof(fci_arena_header, lease_off) == 168, "publication line");
_Static_assert(offsetof(fci_arena_header, lane_off) == 176, "publication line");
_Static_assert(offsetof(fci_arena_header, seq_changes) == 184, "fc_wait's words");
_Static_assert(offsetof(fci_arena_header, seq_waiters) == 188, "fc_wait's words");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "futex words are plain 32-bit words");
_Static_assert(offsetof(fci_arena_header, limiter) == 192, "Limiter line");
_Static_assert(offsetof(fci_arena_header, mapped_limiter) == 200, "byte Limiter word");
_Static_assert(offsetof(fci_arena_header, mapped_units) == 208, "byte Limiter capacity");
_Static_assert(offsetof(fci_arena_header, mapped_shift) == 212, "byte Limiter unit");
_Static_assert(offsetof(fci_arena_header, counters_off) == 216, "counters block offset");
_Static_assert(offsetof(fci_arena_header, dir) == 260, "directory");
_Static_assert(offsetof(fci_arena_header, alloc_top) == 576, "allocator line");
_Static_assert(offsetof(fci_arena_header, ttl_off) == 600, "expiry block offset");
_Static_assert(offsetof(fci_arena_header, follow_off) == 632, "clear/follow block offset");
_Static_assert(offsetof(fci_arena_header, free_head) == 640, "free lists");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8,
               "64-bit atomics are plain 8-byte words");

/*
 * One reader slot: one cache line, written by its holding process (and by a
 * reclaimer once that process is dead).
 *   owner: pid (low 32 bits, signed: >0 holder, 0 free, <0 a reclaimer's
 *          -pid) | claim generation (high 32 bits), so a CAS on the whole
 *          word can never confuse two successive holders with the same pid.
 *   held:  Limiter units held (low 32 bits) | op tag (high 32 bits).
 *   intent: the transfer being made: delta (low 32 bits, signed) | tag
 *          (bits 32..55) | busy (bit 63) while a thread of the holder owns
 *          the slot's transfer channel.
 */
typedef struct fci_reader_slot {
    _Alignas(FCI_CACHELINE) _Atomic uint64_t owner;
    _Atomic uint64_t start_time;     /* holder's start time; 0 while claiming */
    _Atomic uint64_t pinned_seq;     /* version sequence pinned, 0 = none */
    _Atomic uint64_t held;
    _Atomic uint64_t intent;
    _Atomic uint64_t n_pins;         /* counters, for stats */
    _Atomic uint64_t n_acquired;
    _Atomic uint64_t n_refused;
} fci_reader_slot;

_Static_assert(sizeof(fci_reader_slot) == FCI_CACHELINE, "one slot, one line");
_Static_assert(offsetof(fci_reader_slot, owner) == 0, "owner first");
_Static_assert(offsetof(fci_reader_slot, start_time) == 8, "start at 8");
_Static_assert(offsetof(fci_reader_slot, pinned_seq) == 16, "pin at 16");
_Static_assert(offsetof(fci_reader_slot, held) == 24, "held at 24");
_Static_assert(offsetof(fci_reader_slot, intent) == 32, "intent at 32");

#define FCI_OWNER_PID(w)      ((int32_t)(uint32_t)(w))
#define FCI_OWNER_GEN(w)      ((uint32_t)((w) >> 32))
#define FCI_OWNER_MAKE(pid, gen) ((uint64_t)(uint32_t)(pid) | ((uint64_t)(gen) << 32))
#define FCI_HELD_COUNT(w)     ((uint32_t)(w))
#define FCI_HELD_TAG(w)       ((uint32_t)((w) >> 32))
#define FCI_HELD_MAKE(n, tag) ((uint64_t)(n) | ((uint64_t)(tag) << 32))
#define FCI_INTENT_BUSY       (1ull << 63)
#define FCI_INTENT_DELTA(w)   ((int32_t)(uint32_t)(w))
#define FCI_INTENT_TAG(w)     ((uint32_t)(((w) >> 32) & FCI_TAG_MASK))
#define FCI_INTENT_MAKE(delta, tag) \
    ((uint64_t)(uint32_t)(delta) | ((uint64_t)((tag) & FCI_TAG_MASK) << 32))

/*
 * One process's holdings of the byte Limiter: the same held/intent pair as
 * in its reader slot (FCI_HELD_*, FCI_INTENT_*), for units of mapped bytes.
 * The table of slot_count of them follows the slot table, slot s's at
 * index s; it is written only during a table mapping or unmapping, so two
 * slots may share a line.
 */
typedef struct fci_byte_slot {
    _Atomic uint64_t held;
    _Atomic uint64_t intent;
} fci_byte_slot;

_Static_assert(sizeof(fci_byte_slot) == 16, "byte slot is two words");
_Static_assert(offsetof(fci_byte_slot, intent) == offsetof(fci_byte_slot, held) + 8 &&
               offsetof(fci_reader_slot, intent) == offsetof(fci_reader_slot, held) + 8,
               "intent follows held in both kinds of slot (slots.c relies on it)");

/* The byte Limiter's unit: 64 KiB, doubled until the cap fits the word's
 * 24-bit count. */
#define FCI_MAPPED_MIN_SHIFT 16

/*
 * An allocated block starts with this header; the caller's bytes follow at
 * +16 (so they are 16-byte aligned; blocks themselves are 64-aligned). A free
 * block keeps the header with FCI_BLOCK_FREE and the next free block's
 * offset in `next`.
 */
#define FCI_BLOCK_USED 0x4b4c4255u  /* "UBLK" */
#define FCI_BLOCK_FREE 0x4b4c4246u  /* "FBLK" */
typedef struct fci_block_header {
    uint32_t state;
    uint32_t size_class;             /* block is 1 << size_class bytes */
    uint64_t next;                   /* free list link, 0 = end */
} fci_block_header;

_Static_assert(sizeof(fci_block_header) == 16, "block header is 16 bytes");

#endif
