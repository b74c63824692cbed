/*
 * vbuild.h - replaying many version edits in time linear in their size.
 *
 * fci_version_apply copies every level into a new version, which is right
 * for the writer's one edit at a time but quadratic for a MANIFEST's
 * replay: N edits each adding one table to L0 copy and sort N files N
 * times. A builder keeps one working state instead and makes a version
 * only at the end; each edit costs what it names (plus, at a level above
 * 0 it adds to, one memcpy of that level's pointers, to stay atomic).
 *
 * The rules are fci_version_apply's, checked edit by edit with the same
 * messages: a deleted file must be at its level, and levels above 0 must
 * stay disjoint by user key. An edit that breaks one is refused whole and
 * leaves the builder as it was, so a best-effort replay can skip it.
 */
#ifndef FC_DB_VBUILD_H
#define FC_DB_VBUILD_H

#include "db/core/version.h"

struct fci_err;
typedef struct fci_vbuild fci_vbuild;

/* A builder starting from base (base is not changed; NULL = empty). NULL
 * when out of memory. */
fci_vbuild *fci_vbuild_new(const fci_version *base);
void fci_vbuild_free(fci_vbuild *b);

/* Applies one delta: 0, FC_ENOMEM, or FC_ECORRUPT with err set (the
 * builder is then unchanged). The delta's files gain references. */
int fci_vbuild_apply(fci_vbuild *b, const fci_version_delta *delta, struct fci_err *err);

/* The version the deltas so far make (refs = 1); the builder may go on. */
int fci_vbuild_version(fci_vbuild *b, fci_version **out);

#endif
