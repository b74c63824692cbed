/*
 * options.c - version string and option defaults: the first things a caller
 * touches, and the place every default is written down once.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <string.h>

#include "forkcache.h"

_Static_assert(FC_VERSION_MAJOR == 0 && FC_VERSION_MINOR == 1 && FC_VERSION_PATCH == 0,
               "keep FC_VERSION_* in forkcache.h in step with configure.ac");

const char *fc_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = FC_VERSION_MAJOR;
    if (minor)
        *minor = FC_VERSION_MINOR;
    if (patch)
        *patch = FC_VERSION_PATCH;
    return FC_VERSION_STRING;
}

void fc_options_init(fc_options *opts)
{
    if (opts == NULL)
        return;
    opts->flags = FC_CREATE;
    opts->write_buffer_size = FC_DEFAULT_WRITE_BUFFER_SIZE;
    opts->block_size = FC_DEFAULT_BLOCK_SIZE;
    opts->block_restart_interval = FC_DEFAULT_RESTART_INTERVAL;
    opts->max_file_size = FC_DEFAULT_MAX_FILE_SIZE;
    opts->bloom_bits_per_key = FC_DEFAULT_BLOOM_BITS_PER_KEY;
    opts->hash_index = 1;
    opts->compression = FC_COMPRESSION_NONE;
    opts->max_mappings = FC_DEFAULT_MAX_MAPPINGS;
    opts->reader_slots = FC_DEFAULT_READER_SLOTS;
    opts->arena_size = FC_DEFAULT_ARENA_SIZE;
    opts->block_cache_size = FC_BLOCK_CACHE_AUTO;
    opts->arena_path = NULL;
    opts->file_mode = FC_DEFAULT_FILE_MODE;
    opts->queue_slots = FC_DEFAULT_QUEUE_SLOTS;
    opts->queue_entry_size = FC_DEFAULT_QUEUE_ENTRY_SIZE;
    opts->write_timeout_ms = 0;
    opts->ttl_framing = 0;
    opts->max_bytes = 0;
    opts->max_snapshot_age_ms = 0;
    opts->max_mapped_bytes = 0;
    opts->follow = NULL;
    opts->follow_prefixes = NULL;
    opts->follow_nprefixes = 0;
    opts->max_stale_ms = FC_DEFAULT_MAX_STALE_MS;
}

/* The followed prefixes: at most 16 (the clear records), each at most 48
 * bytes (core/follow.h), none NULL. */
static int prefixes_ok(const fc_options *o)
{
    if (o->follow_nprefixes < 0 || o->follow_nprefixes > 16 ||
        (o->follow_nprefixes > 0 && o->follow_prefixes == NULL))
        return 0;
    for (int i = 0; i < o->follow_nprefixes; i++)
        if (o->follow_prefixes[i] == NULL || strlen(o->follow_prefixes[i]) > 48)
            return 0;
    return 1;
}

/* One rule per line so the first failing field is easy to name. */
#define FC_REQUIRE(cond, what)      \
    do {                            \
        if (!(cond)) {              \
            if (why)                \
                *why = (what);      \
            return FC_EINVAL;       \
        }                           \
    } while (0)

int fc_options_validate(const fc_options *o, const char **why)
{
    const unsigned known = FC_CREATE | FC_READONLY | FC_SYNC | FC_PARANOID | FC_BEST_EFFORT | FC_ATTACH;
    FC_REQUIRE(o != NULL, "options: NULL pointer");
    FC_REQUIRE((o->flags & ~known) == 0, "flags: unknown bit set");
    FC_REQUIRE(!((o->flags & FC_READONLY) && (o->flags & FC_SYNC)),
               "flags: FC_READONLY and FC_SYNC exclude each other");
    FC_REQUIRE(o->write_buffer_size >= 64 * 1024 && o->write_buffer_size <= (size_t)1 << 30,
               "write_buffer_size: must be 64 KiB .. 1 GiB");
    FC_REQUIRE(o->block_size >= 256 && o->block_size <= 4u << 20,
               "block_size: must be 256 B .. 4 MiB");
    FC_REQUIRE(o->block_restart_interval >= 1 && o->block_restart_interval <= 1024,
               "block_restart_interval: must be 1 .. 1024");
    FC_REQUIRE(o->max_file_size >= 64 * 1024 && o->max_file_size <= (size_t)1 << 30,
               "max_file_size: must be 64 KiB .. 1 GiB");
    FC_REQUIRE(o->bloom_bits_per_key >= 0 && o->bloom_bits_per_key <= 64,
               "bloom_bits_per_key: must be 0 .. 64");
    FC_REQUIRE(o->hash_index == 0 || o->hash_index == 1, "hash_index: must be 0 or 1");
    FC_REQUIRE(o->compression >= FC_COMPRESSION_NONE && o->compression <= FC_COMPRESSION_ZSTD,
               "compression: unknown FC_COMPRESSION_* value");
    FC_REQUIRE(o->max_mappings >= 0 && o->max_mappings <= 1 << 20,
               "max_mappings: must be 0 .. 1048576");
    FC_REQUIRE(o->reader_slots >= 1 && o->reader_slots <= 1 << 16,
               "reader_slots: must be 1 .. 65536");
    FC_REQUIRE(o->arena_size >= (size_t)1 << 20, "arena_size: must be at least 1 MiB");
    FC_REQUIRE(o->block_cache_size == FC_BLOCK_CACHE_AUTO || o->block_cache_size < o->arena_size,
               "block_cache_size: must be smaller than arena_size (or FC_BLOCK_CACHE_AUTO)");
    FC_REQUIRE((o->file_mode & ~(mode_t)0666) == 0 && (o->file_mode & 0600) == 0600,
               "file_mode: must include 0600 and only read/write bits");
    FC_REQUIRE(o->queue_slots >= 1 && o->queue_slots <= 4096, "queue_slots: must be 1 .. 4096");
    FC_REQUIRE(o->queue_entry_size >= 4096 && o->queue_entry_size <= ((size_t)64 << 20),
               "queue_entry_size: must be 4 KiB .. 64 MiB");
    FC_REQUIRE((uint64_t)o->queue_slots * o->queue_entry_size <= o->arena_size / 4,
               "queue_slots: the write queue must fit in a quarter of arena_size");
    FC_REQUIRE(o->write_timeout_ms >= 0, "write_timeout_ms: must be >= 0");
    FC_REQUIRE(o->ttl_framing == 0 || o->ttl_framing == 1, "ttl_framing: must be 0 or 1");
    FC_REQUIRE(o->max_bytes == 0 || o->max_bytes >= 64 * 1024,
               "max_bytes: must be 0 (no bound) or at least 64 KiB");
    FC_REQUIRE(o->max_snapshot_age_ms >= 0, "max_snapshot_age_ms: must be >= 0");
    FC_REQUIRE(o->follow == NULL || strncmp(o->follow, "redis://", 8) == 0 ||
               strncmp(o->follow, "unix://", 7) == 0,
               "follow: must be redis://HOST:PORT or unix:///PATH");
    FC_REQUIRE(prefixes_ok(o), "follow_prefixes: at most 16, each at most 48 bytes, none NULL");
    FC_REQUIRE(o->max_stale_ms >= 10 && o->max_stale_ms <= 3600000,
               "max_stale_ms: must be 10 .. 3600000");
    return 0;
}
