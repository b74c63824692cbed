/*
 * error.h - the detail behind a negative FC_E* code.
 *
 * A code says what kind of failure happened; an fci_err keeps the sentence a
 * person needs to act on it (file, offset, expected versus found). Handles
 * embed one; internal functions take a pointer that may be NULL when the
 * caller only wants the code.
 */
#ifndef FC_UTIL_ERROR_H
#define FC_UTIL_ERROR_H

#include <stdarg.h>

#define FCI_ERR_MSG_MAX 512

typedef struct fci_err {
    int code;                    /* last failure's FC_E* code, 0 if none */
    char msg[FCI_ERR_MSG_MAX];   /* its detail, "" if none */
} fci_err;

/* Records code and a printf-style detail in *err (if not NULL); returns code
 * so that a failing path can end in `return fci_err_set(...)`. */
int fci_err_set(fci_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same as fci_err_set, then appends ": " and strerror(errnum). */
int fci_err_errno(fci_err *err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Maps an errno value from a failed system call to the nearest FC_E* code. */
int fci_errno_code(int errnum);

/* Puts "what: " in front of the message unless it already names what
 * (a file's path, usually); sets code and returns it. */
int fci_err_prefix(fci_err *err, int code, const char *what);

/* Forgets any previous failure. */
void fci_err_clear(fci_err *err);

#endif
