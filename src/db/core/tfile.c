/*
 * tfile.c - opening, mapping and removing table files by number (tfile.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <limits.h>
#include <unistd.h>

#include "forkcache.h"
#include "db/core/tfile.h"
#include "format/filename.h"
#include "util/io.h"

/* .ldb first: every table this library writes has that name. errno is
 * left as the failed open set it. */
int fci_tfile_open(int dirfd, const char *dir, uint64_t number, fci_io_site site, char *path,
                   size_t cap, fci_err *err)
{
    fci_filename(path, cap, dir, FCI_FILE_TABLE, number);
    int fd = fci_io_open_regular(site, dirfd, path, O_RDONLY | O_CLOEXEC, 0, err);
    if (fd < 0 && errno == ENOENT) {
        fci_filename(path, cap, dir, FCI_FILE_TABLE_SST, number);
        fd = fci_io_open_regular(site, dirfd, path, O_RDONLY | O_CLOEXEC, 0, err);
    }
    return fd;
}

/* MAP_SHARED, not private: every process then shares the page cache's
 * pages, which is what makes a table's memory count once on the host. */
void *fci_tfile_map(int fd, size_t size, fci_io_site site)
{
    if (size == 0)
        return NULL;
    void *map = fci_io_mmap(site, NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    return map == MAP_FAILED ? NULL : map;
}

void fci_tfile_advise_random(void *map, size_t size)
{
    if (map != NULL)
        (void)madvise(map, size, MADV_RANDOM);
}

/* A reader that still maps the table keeps reading it: the kernel frees
 * the file only when its last mapping goes. */
void fci_tfile_unlink(int dirfd, const char *dir, uint64_t number)
{
    char path[PATH_MAX];
    fci_filename(path, sizeof path, dir, FCI_FILE_TABLE, number);
    if (fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, path) != 0 && errno == ENOENT) {
        fci_filename(path, sizeof path, dir, FCI_FILE_TABLE_SST, number);
        fci_io_unlink(FCI_IO_SITE_UNLINK, dirfd, path);
    }
}
