#include "config.h"
#include "fc_test.h"
#include "forkcache.h"
START_TEST(placeholder) { ck_assert_int_eq(fc_verify("/nonexistent-fc", NULL, NULL), FC_ENOTFOUND); }
END_TEST
static Suite *s(void) { Suite *su = suite_create("v"); TCase *t = tcase_create("c"); tcase_add_test(t, placeholder); suite_add_tcase(su, t); return su; }
FC_TEST_MAIN(s)
