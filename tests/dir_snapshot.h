/*
 * dir_snapshot.h - a directory's state as one string (each file's name,
 * size, mtime in nanoseconds and a content hash, sorted by name), so a
 * test can prove that something left the directory byte for byte alone.
 */
#ifndef FC_TEST_DIR_SNAPSHOT_H
#define FC_TEST_DIR_SNAPSHOT_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* FNV-1a over the file's bytes. */
static inline uint64_t dir_snapshot_hash(const char *path)
{
    FILE *f = fopen(path, "re");
    uint64_t h = 14695981039346656037ull;
    if (f == NULL)
        return 0;
    int c;
    while ((c = getc(f)) != EOF) {
        h ^= (uint64_t)(unsigned char)c;
        h *= 1099511628211ull;
    }
    fclose(f);
    return h;
}

static inline int dir_snapshot_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The caller frees the result; NULL when dir cannot be read. */
static inline char *dir_snapshot(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    char **lines = NULL;
    size_t n = 0, total = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096], line[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        snprintf(line, sizeof line, "%s %lld %lld.%09ld %016llx\n", e->d_name,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                 (unsigned long long)dir_snapshot_hash(path));
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = strdup(line);
        total += strlen(line);
    }
    closedir(d);
    if (n > 1)
        qsort(lines, n, sizeof *lines, dir_snapshot_cmp);
    char *out = malloc(total);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

#endif
