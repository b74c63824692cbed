/*
 * open.h - what opening a store needs from the store layer's other files:
 * the options file (options.c), recovery (recover.c) and read-only opens
 * (readonly.c).
 */
#ifndef FC_DB_STORE_OPEN_H
#define FC_DB_STORE_OPEN_H

#include "db/core/store.h"
#include "db/core/vset.h"
#include "format/version_edit.h"
#include "format/write_batch.h"
#include "util/error.h"

/* The FORKCACHE file in a store directory: options fixed at creation. */
#define FCI_STORE_OPTIONS_FILE "FORKCACHE"

/* Reads (and for a new store writes) FORKCACHE, and sets
 * s->opts.ttl_framing to what the store was created with. Called by every
 * open before anything reads or writes values. */
int fci_options_prepare(struct fc_store *s, int creating_allowed, fci_err *err);

/* recover.c: replays live WALs into the memtable, flushing when full. */
int fci_store_recover_wals(fc_store *s, fci_version_edit *edit);

/* recover.c: replays every live WAL of dir in order (as the MANIFEST in vs
 * says), inserting each record's batch through insert and then calling
 * after (may be NULL). Shared by the writer's recovery and read-only opens. */
typedef int (*fci_replay_after)(void *arg, fci_err *err);
int fci_replay_wals(fci_vset *vs, int best_effort, fci_batch_fn insert, fci_replay_after after,
                    void *arg, fci_err *err);

/* readonly.c: FC_READONLY - recover into a private arena, write nothing. */
int fci_open_readonly(fc_store *s, fci_err *err);

#endif
