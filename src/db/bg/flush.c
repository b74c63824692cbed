/*
 * flush.c - writing tables: a memtable to a level-0 table, and the common
 * part of every table the writer creates (number, fsync, metadata).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/bg/flush.h"
#include "db/core/store.h"
#include "format/filename.h"
#include "util/io.h"

static void table_options_from(const fc_options *o, fci_table_options *t)
{
    fci_table_options_init(t);
    t->block_size = o->block_size;
    t->restart_interval = o->block_restart_interval;
    t->bloom_bits_per_key = o->bloom_bits_per_key;
    t->compression = o->compression;
    t->ttl_framing = o->ttl_framing;
    t->hash_index = o->hash_index;
}

int fci_output_open(fc_store *s, fci_output *out, uint64_t number, fci_err *err)
{
    out->number = number;
    out->fd = -1;
    out->started = 0;
    out->dirfd = s->dirfd;
    fci_filename(out->path, sizeof out->path, s->dir, FCI_FILE_TABLE, number);
    out->fd = fci_io_open_regular(FCI_IO_SITE_TABLE_CREATE, out->dirfd, out->path,
                                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, s->opts.file_mode, err);
    if (out->fd < 0) {
        int rc = out->fd;
        out->fd = -1;
        return rc;
    }
    fci_table_options topt;
    table_options_from(&s->opts, &topt);
    int rc = fci_table_builder_init_fd(&out->tb, &topt, out->fd);
    if (rc != 0) {
        close(out->fd);
        fci_io_unlink(FCI_IO_SITE_UNLINK, out->dirfd, out->path);
        return fci_err_set(err, rc, "table builder for %s", out->path);
    }
    out->started = 1;
    return 0;
}

/* Finishes the table, makes it durable, and records it in edit at level. */
int fci_output_finish(fci_output *out, fci_version_edit *edit, int level, fci_err *err)
{
    int rc = fci_table_builder_finish(&out->tb, err);
    if (rc != 0)
        fci_err_prefix(err, rc, out->path);
    if (rc == 0 && fci_io_fdatasync(FCI_IO_SITE_TABLE_SYNC, out->fd) != 0)
        rc = fci_err_errno(err, fci_errno_code(errno), errno, "fdatasync %s", out->path);
    if (rc == 0 && fci_table_builder_num_entries(&out->tb) > 0)
        rc = fci_edit_add_file(edit, level, out->number, fci_table_builder_file_size(&out->tb),
                               fci_table_builder_smallest(&out->tb),
                               fci_table_builder_largest(&out->tb));
    uint64_t entries = fci_table_builder_num_entries(&out->tb);
    fci_table_builder_free(&out->tb);
    if (close(out->fd) != 0 && rc == 0)
        rc = fci_err_errno(err, FC_EIO, errno, "close %s", out->path);
    out->fd = -1;
    out->started = 0;
    if (rc != 0 || entries == 0)
        fci_io_unlink(FCI_IO_SITE_UNLINK, out->dirfd, out->path);
    return rc;
}

/* Adds one entry; a failure names the table being written. */
int fci_output_add(fci_output *out, fci_slice ikey, fci_slice value, fci_err *err)
{
    int rc = fci_table_builder_add(&out->tb, ikey, value, err);
    return rc ? fci_err_prefix(err, rc, out->path) : 0;
}

void fci_output_abandon(fci_output *out)
{
    if (!out->started)
        return;
    fci_table_builder_free(&out->tb);
    close(out->fd);
    fci_io_unlink(FCI_IO_SITE_UNLINK, out->dirfd, out->path);
    out->started = 0;
}

/* Builds the L0 table outside the mutex when asked (the background thread
 * must not block writers for the length of a table write); recovery runs
 * before any writer exists and keeps it. */
int fci_flush_memtable(fc_store *s, fci_memtable *mt, fci_version_edit *edit, int unlock)
{
    fci_writer *w = s->w;
    fci_output out;
    fci_err err;
    fci_err_clear(&err);
    uint64_t number = fci_vset_new_file_number(&w->vs);
    if (number == 0)
        return fci_store_fail(s, fci_err_set(&err, FC_ELIMIT, "no file number left for a new table"),
                              &err);
    if (w->pending_flush == 0)
        w->pending_flush = number;
    if (unlock)
        pthread_mutex_unlock(&w->mu);
    int rc = fci_output_open(s, &out, number, &err);
    for (uint64_t n = fci_skiplist_first(&mt->list); n && rc == 0;
         n = fci_skiplist_next(&mt->list, n)) {
        fci_slice ikey, value;
        rc = fci_memtable_entry(mt, n, &ikey, &value);
        if (rc == 0)
            rc = fci_output_add(&out, ikey, value, &err);
    }
    if (rc == 0)
        rc = fci_output_finish(&out, edit, 0, &err);
    else
        fci_output_abandon(&out);
    if (unlock)
        pthread_mutex_lock(&w->mu);
    return rc ? fci_store_fail(s, rc, &err) : 0;
}
