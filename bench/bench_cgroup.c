/*
 * bench_cgroup.c - `forkcache bench --memory-limit`: the bench process
 * (and so every reader, anchor and server it forks, and the forkcache
 * store it opens, whose defaults then follow the limit) moves into a
 * memory cgroup of its own, made under the one it is in, v2 or v1
 * whichever is mounted, and leaves and removes it at the end. The page
 * cache is dropped before each mode when /proc/sys/vm/drop_caches may be
 * written, so every mode starts from disk.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"

/* The cgroup this process is in, as a directory of the mounted hierarchy:
 * v2's "0::/path" under /sys/fs/cgroup (or /sys/fs/cgroup/unified when
 * it has the memory controller), else v1's memory line. 0 and the
 * directory, whether it is v2 in *v2; -1 when no memory hierarchy is. */
static int own_cgroup(char *dir, size_t cap, int *v2)
{
    static const char *const mounts2[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return -1;
    char line[4096], p2[4096] = "", p1[4096] = "";
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        if (c1[1] == '\0')
            snprintf(p2, sizeof p2, "%s", c2 + 1);
        else if (strstr(c1 + 1, "memory") != NULL)
            snprintf(p1, sizeof p1, "%s", c2 + 1);
    }
    fclose(f);
    char probe[8300];
    for (int m = 0; m < 2 && p2[0]; m++) {
        snprintf(probe, sizeof probe, "%s/cgroup.controllers", mounts2[m]);
        FILE *c = fopen(probe, "re");
        int mem = 0;
        if (c != NULL) {
            mem = fgets(line, sizeof line, c) != NULL && strstr(line, "memory") != NULL;
            fclose(c);
        }
        if (mem) {
            snprintf(dir, cap, "%s%s", mounts2[m], strcmp(p2, "/") == 0 ? "" : p2);
            *v2 = 1;
            return 0;
        }
    }
    if (p1[0] == '\0')
        return -1;
    snprintf(dir, cap, "/sys/fs/cgroup/memory%s", strcmp(p1, "/") == 0 ? "" : p1);
    *v2 = 0;
    struct stat st;
    if (stat(dir, &st) != 0)   /* a namespace: our group is the mount's root */
        snprintf(dir, cap, "/sys/fs/cgroup/memory");
    return 0;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[8300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int bench_cgroup_enter(bench_cgroup *cg, uint64_t limit, char *why, size_t cap)
{
    memset(cg, 0, sizeof *cg);
    if (own_cgroup(cg->parent, sizeof cg->parent, &cg->v2) != 0) {
        snprintf(why, cap, "no memory cgroup hierarchy is mounted (looked for cgroup v2 with "
                 "the memory controller and v1's memory)");
        return -1;
    }
    snprintf(cg->dir, sizeof cg->dir, "%s/forkcache-bench-%d", cg->parent, (int)getpid());
    if (mkdir(cg->dir, 0755) != 0) {
        snprintf(why, cap, "cannot make %s: %s (it takes root, or a delegated cgroup%s)",
                 cg->dir, strerror(errno),
                 cg->v2 ? " with +memory in its parent's cgroup.subtree_control" : "");
        return -1;
    }
    char num[32], pid[32];
    snprintf(num, sizeof num, "%llu\n", (unsigned long long)limit);
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    const char *file = cg->v2 ? "memory.max" : "memory.limit_in_bytes";
    if (write_file(cg->dir, file, num) != 0 || write_file(cg->dir, "cgroup.procs", pid) != 0) {
        snprintf(why, cap, "cannot set %s/%s or join it: %s", cg->dir, file, strerror(errno));
        rmdir(cg->dir);
        return -1;
    }
    /* v2 without swap: memory.swap.max may be absent; failing is harmless */
    if (cg->v2)
        write_file(cg->dir, "memory.swap.max", "0\n");
    cg->in = 1;
    return 0;
}

/* Clean pages only, everywhere (the kernel has no per-cgroup drop): 0, or
 * -1 when this process may not. */
int bench_drop_caches(void)
{
    sync();
    return write_file("/proc/sys/vm", "drop_caches", "1\n");
}

/* Back to the parent group, then the (now empty) group goes. */
void bench_cgroup_leave(bench_cgroup *cg)
{
    if (!cg->in)
        return;
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    write_file(cg->parent, "cgroup.procs", pid);
    for (int i = 0; i < 50 && rmdir(cg->dir) != 0 && errno == EBUSY; i++)
        usleep(100 * 1000);   /* readers just reaped may still be leaving */
    cg->in = 0;
}

/* What the group saw, for the report: its peak and OOM kills. */
void bench_cgroup_note(const bench_cgroup *cg, char *out, size_t cap)
{
    char path[8300], line[128];
    unsigned long long peak = 0, ooms = 0;
    snprintf(path, sizeof path, "%s/%s", cg->dir,
             cg->v2 ? "memory.peak" : "memory.max_usage_in_bytes");
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) != NULL)
            peak = strtoull(line, NULL, 10);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s", cg->dir, cg->v2 ? "memory.events" : "memory.oom_control");
    f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "oom_kill %llu", &ooms) == 1)
            break;
    if (f != NULL)
        fclose(f);
    snprintf(out, cap, "cgroup peak %llu MiB, %llu OOM kills", peak >> 20, ooms);
}
