/*
 * write_batch.h - LevelDB's WriteBatch: the unit the writer applies
 * atomically and the payload of every WAL record.
 *
 * Layout ("rep"): fixed64 sequence of the first record, fixed32 record
 * count, then the records: type 1 (value) varstring key varstring value, or
 * type 0 (deletion) varstring key; a varstring is a varint32 length and the
 * bytes. Record i gets sequence + i.
 *
 * A batch read from disk is untrusted: the iterator checks every length
 * against the end of the input and the count against the records present.
 */
#ifndef FC_FORMAT_WRITE_BATCH_H
#define FC_FORMAT_WRITE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"
#include "util/slice.h"

#define FCI_BATCH_HEADER_SIZE 12

typedef struct fci_write_batch {
    fci_buf rep;   /* always at least FCI_BATCH_HEADER_SIZE bytes once init'd */
} fci_write_batch;

/* 0 or FC_ENOMEM (the header is allocated). */
int fci_batch_init(fci_write_batch *b);
void fci_batch_free(fci_write_batch *b);
/* Back to an empty batch (sequence 0, count 0), keeping the memory. */
void fci_batch_clear(fci_write_batch *b);

int fci_batch_put(fci_write_batch *b, fci_slice key, fci_slice value);
int fci_batch_delete(fci_write_batch *b, fci_slice key);
/* Appends src's records to dst (dst keeps its sequence). */
int fci_batch_append(fci_write_batch *dst, const fci_write_batch *src);

uint64_t fci_batch_sequence(const fci_write_batch *b);
void fci_batch_set_sequence(fci_write_batch *b, uint64_t seq);
uint32_t fci_batch_count(const fci_write_batch *b);
void fci_batch_set_count(fci_write_batch *b, uint32_t count);

/* Bytes the batch takes in a WAL record (its rep's size). */
static inline size_t fci_batch_approximate_size(const fci_write_batch *b)
{
    return b->rep.size;
}

/* The encoded bytes, to hand to the log writer. */
static inline fci_slice fci_batch_contents(const fci_write_batch *b)
{
    return fci_buf_slice(&b->rep);
}

/* Replaces the batch with a copy of rep (e.g. read from a WAL). Only the
 * header is checked here: FC_ECORRUPT when rep is shorter than 12 bytes. */
int fci_batch_set_contents(fci_write_batch *b, fci_slice rep, fci_err *err);

/* Sequence and count straight from an encoded batch; FC_ECORRUPT when it is
 * shorter than a header. */
int fci_batch_header(fci_slice rep, uint64_t *sequence, uint32_t *count, fci_err *err);

/*
 * Walks an encoded batch record by record. fci_batch_iter_next returns 1
 * with a record (value is empty for a deletion), 0 after the last one when
 * the count matched, FC_ECORRUPT (with detail) on any malformed byte or a
 * count that does not match the records present. Slices point into rep.
 */
typedef struct fci_batch_iter {
    const char *p, *end, *start;
    uint32_t count;    /* the header's claim */
    uint32_t seen;     /* records returned so far */
} fci_batch_iter;

int fci_batch_iter_init(fci_batch_iter *it, fci_slice rep, fci_err *err);
int fci_batch_iter_next(fci_batch_iter *it, int *type, fci_slice *key, fci_slice *value,
                        fci_err *err);

/* The whole batch is well-formed: 0 or FC_ECORRUPT. */
int fci_batch_validate(fci_slice rep, fci_err *err);

/*
 * Called for each record with its sequence (batch sequence + index), type
 * (FCI_TYPE_VALUE or FCI_TYPE_DELETION, from format/dbformat.h), user key
 * and value (empty for deletions). A non-zero return stops the walk and is
 * returned as is.
 */
typedef int (*fci_batch_fn)(void *arg, uint64_t sequence, int type, fci_slice key,
                            fci_slice value);

/* Calls fn for every record of rep, in order, assigning sequences. */
int fci_batch_iterate(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err);

/*
 * What the memtable uses: validates the whole batch first (so a damaged
 * batch inserts nothing), checks that its sequences stay within
 * FCI_MAX_SEQUENCE, then calls fn for each record in order as above.
 */
int fci_batch_insert(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err);

/*
 * The writer's form of fci_batch_insert, for a batch this process encoded
 * itself or already validated (fc_batch_*, the write queue's groups): one
 * walk over the bytes instead of a dry run and a walk, and fn is called in
 * internal-key order (user key ascending, then sequence descending) rather
 * than batch order, each record with its own sequence, so a memtable gets
 * an ascending run. Small batches, or a sort without memory, go in batch
 * order. A malformed record stops it with FC_ECORRUPT; in batch order the
 * records before it have been applied.
 */
int fci_batch_apply(fci_slice rep, fci_batch_fn fn, void *arg, fci_err *err);

#endif
