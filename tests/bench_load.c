/* bench_load.c - load benchmark against LevelDB (being written). */
#include "config.h"
int main(void)
{
    return 0;
}
