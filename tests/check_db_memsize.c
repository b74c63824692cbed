/*
 * check_db_memsize.c - sizes that follow the memory limit: the size
 * parser, a cgroup directory's limit (v2 and v1 files), the store's
 * default block cache and cap on mapped bytes under a limit given through
 * FORKCACHE_MEMORY_LIMIT, and a block cache asked bigger than the limit
 * allows being cut, not refused.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fct_internal.h"
#include "db/store/memsize.h"
#include "util/memlimit.h"

START_TEST(sizes_parse)
{
    ck_assert_uint_eq(fci_parse_size("512M"), (uint64_t)512 << 20);
    ck_assert_uint_eq(fci_parse_size("512MiB"), (uint64_t)512 << 20);
    ck_assert_uint_eq(fci_parse_size("4g"), (uint64_t)4 << 30);
    ck_assert_uint_eq(fci_parse_size("4096"), 4096);
    ck_assert_uint_eq(fci_parse_size("0"), 0);
    ck_assert_uint_eq(fci_parse_size("12Q"), 0);
    ck_assert_uint_eq(fci_parse_size("-1"), 0);
    ck_assert_uint_eq(fci_parse_size(""), 0);
    ck_assert_uint_eq(fci_parse_size(NULL), 0);
    ck_assert_uint_eq(fci_parse_size("99999999999T"), 0);   /* past 64 bits */
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* v2 writes "max" for no limit; v1 a huge number; the tighter one wins. */
START_TEST(cgroup_files_read)
{
    const char *dir = fct_tmpdir();
    ck_assert_uint_eq(fci_cgroup_dir_limit(dir), UINT64_MAX);
    write_file(dir, "memory.max", "max\n");
    ck_assert_uint_eq(fci_cgroup_dir_limit(dir), UINT64_MAX);
    write_file(dir, "memory.max", "536870912\n");
    ck_assert_uint_eq(fci_cgroup_dir_limit(dir), (uint64_t)512 << 20);
    write_file(dir, "memory.limit_in_bytes", "268435456\n");
    ck_assert_uint_eq(fci_cgroup_dir_limit(dir), (uint64_t)256 << 20);
    fct_rmtree(dir);
}
END_TEST

START_TEST(limit_override)
{
    setenv(FCI_MEMORY_LIMIT_ENV, "256M", 1);
    ck_assert_uint_eq(fci_memory_limit(), (uint64_t)256 << 20);
    setenv(FCI_MEMORY_LIMIT_ENV, "junk", 1);
    ck_assert_uint_gt(fci_memory_limit(), 0);   /* ignored: the real limit */
    unsetenv(FCI_MEMORY_LIMIT_ENV);
    ck_assert_uint_gt(fci_memory_limit(), 0);
}
END_TEST

/* The rules, without a store. */
START_TEST(rules)
{
    uint64_t g = 1u << 30;
    ck_assert_uint_eq(fci_mapped_cap_for(0, g), g / 2);
    ck_assert_uint_eq(fci_mapped_cap_for(12345, g), 12345);
    ck_assert_uint_eq(fci_bcache_size_for(FC_BLOCK_CACHE_AUTO, (size_t)1 << 30, g), 64u << 20);
    /* an eighth of the arena at most */
    ck_assert_uint_eq(fci_bcache_size_for(FC_BLOCK_CACHE_AUTO, (size_t)256 << 20, g), 32u << 20);
    /* the floor, then the quarter of memory over it */
    ck_assert_uint_eq(fci_bcache_size_for(FC_BLOCK_CACHE_AUTO, (size_t)1 << 30, 64u << 20),
                      8u << 20);
    ck_assert_uint_eq(fci_bcache_size_for(FC_BLOCK_CACHE_AUTO, (size_t)1 << 30, 16u << 20),
                      4u << 20);
    ck_assert_uint_eq(fci_bcache_size_for(200u << 20, (size_t)1 << 30, g), 200u << 20);
    ck_assert_uint_eq(fci_bcache_size_for(900u << 20, (size_t)2 << 30, g), 256u << 20);
    ck_assert_uint_eq(fci_bcache_size_for(0, (size_t)1 << 30, g), 0);
}
END_TEST

/* Opens a fresh store with the options under a given memory limit and
 * returns its figures. */
static void stats_under(const char *limit, const fc_options *o, fc_stats *st)
{
    const char *dir = fct_tmpdir();
    setenv(FCI_MEMORY_LIMIT_ENV, limit, 1);
    fc_store *s;
    ck_assert_int_eq(fc_open(dir, o, &s), 0);
    unsetenv(FCI_MEMORY_LIMIT_ENV);
    ck_assert_int_eq(fc_stats_get(s, st), 0);
    ck_assert_int_eq(fc_close(s), 0);
    fct_rmtree(dir);
}

START_TEST(store_follows_the_limit)
{
    fc_options o;
    fc_stats st;
    fc_options_init(&o);
    o.arena_size = (size_t)512 << 20;
    stats_under("512M", &o, &st);
    /* a sixteenth: 32 MiB of frames (whole frames, so a little less) */
    ck_assert_uint_le(st.block_cache_size, 32u << 20);
    ck_assert_uint_gt(st.block_cache_size, 30u << 20);
    ck_assert_uint_eq(st.mapped_bytes_capacity, 256u << 20);
    ck_assert_uint_eq(st.mapped_bytes_in_use, 0);
    stats_under("2G", &o, &st);
    ck_assert_uint_le(st.block_cache_size, 64u << 20);   /* an eighth of the arena */
    ck_assert_uint_gt(st.block_cache_size, 60u << 20);
    ck_assert_uint_eq(st.mapped_bytes_capacity, (uint64_t)1 << 30);
    /* asked for 128 MiB under a 64 MiB limit: a 16 MiB cache, not a failure */
    o.block_cache_size = 128u << 20;
    stats_under("64M", &o, &st);
    ck_assert_uint_le(st.block_cache_size, 16u << 20);
    ck_assert_uint_gt(st.block_cache_size, 14u << 20);
    o.max_mapped_bytes = 5u << 20;
    stats_under("64M", &o, &st);
    ck_assert_uint_eq(st.mapped_bytes_capacity, 5u << 20);
}
END_TEST

static Suite *memsize_suite(void)
{
    Suite *s = suite_create("db_memsize");
    TCase *tc = tcase_create("memsize");
    tcase_add_test(tc, sizes_parse);
    tcase_add_test(tc, cgroup_files_read);
    tcase_add_test(tc, limit_override);
    tcase_add_test(tc, rules);
    tcase_add_test(tc, store_follows_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(memsize_suite)
