/*
 * iter.h - internal iterators over internal keys, the pieces fc_iter is
 * built from (LevelDB's split): one over a memtable, one over a table, one
 * over a level's disjoint tables, and a merger that yields their union in
 * internal-key order. None of them hides anything: choosing the newest
 * visible entry per user key is fc_iter's job (iter.c).
 *
 * Positions: first/last/seek/next/prev as LevelDB's Iterator; next and prev
 * need a valid iterator. key() and value() stay valid until the iterator
 * moves; value_stable() says whether the value outlives that (it points
 * into the arena or a table's mapping, which the transaction keeps alive).
 */
#ifndef FC_DB_ITER_H
#define FC_DB_ITER_H

#include <stddef.h>
#include <stdint.h>

#include "db/core/memtable.h"
#include "db/core/vrec.h"
#include "util/error.h"
#include "util/slice.h"

struct fc_store;
typedef struct fci_iiter fci_iiter;

typedef struct fci_iiter_ops {
    int (*valid)(const fci_iiter *it);
    void (*first)(fci_iiter *it);
    void (*last)(fci_iiter *it);
    void (*seek)(fci_iiter *it, fci_slice ikey);   /* first entry >= ikey */
    void (*next)(fci_iiter *it);
    void (*prev)(fci_iiter *it);
    fci_slice (*key)(const fci_iiter *it);
    fci_slice (*value)(const fci_iiter *it);
    int (*value_stable)(const fci_iiter *it);
    int (*status)(const fci_iiter *it, fci_err *err);  /* 0 or first error */
    void (*free)(fci_iiter *it);
} fci_iiter_ops;

struct fci_iiter {
    const fci_iiter_ops *ops;
};

/* Each constructor returns 0 and *out, or FC_ENOMEM / an open error. */
int fci_iiter_memtable(const fci_memtable *mt, fci_iiter **out);
/* One table, opened through the store's table cache. */
int fci_iiter_table(struct fc_store *s, uint64_t number, fci_iiter **out, fci_err *err);
/* Level >= 1 of a version record: its files are disjoint and sorted, so
 * one table at a time is open, reached lazily through the table cache. */
int fci_iiter_level(struct fc_store *s, const fci_vrec_view *v, int level, fci_iiter **out);
/* Takes ownership of the n children (also on failure). */
int fci_iiter_merge(fci_iiter **children, size_t n, fci_iiter **out);

static inline void fci_iiter_free(fci_iiter *it)
{
    if (it != NULL)
        it->ops->free(it);
}

#endif
