/*
 * fuzz_log_reader.c - the log reader on arbitrary bytes, from memory and
 * through an fd (a memfd), strict and best effort. It must stay inside its
 * input, always make progress, and both sources must agree record for
 * record. Each input runs twice: as is, and with every checksum the
 * reader would meet made valid, so mutations reach the fragment logic
 * instead of stopping at the CRC.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "forkcache.h"
#include "format/log_reader.h"
#include "util/coding.h"
#include "util/crc32c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A digest of everything a pass returned, to compare two passes. */
typedef struct outcome {
    uint32_t crc;
    uint64_t records, bytes, corruptions;
    int torn;
    uint64_t tail_off, tail_bytes;
} outcome;

static void run(fci_log_reader *r, size_t size, outcome *o)
{
    fci_slice rec;
    memset(o, 0, sizeof *o);
    /* Every call consumes a header or reports a distinct region, so the
     * number of calls is bounded by the input's size. */
    for (size_t calls = 0;; calls++) {
        if (calls > size + 16)
            __builtin_trap();
        int rc = fci_log_reader_read(r, &rec, NULL);
        if (rc == 0)
            break;
        if (rc == FC_ECORRUPT)
            continue;
        if (rc != 1)
            __builtin_trap();
        o->records++;
        o->bytes += rec.size;
        if (o->bytes > size)      /* records are made of input bytes */
            __builtin_trap();
        o->crc = fci_crc32c_extend(o->crc, rec.data, rec.size);
        o->crc = fci_crc32c_extend(o->crc, &r->record_offset, sizeof r->record_offset);
        if (r->record_offset >= size)
            __builtin_trap();
    }
    o->corruptions = r->corruptions;
    o->torn = r->torn_tail;
    o->tail_off = r->tail_offset;
    o->tail_bytes = r->tail_bytes;
    if (o->tail_off + o->tail_bytes > size || r->dropped_bytes > size + 7 * r->corruptions)
        __builtin_trap();
}

/* Walks blocks as the reader does and rewrites each header's checksum;
 * zero headers are left alone (the reader drops the rest of the block). */
static void fix_checksums(uint8_t *buf, size_t size)
{
    static const uint8_t zero[FCI_LOG_HEADER_SIZE];
    for (size_t block = 0; block < size; block += FCI_LOG_BLOCK_SIZE) {
        size_t end = size - block < FCI_LOG_BLOCK_SIZE ? size : block + FCI_LOG_BLOCK_SIZE;
        size_t pos = block;
        while (end - pos >= FCI_LOG_HEADER_SIZE) {
            uint8_t *h = buf + pos;
            size_t len = (size_t)h[4] | ((size_t)h[5] << 8);
            if (memcmp(h, zero, sizeof zero) == 0 || len > end - pos - FCI_LOG_HEADER_SIZE)
                break;
            fci_put_fixed32((char *)h, fci_crc32c_mask(fci_crc32c(h + 6, 1 + len)));
            pos += FCI_LOG_HEADER_SIZE + len;
        }
    }
}

static void check(const uint8_t *data, size_t size)
{
    for (unsigned flags = 0; flags <= FCI_LOG_BEST_EFFORT; flags++) {
        fci_log_reader r;
        outcome a, b;
        fci_log_reader_init_mem(&r, "fuzz", data, size, flags);
        run(&r, size, &a);
        fci_log_reader_free(&r);

        int fd = memfd_create("fuzz_log", MFD_CLOEXEC);
        if (fd < 0)
            continue;
        if (size == 0 || write(fd, data, size) == (ssize_t)size) {
            if (fci_log_reader_init_fd(&r, "fuzzfd", fd, flags, NULL) == 0) {
                run(&r, size, &b);
                if (memcmp(&a, &b, sizeof a) != 0)
                    __builtin_trap();
            }
            fci_log_reader_free(&r);
        }
        close(fd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    uint8_t *fixed = malloc(size ? size : 1);
    if (fixed == NULL)
        return 0;
    if (size)
        memcpy(fixed, data, size);
    fix_checksums(fixed, size);
    check(fixed, size);
    free(fixed);
    return 0;
}
