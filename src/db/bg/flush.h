/*
 * flush.h - one table being written by the writer (flush or compaction).
 */
#ifndef FC_DB_BG_FLUSH_H
#define FC_DB_BG_FLUSH_H

#include <limits.h>
#include <stdint.h>

#include "forkcache.h"
#include "db/core/memtable.h"
#include "format/table.h"
#include "format/version_edit.h"
#include "util/error.h"

typedef struct fci_output {
    uint64_t number;
    int fd;
    int started;
    int dirfd;              /* the store's directory, which path is in */
    char path[PATH_MAX];
    fci_table_builder tb;
} fci_output;


struct fc_store;
int fci_output_open(struct fc_store *s, fci_output *out, uint64_t number, fci_err *err);
/* Finishes, fdatasyncs and closes; an empty table is removed and not
 * added to edit. */
int fci_output_finish(fci_output *out, fci_version_edit *edit, int level, fci_err *err);
int fci_output_add(fci_output *out, fci_slice ikey, fci_slice value, fci_err *err);
void fci_output_abandon(fci_output *out);

/* mu held: writes mt as one L0 table into edit (released while writing
 * when unlock is set, as the background thread does; recovery keeps it). */
int fci_flush_memtable(struct fc_store *s, fci_memtable *mt, fci_version_edit *edit,
                       int unlock);

#endif
