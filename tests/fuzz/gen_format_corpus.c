/*
 * gen_format_corpus.c - writes the seed corpora of fuzz_log_reader,
 * fuzz_write_batch and fuzz_version_edit (valid encodings, a few shapes
 * each) into tests/fuzz/corpus/. Not built by make; run by hand when the
 * formats change:
 *   cc -I. -Iinclude -Isrc tests/fuzz/gen_format_corpus.c \
 *      .libs/libforkcache_core.a -o gen && ./gen tests/fuzz/corpus
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/dbformat.h"
#include "format/log_writer.h"
#include "format/version_edit.h"
#include "format/write_batch.h"

static void save(const char *root, const char *target, const char *name, fci_slice s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "we");
    if (f == NULL || fwrite(s.data, 1, s.size, f) != s.size) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void batches(const char *root, fci_buf *all_logs)
{
    fci_write_batch b;
    fci_batch_init(&b);
    save(root, "fuzz_write_batch", "empty", fci_batch_contents(&b));
    fci_batch_set_sequence(&b, 100);
    fci_batch_put(&b, fci_slice_str("foo"), fci_slice_str("bar"));
    fci_batch_delete(&b, fci_slice_str("box"));
    fci_batch_put(&b, fci_slice_str(""), fci_slice_str(""));
    save(root, "fuzz_write_batch", "three", fci_batch_contents(&b));
    char big[300];
    memset(big, 'v', sizeof big);
    fci_batch_put(&b, fci_slice_str("k"), fci_slice_make(big, sizeof big));
    fci_batch_set_sequence(&b, FCI_MAX_SEQUENCE - 3);
    save(root, "fuzz_write_batch", "maxseq", fci_batch_contents(&b));
    uint64_t off = 0;
    fci_log_encode(all_logs, &off, fci_batch_contents(&b));
    fci_batch_free(&b);
}

static void edits(const char *root, fci_buf *all_logs)
{
    fci_version_edit e;
    fci_buf enc = FCI_BUF_INIT, k1 = FCI_BUF_INIT, k2 = FCI_BUF_INIT;
    fci_edit_init(&e);
    fci_edit_set_comparator(&e, fci_slice_str(FCI_BYTEWISE_NAME));
    fci_edit_set_log_number(&e, 2);
    fci_edit_set_prev_log_number(&e, 0);
    fci_edit_set_next_file_number(&e, 3);
    fci_edit_set_last_sequence(&e, 9);
    fci_edit_encode(&e, &enc);
    save(root, "fuzz_version_edit", "snapshot", fci_buf_slice(&enc));
    uint64_t off = all_logs->size;
    fci_log_encode(all_logs, &off, fci_buf_slice(&enc));

    fci_ikey_append(&k1, fci_slice_str("apple"), 5, FCI_TYPE_VALUE);
    fci_ikey_append(&k2, fci_slice_str("zebra"), 7, FCI_TYPE_DELETION);
    fci_edit_add_compact_pointer(&e, 1, fci_buf_slice(&k1));
    fci_edit_delete_file(&e, 0, 4);
    fci_edit_delete_file(&e, 2, 5);
    fci_edit_add_file(&e, 1, 6, 4096, fci_buf_slice(&k1), fci_buf_slice(&k2));
    fci_edit_add_file(&e, 6, 7, 1u << 20, fci_buf_slice(&k1), fci_buf_slice(&k2));
    fci_buf_clear(&enc);
    fci_edit_encode(&e, &enc);
    save(root, "fuzz_version_edit", "full", fci_buf_slice(&enc));
    fci_log_encode(all_logs, &off, fci_buf_slice(&enc));
    fci_edit_free(&e);
    fci_buf_free(&enc);
    fci_buf_free(&k1);
    fci_buf_free(&k2);
}

static void logs(const char *root, fci_buf *small)
{
    fci_buf log = FCI_BUF_INIT, rec = FCI_BUF_INIT;
    uint64_t off;
    save(root, "fuzz_log_reader", "batches_and_edits", fci_buf_slice(small));

    /* Empty records, and one that leaves a 3-byte trailer. */
    off = 0;
    fci_log_encode(&log, &off, fci_slice_make("", 0));
    fci_log_encode(&log, &off, fci_slice_str("hello"));
    fci_log_encode(&log, &off, fci_slice_make("", 0));
    save(root, "fuzz_log_reader", "small", fci_buf_slice(&log));

    /* Multi-block: a record across three blocks, then small ones. */
    fci_buf_clear(&log);
    off = 0;
    fci_buf_reserve(&rec, 70000);
    for (size_t i = 0; i < 70000; i++)
        rec.data[i] = (char)(i * 31);
    rec.size = 70000;
    fci_log_encode(&log, &off, fci_slice_str("first"));
    fci_log_encode(&log, &off, fci_buf_slice(&rec));
    fci_log_encode(&log, &off, fci_slice_str("after"));
    save(root, "fuzz_log_reader", "three_blocks", fci_buf_slice(&log));

    /* A record ending 3 bytes before a block's end: trailer, then more. */
    fci_buf_clear(&log);
    off = 0;
    rec.size = 32768 - 7 - 3;
    fci_log_encode(&log, &off, fci_buf_slice(&rec));
    fci_log_encode(&log, &off, fci_slice_str("next block"));
    save(root, "fuzz_log_reader", "trailer", fci_buf_slice(&log));
    fci_buf_free(&log);
    fci_buf_free(&rec);
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    fci_buf all = FCI_BUF_INIT;
    batches(root, &all);
    edits(root, &all);
    logs(root, &all);
    fci_buf_free(&all);
    return 0;
}
