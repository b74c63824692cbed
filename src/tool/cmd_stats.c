/*
 * cmd_stats.c - `forkcache stats`: one look at a store's figures as any
 * attached process sees them (fc_stats_get, fc_stats_readers): levels,
 * memtables, arena, reader slots, the Limiter, the writer's counters.
 * Aligned text for people, --json for scripts.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool/tool.h"

static const struct option stats_opts[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

static const char *stall_word(int stall)
{
    switch (stall) {
    case FC_STALL_NONE: return "none";
    case FC_STALL_MEMTABLE: return "memtable";
    case FC_STALL_L0: return "l0";
    case FC_STALL_ERROR: return "error";
    case FC_STALL_ARENA: return "arena";
    default: return "unknown";
    }
}

/* A JSON string: the path may hold quotes, backslashes or control bytes. */
static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static const char *link_word(int link)
{
    return link == FC_LINK_UP ? "up" : link == FC_LINK_DOWN ? "down" : "none";
}

static const char *const atomic_names[FC_ATOMIC_OPS] = { "add", "replace", "incr", "cas" };

/* The operation counters as one JSON object (no newline after it). */
static void json_ops(const fc_counters *c, const char *indent)
{
    printf("{\"gets\": %" PRIu64 ", \"hits\": %" PRIu64 ", \"misses\": %" PRIu64
           ", \"expired\": %" PRIu64 ", \"puts\": %" PRIu64 ", \"deletes\": %" PRIu64
           ", \"batches\": %" PRIu64 ",\n%s \"computes\": %" PRIu64
           ", \"compute_waits\": %" PRIu64 ", \"atomic\": {",
           c->gets, c->hits, c->misses, c->expired, c->puts, c->deletes, c->batches, indent,
           c->computes, c->compute_waits);
    for (int op = 0; op < FC_ATOMIC_OPS; op++)
        printf("%s\"%s\": {\"applied\": %" PRIu64 ", \"refused\": %" PRIu64
               ", \"failed\": %" PRIu64 "}", op ? ", " : "", atomic_names[op],
               c->atomic[op][FC_OUTCOME_APPLIED], c->atomic[op][FC_OUTCOME_REFUSED],
               c->atomic[op][FC_OUTCOME_FAILED]);
    printf("},\n%s \"write_latency_us_buckets\": [", indent);
    for (int b = 0; b < FC_LATENCY_BUCKETS; b++)
        printf("%s%" PRIu64, b ? ", " : "", c->write_latency[b]);
    printf("], \"write_latency_sum_ns\": %" PRIu64 "}", c->write_latency_sum_ns);
}

