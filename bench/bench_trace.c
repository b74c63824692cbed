/*
 * bench_trace.c - miss ratios of eviction policies on key-access traces:
 * an offline simulator of per-entry LRU, FIFO, SIEVE and S3-FIFO, of the
 * store's own table-granular FIFO (the max_bytes bound today) and of that
 * FIFO with promotion at eviction (a visited bit per entry; visited live
 * entries of the dropped table are written forward), all at the same byte
 * budget; and a replayer that runs the trace through a real store (forked
 * readers, misses filled with fc_put, max_bytes = the budget) for the
 * store's miss ratio beside them. A benchmark: it prints figures.
 *
 *   bench/bench_trace [--keys N] [--requests R] [--skew A,B,..] [--one-hit F]
 *                     [--scan F] [--budgets P,Q,..] [--value-size B]
 *                     [--procs P] [--dir DIR] [--store-requests R]
 *                     [--trace FILE] [--no-store]
 *
 * Traces: --keys keys drawn by a Zipf law of skew A (rank r has weight
 * 1/r^A, ranks shuffled over key ids), plus one-hit keys (--one-hit F: that
 * share of the distinct keys is asked for exactly once; "one-hit wonders"),
 * plus scans (--scan F: that share of requests are runs of 1000 keys read
 * once in order, from a range no other request asks for). --trace FILE
 * replays a text file instead: one key per line. Budgets are percents of the
 * bytes of every distinct key and its value.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forkcache.h"
#include "bench_common.h"

#define SCAN_RUN 1000
#define MAX_LIST 16

/* ---- traces -------------------------------------------------------------- */

typedef struct trace {
    uint32_t *req;      /* key ids, dense from 0 */
    size_t n;
    uint32_t nkeys;     /* distinct ids: 0 .. nkeys-1 */
} trace;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

/* The Zipf law's cumulative weights over n ranks, for sampling by search. */
static double *zipf_cdf(uint32_t n, double skew)
{
    double *cdf = malloc(n * sizeof *cdf), sum = 0;
    if (cdf == NULL)
        return NULL;
    for (uint32_t r = 0; r < n; r++)
        cdf[r] = (sum += 1.0 / pow((double)r + 1, skew));
    for (uint32_t r = 0; r < n; r++)
        cdf[r] /= sum;
    return cdf;
}

