/*
 * bench_report.c - what `forkcache bench` prints and writes: one line per
 * mode in a fixed shape (for scripts), a table (for people), the CSV, and
 * the gnuplot script of the plot.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "tool/tool.h"

#define MAX_AXIS 16

void bench_print_line(const bench_result *r)
{
    printf("bench mode=%s procs=%d keys=%llu value_size=%zu gets_per_s=%.0f ns_per_get=%.0f "
           "p99_ns=%.0f pss_mib=%.1f\n",
           r->mode, r->procs, (unsigned long long)r->shape.keys, r->shape.value_size,
           r->gets_per_s, r->ns_per_get, r->p99_ns, r->pss_mib);
    fflush(stdout);
}

static const bench_result *find(const bench_result *rs, int n, const char *mode,
                                const bench_result *like)
{
    for (int k = 0; k < n; k++)
        if (strcmp(rs[k].mode, mode) == 0 && rs[k].shape.keys == like->shape.keys &&
            rs[k].shape.value_size == like->shape.value_size &&
            (like->procs == 0 || rs[k].procs == like->procs))
            return &rs[k];
    return NULL;
}

static double per_proc(const bench_result *r)
{
    return r->procs > 0 ? r->gets_per_s / r->procs : 0;
}

/* "how many times faster mmap is", from per-process rates, so LevelDB's
 * single process compares fairly. */
static void print_row(const bench_result *rs, int n, const bench_result *r)
{
    const bench_result *m = find(rs, n, "mmap", &(bench_result){ .shape = r->shape });
    char ratio[16] = "-", data[16] = "-";
    if (m && per_proc(r) > 0)
        snprintf(ratio, sizeof ratio, "%.2fx", per_proc(m) / per_proc(r));
    if (r->data_mib > 0)
        snprintf(data, sizeof data, "%.1f", r->data_mib);
    printf("%-8s %5d %9llu %7zu %11.0f %11.0f %7.0f %7.0f %8.0f %8.1f %8s %8s  %s\n", r->mode,
           r->procs, (unsigned long long)r->shape.keys, r->shape.value_size, r->gets_per_s,
           per_proc(r), r->ns_per_get, r->cpu_ns_per_get, r->p99_ns, r->pss_mib, data, ratio,
           r->note);
}

/* How many times more CPU a get of a costs than one of b: on a machine
 * that other work keeps busy, a steadier comparison than wall time. */
static double cpu_ratio(const bench_result *a, const bench_result *b)
{
    return b->cpu_ns_per_get > 0 ? a->cpu_ns_per_get / b->cpu_ns_per_get : 0;
}

/* The headline ratios of one mmap row, each beside the target
 * where that target applies to the row's shape. */
static void print_summary(const bench_result *rs, int n, const bench_result *m)
{
    const bench_result *l = find(rs, n, "lmdb", m), *c = find(rs, n, "copy", m);
    const bench_result *k = find(rs, n, "cache", m);
    int headline = m->shape.keys == 1000000 && m->shape.value_size == 100 && m->procs == 2;
    printf("mmap at %llu keys x %zu B, %d procs:", (unsigned long long)m->shape.keys,
           m->shape.value_size, m->procs);
    if (l && l->gets_per_s > 0)
        printf(" %.2fx lmdb's gets/s%s, %.2fx by CPU per get;", m->gets_per_s / l->gets_per_s,
               headline ? " (target >= 1.25x)" : "", cpu_ratio(l, m));
    if (c && c->gets_per_s > 0)
        printf(" %.2fx copy's%s, %.2fx by CPU per get;", m->gets_per_s / c->gets_per_s,
               m->shape.value_size == 4096 ? " (target >= 4x)" : "", cpu_ratio(c, m));
    if (m->data_mib > 0)
        printf(" readers' PSS %.2fx the data", m->pss_mib / m->data_mib);
    if (k && k->data_mib > 0)
        printf(" (cache mode %.2fx)", k->pss_mib / k->data_mib);
    printf("\n");
}

void bench_print_table(const bench_result *rs, int n)
{
    printf("\n%-8s %5s %9s %7s %11s %11s %7s %7s %8s %8s %8s %8s  %s\n", "mode", "procs", "keys",
           "value_B", "gets/s", "gets/s/proc", "ns/get", "cpu_ns", "p99_ns", "PSS_MiB",
           "data_MiB", "mmap_is", "note");
    for (int k = 0; k < n; k++)
        print_row(rs, n, &rs[k]);
    printf("(ns/get: a reader's window over its gets, key formatting and one transaction "
           "included; cpu_ns: its CPU time over its gets (a client's only, for Redis); p99 of "
           "every 64th get; PSS: sum over readers of the data's mappings; mmap_is: mmap's "
           "gets/s per process over this row's)\n");
    for (int k = 0; k < n; k++)
        if (strcmp(rs[k].mode, "mmap") == 0)
            print_summary(rs, n, &rs[k]);
    fflush(stdout);
}

