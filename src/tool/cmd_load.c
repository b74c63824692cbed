/*
 * cmd_load.c - `forkcache load`: bulk-loads key<TAB>value lines into a
 * store in batches, the fast way to fill a cache from a dump or a script.
 *
 * A bad line stops the load at that line: the rows before it are stored
 * (their batches written), the rest are not, and the message names the line
 * so the input can be fixed and the load resumed from there.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool/tool.h"

#define DEFAULT_BATCH 1000
#define MAX_BATCH 1000000
#define PROGRESS_INTERVAL 0.1   /* seconds between progress updates */
/* Through a running writer's queue a batch must fit one queue entry (the
 * writer's queue_entry_size, 256 KiB unless it chose otherwise): batches
 * cut before they pass this many bytes, counting a little for each row's
 * header; a single row bigger than an entry is refused by the writer. */
#define QUEUE_BATCH_BYTES (FC_DEFAULT_QUEUE_ENTRY_SIZE / 4 * 3)
#define ROW_OVERHEAD 16

typedef struct load_state {
    const char *dir;
    const store_args *sa;    /* the command line's options */
    const char *input;       /* for messages: the file name or "stdin" */
    fc_store *store;
    fc_batch *batch;
    unsigned write_flags;
    int hex;
    uint64_t ttl_ms;               /* --ttl: each row's time to live (0 = never) */
    unsigned long long rows;       /* rows stored (written) */
    unsigned long long bytes;      /* their key + value bytes */
    unsigned long long pending_bytes;
    unsigned long long pending_wire;   /* batch bytes, with row headers */
    size_t max_batch_bytes;        /* 0 = no cap (this process is the writer) */
    unsigned char *kbuf, *vbuf;    /* hex-decoded fields */
    size_t kcap, vcap;
    int progress;                  /* stderr is a terminal */
    double start, last_progress;
} load_state;

static void progress(load_state *ls, double now)
{
    double secs = now - ls->start;
    if (secs <= 0)
        secs = 1e-9;
    fprintf(stderr, "\rforkcache: load %s: %llu rows, %.0f rows/s, %.1f MB/s   ", ls->dir,
            ls->rows, (double)ls->rows / secs, (double)ls->bytes / secs / 1e6);
    fflush(stderr);
    ls->last_progress = now;
}

/* Writes the rows gathered so far as one atomic batch. */
static int flush_batch(load_state *ls)
{
    size_t n = fc_batch_count(ls->batch);
    if (n == 0)
        return 0;
    tool_wait_begin("load", ls->dir, ls->store, ls->sa);
    int rc = fc_write(ls->store, ls->batch, ls->write_flags);
    tool_wait_end();
    if (rc != 0) {
        if (ls->progress)
            fputc('\n', stderr);
        tool_fail("load", ls->dir, "writing rows %llu to %llu: %s%s", ls->rows + 1,
                  ls->rows + n, tool_detail(ls->store, rc),
                  rc == FC_ETIMEDOUT ? " (the writer did not answer within --timeout; "
                                       "these rows may or may not be stored)" : "");
        return rc;
    }
    ls->rows += n;
    ls->bytes += ls->pending_bytes;
    ls->pending_bytes = 0;
    ls->pending_wire = 0;
    fc_batch_clear(ls->batch);
    if (ls->progress) {
        double now = tool_now();
        if (now - ls->last_progress >= PROGRESS_INTERVAL)
            progress(ls, now);
    }
    return 0;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    unsigned char *p = realloc(*buf, n);
    if (p == NULL)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Complains about one input line; the rows before it get written first so
 * that "stored up to line N-1" is exactly true. */
static int bad_line(load_state *ls, unsigned long long lineno, const char *why)
{
    if (flush_batch(ls) != 0)
        return -1;
    if (ls->progress)
        fputc('\n', stderr);
    tool_fail("load", ls->dir, "%s:%llu: %s; stopped there (%llu rows before it are stored)",
              ls->input, lineno, why, ls->rows);
    return -1;
}

static int decode_field(load_state *ls, unsigned long long lineno, const char *what,
                        const char *s, size_t len, unsigned char **buf, size_t *cap,
                        size_t *outlen)
{
    char why[128];
    size_t bad;
    if (grow(buf, cap, len / 2 + 1) != 0)
        return bad_line(ls, lineno, "out of memory");
    if (tool_hex_decode(s, len, *buf, &bad) != 0) {
        if (len % 2 && bad == len - 1)
            snprintf(why, sizeof why, "%s has an odd number of hex digits", what);
        else
            snprintf(why, sizeof why, "%s: '%c' at column %zu is not a hex digit", what,
                     s[bad] >= 0x20 && s[bad] < 0x7f ? s[bad] : '?', bad + 1);
        return bad_line(ls, lineno, why);
    }
    *outlen = len / 2;
    return 0;
}

/* One line: key, TAB, value (the first TAB splits; the value may hold
 * more). The newline is already gone. */
static int load_line(load_state *ls, unsigned long long lineno, char *line, size_t len)
{
    char *tab = memchr(line, '\t', len);
    if (tab == NULL)
        return bad_line(ls, lineno, "no TAB between key and value");
    const char *key = line, *val = tab + 1;
    size_t klen = (size_t)(tab - line), vlen = len - klen - 1;
    if (ls->hex) {
        size_t kl, vl;
        if (decode_field(ls, lineno, "key", key, klen, &ls->kbuf, &ls->kcap, &kl) != 0 ||
            decode_field(ls, lineno, "value", val, vlen, &ls->vbuf, &ls->vcap, &vl) != 0)
            return -1;
        key = (const char *)ls->kbuf;
        val = (const char *)ls->vbuf;
        klen = kl;
        vlen = vl;
    }
    /* A row that would push the batch past a queue entry goes in the next. */
    size_t row = klen + vlen + ROW_OVERHEAD;
    if (ls->max_batch_bytes && ls->pending_wire + row > ls->max_batch_bytes &&
        flush_batch(ls) != 0)
        return -1;
    int rc = fc_batch_put_ttl(ls->batch, key, klen, val, vlen, ls->ttl_ms);
    if (rc != 0) {
        char why[160];
        snprintf(why, sizeof why, "%s (key %zu bytes, value %zu bytes)",
                 rc == FC_ETOOBIG ? "key or value too big" : fc_strerror(rc), klen, vlen);
        return bad_line(ls, lineno, why);
    }
    ls->pending_bytes += klen + vlen;
    ls->pending_wire += row;
    return 0;
}

static int load_stream(load_state *ls, FILE *in, size_t batch_rows)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if ((rc = load_line(ls, lineno, line, len)) != 0)
            break;
        if (fc_batch_count(ls->batch) >= batch_rows && (rc = flush_batch(ls)) != 0)
            break;
    }
    if (rc == 0 && ferror(in)) {
        tool_fail("load", ls->dir, "reading %s: %s", ls->input, strerror(errno));
        rc = -1;
    }
    if (rc == 0)
        rc = flush_batch(ls);
    free(line);
    return rc;
}

