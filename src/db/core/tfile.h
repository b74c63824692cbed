/*
 * tfile.h - a table file by its number: the one place that knows a table
 * may be named NNNNNN.ldb (LevelDB today) or NNNNNN.sst (LevelDB before
 * 1.14), and how a table is mapped whole. The table cache, compaction and
 * reclamation all reach table files through it.
 */
#ifndef FC_DB_CORE_TFILE_H
#define FC_DB_CORE_TFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/io.h"

/* Opens table number of the directory of dirfd (named dir) read-only and
 * close-on-exec, as .ldb or else .sst: the descriptor, or a negative FC_E*
 * code with err naming the file.
 * path (cap bytes) holds the name tried last, for the caller's messages;
 * on failure errno is the open's (EMFILE, say). */
int fci_tfile_open(int dirfd, const char *dir, uint64_t number, fci_io_site site, char *path,
                   size_t cap, fci_err *err);

/* The whole table mapped read-only and shared, or NULL when it cannot be
 * (no address space, a mapping limit): the caller then reads with pread. */
void *fci_tfile_map(int fd, size_t size, fci_io_site site);

/* Asks the kernel not to read around a fault in the mapping (MADV_RANDOM):
 * for tables whose pages may be evicted, where readahead on each random
 * get's fault evicts more than it brings. Advice only: failure is ignored. */
void fci_tfile_advise_random(void *map, size_t size);

/* Unlinks table number of dir under whichever name it has. */
void fci_tfile_unlink(int dirfd, const char *dir, uint64_t number);

#endif
