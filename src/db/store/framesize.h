/*
 * framesize.h - how big the shared block cache's frames are.
 */
#ifndef FC_DB_FRAMESIZE_H
#define FC_DB_FRAMESIZE_H

#include <stddef.h>

/* Tables sampled, at most. */
#define FCI_FRAME_SAMPLE_TABLES 8

/* The frame size for the block cache of the store in dir, whose writer
 * cuts blocks at block_size: big enough for 99% of the data blocks of up
 * to FCI_FRAME_SAMPLE_TABLES of its tables, and for block_size and a
 * sixteenth; block_size and an eighth when it has no tables yet; twice
 * block_size when its tables are compressed (the frame holds a block
 * inflated, and the index knows only the compressed size). A multiple of
 * 64, 4 KiB .. 16 MiB. Never fails: what cannot be read is not sampled.
 * The directory is dirfd's (dir its name; AT_FDCWD: dir, util/io.h). */
size_t fci_frame_size_for(int dirfd, const char *dir, size_t block_size);

struct fc_store;
struct fci_err;
/* The writer (or a read-only opener with its own arena) carves the
 * store's block cache when its options ask for one, with frames sized by
 * fci_frame_size_for; nothing is sampled otherwise. */
int fci_frame_bcache_create(struct fc_store *s, struct fci_err *err);

#endif