static const struct option load_opts[] = {
    { "hex", no_argument, NULL, OPT_HEX },
    { "sync", no_argument, NULL, OPT_SYNC },
    { "batch", required_argument, NULL, OPT_BATCH },
    { "write-buffer", required_argument, NULL, OPT_WRITE_BUFFER },
    { "arena-size", required_argument, NULL, OPT_ARENA_SIZE },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

int tool_cmd_load(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("load");
    store_args sa = { 0 };
    size_t batch_rows = DEFAULT_BATCH;
    int opt;
    while ((opt = getopt_long(argc, argv, "+", load_opts, NULL)) != -1) {
        int r = tool_store_opt(cmd, opt, optarg, &sa);
        if (r < 0)
            return EXIT_TROUBLE;
        if (r > 0)
            continue;
        if (opt == OPT_HELP) {
            tool_help_cmd(cmd);
            return EXIT_OK;
        }
        if (opt == OPT_BATCH) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || v < 1 || v > MAX_BATCH)
                return tool_usage(cmd, "bad --batch '%s' (1 to %d rows)", optarg, MAX_BATCH);
            batch_rows = v;
            continue;
        }
        return tool_usage(cmd, NULL);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    load_state ls;
    memset(&ls, 0, sizeof ls);
    ls.dir = argv[optind];
    ls.sa = &sa;
    const char *file = argc - optind == 2 ? argv[optind + 1] : "-";
    FILE *in = stdin;
    ls.input = "stdin";
    if (strcmp(file, "-") != 0) {
        in = fopen(file, "re");
        if (in == NULL) {
            tool_fail("load", ls.dir, "cannot open %s: %s", file, strerror(errno));
            return EXIT_TROUBLE;
        }
        ls.input = file;
    }
    ls.hex = sa.hex;
    ls.ttl_ms = sa.ttl_ms;
    ls.write_flags = sa.sync ? FC_WRITE_SYNC : 0;
    ls.progress = isatty(STDERR_FILENO);
    int rc = fc_batch_new(&ls.batch);
    if (rc != 0)
        tool_fail("load", ls.dir, "%s", fc_strerror(rc));
    else
        rc = tool_open("load", ls.dir, &sa, TOOL_WRITE_FLAGS | FC_CREATE, &ls.store);
    if (rc == 0) {
        if (tool_other_writer(ls.store))
            ls.max_batch_bytes = QUEUE_BATCH_BYTES;
        ls.start = ls.last_progress = tool_now();
        rc = load_stream(&ls, in, batch_rows);
        int crc = fc_close(ls.store);
        if (crc != 0 && rc == 0) {
            tool_fail("load", ls.dir, "closing the store: %s", fc_strerror(crc));
            rc = crc;
        }
        double secs = tool_now() - ls.start;
        if (ls.progress)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "forkcache: load %s: %llu rows in %.2f s (%.0f rows/s, %.1f MB/s)\n",
                ls.dir, ls.rows, secs, secs > 0 ? (double)ls.rows / secs : 0.0,
                secs > 0 ? (double)ls.bytes / secs / 1e6 : 0.0);
    }
    fc_batch_free(ls.batch);
    free(ls.kbuf);
    free(ls.vbuf);
    if (in != stdin)
        fclose(in);
    return rc == 0 ? EXIT_OK : EXIT_TROUBLE;
}