static void print_json(const char *dir, const fc_stats *st, const fc_reader_stat *rd, size_t n)
{
    printf("{\n  \"store\": ");
    json_string(dir);
    printf(",\n  \"version\": %" PRIu64 ",\n  \"last_sequence\": %" PRIu64 ",\n", st->version,
           st->last_sequence);
    if (st->writer_pid)
        printf("  \"writer_pid\": %d,\n", st->writer_pid);
    else
        printf("  \"writer_pid\": null,\n");
    printf("  \"levels\": [");
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        printf("%s\n    {\"level\": %d, \"files\": %" PRIu32 ", \"bytes\": %" PRIu64 "}",
               l ? "," : "", l, st->files[l], st->level_bytes[l]);
    printf("\n  ],\n");
    printf("  \"memtable\": {\"active_bytes\": %" PRIu64 ", \"entries\": %" PRIu64
           ", \"immutable_bytes\": %" PRIu64 "},\n",
           st->mem_bytes, st->mem_entries, st->imm_bytes);
    printf("  \"arena\": {\"size\": %" PRIu64 ", \"in_use\": %" PRIu64 "},\n", st->arena_size,
           st->arena_in_use);
    printf("  \"reader_slots\": {\"capacity\": %" PRIu32 ", \"in_use\": %" PRIu32 "},\n",
           st->reader_slots, st->readers);
    printf("  \"readers\": [");
    for (size_t i = 0; i < n; i++) {
        printf("%s\n    {\"pid\": %d, \"pinned_version\": %" PRIu64 ", \"mappings\": %" PRIu32
               ",\n     \"ops\": ", i ? "," : "", rd[i].pid, rd[i].pinned_version, rd[i].mappings);
        json_ops(&rd[i].ops, "     ");
        putchar('}');
    }
    printf("%s],\n", n ? "\n  " : "");
    printf("  \"ops\": ");
    json_ops(&st->ops, "  ");
    printf(",\n  \"bytes\": {\"memtables\": %" PRIu64 ", \"tables\": %" PRIu64
           ", \"block_cache\": %" PRIu64 "},\n",
           st->mem_bytes + st->imm_bytes, st->table_bytes, st->block_cache_size);
    printf("  \"limiter\": {\"in_use\": %" PRIu32 ", \"capacity\": %" PRIu32
           ", \"mapped_bytes\": %" PRIu64 ", \"mapped_bytes_capacity\": %" PRIu64 "},\n",
           st->mappings_in_use, st->mappings_capacity, st->mapped_bytes_in_use,
           st->mapped_bytes_capacity);
    printf("  \"writer\": {\"flushes\": %" PRIu64 ", \"compactions\": %" PRIu64
           ", \"bytes_compacted\": %" PRIu64 ", \"stalls\": %" PRIu64 ", \"stall\": \"%s\"},\n",
           st->flushes, st->compactions, st->bytes_compacted, st->stalls, stall_word(st->stall));
    printf("  \"dropped\": {\"expired_entries\": %" PRIu64 ", \"expired_tables\": %" PRIu64
           ", \"expired_bytes\": %" PRIu64 ", \"evicted_tables\": %" PRIu64
           ", \"evicted_bytes\": %" PRIu64 "},\n",
           st->expired_entries, st->expired_tables, st->expired_bytes, st->evicted_tables,
           st->evicted_bytes);
    printf("  \"follow\": {\"clears\": %" PRIu64 ", \"link\": \"%s\", \"invalidations\": %" PRIu64
           ", \"fills\": %" PRIu64 ", \"fills_stale\": %" PRIu64 ", \"link_losses\": %" PRIu64
           ", \"lag_ms\": %" PRIu64 "},\n", st->clears, link_word(st->follow_link),
           st->follow_invalidations, st->follow_fills, st->follow_fills_stale,
           st->follow_link_losses, st->follow_lag_ms);
    printf("  \"process\": {\"tables_mapped\": %" PRIu64 ", \"tables_pread\": %" PRIu64 "}\n}\n",
           st->tables_mapped, st->tables_pread);
}

#define ROW "%-18s"   /* the label column of the human layout */

/* The hit ratio in percent, or -1 before the first get. */
static double hit_percent(const fc_counters *c)
{
    return c->gets ? 100.0 * (double)c->hits / (double)c->gets : -1;
}

static void human_ops(const fc_counters *c)
{
    printf(ROW "%" PRIu64 " (%" PRIu64 " hits, %" PRIu64 " misses, %" PRIu64 " expired)",
           "gets", c->gets, c->hits, c->misses, c->expired);
    if (c->gets)
        printf(", hit ratio %.2f%%", hit_percent(c));
    printf("\n" ROW "%" PRIu64 " puts, %" PRIu64 " deletes, %" PRIu64 " batches\n", "writes",
           c->puts, c->deletes, c->batches);
    uint64_t nw = 0;
    for (int b = 0; b < FC_LATENCY_BUCKETS; b++)
        nw += c->write_latency[b];
    if (nw)
        printf(ROW "mean %.1f us over %" PRIu64 " writes\n", "write latency",
               (double)c->write_latency_sum_ns / 1000.0 / (double)nw, nw);
    printf(ROW, "atomic");
    for (int op = 0; op < FC_ATOMIC_OPS; op++)
        printf("%s%s %" PRIu64 "/%" PRIu64 "/%" PRIu64, op ? ", " : "", atomic_names[op],
               c->atomic[op][FC_OUTCOME_APPLIED], c->atomic[op][FC_OUTCOME_REFUSED],
               c->atomic[op][FC_OUTCOME_FAILED]);
    printf(" (applied/refused/failed)\n");
    printf(ROW "%" PRIu64 " computed, %" PRIu64 " waited\n", "get-or-compute", c->computes,
           c->compute_waits);
}

