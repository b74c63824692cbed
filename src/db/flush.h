/*
 * flush.h - one table being written by the writer (flush or compaction).
 */
#ifndef FC_DB_FLUSH_H
#define FC_DB_FLUSH_H

#include <limits.h>
#include <stdint.h>

#include "forkcache.h"
#include "format/table.h"
#include "format/version_edit.h"
#include "util/error.h"

typedef struct fci_output {
    uint64_t number;
    int fd;
    int started;
    char path[PATH_MAX];
    fci_table_builder tb;
} fci_output;

void fci_table_options_from(const fc_options *o, fci_table_options *t);

struct fc_store;
int fci_output_open(struct fc_store *s, fci_output *out, uint64_t number, fci_err *err);
/* Finishes, fdatasyncs and closes; an empty table is removed and not
 * added to edit. */
int fci_output_finish(fci_output *out, fci_version_edit *edit, int level, fci_err *err);
int fci_output_add(fci_output *out, fci_slice ikey, fci_slice value, fci_err *err);
void fci_output_abandon(fci_output *out);

#endif
