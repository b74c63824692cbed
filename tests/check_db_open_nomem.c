/*
 * check_db_open_nomem.c - fc_open when memory runs out before a handle
 * exists: FC_ENOMEM, and fc_errmsg(NULL) says so instead of repeating an
 * earlier open's message.
 *
 * Linked with -Wl,--wrap=calloc (see Makefile.am): every calloc of this
 * program and of the library it links statically goes through
 * __wrap_calloc, which fails on demand.
 */
#include "config.h"

#include <stddef.h>

#include "fct.h"
#include "forkcache.h"

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int fail_callocs;   /* how many of the next callocs fail */

void *__wrap_calloc(size_t n, size_t size)
{
    if (fail_callocs > 0) {
        fail_callocs--;
        return NULL;
    }
    return __real_calloc(n, size);
}

START_TEST(enomem_open_sets_errmsg)
{
    fc_options o;
    fc_options_init(&o);
    o.block_size = 1; /* refused: leaves a message of its own */
    fc_store *s = NULL;
    ck_assert_int_eq(fc_open("/nonexistent-dir", &o, &s), FC_EINVAL);
    ck_assert_ptr_nonnull(strstr(fc_errmsg(NULL), "block_size"));

    fc_options_init(&o);
    fail_callocs = 1; /* the handle's own allocation */
    int rc = fc_open("/nonexistent-dir", &o, &s);
    fail_callocs = 0;
    ck_assert_int_eq(rc, FC_ENOMEM);
    ck_assert_ptr_null(s);
    const char *msg = fc_errmsg(NULL);
    ck_assert_msg(strstr(msg, "out of memory") != NULL, "stale message: %s", msg);
    ck_assert_msg(strstr(msg, "/nonexistent-dir") != NULL, "no directory in: %s", msg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("db_open_nomem");
    TCase *tc = tcase_create("open");
    tcase_add_test(tc, enomem_open_sets_errmsg);
    suite_add_tcase(s, tc);
    return s;
}

FCT_MAIN(suite)
