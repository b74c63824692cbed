/*
 * tool.h - what the files of the forkcache command share: the command
 * table, the options every store command accepts, and small helpers for
 * sizes, hex and error messages.
 */
#ifndef FC_TOOL_TOOL_H
#define FC_TOOL_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "forkcache.h"

/* Exit codes, the same for every command: 1 is a negative answer (key not
 * found, store damaged), 2 anything that went wrong. */
#define EXIT_OK 0
#define EXIT_NO 1
#define EXIT_TROUBLE 2

typedef struct tool_cmd {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the command's name */
    const char *synopsis;    /* one line per form, after "forkcache " */
    const char *summary;     /* one line, for the command list */
    const char *description; /* paragraphs */
    const char *options;     /* "--opt ARG\n  text\n" entries, or NULL */
    const char *exit_status; /* NULL: the common rules */
    const char *examples;
} tool_cmd;

extern const tool_cmd tool_cmds[];   /* ends with a NULL name */

/* The commands (cmds.c, cmd_load.c). */
int tool_cmd_load(int argc, char **argv);
int tool_cmd_put(int argc, char **argv);
int tool_cmd_del(int argc, char **argv);
int tool_cmd_get(int argc, char **argv);
int tool_cmd_compact(int argc, char **argv);
int tool_cmd_verify(int argc, char **argv);
int tool_cmd_scan(int argc, char **argv);
int tool_cmd_stats(int argc, char **argv);
int tool_cmd_writer(int argc, char **argv);
int tool_cmd_add(int argc, char **argv);
int tool_cmd_incr(int argc, char **argv);   /* cmd_atomic.c */
int tool_cmd_bench(int argc, char **argv);
/* bench's help page lives beside it (cmd_bench.c). */
extern const char tool_bench_description[], tool_bench_options[], tool_bench_examples[];

/* Store options from the command line, applied over fc_options_init. */
typedef struct store_args {
    size_t write_buffer;   /* 0 = library default */
    size_t arena_size;
    int hex;
    int sync;
    int arena_here;        /* file-backed arena at DIR/FC_ARENA_FILE */
    int has_ttl;           /* --ttl given: values expire, store is framed */
    uint64_t ttl_ms;       /* --ttl SECONDS, in ms (0 = never expires) */
    size_t max_bytes;      /* --max-bytes: FIFO bound on tables, 0 = none */
    int timeout_ms;        /* --timeout: a write waits this long for another
                              process's writer (0 = no limit) */
    const char *follow;    /* writer --follow URL: follow that Redis */
    const char *prefixes[16]; /* writer --prefix P (repeatable) */
    int nprefixes;
    int max_stale_ms;      /* writer --max-stale-ms (0 = library default) */
} store_args;

/* Long option ids shared by the commands' getopt_long tables. */
enum {
    OPT_HELP = 'h',
    OPT_HEX = 'x',
    OPT_SYNC = 's',
    OPT_WRITE_BUFFER = 1000,
    OPT_ARENA_SIZE,
    OPT_BATCH,
    OPT_FROM,
    OPT_TO,
    OPT_LIMIT,
    OPT_REVERSE,
    OPT_JSON,
    OPT_TTL,
    OPT_MAX_BYTES,
    OPT_TTL_FRAMING,
    OPT_TIMEOUT,
    OPT_FORMAT,
    OPT_METRICS_PORT,
    OPT_METRICS_ADDRESS,
    OPT_FOLLOW,
    OPT_PREFIX,
    OPT_MAX_STALE
};

/* The option loop of the store commands (cmds.c). allowed lists what the
 * command takes: 'x' --hex, 's' --sync, 'w' the store-size options. -1 to
 * go on (operands from optind), or an exit code (help, usage error). */
int tool_parse(const tool_cmd *cmd, int argc, char **argv, const char *allowed,
               store_args *sa);
/* A command-line key or value, hex-decoded with --hex; *owned is what to
 * free. 0, or -1 with the usage printed. */
int tool_arg_bytes(const tool_cmd *cmd, const store_args *sa, const char *what,
                   const char *s, const void **data, size_t *len, void **owned);

/* A command's DIR KEY operands (tool_key_args): ops[0] is DIR, ops[1]
 * KEY, further operands follow; owned is what to free. */
