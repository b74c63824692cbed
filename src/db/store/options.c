/*
 * options.c - the FORKCACHE file: store options fixed at creation that
 * every later open must follow (today only ttl_framing, since it decides
 * how every value's bytes are read).
 *
 * Format, text, one item a line:
 *     forkcache-options 1
 *     ttl_framing 1
 * A missing file means "no options" (a store made before the file existed,
 * or without framing). LevelDB ignores the file: its name is none of its
 * own. A name this release does not know is refused rather than ignored,
 * since it may change how values must be read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/store.h"
#include "db/core/ttl.h"
#include "format/filename.h"
#include "util/io.h"
#include "db/store/open.h"

#define HEADER_LINE "forkcache-options 1"

static void options_path(const fc_store *s, char *buf, size_t cap, const char *suffix)
{
    snprintf(buf, cap, "%s/%s%s", s->dir, FCI_STORE_OPTIONS_FILE, suffix);
}

/* One "name value" line; only ttl_framing 0|1 is known. */
static int parse_line(const char *line, const char *path, int lineno, int *framing, fci_err *err)
{
    char name[64];
    int value, used = 0;
    if (sscanf(line, "%63s %d%n", name, &value, &used) != 2 || line[used] != '\0')
        return fci_err_set(err, FC_ECORRUPT, "%s: line %d: expected 'name value', found '%s'",
                           path, lineno, line);
    if (strcmp(name, "ttl_framing") != 0)
        return fci_err_set(err, FC_EUNSUPPORTED, "%s: line %d: unknown store option '%s'",
                           path, lineno, name);
    if (value != 0 && value != 1)
        return fci_err_set(err, FC_ECORRUPT, "%s: line %d: ttl_framing must be 0 or 1, found %d",
                           path, lineno, value);
    *framing = value;
    return 0;
}

/* 0 with *framing, FC_ENOTFOUND when there is no file, or an error. */
static int read_options(const fc_store *s, int *framing, fci_err *err)
{
    char path[PATH_MAX + 32];
    options_path(s, path, sizeof path, "");
    int fd = fci_io_open_regular(FCI_IO_SITE_OPTIONS_OPEN, s->dirfd, path, O_RDONLY | O_CLOEXEC,
                                 0, err);
    if (fd < 0 && errno == ENOENT)
        return FC_ENOTFOUND;
    if (fd < 0)
        return fd;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        close(fd);
        return fci_err_set(err, FC_ENOMEM, "fdopen %s", path);
    }
    char line[256];
    int rc = 0, lineno = 0;
    *framing = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (lineno == 1 && strcmp(line, HEADER_LINE) != 0)
            rc = fci_err_set(err, FC_ECORRUPT, "%s: line 1: expected '%s', found '%s'", path,
                             HEADER_LINE, line);
        else if (lineno > 1)
            rc = parse_line(line, path, lineno, framing, err);
    }
    if (rc == 0 && lineno == 0)
        rc = fci_err_set(err, FC_ECORRUPT, "%s: empty (expected '%s')", path, HEADER_LINE);
    fclose(f);
    return rc;
}

/* Replaced whole (fci_small_file_replace): a crash leaves the old file or
 * the new one, never a torn one. */
static int write_options(const fc_store *s, int framing, fci_err *err)
{
    char text[64];
    int n = snprintf(text, sizeof text, "%s\nttl_framing %d\n", HEADER_LINE, framing);
    return fci_small_file_replace(s->dirfd, s->dir, FCI_STORE_OPTIONS_FILE, text, (size_t)n,
                                  s->opts.file_mode, err);
}

int fci_options_prepare(fc_store *s, int creating_allowed, fci_err *err)
{
    int asked = s->opts.ttl_framing, framing = 0;
    int rc = read_options(s, &framing, err);
    if (rc == FC_ENOTFOUND) {
        framing = 0;
        rc = 0;
        if (asked && creating_allowed && !fci_vset_exists(s->dirfd, s->dir)) {
            rc = write_options(s, 1, err);
            framing = 1;
        }
    }
    if (rc != 0)
        return rc;
    if (asked && !framing)
        return fci_err_set(err, FC_EINVAL,
                           "%s: ttl_framing is chosen when a store is created, and this store "
                           "was created without it", s->dir);
    s->opts.ttl_framing = framing;
    return 0;
}
