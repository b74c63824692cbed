/*
 * mkseeds_format.c - writes the seed corpora of fuzz_block, fuzz_table and
 * fuzz_filter (small valid blocks, tables and filter blocks) into
 * tests/fuzz/corpus/. Run by hand from the source tree when the formats
 * change; its output is checked in.
 *   cc -Iinclude -Isrc -I. tests/fuzz/mkseeds_format.c .libs/libforkcache_core.a -lsnappy -lzstd
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "forkcache.h"
#include "format/block.h"
#include "format/dbformat.h"
#include "format/filter_block.h"
#include "format/table.h"

static void save(const char *target, const char *name, const char *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fuzz/corpus/%s/%s", target, name);
    FILE *f = fopen(path, "we");
    if (f == NULL || fwrite(data, 1, n, f) != n) {
        perror(path);
        return;
    }
    fclose(f);
}

static void seed_block(const char *name, int interval, int n, int ikeys)
{
    fci_block_builder bb;
    fci_block_builder_init(&bb, interval);
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%04d", i * 3);
        fci_buf key = FCI_BUF_INIT;
        if (ikeys)
            fci_ikey_append(&key, fci_slice_str(k), (uint64_t)(100 + i), FCI_TYPE_VALUE);
        else
            fci_buf_append(&key, k, strlen(k));
        fci_block_builder_add(&bb, fci_buf_slice(&key), fci_slice_make("value", (size_t)(i % 6)));
        fci_buf_free(&key);
    }
    fci_slice s;
    fci_block_builder_finish(&bb, &s);
    save("fuzz_block", name, s.data, s.size);
    fci_block_builder_free(&bb);
}

static void seed_table(const char *name, int n, size_t block_size, int compression, int bloom)
{
    fci_table_options o;
    fci_table_options_init(&o);
    o.block_size = block_size;
    o.compression = compression;
    o.bloom_bits_per_key = bloom;
    o.restart_interval = 4;
    fci_buf out = FCI_BUF_INIT;
    fci_table_builder tb;
    fci_table_builder_init_buf(&tb, &o, &out);
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "key%08d", i);
        fci_buf key = FCI_BUF_INIT;
        fci_ikey_append(&key, fci_slice_str(k), 7, i % 5 ? FCI_TYPE_VALUE : FCI_TYPE_DELETION);
        fci_table_builder_add(&tb, fci_buf_slice(&key), fci_slice_str("vvvvvvvvvvvvvvvvvvvv"), NULL);
        fci_buf_free(&key);
    }
    fci_table_builder_finish(&tb, NULL);
    save("fuzz_table", name, out.data, out.size);
    fci_table_builder_free(&tb);
    fci_buf_free(&out);
}

static void seed_filter(const char *name, int blocks)
{
    fci_filter_builder fb;
    fci_filter_builder_init(&fb, 10);
    for (int b = 0; b < blocks; b++) {
        fci_filter_builder_start_block(&fb, (uint64_t)b * 1500);
        for (int i = 0; i < 5; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d-%d", b, i);
            fci_filter_builder_add_key(&fb, fci_slice_str(k));
        }
    }
    fci_slice s;
    fci_filter_builder_finish(&fb, &s);
    save("fuzz_filter", name, s.data, s.size);
    fci_filter_builder_free(&fb);
}

int main(void)
{
    seed_block("empty", 16, 0, 0);
    seed_block("one", 16, 1, 0);
    seed_block("interval1", 1, 10, 0);
    seed_block("interval4", 4, 20, 1);
    seed_table("empty", 0, 4096, FC_COMPRESSION_NONE, 10);
    seed_table("one", 1, 4096, FC_COMPRESSION_NONE, 10);
    seed_table("small_blocks", 20, 64, FC_COMPRESSION_NONE, 10);
    seed_table("nofilter", 10, 128, FC_COMPRESSION_NONE, 0);
    seed_table("snappy", 30, 256, FC_COMPRESSION_SNAPPY, 10);
    seed_table("zstd", 30, 256, FC_COMPRESSION_ZSTD, 10);
    seed_filter("empty", 0);
    seed_filter("one", 1);
    seed_filter("several", 5);
    return 0;
}
