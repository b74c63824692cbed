/*
 * compress.c - snappy and zstd block compression (see compress.h).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "forkcache.h"
#include "format/compress.h"

#ifdef HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_decompressBound */
#include <zstd.h>
#endif

/* LevelDB's default zstd level. */
#define FCI_ZSTD_LEVEL 1

int fci_compression_supported(int type)
{
    switch (type) {
    case FC_COMPRESSION_NONE:
        return 1;
#ifdef HAVE_SNAPPY
    case FC_COMPRESSION_SNAPPY:
        return 1;
#endif
#ifdef HAVE_ZSTD
    case FC_COMPRESSION_ZSTD:
        return 1;
#endif
    default:
        return 0;
    }
}

static int unsupported(int type, fci_err *err)
{
    return fci_err_set(err, FC_EUNSUPPORTED, "unsupported compression type %d", type);
}

int fci_compress(int type, fci_slice in, fci_buf *out, fci_err *err)
{
    switch (type) {
    case FC_COMPRESSION_NONE:
        return fci_buf_append(out, in.data, in.size);
#ifdef HAVE_SNAPPY
    case FC_COMPRESSION_SNAPPY: {
        size_t cap = snappy_max_compressed_length(in.size);
        int rc;
        if ((rc = fci_buf_reserve(out, cap)) != 0)
            return fci_err_set(err, rc, "snappy: no memory for %zu bytes", cap);
        size_t n = cap;
        if (snappy_compress(in.data, in.size, out->data + out->size, &n) != SNAPPY_OK)
            return fci_err_set(err, FC_EINTERNAL, "snappy: compression failed");
        out->size += n;
        return 0;
    }
#endif
#ifdef HAVE_ZSTD
    case FC_COMPRESSION_ZSTD: {
        size_t cap = ZSTD_compressBound(in.size);
        int rc;
        if ((rc = fci_buf_reserve(out, cap)) != 0)
            return fci_err_set(err, rc, "zstd: no memory for %zu bytes", cap);
        size_t n = ZSTD_compress(out->data + out->size, cap, in.data, in.size, FCI_ZSTD_LEVEL);
        if (ZSTD_isError(n))
            return fci_err_set(err, FC_EINTERNAL, "zstd: %s", ZSTD_getErrorName(n));
        out->size += n;
        return 0;
    }
#endif
    default:
        return unsupported(type, err);
    }
}

/*
 * Snappy's densest element is a 3-byte copy of 64 bytes, so no valid input
 * expands more than ~22 times; zstd's own bound walks the block headers.
 * A claimed length past those is damage, reported before any allocation.
 */
int fci_uncompressed_length(int type, fci_slice in, size_t *len, fci_err *err)
{
    switch (type) {
    case FC_COMPRESSION_NONE:
        *len = in.size;
        return 0;
#ifdef HAVE_SNAPPY
    case FC_COMPRESSION_SNAPPY: {
        size_t n;
        if (snappy_uncompressed_length(in.data, in.size, &n) != SNAPPY_OK)
            return fci_err_set(err, FC_ECORRUPT, "snappy: bad length header");
        if (n > FCI_BLOCK_MAX_UNCOMPRESSED || (in.size < SIZE_MAX / 32 && n > in.size * 32 + 64))
            return fci_err_set(err, FC_ECORRUPT, "snappy: claimed length %zu impossible for %zu bytes",
                               n, in.size);
        *len = n;
        return 0;
    }
#endif
#ifdef HAVE_ZSTD
    case FC_COMPRESSION_ZSTD: {
        unsigned long long n = ZSTD_getFrameContentSize(in.data, in.size);
        if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
            return fci_err_set(err, FC_ECORRUPT, "zstd: no frame content size");
        unsigned long long bound = ZSTD_decompressBound(in.data, in.size);
        if (bound == ZSTD_CONTENTSIZE_ERROR || n > bound || n > FCI_BLOCK_MAX_UNCOMPRESSED)
            return fci_err_set(err, FC_ECORRUPT, "zstd: claimed length %llu impossible for %zu bytes",
                               n, in.size);
        *len = (size_t)n;
        return 0;
    }
#endif
    default:
        return unsupported(type, err);
    }
}

int fci_uncompress(int type, fci_slice in, char *out, size_t len, fci_err *err)
{
    switch (type) {
    case FC_COMPRESSION_NONE:
        if (len != in.size)
            return fci_err_set(err, FC_EINVAL, "uncompress: length mismatch");
        memcpy(out, in.data, len);
        return 0;
#ifdef HAVE_SNAPPY
    case FC_COMPRESSION_SNAPPY: {
        size_t n = len;
        if (snappy_uncompress(in.data, in.size, out, &n) != SNAPPY_OK || n != len)
            return fci_err_set(err, FC_ECORRUPT, "snappy: corrupt compressed block");
        return 0;
    }
#endif
#ifdef HAVE_ZSTD
    case FC_COMPRESSION_ZSTD: {
        size_t n = ZSTD_decompress(out, len, in.data, in.size);
        if (ZSTD_isError(n) || n != len)
            return fci_err_set(err, FC_ECORRUPT, "zstd: corrupt compressed block");
        return 0;
    }
#endif
    default:
        return unsupported(type, err);
    }
}
