#include "config.h"
#include "fc_test.h"
#include "shm_test.h"
static Suite *s_(void){return suite_create("x");}
FC_TEST_MAIN(s_)
