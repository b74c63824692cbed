/*
 * follow.h - the writer's thread that follows Redis (fc_options.follow):
 * it holds the invalidation and tracking connections and turns what
 * Redis says into deletes and clears (write/clear.h).
 */
#ifndef FC_DB_BG_FOLLOW_H
#define FC_DB_BG_FOLLOW_H

#include "db/core/store.h"
#include "util/error.h"

/* Writer open, after the block exists: starts the thread when the options
 * name a Redis (FC_EUNSUPPORTED in a build without hiredis). */
int fci_follower_start(fc_store *s, fci_err *err);

/* fc_close: stops and joins the thread, closing its connections. */
void fci_follower_stop(fc_store *s);

/* fc_after_fork: the child closes its copies of the connections. */
void fci_follower_forget_child(fc_store *s);

#endif
