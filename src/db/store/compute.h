/*
 * compute.h - the store's side of the lease table (shm/lease.h): created by
 * the writer beside the write queue, found by every process in the arena.
 */
#ifndef FC_DB_LEASE_H
#define FC_DB_LEASE_H

#include "db/core/store.h"

/* Writer, at open: carves the table and publishes its offset. */
int fci_compute_create(fc_store *s, fci_err *err);

#endif