typedef struct tool_key {
    const char *dir;
    char **ops;
    int nops;
    const void *key;
    size_t klen;
    void *owned;
} tool_key;
int tool_key_args(const tool_cmd *cmd, int argc, char **argv, const char *allowed, int min,
                  int max, store_args *sa, tool_key *tk);

/* Closes store; returns rc, or close's error (reported) when rc is 0. */
int tool_close(const char *cmd, const char *dir, fc_store *store, int rc);

/* Prints "forkcache: <cmd> <dir>: <what>" to stderr. */
void tool_fail(const char *cmd, const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The library's detail for a failure on store (NULL: the last fc_open). */
const char *tool_detail(const fc_store *store, int rc);

/* The one-line usage of cmd on stderr, then EXIT_TROUBLE. */
int tool_usage(const tool_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const tool_cmd *tool_find(const char *name);
/* The command's full help page on stdout. */
void tool_help_cmd(const tool_cmd *cmd);

/* Handles an option shared by the store commands. 1 = handled, 0 = not
 * one of them, -1 = bad value (usage already printed). */
int tool_store_opt(const tool_cmd *cmd, int opt, const char *arg, store_args *sa);
/* Opens dir with the FC_* flags given (FC_CREATE makes it when missing;
 * without it a directory with no CURRENT is refused up front). */
int tool_open(const char *cmd, const char *dir, const store_args *sa, unsigned flags,
              fc_store **out);
/* The flags of commands that write: through a running writer's queue when
 * there is one, else as the writer. Readers: attach, else read-only. */
#define TOOL_WRITE_FLAGS (FC_ATTACH)
#define TOOL_READ_FLAGS (FC_READONLY | FC_ATTACH)
/* The pid of another process that is the store's writer (store was opened
 * attached to it), or 0 when this process is the writer or none runs. */
int tool_other_writer(fc_store *store);

/* "64M" -> 67108864: digits and an optional k, M or G (powers of 1024).
 * 0 on success, -1 on anything else or overflow. */
int tool_parse_size(const char *s, size_t *out);

/* Hex: decode into out (cap >= len / 2), -1 with *bad = the offending
 * character's index on odd length or a non-hex digit. */
int tool_hex_decode(const char *s, size_t len, unsigned char *out, size_t *bad);
int tool_hex_print(const void *data, size_t len);   /* 0, or -1 as tool_write */

/* Standard output, checked. tool_write writes len bytes: 0, or -1 with the
 * error kept for tool_out_finish. tool_out_failed is 1 (and keeps the
 * error) once any earlier write failed, as after printf. */
int tool_write(const void *data, size_t len);
int tool_out_failed(void);
/* Flushes and closes standard output after a command: code, or
 * EXIT_TROUBLE with "forkcache: CMD: writing standard output: ..." on
 * standard error when any write failed (EPIPE excepted: the reader went
 * away on purpose). */
int tool_out_finish(const char *cmd, int code);

double tool_now(void);   /* monotonic seconds */

/* Around one write that may wait for another process's writer: when it
 * has not returned after TOOL_WAIT_NOTE_S seconds, one note on standard
 * error says what it waits for (the writer's pid, --timeout), so a stopped
 * or stalled writer is not a silent hang. Once per command. */
#define TOOL_WAIT_NOTE_S 3
void tool_wait_begin(const char *cmd, const char *dir, fc_store *store, const store_args *sa);
void tool_wait_end(void);
/* The message for a failed write: the library's, and for FC_ETIMEDOUT
 * what --timeout means for the write's outcome. */
void tool_write_failed(const char *cmd, const char *dir, fc_store *store, int rc);

/* fc_stats_prometheus's text in a malloc()ed buffer of *len bytes (plus a
 * NUL), or NULL with the failure in *rc. */
char *tool_prometheus_text(fc_store *s, size_t *len, int *rc);

/* The writer's /metrics endpoint (metrics_http.c): a thread serving
 * fc_stats_prometheus over HTTP on addr:*port (*port 0: a free port, which
 * *port then names). -1 with *why on failure. */
typedef struct tool_metrics tool_metrics;
int tool_metrics_start(fc_store *s, const char *addr, int *port, tool_metrics **out,
                       const char **why);
void tool_metrics_stop(tool_metrics *m);

#endif