static uint32_t zipf_draw(const double *cdf, uint32_t n, uint64_t *s)
{
    double u = rng_unit(s);
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Ranks shuffled over ids, so popularity is not the key order. */
static uint32_t *shuffled_ids(uint32_t n, uint64_t *s)
{
    uint32_t *p = malloc(n * sizeof *p);
    if (p == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        p[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)(rng_next(s) % i), t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    return p;
}

/* Zipf requests over ids 0..keys-1; one-hit ids and scan runs after them. */
static int trace_make(trace *t, uint32_t keys, size_t requests, double skew, double one_hit,
                      double scan)
{
    uint64_t s = 42;
    double *cdf = zipf_cdf(keys, skew);
    uint32_t *ids = shuffled_ids(keys, &s);
    uint32_t ones = one_hit > 0 ? (uint32_t)(one_hit * keys / (1 - one_hit)) : 0;
    t->req = malloc(requests * sizeof *t->req);
    if (cdf == NULL || ids == NULL || t->req == NULL)
        return -1;
    double p_one = (double)ones / (double)requests;
    uint32_t next_one = keys, next_scan = keys + ones, run = 0;
    for (t->n = 0; t->n < requests; t->n++) {
        double u = rng_unit(&s);
        if (run > 0 || u < scan / SCAN_RUN) {       /* a run, begun or going on */
            run = run > 0 ? run - 1 : SCAN_RUN - 1;
            t->req[t->n] = next_scan++;
        } else if (u < scan / SCAN_RUN + p_one && next_one < keys + ones) {
            t->req[t->n] = next_one++;
        } else {
            t->req[t->n] = ids[zipf_draw(cdf, keys, &s)];
        }
    }
    t->nkeys = next_scan;
    free(cdf);
    free(ids);
    return 0;
}

/* One key per line; ids are given by first appearance (a linear-probing
 * table of the lines' hashes; distinct lines that hash alike share an id,
 * once in 2^64). */
static int trace_read(trace *t, const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t cap = 1 << 20, hcap = 1 << 22;
    uint64_t *hk = calloc(hcap, sizeof *hk);
    uint32_t *hv = calloc(hcap, sizeof *hv);
    t->req = malloc(cap * sizeof *t->req);
    t->n = t->nkeys = 0;
    char line[4096];
    while (hk && hv && t->req && fgets(line, sizeof line, f) != NULL) {
        uint64_t h = 1469598103934665603ull;
        for (char *p = line; *p && *p != '\n'; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h |= 1;   /* 0 marks an empty cell */
        size_t i = h & (hcap - 1);
        while (hk[i] != 0 && hk[i] != h)
            i = (i + 1) & (hcap - 1);
        if (hk[i] == 0) {
            if (t->nkeys >= hcap / 2)
                break;   /* the table is half full: the trace is cut here */
            hk[i] = h;
            hv[i] = t->nkeys++;
        }
        if (t->n == cap && (t->req = realloc(t->req, (cap *= 2) * sizeof *t->req)) == NULL)
            break;
        t->req[t->n++] = hv[i];
    }
    fclose(f);
    free(hk);
    free(hv);
    return t->req != NULL && t->n > 0 ? 0 : -1;
}

/* ---- the offline simulators: entries of one size, a budget in entries ------ */

/* A doubly linked list over ids (head = newest), with membership. */
typedef struct dlist {
    uint32_t *prev, *next;
    uint8_t *in;        /* 0 absent, else which list holds it (S3-FIFO: 1 small, 2 main) */
    uint32_t head, tail, size;
} dlist;

#define NIL UINT32_MAX

static int dl_init(dlist *l, uint32_t n)
{
    l->prev = malloc(n * sizeof *l->prev);
    l->next = malloc(n * sizeof *l->next);
    l->in = calloc(n, 1);
    l->head = l->tail = NIL;
    l->size = 0;
    return l->prev && l->next && l->in ? 0 : -1;
}

static void dl_free(dlist *l)
{
    free(l->prev);
    free(l->next);
    free(l->in);
}

static void dl_push_head(dlist *l, uint32_t id, uint8_t tag)
{
    l->prev[id] = NIL;
    l->next[id] = l->head;
    if (l->head != NIL)
        l->prev[l->head] = id;
    l->head = id;
    if (l->tail == NIL)
        l->tail = id;
    l->in[id] = tag;
    l->size++;
}

static void dl_remove(dlist *l, uint32_t id)
{
    uint32_t p = l->prev[id], n = l->next[id];
    if (p != NIL)
        l->next[p] = n;
    else
        l->head = n;
    if (n != NIL)
        l->prev[n] = p;
    else
        l->tail = p;
    l->in[id] = 0;
    l->size--;
}

/* LRU (lru = 1: a hit moves the entry to the head) or FIFO (insertion
 * order only); the tail goes. */
static uint64_t sim_list(const trace *t, uint32_t cap, int lru)
{
    dlist l;
    uint64_t miss = 0;
    if (dl_init(&l, t->nkeys) != 0)
        return UINT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t id = t->req[i];
        if (l.in[id] && !lru)
            continue;
        if (l.in[id]) {
            dl_remove(&l, id);
        } else {
            miss++;
            if (l.size >= cap)
                dl_remove(&l, l.tail);
        }
        dl_push_head(&l, id, 1);
    }
    dl_free(&l);
    return miss;
}

/* SIEVE (NSDI'24): a visited bit set on a hit; the hand walks from the
 * tail toward the head, clearing visited bits, and evicts the first
 * unvisited entry; new entries go to the head. */
static uint64_t sim_sieve(const trace *t, uint32_t cap)
{
    dlist l;
    uint8_t *vis = calloc(t->nkeys, 1);
    uint64_t miss = 0;
    uint32_t hand = NIL;
    if (dl_init(&l, t->nkeys) != 0 || vis == NULL)
        return UINT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t id = t->req[i];
        if (l.in[id]) {
            vis[id] = 1;
            continue;
        }
        miss++;
        if (l.size >= cap) {
            uint32_t h = hand != NIL ? hand : l.tail;
            while (vis[h]) {
                vis[h] = 0;
                h = l.prev[h] != NIL ? l.prev[h] : l.tail;
            }
            hand = l.prev[h];
            dl_remove(&l, h);
        }
        dl_push_head(&l, id, 1);
    }
    dl_free(&l);
    free(vis);
    return miss;
}

/* S3-FIFO (SOSP'23): a small FIFO (a tenth) for new entries, a main FIFO,
 * a ghost FIFO of ids recently dropped from the small one; a 2-bit
 * frequency per entry. An entry leaving the small FIFO moves to main if it
 * was read more than once there, else to the ghost; a ghost id that comes
 * back goes straight to main; main reinserts entries read since (counting
 * their frequency down). */
typedef struct s3 {
    dlist s, m;            /* share prev/next/in: an id is in one of them */
    uint8_t *freq;
    uint64_t *gstamp, gcount, gcap;
    uint32_t cap_s, cap_m;
} s3;

static void s3_evict_m(s3 *c)
{
    while (c->m.size > 0) {
        uint32_t t = c->m.tail;
        dl_remove(&c->m, t);
        if (c->freq[t] == 0)
            return;
        c->freq[t]--;
        dl_push_head(&c->m, t, 2);
    }
}

static void s3_evict_s(s3 *c)
{
    while (c->s.size > 0) {
        uint32_t t = c->s.tail;
        dl_remove(&c->s, t);
        if (c->freq[t] > 1) {
            c->freq[t] = 0;
            dl_push_head(&c->m, t, 2);
            if (c->m.size > c->cap_m)
                s3_evict_m(c);
        } else {
            c->gstamp[t] = ++c->gcount;   /* into the ghost */
            return;
        }
    }
}

static uint64_t sim_s3fifo(const trace *t, uint32_t cap)
{
    s3 c;
    uint64_t miss = 0;
    memset(&c, 0, sizeof c);
    if (dl_init(&c.s, t->nkeys) != 0)
        return UINT64_MAX;
    c.m = c.s;
    c.m.head = c.m.tail = NIL;
    c.cap_s = cap / 10 > 0 ? cap / 10 : 1;
    c.cap_m = cap - c.cap_s > 0 ? cap - c.cap_s : 1;
    c.gcap = c.cap_m;
    c.freq = calloc(t->nkeys, 1);
    c.gstamp = calloc(t->nkeys, sizeof *c.gstamp);
    if (c.freq == NULL || c.gstamp == NULL)
        return UINT64_MAX;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t id = t->req[i];
        if (c.s.in[id]) {
            c.freq[id] += c.freq[id] < 3;
            continue;
        }
        miss++;
        while (c.s.size + c.m.size >= cap)
            if (c.s.size >= c.cap_s || c.m.size == 0)
                s3_evict_s(&c);
            else
                s3_evict_m(&c);
        int ghost = c.gstamp[id] != 0 && c.gcount - c.gstamp[id] < c.gcap;
        c.gstamp[id] = 0;
        c.freq[id] = 0;
        if (ghost)
            dl_push_head(&c.m, id, 2);
        else
            dl_push_head(&c.s, id, 1);
    }
    dl_free(&c.s);
    free(c.freq);
    free(c.gstamp);
    return miss;
}

