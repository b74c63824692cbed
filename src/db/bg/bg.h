/*
 * bg.h - the writer's background work: the background thread (bg.c), its
 * compactions (compact.c), and the drain thread that applies the write
 * queue (drain.c). Flushing is in flush.h, TTL drops and eviction in
 * evict.h.
 */
#ifndef FC_DB_BG_BG_H
#define FC_DB_BG_BG_H

#include <stdint.h>

#include "db/core/store.h"
#include "db/core/version.h"
#include "format/version_edit.h"
#include "util/error.h"

/* bg.c: starts and stops the background thread (stop waits for it). */
int fci_bg_start(fc_store *s);
void fci_bg_stop(fc_store *s);
/* bg.c. Called by a compaction between entries, without mu: on the
 * background thread, flushes a waiting immutable memtable at once, so
 * writers are not stalled for the length of a compaction. 0 or the
 * flush's error. */
int fci_bg_flush_if_waiting(fc_store *s);

/* compact.c: the compaction's I/O, run without the mutex; fills edit. */
int fci_compaction_run(fc_store *s, fci_compaction *c, fci_version_edit *edit,
                       uint64_t smallest_snapshot, uint64_t *bytes_out, fci_err *err);

/* drain.c: the write queue, created in the arena at open and applied by a
 * thread of the writer's. */
int fci_queue_create(fc_store *s, fci_err *err);
int fci_queue_start(fc_store *s);
void fci_queue_stop(fc_store *s);

#endif
