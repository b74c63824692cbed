/*
 * nearcache.h - prefork_http's /k/ route in front of Redis (--follow):
 * a miss asks Redis on the worker's own connection through
 * fc_get_through, so the whole host shares one cached copy of each key,
 * kept coherent by the writer (the parent) following Redis.
 */
#ifndef FC_EXAMPLES_NEARCACHE_H
#define FC_EXAMPLES_NEARCACHE_H

#include <stddef.h>

#include "forkcache.h"

/* Reads key through the store, asking the Redis at url on a miss: 0 with
 * a malloc()ed value, FC_ENOTFOUND when Redis has none either, or an
 * FC_E* code (FC_EIO: Redis could not be reached). The worker's
 * connection is made at its first miss and kept. */
int nearcache_get(fc_store *s, const char *url, const void *key, size_t klen, void **value,
                  size_t *vlen);

#endif