/* The store's own bound, table by table: new entries fill a memtable of
 * seg entries, which becomes a table; while the tables and memtable pass
 * the budget the oldest table is dropped whole (FIFO), or (promote) its
 * live entries read since they were written are first written forward
 * into the memtable, as promotion at eviction would. */
typedef struct segsim {
    uint32_t *loc;          /* table number (1-based) holding the live copy; 0 none */
    uint8_t *vis;
    uint32_t **tab;         /* a ring of tables: their ids in order */
    uint32_t *tlen;
    uint32_t ntab, first, seg, max_tabs, cur_len;
    uint32_t cur;           /* the memtable's number (tables are 1..cur-1) */
} segsim;

/* Tables alive at once: max_tabs, one over while the oldest is dropped,
 * the memtable, and one more that promotions from a dropped table (at most
 * a table's worth) may seal meanwhile. */
#define RING(g) ((g)->max_tabs + 3)

static void seg_add(segsim *g, uint32_t id);

/* Drops table g->first (the oldest), promoting visited live entries. */
static void seg_drop(segsim *g, int promote)
{
    uint32_t num = g->first, slot = num % RING(g);
    g->first++;
    g->ntab--;
    for (uint32_t i = 0; i < g->tlen[slot]; i++) {
        uint32_t id = g->tab[slot][i];
        if (g->loc[id] != num)
            continue;   /* written again later: this copy is dead */
        g->loc[id] = 0;
        if (promote && g->vis[id]) {
            g->vis[id] = 0;
            seg_add(g, id);
        }
    }
}

