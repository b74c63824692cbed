/*
 * bench_pss.c - PSS of a process's mappings, read from /proc/PID/smaps.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bench/bench_pss.h"

/* What a mapping's header line says: 0 not counted, 1 a file, 2
 * anonymous shared memory. A header is "lo-hi perms offset dev inode
 * [path]"; every other line of smaps is "Name: value". */
static int classify(const char *line, const tool_pss_match *m, int *is_header)
{
    unsigned long lo, hi;
    char perms[8] = "", path[4096] = "";
    *is_header = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095[^\n]", &lo, &hi, perms, path) < 3)
        return 0;
    *is_header = 1;
    int shared_anon = perms[3] == 's' && strncmp(path, "/dev/zero", 9) == 0;
    if (m == NULL)
        return shared_anon ? 2 : 1;
    if (shared_anon)
        return m->anon_shared ? 2 : 0;
    if (path[0] != '/')
        return 0;
    size_t n = strlen(path), dl = m->dir ? strlen(m->dir) : 0;
    if (m->dir && (strncmp(path, m->dir, dl) != 0 || path[dl] != '/'))
        return 0;
    if (m->suffix) {
        size_t sl = strlen(m->suffix);
        if (n < sl || strcmp(path + n - sl, m->suffix) != 0)
            return 0;
    }
    return 1;
}

long tool_pss_kib(pid_t pid, const tool_pss_match *m, long *files, long *anon)
{
    char name[64];
    if (pid == 0)
        snprintf(name, sizeof name, "/proc/self/smaps");
    else
        snprintf(name, sizeof name, "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(name, "re");
    if (f == NULL)
        return -1;
    long part[3] = { 0, 0, 0 };
    int counting = 0;
    char line[4608];
    while (fgets(line, sizeof line, f)) {
        long kib;
        if (strncmp(line, "Pss:", 4) == 0) {
            if (counting && sscanf(line, "Pss: %ld kB", &kib) == 1)
                part[counting] += kib;
            continue;
        }
        int header, c = classify(line, m, &header);
        if (header)
            counting = c;
    }
    fclose(f);
    if (files)
        *files = part[1];
    if (anon)
        *anon = part[2];
    return part[1] + part[2];
}
