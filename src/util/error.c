/*
 * error.c - error codes, their names, and per-handle failure details.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "forkcache.h"
#include "util/error.h"

/* Indexed by -code; kept in the order of the FC_E* defines. */
static const char *const fc_error_names[] = {
    "success",
    "invalid argument",
    "out of memory",
    "input/output error",
    "data is corrupt",
    "not found",
    "store is busy: another process is its writer",
    "already exists",
    "no space left on device",
    "not supported by this build or format",
    "layout or format version mismatch",
    "limit reached",
    "key or value too large",
    "handle is closed or transaction has ended",
    "resource temporarily unavailable",
    "timed out",
    "value does not match the expected one",
    "value is not a 64-bit integer",
    "permission denied",
    "store is open read-only",
    "internal error (a bug in forkcache)",
    "integer overflow",
    "stale handle: the writer it attached to has gone; reopen the store",
};

_Static_assert(sizeof fc_error_names / sizeof fc_error_names[0] == 1 - FC_ERRNO_LAST,
               "every FC_E* code needs a name");

const char *fc_strerror(int code)
{
    if (code > 0 || code < FC_ERRNO_LAST)
        return "unknown forkcache error";
    return fc_error_names[-code];
}

/* vsnprintf truncates safely; a cut-off detail is better than none. */
static void err_vformat(fci_err *err, int code, const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int fci_err_set(fci_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int fci_err_errno(fci_err *err, int code, int errnum, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    err_vformat(err, code, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(errnum));
    return code;
}

int fci_errno_code(int errnum)
{
    switch (errnum) {
    case ENOMEM: return FC_ENOMEM;
    case ENOSPC: case EDQUOT: return FC_ENOSPC;
    case ENOENT: return FC_ENOTFOUND;
    case EEXIST: return FC_EEXIST;
    case EACCES: case EPERM: case ELOOP: return FC_EPERM;
    case EAGAIN: return FC_EAGAIN;
    case EROFS: return FC_EREADONLY;
    case EINVAL: return FC_EINVAL;
    default: return FC_EIO;
    }
}

void fci_err_clear(fci_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

/* Lower layers word a failure without knowing which file it was about;
 * the caller that does know adds it in front, once. */
int fci_err_prefix(fci_err *err, int code, const char *what)
{
    if (err == NULL)
        return code;
    if (strstr(err->msg, what) != NULL) {
        err->code = code;
        return code;
    }
    char old[FCI_ERR_MSG_MAX];
    snprintf(old, sizeof old, "%s", err->msg[0] ? err->msg : fc_strerror(code));
    return fci_err_set(err, code, "%s: %s", what, old);
}
