/*
 * readonly.c - opening a store (or any LevelDB directory) without writing.
 */
#include "config.h"

#include "forkcache.h"
#include "db/store.h"

int fci_open_readonly(fc_store *s, fci_err *err)
{
    (void)s;
    return fci_err_set(err, FC_EUNSUPPORTED, "read-only open is not built yet");
}
