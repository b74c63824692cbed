#include "config.h"
#include "fc_test.h"
static Suite *s_(void){Suite *s=suite_create("x");return s;}
FC_TEST_MAIN(s_)
