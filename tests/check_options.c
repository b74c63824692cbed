/*
 * check_options.c - the version string, option defaults and validation.
 */
#include "config.h"

#include "fct.h"
#include "forkcache.h"

START_TEST(version_numbers)
{
    int ma = -1, mi = -1, pa = -1;
    const char *v = fc_version(&ma, &mi, &pa);
    ck_assert_int_eq(ma, FC_VERSION_MAJOR);
    ck_assert_int_eq(mi, FC_VERSION_MINOR);
    ck_assert_int_eq(pa, FC_VERSION_PATCH);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", ma, mi, pa);
    ck_assert_str_eq(v, expect);
    ck_assert_str_eq(fc_version(NULL, NULL, NULL), expect);
}
END_TEST

/* Every field of fc_options, in the order include/forkcache.h lists them,
 * against the default documented there; the 0xa5 fill shows a field that
 * fc_options_init leaves alone. */
START_TEST(defaults)
{
    fc_options o;
    memset(&o, 0xa5, sizeof o);
    fc_options_init(&o);
    ck_assert_uint_eq(o.flags, FC_CREATE);
    ck_assert_uint_eq(o.write_buffer_size, 4u << 20);
    ck_assert_uint_eq(o.block_size, 4096);
    ck_assert_int_eq(o.block_restart_interval, 4);
    ck_assert_int_eq(o.hash_index, 1);
    ck_assert_uint_eq(o.max_file_size, 2u << 20);
    ck_assert_int_eq(o.bloom_bits_per_key, 10);
    ck_assert_int_eq(o.compression, FC_COMPRESSION_NONE);
    ck_assert_int_eq(o.max_mappings, 1000);
    ck_assert_int_eq(o.reader_slots, 1024);
    ck_assert_uint_eq(o.arena_size, (size_t)1 << 30);
    ck_assert_uint_eq(o.block_cache_size, FC_BLOCK_CACHE_AUTO);
    ck_assert_uint_eq(o.max_mapped_bytes, 0);
    ck_assert_ptr_null(o.arena_path);
    ck_assert_uint_eq(o.file_mode, 0600);
    ck_assert_int_eq(o.queue_slots, 32);
    ck_assert_uint_eq(o.queue_entry_size, 256u << 10);
    ck_assert_int_eq(o.write_timeout_ms, 0);
    ck_assert_int_eq(o.ttl_framing, 0);
    ck_assert_uint_eq(o.max_bytes, 0);
    ck_assert_int_eq(o.max_snapshot_age_ms, 0);
    ck_assert_int_eq(fc_options_validate(&o, NULL), 0);
}
END_TEST

START_TEST(init_null_is_harmless)
{
    fc_options_init(NULL);
    const char *why = NULL;
    ck_assert_int_eq(fc_options_validate(NULL, &why), FC_EINVAL);
    ck_assert_ptr_nonnull(why);
}
END_TEST

/* Each bad field is refused and named; the message starts with the field's
 * name so a caller's log points at the line to fix. */
#define BAD_FIELD(field, value, name)                              \
    do {                                                           \
        fc_options o;                                              \
        const char *why = NULL;                                    \
        fc_options_init(&o);                                       \
        o.field = value;                                           \
        ck_assert_int_eq(fc_options_validate(&o, &why), FC_EINVAL); \
        ck_assert_ptr_nonnull(why);                                \
        ck_assert_msg(strncmp(why, name, strlen(name)) == 0,       \
                      "expected '%s...', got '%s'", name, why);    \
    } while (0)

START_TEST(validate_sizes)
{
    BAD_FIELD(write_buffer_size, 1000, "write_buffer_size");
    BAD_FIELD(write_buffer_size, (size_t)2 << 30, "write_buffer_size");
    BAD_FIELD(block_size, 10, "block_size");
    BAD_FIELD(max_file_size, 0, "max_file_size");
    BAD_FIELD(arena_size, 4096, "arena_size");
    BAD_FIELD(block_cache_size, (size_t)2 << 30, "block_cache_size");
}
END_TEST

START_TEST(validate_counts)
{
    BAD_FIELD(block_restart_interval, 0, "block_restart_interval");
    BAD_FIELD(bloom_bits_per_key, -1, "bloom_bits_per_key");
    BAD_FIELD(bloom_bits_per_key, 65, "bloom_bits_per_key");
    BAD_FIELD(max_mappings, -5, "max_mappings");
    BAD_FIELD(reader_slots, 0, "reader_slots");
    BAD_FIELD(compression, 7, "compression");
    BAD_FIELD(queue_slots, 0, "queue_slots");
    BAD_FIELD(queue_slots, 4000, "queue_slots"); /* 4000 x 256 KiB > a quarter of 1 GiB */
    BAD_FIELD(queue_entry_size, 100, "queue_entry_size");
    BAD_FIELD(write_timeout_ms, -1, "write_timeout_ms");
}
END_TEST

START_TEST(validate_flags_and_mode)
{
    BAD_FIELD(flags, 0x8000u, "flags");
    BAD_FIELD(flags, FC_READONLY | FC_SYNC, "flags");
    BAD_FIELD(file_mode, 0400, "file_mode");
    BAD_FIELD(file_mode, 04600, "file_mode");
    fc_options o;
    fc_options_init(&o);
    o.file_mode = 0644;
    o.bloom_bits_per_key = 0;
    o.max_mappings = 0; /* 0 = never map: every read goes through pread */
    ck_assert_int_eq(fc_options_validate(&o, NULL), 0);
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, version_numbers);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, init_null_is_harmless);
    tcase_add_test(tc, validate_sizes);
    tcase_add_test(tc, validate_counts);
    tcase_add_test(tc, validate_flags_and_mode);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(options_suite)
