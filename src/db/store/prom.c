/*
 * prom.c - a store's figures in Prometheus's text exposition format, for
 * `forkcache stats --format prometheus`, the writer's /metrics and any
 * program's own endpoint (fc_stats_prometheus).
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "forkcache.h"

/* The text so far: bytes past cap are counted, not written, so the caller
 * learns the length a second call needs. */
typedef struct prom_out {
    char *buf;
    size_t cap, len;
} prom_out;

static void out_printf(prom_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out_printf(prom_out *o, const char *fmt, ...)
{
    char dummy[1];
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : dummy, room ? room : sizeof dummy, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* One metric family's HELP and TYPE lines. */
static void family(prom_out *o, const char *name, const char *type, const char *help)
{
    out_printf(o, "# HELP forkcache_%s %s\n# TYPE forkcache_%s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void single(prom_out *o, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    family(o, name, type, help);
    out_printf(o, "forkcache_%s %" PRIu64 "\n", name, v);
}

static void op_counters(prom_out *o, const fc_counters *c)
{
    single(o, "gets_total", "counter", "Gets (fc_get, fc_get_copy, fc_ttl) in every process.",
           c->gets);
    single(o, "get_hits_total", "counter", "Gets that found a live value.", c->hits);
    single(o, "get_misses_total", "counter", "Gets that found no live value.", c->misses);
    single(o, "get_expired_total", "counter", "Misses that met an expired value.", c->expired);
    single(o, "puts_total", "counter", "Values written (fc_put, fc_put_ttl, batch puts).",
           c->puts);
    single(o, "deletes_total", "counter", "Deletions written (fc_del, batch deletes).",
           c->deletes);
    single(o, "batches_total", "counter", "Batches written by fc_write.", c->batches);
    single(o, "computes_total", "counter", "fc_get_or_compute calls that computed.",
           c->computes);
    single(o, "compute_waits_total", "counter",
           "fc_get_or_compute calls that waited for another process's computation.",
           c->compute_waits);
    static const char *const ops[FC_ATOMIC_OPS] = { "add", "replace", "incr", "cas" };
    static const char *const outcomes[FC_OUTCOMES] = { "applied", "refused", "failed" };
    family(o, "atomic_ops_total", "counter",
           "Atomic operations by operation and outcome (refused: its condition failed).");
    for (int i = 0; i < FC_ATOMIC_OPS; i++)
        for (int k = 0; k < FC_OUTCOMES; k++)
            out_printf(o, "forkcache_atomic_ops_total{op=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
                       ops[i], outcomes[k], c->atomic[i][k]);
}

/* Bucket b of fc_counters counts writes under 2^b us: cumulative here,
 * with le in seconds; the last bucket is +Inf. */
static void latency(prom_out *o, const fc_counters *c)
{
    family(o, "write_latency_seconds", "histogram",
           "Time a put, delete or batch took in the calling process.");
    uint64_t cum = 0;
    for (int b = 0; b < FC_LATENCY_BUCKETS; b++) {
        cum += c->write_latency[b];
        if (b < FC_LATENCY_BUCKETS - 1)
            out_printf(o, "forkcache_write_latency_seconds_bucket{le=\"%.6f\"} %" PRIu64 "\n",
                       (double)(1u << b) / 1e6, cum);
        else
            out_printf(o, "forkcache_write_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                       cum);
    }
    out_printf(o, "forkcache_write_latency_seconds_sum %.9f\n",
               (double)c->write_latency_sum_ns / 1e9);
    out_printf(o, "forkcache_write_latency_seconds_count %" PRIu64 "\n", cum);
}

static void levels(prom_out *o, const fc_stats *st)
{
    family(o, "level_tables", "gauge", "Tables per level.");
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        out_printf(o, "forkcache_level_tables{level=\"%d\"} %" PRIu32 "\n", l, st->files[l]);
    family(o, "level_bytes", "gauge", "Bytes of the tables per level.");
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        out_printf(o, "forkcache_level_bytes{level=\"%d\"} %" PRIu64 "\n", l, st->level_bytes[l]);
}

static void store_figures(prom_out *o, const fc_stats *st)
{
    single(o, "memtable_bytes", "gauge", "Bytes in the active and immutable memtables.",
           st->mem_bytes + st->imm_bytes);
    single(o, "table_bytes", "gauge", "Bytes of all tables.", st->table_bytes);
    single(o, "block_cache_bytes", "gauge", "Bytes of the shared block cache's frames.",
           st->block_cache_size);
    single(o, "block_cache_hits_total", "counter", "Blocks found in the shared cache.",
           st->block_cache_hits);
    single(o, "block_cache_misses_total", "counter", "Blocks read into the shared cache.",
           st->block_cache_misses);
    single(o, "arena_bytes", "gauge", "Bytes reserved for the shared arena.", st->arena_size);
    single(o, "arena_used_bytes", "gauge", "Bytes allocated in the shared arena.",
           st->arena_in_use);
    single(o, "readers", "gauge", "Reader slots held by processes.", st->readers);
    single(o, "mappings", "gauge", "Table mappings held by all processes.",
           st->mappings_in_use);
    single(o, "flushes_total", "counter", "Memtables flushed to tables.", st->flushes);
    single(o, "compactions_total", "counter", "Compactions run.", st->compactions);
    single(o, "compacted_bytes_total", "counter", "Bytes compactions wrote.",
           st->bytes_compacted);
    single(o, "write_stalls_total", "counter", "Writes that had to wait.", st->stalls);
    single(o, "expired_entries_total", "counter", "Expired entries compaction dropped.",
           st->expired_entries);
    single(o, "expired_bytes_total", "counter", "Bytes of tables dropped whole, all expired.",
           st->expired_bytes);
    single(o, "evicted_tables_total", "counter", "Tables evicted by the max_bytes bound.",
           st->evicted_tables);
    single(o, "evicted_bytes_total", "counter", "Bytes evicted by the max_bytes bound.",
           st->evicted_bytes);
    single(o, "last_sequence", "gauge", "Sequence of the newest visible write.",
           st->last_sequence);
}

int fc_stats_prometheus(fc_store *s, char *buf, size_t cap, size_t *len)
{
    if (s == NULL || len == NULL || (buf == NULL && cap > 0))
        return FC_EINVAL;
    fc_stats st;
    int rc = fc_stats_get(s, &st);
    if (rc != 0)
        return rc;
    prom_out o = { buf, cap, 0 };
    op_counters(&o, &st.ops);
    latency(&o, &st.ops);
    store_figures(&o, &st);
    levels(&o, &st);
    *len = o.len;
    if (cap > 0 && o.len >= cap)
        buf[cap - 1] = '\0';
    return o.len < cap ? 0 : FC_ELIMIT;
}
