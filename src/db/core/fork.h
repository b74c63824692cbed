/*
 * fork.h - liburcu and fork: whether this process's liburcu state is sound
 * (the public fc_fork / fc_prefork / fc_postfork_* live in fork.c too).
 */
#ifndef FC_DB_CORE_FORK_H
#define FC_DB_CORE_FORK_H

/* Records that this process uses liburcu (a store is open in it). */
void fci_urcu_mark(void);
/* 1 when liburcu's state in this process is sound: it never used liburcu,
 * or it is the process that did, or a child made by fc_fork. 0 in a child
 * made by a plain fork() after its parent used liburcu, where a grace
 * period could wait forever for threads that do not exist. */
int fci_urcu_usable(void);

#endif
