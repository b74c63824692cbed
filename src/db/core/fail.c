/*
 * fail.c - a store handle's failure state: the message fc_errmsg shows, the
 * message of an open that left no handle, and the background thread's last
 * failure as writers see it. Every layer records failures here, so it sits
 * at the bottom.
 */
#include "config.h"

#include <stdio.h>

#include "forkcache.h"
#include "db/core/store.h"

/* The detail of this thread's last failed fc_open, whose handle is gone.
 * Thread-local, so threads opening stores at once do not mix messages; a
 * forked child starts with a copy of its parent thread's message. */
static _Thread_local char open_failure[FCI_ERR_MSG_MAX];

int fci_store_fail(fc_store *s, int code, const fci_err *detail)
{
    if (s == NULL)
        return code;
    pthread_mutex_lock(&s->err_mu);
    if (detail != NULL && detail->msg[0] != '\0')
        fci_err_set(&s->err, code, "%s", detail->msg);
    else
        fci_err_set(&s->err, code, "%s", fc_strerror(code));
    pthread_mutex_unlock(&s->err_mu);
    return code;
}

/* Keeps err as the message fc_errmsg(NULL) shows. */
void fci_open_failed(const fci_err *err)
{
    snprintf(open_failure, sizeof open_failure, "%s", err->msg[0] ? err->msg : fc_strerror(err->code));
}

const char *fc_errmsg(const fc_store *store)
{
    if (store == NULL)
        return open_failure[0] ? open_failure : "no error";
    return store->err.msg[0] ? store->err.msg : "no error";
}

int fci_bg_failed(fc_store *s)
{
    return fci_store_fail(s, s->w->bg_error ? s->w->bg_error : FC_EIO, &s->w->bg_err);
}
