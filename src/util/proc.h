/*
 * proc.h - who a process is: its pid, and its start time so that a pid
 * the kernel gave to a new process is not mistaken for the old one.
 *
 * The pid is read without a system call. Every read checks that the handle
 * belongs to the calling process (a forked child must call fc_after_fork
 * first). glibc's getpid() is a real system call, and it was half the cost
 * of a transaction, so the pid is cached and the cache is cleared in the
 * child of every fork() through a pthread_atfork handler. A child made by
 * a raw clone() system call that bypasses fork() keeps the parent's cached
 * pid: use fork().
 */
#ifndef FC_UTIL_PROC_H
#define FC_UTIL_PROC_H

#include <stdint.h>
#include <sys/types.h>

pid_t fci_getpid(void);

/* Start time of pid (field 22 of /proc/<pid>/stat, clock ticks since
 * boot), 0 if the process does not exist or cannot be read. */
uint64_t fci_proc_start_time(int pid);

/* 1 if pid is alive and started at start (start 0: only that it exists). */
int fci_proc_alive(int pid, uint64_t start);
/* 1 when pid is a zombie: dead, not yet reaped by its parent. */
int fci_proc_zombie(int pid);

/* This process as one word: pid | low 32 bits of its start time << 32,
 * for owner fields that must be written in one store. */
uint64_t fci_owner_word_self(void);

/* 1 when the process an owner word names is gone (or 0 names nobody). */
int fci_owner_word_dead(uint64_t owner);

#endif