/* The memtable is full: it becomes a table; the oldest go past the budget. */
static void seg_seal(segsim *g)
{
    g->tlen[g->cur % RING(g)] = g->cur_len;
    g->cur++;
    g->cur_len = 0;
    g->ntab++;
}

static void seg_add(segsim *g, uint32_t id)
{
    g->tab[g->cur % RING(g)][g->cur_len++] = id;
    g->loc[id] = g->cur;
    if (g->cur_len == g->seg)
        seg_seal(g);
}

static uint64_t sim_segments(const trace *t, uint32_t cap, uint32_t seg, int promote)
{
    segsim g;
    memset(&g, 0, sizeof g);
    g.seg = seg;
    g.max_tabs = cap > seg ? (cap - seg) / seg : 1;
    if (g.max_tabs == 0)
        g.max_tabs = 1;
    g.loc = calloc(t->nkeys, sizeof *g.loc);
    g.vis = calloc(t->nkeys, 1);
    g.tab = calloc(RING(&g), sizeof *g.tab);
    g.tlen = calloc(RING(&g), sizeof *g.tlen);
    if (!g.loc || !g.vis || !g.tab || !g.tlen)
        return UINT64_MAX;
    for (uint32_t i = 0; i < RING(&g); i++)
        if ((g.tab[i] = malloc(seg * sizeof **g.tab)) == NULL)
            return UINT64_MAX;
    g.cur = g.first = 1;
    uint64_t miss = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t id = t->req[i];
        if (g.loc[id] != 0) {
            g.vis[id] = 1;
            continue;
        }
        miss++;
        seg_add(&g, id);
        /* never the newest table; promotions may seal more as we go */
        while (g.ntab > g.max_tabs && g.ntab > 1)
            seg_drop(&g, promote);
    }
    for (uint32_t i = 0; i < RING(&g); i++)
        free(g.tab[i]);
    free(g.tab);
    free(g.tlen);
    free(g.loc);
    free(g.vis);
    return miss;
}

/* ---- the replayer: the trace through a real store -------------------------- */

#define KEY_FMT "k%010" PRIu32
#define KEY_LEN 11

/* Reader w of procs: requests w, w+procs, ...; a miss is filled with
 * fc_put as a cache's caller would. Exits with 0 or a failure code. */
