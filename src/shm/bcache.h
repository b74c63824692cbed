/*
 * bcache.h - the shared block cache: fixed-size frames in the arena that
 * every process of a store reads, keyed by (table file number, block
 * offset), filled by whichever process misses first.
 *
 * It holds what a mapping cannot serve zero-copy: decompressed blocks
 * (decompressed once for all workers) and the blocks of tables the Limiter
 * did not let a process map. The cross-process protocol (frame states,
 * per-set locks with dead-holder takeover, per-slot pin records, CLOCK) is
 * in docs/SHM_PROTOCOL.md, section 10.
 *
 * Only the writer creates the cache (fci_bcache_create, from the arena's
 * heap); every process, the writer included, opens a private handle on it
 * (fci_bcache_open) after its arena slot is claimed, and again in a child
 * after fci_arena_after_fork.
 */
#ifndef FC_SHM_BCACHE_H
#define FC_SHM_BCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/arena.h"
#include "util/error.h"

#define FCI_BCACHE_MAGIC   0x3145484341434342ull  /* "BCCACHE1" */
#define FCI_BCACHE_WAYS    8     /* frames per set */
#define FCI_BCACHE_PINS    63    /* pin records per reader slot */
#define FCI_BCACHE_MIN_FRAME 4096u
#define FCI_BCACHE_MAX_FRAME (1u << 24)   /* 16 MiB */

/* fci_bcache_get: the block was not cached; read it yourself (to heap). */
#define FCI_BCACHE_BYPASS 1

/* Frame states (low 2 bits of a frame word). */
enum { FCI_FRAME_EMPTY = 0, FCI_FRAME_FILLING = 1, FCI_FRAME_READY = 2, FCI_FRAME_EVICTING = 3 };

/*
 * A frame word: state (bits 0..1) | filler slot + 1 (bits 16..31, FILLING
 * only) | generation (bits 32..63, bumped each time the frame is claimed
 * for a new block, so a pin or a key read of an older use never matches).
 */
#define FCI_FW_STATE(w)   ((int)((w) & 3u))
#define FCI_FW_SLOT1(w)   ((uint32_t)(((w) >> 16) & 0xffffu))
#define FCI_FW_GEN(w)     ((uint32_t)((w) >> 32))
#define FCI_FW_MAKE(state, slot1, gen) \
    ((uint64_t)(state) | ((uint64_t)((slot1) & 0xffffu) << 16) | ((uint64_t)(gen) << 32))

/* A pin record: frame index + 1 (bits 0..30) | generation (bits 32..63).
 * FCI_PIN_RESERVED marks an entry a thread took but has not filled yet. */
#define FCI_PIN_MAKE(frame, gen)  ((uint64_t)((frame) + 1) | ((uint64_t)(gen) << 32))
#define FCI_PIN_RESERVED          (1ull << 31)

/* A process identity in a lock word or a frame's filler field: slot + 1
 * (bits 0..15) | that slot's claim generation (bits 32..63). */
#define FCI_TOKEN_MAKE(slot, gen) ((uint64_t)((slot) + 1) | ((uint64_t)(gen) << 32))
#define FCI_TOKEN_SLOT1(t)        ((uint32_t)((t) & 0xffffu))
#define FCI_TOKEN_GEN(t)          ((uint32_t)((t) >> 32))

/* The cache header, at the start of its heap block. Line 0 is written once
 * by the writer before it publishes bcache_off (release); lines 1-2 are
 * statistics (relaxed counters); line 3 is shared bookkeeping. */
typedef struct fci_bcache_header {
    uint64_t magic;
    uint32_t nframes;
    uint32_t frame_size;
    uint32_t nsets;
    uint32_t ways;
    uint32_t nareas;              /* one pin area per reader slot */
    uint32_t pins_per_area;
    uint64_t sets_off;            /* arena offsets of the tables below */
    uint64_t frames_off;
    uint64_t areas_off;
    uint64_t data_off;

    _Alignas(FCI_CACHELINE) _Atomic uint64_t hits;
    _Atomic uint64_t misses;      /* lookups that found nothing */
    _Atomic uint64_t fills;       /* frames published ready */
    _Atomic uint64_t evictions;   /* ready frames reused */
    _Atomic uint64_t waits;       /* lookups that waited for another's fill */
    _Atomic uint64_t bypasses;    /* caller told to read the block itself */
    _Atomic uint64_t takeovers;   /* dead fillers reset, dead lock holders replaced */
    _Atomic uint64_t pinned_skips; /* eviction candidates skipped because pinned */

    _Alignas(FCI_CACHELINE) _Atomic uint32_t areas_hi;   /* areas ever used: [0, hi) */
    uint32_t pad3a;
    _Atomic uint64_t last_sweep_ns; /* rate limit of slot sweeps on a full set */
    uint64_t pad3[6];
} fci_bcache_header;

