/*
 * evict.h - dropping whole tables by their metadata alone: tables whose
 * entries have all expired (ttl_framing stores), and with max_bytes the
 * oldest tables while the store is over its bound (FIFO compaction).
 */
#ifndef FC_DB_FIFO_H
#define FC_DB_FIFO_H

#include <stddef.h>
#include <stdint.h>

#include "format/version_edit.h"

struct fc_store;

/* Tables chosen for deletion by one plan, and why. */
typedef struct fci_drop_item {
    uint64_t number;
    uint64_t size;
    int level;
    int expired;        /* 1: all entries expired; 0: evicted for space */
} fci_drop_item;

typedef struct fci_drop_plan {
    fci_drop_item *items;
    size_t n, cap;
} fci_drop_plan;

/* Whether the writer of s drops whole tables at all. */
int fci_drop_enabled(const struct fc_store *s);

/*
 * mu held, and the caller holds the compaction slot (w->compacting) so no
 * compaction picks a table this edit deletes. Adds to edit the deletion of
 * every table that may go: expired ones that nothing older lies under, then
 * the oldest while the total (counting the tables edit adds) is over
 * max_bytes - never the last table left. 0 or FC_ENOMEM.
 */
int fci_drop_plan_make(struct fc_store *s, fci_version_edit *edit, fci_drop_plan *p);

/* mu held, after the edit is applied and published: the dropped tables
 * are retired (unlinked once no reader pins a version naming them) and
 * counted in the store's figures. Frees the plan. */
void fci_drop_plan_done(struct fc_store *s, fci_drop_plan *p, int applied);

/* mu held, on the background thread: one round of drops as an edit of its
 * own. Returns 1 when it dropped something (*rc has the result), else 0. */
int fci_drop_step(struct fc_store *s, int *rc);

#endif