int bench_write_csv(const char *path, const bench_result *rs, int n)
{
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        tool_fail("bench", NULL, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "mode,procs,keys,value_size,gets_per_s,ns_per_get,p99_ns,pss_mib,data_mib,"
               "cpu_ns_per_get,note\n");
    for (int k = 0; k < n; k++) {
        const bench_result *r = &rs[k];
        fprintf(f, "%s,%d,%llu,%zu,%.0f,%.0f,%.0f,%.1f,%.1f,%.0f,\"%s\"\n", r->mode, r->procs,
                (unsigned long long)r->shape.keys, r->shape.value_size, r->gets_per_s,
                r->ns_per_get, r->p99_ns, r->pss_mib, r->data_mib, r->cpu_ns_per_get, r->note);
    }
    if (fclose(f) != 0) {
        tool_fail("bench", NULL, "writing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- the plot ---------------------------------------------------------------- */

/* The distinct values along one axis, in order of first appearance. */
typedef struct axis {
    int n;
    long v[MAX_AXIS];
    const char *name[MAX_AXIS];
} axis;

static int axis_add(axis *a, long v, const char *name)
{
    for (int k = 0; k < a->n; k++)
        if (name ? strcmp(a->name[k], name) == 0 : a->v[k] == v)
            return k;
    if (a->n == MAX_AXIS)
        return -1;
    a->v[a->n] = v;
    a->name[a->n] = name;
    return a->n++;
}

static const bench_result *cell(const bench_result *rs, int n, long vs, long procs,
                                const char *mode)
{
    for (int k = 0; k < n; k++)
        if ((long)rs[k].shape.value_size == vs && rs[k].procs == procs &&
            strcmp(rs[k].mode, mode) == 0)
            return &rs[k];
    return NULL;
}

/* One panel per value size: clustered bars, procs along x, a bar per mode.
 * The data sits in the script itself (datablocks), so it runs anywhere. */
static void write_script(FILE *f, const char *png, const bench_result *rs, int n)
{
    axis sizes = { 0 }, procs = { 0 }, modes = { 0 };
    for (int k = 0; k < n; k++) {
        axis_add(&sizes, (long)rs[k].shape.value_size, NULL);
        axis_add(&procs, rs[k].procs, NULL);
        axis_add(&modes, 0, rs[k].mode);
    }
    for (int i = 1; i < procs.n; i++)   /* fewest readers first along x */
        for (int j = i; j > 0 && procs.v[j - 1] > procs.v[j]; j--) {
            long t = procs.v[j];
            procs.v[j] = procs.v[j - 1];
            procs.v[j - 1] = t;
        }
    fprintf(f, "# forkcache bench: gets/s by value size and reader processes.\n"
               "# Made by `forkcache bench --plot`; run with: gnuplot THIS_FILE\n"
               "set terminal pngcairo size %d,480 font \",10\"\n"
               "set output '%s'\n"
               "set datafile missing '-'\n"
               "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.85 border -1\nset key top left autotitle columnhead\n"
               "set yrange [0:*]\nset grid ytics\nset format y '%%.1s%%c'\n"
               "set xlabel 'reader processes'\nset ylabel 'gets/s, all readers'\n"
               "set multiplot layout 1,%d title 'forkcache bench: uniform random gets, one "
               "transaction each'\n",
               420 * (sizes.n < 1 ? 1 : sizes.n) + 80, png, sizes.n < 1 ? 1 : sizes.n);
    for (int s = 0; s < sizes.n; s++) {
        int shown[MAX_AXIS], nshown = 0;   /* modes with a figure in this panel */
        for (int m = 0; m < modes.n; m++)
            for (int p = 0; p < procs.n; p++)
                if (cell(rs, n, sizes.v[s], procs.v[p], modes.name[m])) {
                    shown[nshown++] = m;
                    break;
                }
        fprintf(f, "$v%ld << EOD\nprocs", sizes.v[s]);
        for (int m = 0; m < nshown; m++)
            fprintf(f, " %s", modes.name[shown[m]]);
        unsigned long long keys = 0;
        for (int p = 0; p < procs.n; p++) {
            fprintf(f, "\n%ld", procs.v[p]);
            for (int m = 0; m < nshown; m++) {
                const bench_result *r = cell(rs, n, sizes.v[s], procs.v[p], modes.name[shown[m]]);
                if (r) {
                    fprintf(f, " %.0f", r->gets_per_s);
                    keys = r->shape.keys;
                } else {
                    fprintf(f, " -");
                }
            }
        }
        fprintf(f, "\nEOD\nset title '%ld-byte values, %llu keys'\n", sizes.v[s], keys);
        fprintf(f, "plot for [c=2:%d] $v%ld using c:xtic(1)\n", nshown + 1, sizes.v[s]);
    }
    fprintf(f, "unset multiplot\n");
}

/* base + ext, where base is png without its .png. */
static void sibling(char *out, size_t cap, const char *png, const char *ext)
{
    size_t n = strlen(png);
    if (n > 4 && strcmp(png + n - 4, ".png") == 0)
        n -= 4;
    snprintf(out, cap, "%.*s%s", (int)n, png, ext);
}

/* Runs gnuplot on script; 0 drawn, 1 gnuplot is not installed, -1 it failed. */
static int run_gnuplot(const char *script)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status) == 0 ? 0 : WEXITSTATUS(status) == 127 ? 1 : -1;
}

int bench_plot(const char *png, const bench_result *rs, int n)
{
    char gp[4096], csv[4096];
    sibling(gp, sizeof gp, png, ".gp");
    sibling(csv, sizeof csv, png, ".csv");
    if (bench_write_csv(csv, rs, n) != 0)
        return -1;
    FILE *f = fopen(gp, "we");
    if (f == NULL) {
        tool_fail("bench", NULL, "cannot write %s: %s", gp, strerror(errno));
        return -1;
    }
    write_script(f, png, rs, n);
    if (fclose(f) != 0) {
        tool_fail("bench", NULL, "writing %s: %s", gp, strerror(errno));
        return -1;
    }
    int rc = run_gnuplot(gp);
    if (rc == 0)
        printf("plot: %s (script %s, data %s)\n", png, gp, csv);
    else if (rc == 1)
        printf("plot: gnuplot is not installed; wrote the script %s and the data %s "
               "(gnuplot %s draws %s)\n", gp, csv, gp, png);
    else
        tool_fail("bench", NULL, "gnuplot %s failed", gp);
    return rc;
}