_Static_assert(sizeof(fci_bcache_header) == 3 * FCI_CACHELINE, "cache header is three lines");
_Static_assert(offsetof(fci_bcache_header, hits) == FCI_CACHELINE, "stats line");
_Static_assert(offsetof(fci_bcache_header, areas_hi) == 2 * FCI_CACHELINE, "bookkeeping line");
_Static_assert(offsetof(fci_bcache_header, data_off) == 56, "geometry in line 0");

/* One set: its lock (0 or the holder's token) and CLOCK hand. */
typedef struct fci_bcache_set {
    _Alignas(FCI_CACHELINE) _Atomic uint64_t lock;
    _Atomic uint32_t hand;        /* next way the CLOCK looks at (under the lock) */
    uint32_t pad0;
    uint64_t pad[6];
} fci_bcache_set;

_Static_assert(sizeof(fci_bcache_set) == FCI_CACHELINE, "one set, one line");
_Static_assert(offsetof(fci_bcache_set, lock) == 0, "lock first");

/* One frame's metadata; its bytes are at data_off + index * frame_size. */
typedef struct fci_bcache_frame {
    _Alignas(FCI_CACHELINE) _Atomic uint64_t word;  /* FCI_FW_* */
    _Atomic uint64_t file;        /* key; valid while word's generation holds */
    _Atomic uint64_t offset;
    _Atomic uint64_t filler;      /* FCI_TOKEN of the process filling it */
    _Atomic uint32_t len;         /* bytes of contents once ready */
    _Atomic uint32_t ref;         /* CLOCK reference bit */
    uint64_t pad[3];
} fci_bcache_frame;

_Static_assert(sizeof(fci_bcache_frame) == FCI_CACHELINE, "one frame, one line");
_Static_assert(offsetof(fci_bcache_frame, word) == 0, "word first");
_Static_assert(offsetof(fci_bcache_frame, len) == 32, "len at 32");

/* The pin records of one reader slot's process. */
typedef struct fci_bcache_area {
    _Alignas(FCI_CACHELINE) _Atomic uint64_t owner; /* slot owner word of the user, 0 = none */
    _Atomic uint64_t pin[FCI_BCACHE_PINS];
} fci_bcache_area;

_Static_assert(sizeof(fci_bcache_area) == 512, "pin area is 512 bytes");
_Static_assert(offsetof(fci_bcache_area, pin) == 8, "pins follow the owner");

/* A process's handle (private memory). */
typedef struct fci_bcache {
    fci_arena *a;
    fci_bcache_header *hdr;
    fci_bcache_set *sets;
    fci_bcache_frame *frames;
    fci_bcache_area *areas;
    char *data;
    uint32_t nframes, frame_size, nsets, ways, nareas; /* validated copies */
    int pid;                  /* a->pid when opened: the handle's process */
    int slot;                 /* a->slot when opened */
    uint64_t token;           /* FCI_TOKEN of this process */
    fci_bcache_area *mine;
} fci_bcache;

/* A pinned block handed to a caller. */
typedef struct fci_bcache_ref {
    const char *data;
    size_t len;
    _Atomic uint64_t *pin;    /* the pin record to clear, NULL if none */
} fci_bcache_ref;

/* Fills a claimed frame: writes the block's contents into buf (cap bytes)
 * and sets *len; FCI_BCACHE_BYPASS when it does not fit, else 0 or an
 * error. */
typedef int (*fci_bcache_fill_fn)(void *arg, char *buf, size_t cap, size_t *len, fci_err *err);

typedef struct fci_bcache_stats {
    uint32_t nframes, frame_size, ready, filling, pinned_records;
    uint64_t hits, misses, fills, evictions, waits, bypasses, takeovers, pinned_skips;
} fci_bcache_stats;

/* Writer: carves a cache of about bytes (metadata included) from the arena
 * heap and records it in the arena header. FC_EINVAL when bytes cannot
 * hold one set of frames; FC_ENOMEM when the heap cannot. */
int fci_bcache_create(fci_arena *a, size_t bytes, size_t frame_size, fci_err *err);

/* Any process: a handle on the arena's cache, FC_ENOTFOUND if it has none,
 * FC_ECORRUPT if its geometry does not fit the arena. Also resets the pin
 * records of this process's slot left by an earlier holder. */
int fci_bcache_open(fci_arena *a, fci_bcache **out, fci_err *err);
void fci_bcache_close(fci_bcache *bc);

/* The block (file, offset): 0 with *ref pinned (release with
 * fci_bcache_release), FCI_BCACHE_BYPASS when the caller must read it
 * itself (no frame or pin record free, block too large, handle of another
 * process), or fill's error. On a miss this process calls fill once. */
int fci_bcache_get(fci_bcache *bc, uint64_t file, uint64_t offset, fci_bcache_fill_fn fill,
                   void *arg, fci_bcache_ref *ref, fci_err *err);
void fci_bcache_release(fci_bcache *bc, fci_bcache_ref *ref);

void fci_bcache_stats_get(const fci_bcache *bc, fci_bcache_stats *st);

/* Tests and checkers: frames holding (file, offset) as filling or ready. */
int fci_bcache_count_key(const fci_bcache *bc, uint64_t file, uint64_t offset);

#endif
