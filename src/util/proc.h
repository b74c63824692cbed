/*
 * proc.h - this process's pid without a system call.
 *
 * Every read checks that the handle belongs to the calling process (a
 * forked child must call fc_after_fork first). glibc's getpid() is a real
 * system call, and it was half the cost of a transaction, so the pid is
 * cached and the cache is cleared in the child of every fork() through a
 * pthread_atfork handler. A child made by a raw clone() system call that
 * bypasses fork() keeps the parent's cached pid: use fork().
 */
#ifndef FC_UTIL_PROC_H
#define FC_UTIL_PROC_H

#include <sys/types.h>

pid_t fci_getpid(void);

#endif
