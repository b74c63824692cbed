/*
 * store_test.h - what the store-level suites share: a scratch store
 * directory per test (a checked fixture: setup/teardown), options small
 * enough that a few thousand writes flush and compact, and an open that
 * fails the test with the library's message.
 */
#ifndef FC_STORE_TEST_H
#define FC_STORE_TEST_H

#include <stdlib.h>
#include <string.h>

#include "fc_test.h"
#include "forkcache.h"

static const char *DIR_;

static inline void setup(void)
{
    DIR_ = strdup(fc_test_tmpdir());
}

static inline void teardown(void)
{
    fc_test_rmtree(DIR_);
    free((void *)DIR_);
}

/* 64 KiB memtables and tables: a few thousand writes flush and compact. */
static inline fc_options small_opts(void)
{
    fc_options o;
    fc_options_init(&o);
    o.write_buffer_size = 64 * 1024;
    o.max_file_size = 64 * 1024;
    o.arena_size = 64u << 20;
    o.block_cache_size = 1u << 20;
    return o;
}

static inline fc_store *open_in(const fc_options *o)
{
    fc_store *s = NULL;
    int rc = fc_open(DIR_, o, &s);
    ck_assert_msg(rc == 0, "fc_open: %s: %s", fc_strerror(rc), fc_errmsg(NULL));
    return s;
}

#endif
