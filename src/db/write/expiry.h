/*
 * expiry.h - expiry frames in a batch being written (expiry.c).
 */
#ifndef FC_DB_WRITE_EXPIRY_H
#define FC_DB_WRITE_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

#include "format/write_batch.h"
#include "util/error.h"
#include "util/slice.h"

struct fc_store;

/* Where each ttl'd value's frame sits in a batch, so that every fc_write
 * stamps it from that store's clock. */
typedef struct fci_ttl_mark {
    size_t off;         /* of the frame, in the batch's rep */
    uint64_t ttl_ms;
} fci_ttl_mark;

typedef struct fci_ttl_marks {
    int framed;         /* every value of the batch carries a frame */
    fci_ttl_mark *m;
    size_t n, cap;
} fci_ttl_marks;

void fci_ttl_marks_clear(fci_ttl_marks *mk);
void fci_ttl_marks_free(fci_ttl_marks *mk);

/* Appends key -> framed value (frame 0 now, stamped later when ttl_ms > 0),
 * first framing the batch's earlier values if it had none. */
int fci_ttl_batch_put(fci_write_batch *b, fci_ttl_marks *mk, fci_slice key, fci_slice val,
                      uint64_t ttl_ms);

/* fc_put_ttl without counting it (counted by the public call that came). */
int fci_put_ttl(struct fc_store *s, const void *key, size_t klen, const void *val, size_t vlen,
                uint64_t ttl_ms);

/* Before a batch is written to s: frames a plain batch for a framed store,
 * stamps every marked frame from s's clock, or refuses a framed batch for a
 * store without framing (FC_EUNSUPPORTED, detail in err). */
int fci_ttl_batch_stamp(struct fc_store *s, fci_write_batch *b, fci_ttl_marks *mk, fci_err *err);

#endif
