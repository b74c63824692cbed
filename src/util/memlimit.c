/*
 * memlimit.c - the memory this process may use, from its cgroups and the
 * machine (see memlimit.h).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/memlimit.h"

#define FALLBACK_LIMIT ((uint64_t)4 << 30)

/* Size with an optional binary suffix; anything else after it is refused. */
uint64_t fci_parse_size(const char *s)
{
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (*end == 'i' && shift != 0)
        end++;   /* "512MiB" reads as "512M" */
    if (*end == 'B' && shift != 0)
        end++;
    if (*end != '\0' || v == 0 || v > (UINT64_MAX >> shift))
        return 0;
    return (uint64_t)v << shift;
}

/* First line of a small file as a number; "max" (v2's no limit) and any
 * unreadable file give UINT64_MAX. */
static uint64_t read_limit_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return UINT64_MAX;
    char line[64];
    uint64_t v = UINT64_MAX;
    if (fgets(line, sizeof line, f) != NULL && line[0] >= '0' && line[0] <= '9')
        v = strtoull(line, NULL, 10);
    fclose(f);
    return v;
}

uint64_t fci_cgroup_dir_limit(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/memory.max", dir);
    uint64_t v2 = read_limit_file(path);
    snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
    uint64_t v1 = read_limit_file(path);
    return v1 < v2 ? v1 : v2;
}

/* The tightest limit from mount/cg up to the mount's root: a parent's limit
 * binds its children. Inside a cgroup namespace the path may not exist
 * under the mount, whose root is then the process's own group. */
static uint64_t walk_up(const char *mount, const char *cg)
{
    char dir[PATH_MAX];
    uint64_t best = UINT64_MAX;
    snprintf(dir, sizeof dir, "%s%s", mount, cg);
    size_t root = strlen(mount);
    for (;;) {
        uint64_t v = fci_cgroup_dir_limit(dir);
        if (v < best)
            best = v;
        char *slash = strrchr(dir + root, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
    }
    return best;
}

/* /proc/self/cgroup: "0::/path" (v2) and "N:memory,...:/path" (v1). */
static uint64_t cgroup_limit(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return UINT64_MAX;
    char line[PATH_MAX + 64];
    uint64_t best = UINT64_MAX, v;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        const char *ctl = c1 + 1, *path = c2 + 1;
        if (*ctl == '\0') {
            v = walk_up("/sys/fs/cgroup", path);
            uint64_t u = walk_up("/sys/fs/cgroup/unified", path);
            v = u < v ? u : v;
        } else if (strstr(ctl, "memory") != NULL) {
            v = walk_up("/sys/fs/cgroup/memory", path);
        } else {
            continue;
        }
        best = v < best ? v : best;
    }
    fclose(f);
    return best;
}

static uint64_t physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return FALLBACK_LIMIT;
    return (uint64_t)pages * (uint64_t)size;
}

uint64_t fci_memory_limit(void)
{
    uint64_t forced = fci_parse_size(getenv(FCI_MEMORY_LIMIT_ENV));
    if (forced != 0)
        return forced;
    uint64_t phys = physical_memory(), cg = cgroup_limit();
    return cg != 0 && cg < phys ? cg : phys;
}
