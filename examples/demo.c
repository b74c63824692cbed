/*
 * demo.c - the program behind `make demo`.
 *
 * For now it creates a store directory and shows the options a store would
 * be opened with; it grows into the shared-versus-copied demonstration with
 * pre-forked workers as the library grows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forkcache.h"

static void print_options(const fc_options *o)
{
    printf("  write_buffer_size  %zu bytes\n", o->write_buffer_size);
    printf("  block_size         %zu bytes\n", o->block_size);
    printf("  max_file_size      %zu bytes\n", o->max_file_size);
    printf("  bloom_bits_per_key %d\n", o->bloom_bits_per_key);
    printf("  max_mappings       %d (Limiter capacity, all processes)\n", o->max_mappings);
    printf("  reader_slots       %d\n", o->reader_slots);
    printf("  arena_size         %zu bytes reserved\n", o->arena_size);
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: %s STORE_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    fc_options opts;
    fc_options_init(&opts);
    const char *why = NULL;
    if (fc_options_validate(&opts, &why) != 0) {
        fprintf(stderr, "demo: bad options: %s\n", why);
        return 1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "demo: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    printf("forkcache %s: store directory %s created\n", fc_version(NULL, NULL, NULL), dir);
    print_options(&opts);
    return 0;
}