static int replay_reader(fc_store *s, const trace *t, size_t n, int w, int procs, size_t vsize)
{
    char key[32], *val = malloc(vsize);
    if (val == NULL || fc_after_fork(s) != 0)
        return 2;
    memset(val, 'v', vsize);
    for (size_t i = (size_t)w; i < n; i += (size_t)procs) {
        fc_txn *x;
        fc_val v;
        snprintf(key, sizeof key, KEY_FMT, t->req[i]);
        if (fc_txn_begin(s, &x) != 0)
            return 3;
        int rc = fc_get(x, key, KEY_LEN, &v);
        if (rc == 0 && v.size != vsize)
            return 4;   /* torn or wrong */
        fc_txn_end(x);
        if (rc == FC_ENOTFOUND && fc_put(s, key, KEY_LEN, val, vsize) != 0)
            return 5;
        if (rc != 0 && rc != FC_ENOTFOUND)
            return 6;
    }
    free(val);
    return 0;
}

/* The store's miss ratio over the first n requests (its own counters:
 * fc_stats.ops), or a negative number on failure. */
static double replay_store(const char *dir, const trace *t, size_t n, uint64_t budget,
                           int procs, size_t vsize, uint64_t *evicted)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    fc_options o;
    fc_options_init(&o);
    o.max_bytes = budget < 64 * 1024 ? 64 * 1024 : budget;
    o.write_buffer_size = budget / 16 < 64 * 1024 ? 64 * 1024 : budget / 16;
    o.write_timeout_ms = 60000;
    fc_store *s;
    if (fc_open(dir, &o, &s) != 0)
        return -1;
    pid_t kids[64];
    for (int w = 0; w < procs; w++)
        if ((kids[w] = fc_fork()) == 0)
            _exit(replay_reader(s, t, n, w, procs, vsize));
    int ok = 1;
    for (int w = 0; w < procs; w++) {
        int st;
        ok &= kids[w] > 0 && waitpid(kids[w], &st, 0) == kids[w] && WIFEXITED(st) &&
              WEXITSTATUS(st) == 0;
    }
    fc_stats st;
    ok &= fc_stats_get(s, &st) == 0 && st.ops.gets == n;
    *evicted = st.evicted_tables;
    fc_close(s);
    return ok ? (double)st.ops.misses / (double)st.ops.gets : -1;
}

/* ---- the command ----------------------------------------------------------- */

typedef struct args {
    uint32_t keys;
    size_t requests, store_requests, vsize;
    double skew[MAX_LIST], budget[MAX_LIST], one_hit, scan;
    int nskew, nbudget, procs, store;
    const char *dir, *trace_file;
} args;

static int parse_list(const char *s, double *out, int *n)
{
    char *end;
    for (*n = 0; *n < MAX_LIST && *s; (*n)++) {
        out[*n] = strtod(s, &end);
        if (end == s || (*end != ',' && *end != '\0') || !(out[*n] >= 0))
            return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, args *a)
{
    *a = (args){ 100000, 1000000, 300000, 100, { 0.8, 1.0, 1.2 }, { 1, 10, 30 }, 0.3, 0,
                 3, 3, 2, 1, "/tmp/fc-bench-trace", NULL };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(o, "--no-store") == 0)
            a->store = used = 0;
        else if (v == NULL)
            return -1;
        else if (strcmp(o, "--keys") == 0)
            a->keys = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(o, "--requests") == 0)
            a->requests = strtoull(v, NULL, 10);
        else if (strcmp(o, "--store-requests") == 0)
            a->store_requests = strtoull(v, NULL, 10);
        else if (strcmp(o, "--value-size") == 0)
            a->vsize = strtoull(v, NULL, 10);
        else if (strcmp(o, "--procs") == 0)
            a->procs = atoi(v);
        else if (strcmp(o, "--one-hit") == 0)
            a->one_hit = strtod(v, NULL);
        else if (strcmp(o, "--scan") == 0)
            a->scan = strtod(v, NULL);
        else if (strcmp(o, "--dir") == 0)
            a->dir = v;
        else if (strcmp(o, "--trace") == 0)
            a->trace_file = v;
        else if (strcmp(o, "--skew") == 0 ? parse_list(v, a->skew, &a->nskew) != 0
                 : strcmp(o, "--budgets") == 0 ? parse_list(v, a->budget, &a->nbudget) != 0
                                               : 1)
            return -1;
        i += used;
    }
    return a->keys > 0 && a->requests > 0 && a->vsize > 0 && a->procs >= 1 && a->procs <= 64 &&
                   a->one_hit >= 0 && a->one_hit < 1 && a->scan >= 0 && a->scan < 1
               ? 0
               : -1;
}

