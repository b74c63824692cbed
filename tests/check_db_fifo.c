#include "config.h"
#include "fc_test.h"
START_TEST(test_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST
static Suite *s_(void){ Suite *su = suite_create("x"); TCase *tc = tcase_create("x"); tcase_add_test(tc, test_placeholder); suite_add_tcase(su, tc); return su; }
FC_TEST_MAIN(s_)
