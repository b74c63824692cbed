/*
 * check_db_framesize.c - the shared block cache's frames fit the store's
 * blocks (db/framesize.c): a fresh store gets the block size and an
 * eighth, a store of large values frames that hold its two-entry blocks
 * (frames of twice the block size once made the cache cost 1.8 times the
 * data, and blocks larger than a frame skip the cache), a compressed store
 * twice the block size, and damaged or foreign files change nothing.
 */
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fct.h"
#include "db/store/framesize.h"

static void fill(int compression, size_t value_size, int n)
{
    fc_options o = fct_small_opts();
    o.compression = compression;
    o.max_file_size = 256 * 1024;
    fc_store *s = fct_open_in(&o);
    char k[32], *v = malloc(value_size);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key%08d", i);
        for (size_t j = 0; j < value_size; j++)
            v[j] = (char)('a' + (i * 7 + (int)j) % 26);
        ck_assert_int_eq(fc_put(s, k, strlen(k), v, value_size), 0);
    }
    ck_assert_int_eq(fc_compact_range(s, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(fc_close(s), 0);
    free(v);
}

START_TEST(fresh_store_gets_block_size_and_an_eighth)
{
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, 4096), 4608);
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, 16384), 18432);
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, 1000), 4096); /* never below a page */
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, (size_t)1 << 25),
                      (size_t)1 << 24); /* capped */
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, "/nonexistent/forkcache", 4096), 4608);
}
END_TEST

/* 100-byte values: blocks end a little past 4 KiB, and so do the frames. */
START_TEST(small_values_get_frames_just_past_the_block)
{
    fill(FC_COMPRESSION_NONE, 100, 20000);
    size_t f = fci_frame_size_for(AT_FDCWD, fct_dir, 4096);
    ck_assert_uint_eq(f % 64, 0);
    ck_assert_uint_ge(f, 4096 + 4096 / 16);
    ck_assert_uint_le(f, 4096 + 512);
}
END_TEST

/* 3000-byte values: a block takes a second entry to pass 4 KiB, so it is
 * about 6 KiB; a frame of the block size and an eighth would fit none. */
START_TEST(large_values_get_frames_that_hold_their_blocks)
{
    fill(FC_COMPRESSION_NONE, 3000, 3000);
    size_t f = fci_frame_size_for(AT_FDCWD, fct_dir, 4096);
    ck_assert_uint_ge(f, 2 * 3000 + 2 * 11);
    ck_assert_uint_le(f, 2 * 3000 + 256);
}
END_TEST

/* The index knows a compressed block's stored size only. */
START_TEST(compressed_tables_get_twice_the_block)
{
    fill(FC_COMPRESSION_SNAPPY, 100, 20000);
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, 4096), 8192);
}
END_TEST

static void write_file(const char *name, const void *data, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fct_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* A table name on garbage, an empty one, a directory by a table's name:
 * skipped, as if absent. */
START_TEST(damaged_files_are_not_sampled)
{
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    write_file("900007.ldb", junk, sizeof junk);
    write_file("900008.ldb", "", 0);
    write_file("900009.sst", junk, 100);
    char path[4096];
    snprintf(path, sizeof path, "%s/900010.ldb", fct_dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_uint_eq(fci_frame_size_for(AT_FDCWD, fct_dir, 4096), 4608);
    fill(FC_COMPRESSION_NONE, 3000, 3000); /* and beside real tables */
    ck_assert_uint_ge(fci_frame_size_for(AT_FDCWD, fct_dir, 4096), 2 * 3000);
    rmdir(path);
}
END_TEST

/* A cache the arena's heap cannot hold names the options to change. */
START_TEST(cache_too_big_for_the_arena_says_so)
{
    fc_options o = fct_small_opts();
    o.arena_size = 64u << 20;
    o.block_cache_size = 40u << 20; /* carved as a 64 MiB block: no room */
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open(fct_dir, &o, &s), FC_ENOMEM);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(fc_errmsg(NULL), "block cache of 41943040 bytes does not fit the arena") &&
                  strstr(fc_errmsg(NULL), "arena_size"), "message: %s", fc_errmsg(NULL));
    o.arena_size = 128u << 20;
    s = fct_open_in(&o);
    ck_assert_int_eq(fc_close(s), 0);
}
END_TEST

static Suite *framesize_suite(void)
{
    Suite *s = suite_create("db_framesize");
    TCase *tc = tcase_create("framesize");
    tcase_add_checked_fixture(tc, fct_setup, fct_teardown);
    tcase_add_test(tc, fresh_store_gets_block_size_and_an_eighth);
    tcase_add_test(tc, small_values_get_frames_just_past_the_block);
    tcase_add_test(tc, large_values_get_frames_that_hold_their_blocks);
#ifdef HAVE_SNAPPY
    tcase_add_test(tc, compressed_tables_get_twice_the_block);
#endif
    tcase_add_test(tc, damaged_files_are_not_sampled);
    tcase_add_test(tc, cache_too_big_for_the_arena_says_so);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(framesize_suite)
