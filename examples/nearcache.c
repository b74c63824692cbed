/*
 * nearcache.c - the Redis side of prefork_http --follow (nearcache.h).
 *
 * Each worker process keeps one hiredis connection in a static: a worker
 * is single-threaded, and the parent never makes one, so a forked worker
 * starts without (the static is only ever set after the fork).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "nearcache.h"

#ifdef HAVE_HIREDIS

#include <fcntl.h>
#include <hiredis/hiredis.h>

static redisContext *conn;   /* this worker's connection (see above) */

static redisContext *connect_url(const char *url)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = NULL;
    if (strncmp(url, "unix://", 7) == 0) {
        c = redisConnectUnixWithTimeout(url + 7, tv);
    } else if (strncmp(url, "redis://", 8) == 0) {
        char host[256];
        const char *colon = strrchr(url + 8, ':');
        size_t n = colon ? (size_t)(colon - url - 8) : strlen(url + 8);
        if (n >= sizeof host)
            return NULL;
        memcpy(host, url + 8, n);
        host[n] = '\0';
        c = redisConnectWithTimeout(host, colon ? atoi(colon + 1) : 6379, tv);
    }
    if (c != NULL && c->err == 0) {
        (void)fcntl(c->fd, F_SETFD, FD_CLOEXEC);
        return c;
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

/* fc_get_through's fetch: GET on the worker's connection. */
static int fetch(void *arg, const void *key, size_t klen, void **value, size_t *vlen)
{
    (void)arg;
    redisReply *r = redisCommand(conn, "GET %b", key, klen);
    if (r == NULL) { /* broken: the next miss reconnects */
        redisFree(conn);
        conn = NULL;
        return FC_EIO;
    }
    int rc = FC_ENOTFOUND;
    if (r->type == REDIS_REPLY_STRING) {
        *value = malloc(r->len > 0 ? r->len : 1);
        rc = *value != NULL ? 0 : FC_ENOMEM;
        if (rc == 0)
            memcpy(*value, r->str, r->len);
        *vlen = r->len;
    }
    freeReplyObject(r);
    return rc;
}

int nearcache_get(fc_store *s, const char *url, const void *key, size_t klen, void **value,
                  size_t *vlen)
{
    if (conn == NULL && (conn = connect_url(url)) == NULL)
        return FC_EIO;
    return fc_get_through(s, key, klen, 0, 0, fetch, NULL, value, vlen);
}

#else

int nearcache_get(fc_store *s, const char *url, const void *key, size_t klen, void **value,
                  size_t *vlen)
{
    (void)s, (void)url, (void)key, (void)klen, (void)value, (void)vlen;
    return FC_EUNSUPPORTED;
}

#endif
