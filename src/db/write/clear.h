/*
 * clear.h - the writer's side of the clear/follow block (core/follow.h):
 * fc_clear, the clears the Redis link asks for, and invalidations.
 */
#ifndef FC_DB_WRITE_CLEAR_H
#define FC_DB_WRITE_CLEAR_H

#include <stddef.h>

#include "db/core/store.h"
#include "util/slice.h"

/* The store directory's record of clears (LevelDB ignores the file). */
#define FCI_CLEARS_FILE "FORKCACHE-CLEARS"

/* Writer open, before recovery and before any reader can attach (and a
 * read-only open): makes the block, loads the clears the store recorded
 * and adds the followed prefixes of the options. */
int fci_follow_create(fc_store *s, fci_err *err);

/* Writer open, after recovery, mu held: no later write may get a sequence
 * a recorded clear covers (recovery may have found fewer writes than a
 * clear saw), so the last sequence moves up to the newest clear's - 1. */
void fci_follow_recovered(fc_store *s);

/* Clears every followed prefix at once (a lost link, a flushed Redis). */
int fci_clear_followed(fc_store *s);

/* Each key's bucket epoch is bumped, then the keys are deleted in one
 * batch: a fill decided after the bump is refused, one decided before it
 * is deleted after. */
int fci_follow_invalidate(fc_store *s, const fci_slice *keys, size_t n);

#endif
