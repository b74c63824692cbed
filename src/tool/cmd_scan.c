/*
 * cmd_scan.c - `forkcache scan`: prints a range of the store in key order
 * (or backwards), one key<TAB>value line per pair, through an iterator
 * over one snapshot. Made for pipes: output is buffered, and a reader that
 * goes away early (`| head`) ends the scan quietly.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool/tool.h"

typedef struct scan_args {
    const char *from, *to;          /* as given; decoded below */
    unsigned char *from_buf, *to_buf;
    size_t from_len, to_len;
    int has_from, has_to;
    unsigned long long limit;       /* 0 = no limit */
    int has_limit;
    int reverse;
} scan_args;

static const struct option scan_opts[] = {
    { "hex", no_argument, NULL, OPT_HEX },
    { "from", required_argument, NULL, OPT_FROM },
    { "to", required_argument, NULL, OPT_TO },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "reverse", no_argument, NULL, OPT_REVERSE },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

/* A bound from the command line, hex-decoded under --hex, so binary keys
 * can be bounds too. */
static int bound(const tool_cmd *cmd, int hex, const char *what, const char *s,
                 unsigned char **buf, size_t *len)
{
    size_t n = strlen(s), bad;
    *buf = malloc(n + 1);
    if (*buf == NULL) {
        tool_fail(cmd->name, NULL, "out of memory");
        return -1;
    }
    if (!hex) {
        memcpy(*buf, s, n);
        *len = n;
        return 0;
    }
    if (tool_hex_decode(s, n, *buf, &bad) != 0) {
        tool_usage(cmd, "%s is not hex (odd length or a non-hex digit at column %zu)", what,
                   bad + 1);
        return -1;
    }
    *len = n / 2;
    return 0;
}

/* Bytewise order, the store's comparator: memcmp, then the shorter first.
 * (The tool links the public library only, so no fci_ helpers.) */
static int key_cmp(fc_val k, const unsigned char *b, size_t blen)
{
    size_t n = k.size < blen ? k.size : blen;
    int c = n ? memcmp(k.data, b, n) : 0;
    if (c != 0)
        return c;
    return k.size < blen ? -1 : k.size > blen;
}

/* Places the iterator on the first entry to print: the first key >= from,
 * or, backwards, the last key < to. */
static int start(fc_iter *it, const scan_args *a)
{
    if (!a->reverse)
        return a->has_from ? fc_iter_seek(it, a->from_buf, a->from_len) : fc_iter_first(it);
    if (!a->has_to)
        return fc_iter_last(it);
    int rc = fc_iter_seek(it, a->to_buf, a->to_len);
    if (rc == FC_ENOTFOUND)
        return fc_iter_last(it);   /* every key is below to */
    return rc == 0 ? fc_iter_prev(it) : rc;
}

static int in_range(fc_val k, const scan_args *a)
{
    if (a->reverse)
        return !a->has_from || key_cmp(k, a->from_buf, a->from_len) >= 0;
    return !a->has_to || key_cmp(k, a->to_buf, a->to_len) < 0;
}

static int print_field(fc_val v, int hex)
{
    return hex ? tool_hex_print(v.data, v.size) : tool_write(v.data, v.size);
}

/* One key<TAB>value line: 0, or -1 once standard output failed (the error
 * is kept for main's report, so the scan stops at once). */
static int print_pair(fc_iter *it, int hex)
{
    if (print_field(fc_iter_key(it), hex) != 0 || tool_write("\t", 1) != 0 ||
        print_field(fc_iter_value(it), hex) != 0 || tool_write("\n", 1) != 0)
        return -1;
    return 0;
}

/* Walks and prints. Returns 0, 1 when standard output failed (main
 * reports it, or ignores it when the reader went away), or an FC_E* code
 * from the iterator. */
static int walk(fc_iter *it, const scan_args *a, int hex)
{
    unsigned long long n = 0;
    int rc = start(it, a);
    while (rc == 0 && (!a->has_limit || n < a->limit)) {
        if (!in_range(fc_iter_key(it), a))
            break;
        if (print_pair(it, hex) != 0)
            return 1;
        n++;
        rc = a->reverse ? fc_iter_prev(it) : fc_iter_next(it);
    }
    return rc == FC_ENOTFOUND ? 0 : rc;
}

/* Output errors are main's to report (tool_out_finish), after the flush
 * that may be the first write to fail. */
static int scan_store(const char *dir, const store_args *sa, const scan_args *a)
{
    fc_store *s;
    if (tool_open("scan", dir, sa, TOOL_READ_FLAGS, &s) != 0)
        return EXIT_TROUBLE;
    fc_txn *t = NULL;
    fc_iter *it = NULL;
    int rc = fc_txn_begin(s, &t);
    if (rc == 0)
        rc = fc_iter_new(t, &it);
    if (rc == 0)
        rc = walk(it, a, sa->hex);
    int code = EXIT_OK;
    if (rc < 0) {
        tool_fail("scan", dir, "%s", tool_detail(s, rc));
        code = EXIT_TROUBLE;
    }
    fc_iter_free(it);
    if (t)
        fc_txn_end(t);
    fc_close(s);
    return code;
}

static int parse_limit(const tool_cmd *cmd, const char *s, scan_args *a)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || s[0] < '0' || s[0] > '9')
        return tool_usage(cmd, "bad --limit '%s' (a number of pairs, 0 or more)", s);
    a->limit = v;
    a->has_limit = 1;
    return -1;
}

int tool_cmd_scan(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("scan");
    store_args sa = { 0 };
    scan_args a;
    memset(&a, 0, sizeof a);
    int opt, r;
    while ((opt = getopt_long(argc, argv, "+", scan_opts, NULL)) != -1) {
        if ((r = tool_store_opt(cmd, opt, optarg, &sa)) < 0)
            return EXIT_TROUBLE;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_HELP:
            tool_help_cmd(cmd);
            return EXIT_OK;
        case OPT_FROM: a.from = optarg; a.has_from = 1; break;
        case OPT_TO: a.to = optarg; a.has_to = 1; break;
        case OPT_REVERSE: a.reverse = 1; break;
        case OPT_LIMIT:
            if ((r = parse_limit(cmd, optarg, &a)) >= 0)
                return r;
            break;
        default:
            return tool_usage(cmd, NULL);
        }
    }
    if (argc - optind != 1)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    int code = EXIT_TROUBLE;
    if ((!a.has_from || bound(cmd, sa.hex, "--from", a.from, &a.from_buf, &a.from_len) == 0) &&
        (!a.has_to || bound(cmd, sa.hex, "--to", a.to, &a.to_buf, &a.to_len) == 0)) {
        /* EPIPE comes back as an error from write, not as a signal. */
        signal(SIGPIPE, SIG_IGN);
        code = scan_store(argv[optind], &sa, &a);
    }
    free(a.from_buf);
    free(a.to_buf);
    return code;
}
