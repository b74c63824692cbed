/*
 * publish.h - publishing versions, retiring what old versions held, and
 * the writer's watch on the readers that pin them (publish.c).
 */
#ifndef FC_DB_CORE_PUBLISH_H
#define FC_DB_CORE_PUBLISH_H

#include <stdint.h>

#include "db/core/store.h"

/* mu held. Builds the record for the current version and memtables, then
 * makes it the one readers pin. */
int fci_store_publish(fc_store *s);
/* mu held. Queues what the versions before the next one needed: freed
 * once no reader pins a version that can reach it. */
void fci_store_retire(fc_store *s, uint64_t vrec_off, fci_memchunks *mem, uint64_t file);
/* mu held. Frees every retired item no pinned version can reach. */
void fci_store_reclaim(fc_store *s);
/* mu held. Removes files no live version, WAL or pending output needs. */
void fci_delete_obsolete_files(fc_store *s);
/* mu held. Mirrors the writer's counters into the arena for fc_stats. */
void fci_store_count(fc_store *s);
/* The live reader slot pinning the oldest version: its pid and version
 * (0, 0 when nothing is pinned). A figure, read without synchronisation. */
void fci_oldest_pin(const fci_arena *a, int *pid, uint64_t *version);
/* mu held. Ages the oldest pin for max_snapshot_age_ms. */
void fci_pin_watch(fc_store *s);

#endif