static void print_human(const char *dir, const fc_stats *st, const fc_reader_stat *rd, size_t n)
{
    printf(ROW "%s\n", "store", dir);
    printf(ROW "%" PRIu64 "\n", "version", st->version);
    printf(ROW "%" PRIu64 "\n", "last sequence", st->last_sequence);
    if (st->writer_pid)
        printf(ROW "%d\n", "writer pid", st->writer_pid);
    else
        printf(ROW "none\n", "writer pid");
    printf(ROW "active %" PRIu64 " bytes, %" PRIu64 " entries; immutable %" PRIu64 " bytes\n",
           "memtable", st->mem_bytes, st->mem_entries, st->imm_bytes);
    printf(ROW "%" PRIu64 " of %" PRIu64 " bytes in use\n", "arena", st->arena_in_use,
           st->arena_size);
    printf(ROW "%" PRIu32 " of %" PRIu32 " mappings in use, %" PRIu64 " of %" PRIu64
           " mapped bytes\n", "limiter", st->mappings_in_use, st->mappings_capacity,
           st->mapped_bytes_in_use, st->mapped_bytes_capacity);
    printf(ROW "%" PRIu64 " flushes, %" PRIu64 " compactions, %" PRIu64 " bytes compacted\n",
           "writer counters", st->flushes, st->compactions, st->bytes_compacted);
    printf(ROW "%" PRIu64 " stalls, now %s\n", "write stalls", st->stalls, stall_word(st->stall));
    printf(ROW "%" PRIu64 " entries; %" PRIu64 " tables, %" PRIu64 " bytes\n", "expired",
           st->expired_entries, st->expired_tables, st->expired_bytes);
    printf(ROW "%" PRIu64 " tables, %" PRIu64 " bytes\n", "evicted", st->evicted_tables,
           st->evicted_bytes);
    printf(ROW "%" PRIu64 "\n", "clears", st->clears);
    if (st->follow_link != FC_LINK_NONE)
        printf(ROW "link %s, lag %" PRIu64 " ms, %" PRIu64 " invalidations, %" PRIu64
               " fills, %" PRIu64 " refused as stale, %" PRIu64 " links lost\n", "redis",
               link_word(st->follow_link), st->follow_lag_ms, st->follow_invalidations,
               st->follow_fills, st->follow_fills_stale, st->follow_link_losses);
    human_ops(&st->ops);
    if (st->oldest_pin_pid != 0)
        printf(ROW "pid %d pins version %" PRIu64 "%s\n", "oldest snapshot", st->oldest_pin_pid,
               st->oldest_pinned_version,
               st->stall == FC_STALL_ARENA ? " (writes wait for it: the arena is full)" :
               st->stale_reader_pid != 0 ? " (older than the writer's max snapshot age)" : "");
    printf(ROW "%" PRIu64 " tables mapped, %" PRIu64 " read by pread\n", "this process",
           st->tables_mapped, st->tables_pread);
    printf("\n%-6s %6s %14s\n", "level", "files", "bytes");
    uint64_t files = 0, bytes = 0;
    for (int l = 0; l < FC_NUM_LEVELS; l++) {
        printf("L%-5d %6" PRIu32 " %14" PRIu64 "\n", l, st->files[l], st->level_bytes[l]);
        files += st->files[l];
        bytes += st->level_bytes[l];
    }
    printf("%-6s %6" PRIu64 " %14" PRIu64 "\n", "total", files, bytes);
    printf("\nreaders: %" PRIu32 " of %" PRIu32 " slots in use\n", st->readers, st->reader_slots);
    if (n == 0)
        return;
    printf("%10s %16s %9s %12s %12s %10s\n", "pid", "pinned version", "mappings", "gets",
           "hits", "puts");
    for (size_t i = 0; i < n; i++) {
        printf("%10d ", rd[i].pid);
        if (rd[i].pinned_version)
            printf("%16" PRIu64, rd[i].pinned_version);
        else
            printf("%16s", "-");
        printf(" %9" PRIu32 " %12" PRIu64 " %12" PRIu64 " %10" PRIu64 "\n", rd[i].mappings,
               rd[i].ops.gets, rd[i].ops.hits, rd[i].ops.puts);
    }
}

