/*
 * compress.h - the block compressions of LevelDB's table format:
 * 0 none, 1 snappy, 2 zstd (FC_COMPRESSION_* in forkcache.h).
 *
 * Decompression is in two steps so the caller owns the memory: ask for the
 * uncompressed length, provide that many bytes (heap, a cache frame, ...),
 * then decompress into them. The length is checked against what the
 * compressed bytes can possibly expand to, so damaged input never makes a
 * caller allocate more than the input justifies.
 */
#ifndef FC_FORMAT_COMPRESS_H
#define FC_FORMAT_COMPRESS_H

#include <stddef.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

/* Upper bound on any block's uncompressed size, whatever its encoding. */
#define FCI_BLOCK_MAX_UNCOMPRESSED ((size_t)1 << 30)

/* 1 when this build can read/write blocks of this compression type. */
int fci_compression_supported(int type);

/* Appends the compressed form of in to out. FC_EUNSUPPORTED when this
 * build lacks the compressor. */
int fci_compress(int type, fci_slice in, fci_buf *out, fci_err *err);

/* Length in after decompression; FC_ECORRUPT when it cannot be one,
 * FC_EUNSUPPORTED for an unknown type or one this build lacks. */
int fci_uncompressed_length(int type, fci_slice in, size_t *len, fci_err *err);

/* Decompresses in into out[0..len), len as given by fci_uncompressed_length. */
int fci_uncompress(int type, fci_slice in, char *out, size_t len, fci_err *err);

#endif