static double ratio(uint64_t miss, size_t n)
{
    return miss == UINT64_MAX ? -1 : (double)miss / (double)n;
}

/* One line: the budget's miss ratios, policy by policy. */
static void run_budget(const args *a, const trace *t, const char *name, double pct)
{
    uint64_t obj = KEY_LEN + a->vsize, bytes = (uint64_t)(pct / 100 * t->nkeys * obj);
    uint32_t cap = (uint32_t)(bytes / obj), seg = cap / 16 > 0 ? cap / 16 : 1;
    if (cap < 2)
        cap = 2;
    printf("%-10s %6.1f%% %9" PRIu32 "  %6.4f  %6.4f  %6.4f  %6.4f  %6.4f  %6.4f", name, pct, cap,
           ratio(sim_list(t, cap, 1), t->n), ratio(sim_list(t, cap, 0), t->n),
           ratio(sim_sieve(t, cap), t->n), ratio(sim_s3fifo(t, cap), t->n),
           ratio(sim_segments(t, cap, seg, 0), t->n), ratio(sim_segments(t, cap, seg, 1), t->n));
    fflush(stdout);
    if (a->store) {
        size_t n = a->store_requests < t->n ? a->store_requests : t->n;
        uint64_t ev = 0;
        double m = replay_store(a->dir, t, n, bytes, a->procs, a->vsize, &ev);
        /* the same requests through the simulators, for a like-for-like line */
        trace head = { t->req, n, t->nkeys };
        printf("  %6.4f (fifo %6.4f, tfifo %6.4f over those %zu; %" PRIu64 " tables evicted)",
               m, ratio(sim_list(&head, cap, 0), n), ratio(sim_segments(&head, cap, seg, 0), n), n,
               ev);
    }
    putchar('\n');
    fflush(stdout);
}

int main(int argc, char **argv)
{
    args a;
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: bench_trace [--keys N] [--requests R] [--skew A,..] "
                        "[--one-hit F] [--scan F] [--budgets P,..] [--value-size B] "
                        "[--procs P] [--dir DIR] [--store-requests R] [--trace FILE] "
                        "[--no-store]\n");
        return 2;
    }
    printf("miss ratios; budget: percent of the distinct keys' bytes (key %d + value %zu B), "
           "cap: entries it holds\nsimulated: lru, fifo, sieve, s3fifo per entry; tfifo: the "
           "store's table-granular FIFO (16 tables); tfifo+p: with promotion of visited "
           "entries at eviction%s\n", KEY_LEN, a.vsize,
           a.store ? "; store: the trace through a real store (max_bytes = budget, readers "
                     "fill misses with fc_put)" : "");
    printf("%-10s %7s %9s  %6s  %6s  %6s  %6s  %6s  %6s%s\n", "trace", "budget", "cap", "lru",
           "fifo", "sieve", "s3fifo", "tfifo", "tfifo+p", a.store ? "  store" : "");
    for (int k = 0; k < (a.trace_file ? 1 : a.nskew); k++) {
        trace t;
        char name[32];
        int rc = a.trace_file ? trace_read(&t, a.trace_file)
                              : trace_make(&t, a.keys, a.requests, a.skew[k], a.one_hit, a.scan);
        if (rc != 0) {
            fprintf(stderr, "bench_trace: cannot make or read the trace\n");
            return 1;
        }
        snprintf(name, sizeof name, a.trace_file ? "file" : "zipf%.2f", a.skew[k]);
        for (int b = 0; b < a.nbudget; b++)
            run_budget(&a, &t, name, a.budget[b]);
        free(t.req);
    }
    return 0;
}