enum { FMT_TEXT, FMT_JSON, FMT_PROMETHEUS };

/* The exposition text (--format prometheus). */
static int show_prometheus(const char *dir, fc_store *s)
{
    size_t len = 0;
    int rc;
    char *buf = tool_prometheus_text(s, &len, &rc);
    if (buf == NULL) {
        tool_fail("stats", dir, "%s", tool_detail(s, rc));
        return EXIT_TROUBLE;
    }
    fwrite(buf, 1, len, stdout);
    free(buf);
    return EXIT_OK;
}

static int show(const char *dir, fc_store *s, int json)
{
    fc_stats st;
    int rc = fc_stats_get(s, &st);
    if (rc != 0) {
        tool_fail("stats", dir, "%s", tool_detail(s, rc));
        return EXIT_TROUBLE;
    }
    size_t cap = st.reader_slots ? st.reader_slots : 1, n = 0;
    fc_reader_stat *rd = calloc(cap, sizeof *rd);
    if (rd == NULL) {
        tool_fail("stats", dir, "out of memory");
        return EXIT_TROUBLE;
    }
    rc = fc_stats_readers(s, rd, cap, &n);
    if (rc != 0) {
        tool_fail("stats", dir, "%s", tool_detail(s, rc));
        free(rd);
        return EXIT_TROUBLE;
    }
    if (json)
        print_json(dir, &st, rd, n);
    else
        print_human(dir, &st, rd, n);
    free(rd);
    return EXIT_OK;   /* main checks that the output was written */
}

int tool_cmd_stats(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("stats");
    store_args sa = { 0 };
    int format = FMT_TEXT, opt, r;
    while ((opt = getopt_long(argc, argv, "+", stats_opts, NULL)) != -1) {
        if ((r = tool_store_opt(cmd, opt, optarg, &sa)) < 0)
            return EXIT_TROUBLE;
        if (r > 0)
            continue;
        if (opt == OPT_HELP) {
            tool_help_cmd(cmd);
            return EXIT_OK;
        }
        if (opt == OPT_JSON)
            format = FMT_JSON;
        else if (opt == OPT_FORMAT && strcmp(optarg, "text") == 0)
            format = FMT_TEXT;
        else if (opt == OPT_FORMAT && strcmp(optarg, "json") == 0)
            format = FMT_JSON;
        else if (opt == OPT_FORMAT && strcmp(optarg, "prometheus") == 0)
            format = FMT_PROMETHEUS;
        else
            return tool_usage(cmd, opt == OPT_FORMAT ? "--format is text, json or prometheus"
                                                     : NULL);
    }
    if (argc - optind != 1)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    const char *dir = argv[optind];
    fc_store *s;
    if (tool_open("stats", dir, &sa, TOOL_READ_FLAGS, &s) != 0)
        return EXIT_TROUBLE;
    int code = format == FMT_PROMETHEUS ? show_prometheus(dir, s)
                                        : show(dir, s, format == FMT_JSON);
    fc_close(s);
    return code;
}
