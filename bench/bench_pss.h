/*
 * bench_pss.h - how much memory a store's data costs a process: the
 * proportional set size (PSS) of its mappings, from /proc/PID/smaps.
 * A shared page counts 1/n in each of the n processes that map it, so the
 * sum over processes is what the data really takes. Used by
 * `forkcache bench` (tests/check_db_pss.c reads smaps through the test
 * fixture's fct_pss_kib).
 */
#ifndef FC_TOOL_BENCH_PSS_H
#define FC_TOOL_BENCH_PSS_H

#include <sys/types.h>

/* Which mappings count. */
typedef struct tool_pss_match {
    const char *dir;      /* files under this directory (NULL: anywhere) */
    const char *suffix;   /* whose names end so (NULL: any name) */
    int anon_shared;      /* anonymous shared memory too: an arena that is
                             not in a file shows as "/dev/zero (deleted)" */
} tool_pss_match;

/*
 * PSS in KiB of process pid's (0: this process) mappings that m matches,
 * or of all of them when m is NULL. *files and *anon, when not NULL, get
 * the file-backed and the anonymous shared parts. -1 when smaps cannot be
 * read.
 */
long tool_pss_kib(pid_t pid, const tool_pss_match *m, long *files, long *anon);

#endif
