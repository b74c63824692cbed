/*
 * writerid.h - who the writer is, in ways that survive the loss of LOCK.
 *
 * LOCK's fcntl lock keeps a second writer out only while LOCK is the file
 * the lock was taken on: once something removes it (a /tmp cleaner, an
 * operator), a second writer creates a new LOCK, locks it and gets in. So
 * the writer also names itself in FORKCACHE-WRITER (pid, start time, boot),
 * which a new writer reads after taking its lock and before it touches
 * anything, and the running writer re-checks that LOCK is still the file it
 * locked before every MANIFEST edit and every new WAL: if LOCK went away it
 * takes a new one, and if another process holds the new one it stops
 * writing (fail-stop: two writers would destroy the store).
 *
 * The same file tells an attached process whether its arena's writer is
 * still the store's writer (fci_store_stale): a new writer marks the arena
 * file it replaces as retired.
 *
 * LevelDB ignores FORKCACHE-WRITER (it parses no such name), so real
 * LevelDB opens and cleans the store as before.
 */
#ifndef FC_DB_CORE_WRITERID_H
#define FC_DB_CORE_WRITERID_H

#include "db/core/store.h"
#include "util/error.h"

#define FCI_WRITERID_FILE "FORKCACHE-WRITER"

/* A writer_owner word that names nobody and says a later writer declared
 * this arena dead (pid 0, generation 1): attached processes must reopen. */
#define FCI_WRITER_RETIRED FCI_OWNER_MAKE(0, 1)

/* What FORKCACHE-WRITER says about the writer. */
enum { FCI_WRITERID_NONE = 0, FCI_WRITERID_SELF = 1, FCI_WRITERID_OTHER = 2 };

/* Reads the identity file of the directory of dirfd (named dir, util/io.h):
 * NONE when it is missing, unreadable or names a process that is gone (or
 * of another boot), SELF for this process, OTHER (with *pid) for another
 * live process. */
int fci_writerid_read(int dirfd, const char *dir, long *pid);

/* Names this process as the directory's writer (temporary file, then
 * rename). */
int fci_writerid_write(int dirfd, const char *dir, unsigned file_mode, fci_err *err);

/* The writer's close: removes the identity file while LOCK is still the
 * file it locked (else the name may be another writer's). */
void fci_writerid_remove(const fc_store *s);

/* The writer, mu held (or during open): checks that dir/LOCK is still the
 * file whose lock it holds; takes a new LOCK if it vanished or was
 * replaced by an unheld one; else marks the writer lost (sticky) and
 * returns FC_EBUSY naming the process that holds the new LOCK. */
int fci_writer_lock_check(fc_store *s, fci_err *err);

/* The lock check as fci_vset's guard (arg is the store). */
int fci_writer_lock_guard(void *arg, fci_err *err);

/* An attached process (a reader of a file-backed arena): FC_ESTALE, with
 * the reason in err, when its arena's writer is gone and a later writer
 * retired the arena or put another arena file at its path; else 0. */
int fci_store_stale(fc_store *s, fci_err *err);

/* fci_store_stale's cheap first half, for every transaction: 1 when this
 * process reads a file-backed arena whose writer closed or was retired
 * (then fci_store_stale decides). Relaxed: a hint, which the acquire load
 * in fci_store_stale reads again. */
static inline int fci_store_writer_left(const fc_store *s)
{
    if (s->role != FCI_ROLE_READER || s->arena == NULL || s->arena->path == NULL)
        return 0;
    uint64_t owner = atomic_load_explicit(&s->arena->hdr->writer_owner, memory_order_relaxed);
    return owner == 0 || owner == FCI_WRITER_RETIRED;
}

/* The arena's writer pid, 0 when none or when that process is gone. */
int fci_store_writer_pid(fc_store *s);

#endif
