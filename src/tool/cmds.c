/*
 * cmds.c - the small forkcache commands: put, del, get, compact, verify.
 * Each opens the store, does one thing, closes it; the exit code carries
 * the answer so shell scripts can branch on it. While a writer runs
 * (forkcache writer, or any program with a file-backed arena in DIR),
 * put and del go through its write queue and get reads its arena.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool/tool.h"

static const struct option store_opts[] = {
    { "hex", no_argument, NULL, OPT_HEX },
    { "sync", no_argument, NULL, OPT_SYNC },
    { "write-buffer", required_argument, NULL, OPT_WRITE_BUFFER },
    { "arena-size", required_argument, NULL, OPT_ARENA_SIZE },
    { "ttl", required_argument, NULL, OPT_TTL },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

static const char *opt_name(int opt)
{
    for (const struct option *o = store_opts; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/*
 * The shared option loop. allowed lists what the command takes: 'x'
 * --hex, 's' --sync, 'w' the store-size options, 't' --ttl, 'T' --timeout.
 * Returns -1 to go on, or an
 * exit code (help printed, usage error). "+" stops at the first operand,
 * so keys that start with '-' work after DIR.
 */
int tool_parse(const tool_cmd *cmd, int argc, char **argv, const char *allowed,
               store_args *sa)
{
    int opt;
    memset(sa, 0, sizeof *sa);
    while ((opt = getopt_long(argc, argv, "+", store_opts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            tool_help_cmd(cmd);
            return EXIT_OK;
        }
        int id = opt == OPT_WRITE_BUFFER || opt == OPT_ARENA_SIZE ? 'w'
                 : opt == OPT_TTL                                ? 't'
                 : opt == OPT_TIMEOUT                            ? 'T'
                                                                 : opt;
        if ((id == OPT_HEX || id == OPT_SYNC || id == 'w' || id == 't' || id == 'T') &&
            strchr(allowed, id) == NULL)
            return tool_usage(cmd, "option --%s does not apply", opt_name(opt));
        int r = tool_store_opt(cmd, opt, optarg, sa);
        if (r < 0)
            return EXIT_TROUBLE;
        if (r == 0)
            return tool_usage(cmd, NULL);
    }
    return -1;
}

/* A command-line key or value, hex-decoded when asked. *owned is what
 * to free. */
int tool_arg_bytes(const tool_cmd *cmd, const store_args *sa, const char *what,
                   const char *s, const void **data, size_t *len, void **owned)
{
    size_t n = strlen(s), bad;
    *owned = NULL;
    if (!sa->hex) {
        *data = s;
        *len = n;
        return 0;
    }
    unsigned char *buf = malloc(n / 2 + 1);
    if (buf == NULL) {
        tool_fail(cmd->name, NULL, "out of memory");
        return -1;
    }
    if (tool_hex_decode(s, n, buf, &bad) != 0) {
        free(buf);
        tool_usage(cmd, "%s is not hex (odd length or a non-hex digit at column %zu)", what,
                   bad + 1);
        return -1;
    }
    *owned = buf;
    *data = buf;
    *len = n / 2;
    return 0;
}

/* The start of every command on one key: options, then DIR KEY and up to
 * max operands in all (min at least); the key decoded. -1 to go on, or an
 * exit code (help, usage error). */
int tool_key_args(const tool_cmd *cmd, int argc, char **argv, const char *allowed, int min,
                  int max, store_args *sa, tool_key *tk)
{
    int r = tool_parse(cmd, argc, argv, allowed, sa);
    if (r >= 0)
        return r;
    tk->nops = argc - optind;
    if (tk->nops < min || tk->nops > max)
        return tool_usage(cmd, tk->nops < min ? "missing arguments" : "too many arguments");
    tk->dir = argv[optind];
    tk->ops = argv + optind;
    if (tool_arg_bytes(cmd, sa, "KEY", argv[optind + 1], &tk->key, &tk->klen, &tk->owned) != 0)
        return EXIT_TROUBLE;
    return -1;
}

/* put, del and add share everything but the call. */
static int write_one(const char *name, int argc, char **argv, int nargs)
{
    const tool_cmd *cmd = tool_find(name);
    store_args sa;
    tool_key tk;
    int r = tool_key_args(cmd, argc, argv, nargs == 3 ? "xswtT" : "xswT", nargs, nargs, &sa, &tk);
    if (r >= 0)
        return r;
    const char *dir = tk.dir;
    const void *k = tk.key, *v = "";
    size_t klen = tk.klen, vlen = 0;
    void *kown = tk.owned, *vown = NULL;
    if (nargs == 3 && tool_arg_bytes(cmd, &sa, "VALUE", tk.ops[2], &v, &vlen, &vown) != 0) {
        free(kown);
        return EXIT_TROUBLE;
    }
    fc_store *s;
    int rc = tool_open(name, dir, &sa, TOOL_WRITE_FLAGS | FC_CREATE, &s);
    int exists = 0;
    if (rc == 0) {
        fc_batch *b = NULL;
        tool_wait_begin(name, dir, s, &sa);
        if (strcmp(name, "add") == 0) {
            rc = fc_add(s, k, klen, v, vlen, sa.ttl_ms);
            exists = rc == FC_EEXIST; /* the negative answer, exit 1 */
            rc = exists ? 0 : rc;
        } else {
            rc = fc_batch_new(&b);
            if (rc == 0)
                rc = nargs == 3 ? fc_batch_put_ttl(b, k, klen, v, vlen, sa.ttl_ms)
                                : fc_batch_del(b, k, klen);
            if (rc == 0)
                rc = fc_write(s, b, sa.sync ? FC_WRITE_SYNC : 0);
        }
        tool_wait_end();
        if (rc != 0)
            tool_write_failed(name, dir, s, rc);
        fc_batch_free(b);
        rc = tool_close(name, dir, s, rc);
    }
    free(kown);
    free(vown);
    return rc != 0 ? EXIT_TROUBLE : exists ? EXIT_NO : EXIT_OK;
}

int tool_cmd_put(int argc, char **argv)
{
    return write_one("put", argc, argv, 3);
}

int tool_cmd_del(int argc, char **argv)
{
    return write_one("del", argc, argv, 2);
}

int tool_cmd_add(int argc, char **argv)
{
    return write_one("add", argc, argv, 3);
}

int tool_cmd_get(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("get");
    store_args sa;
    tool_key tk;
    int r = tool_key_args(cmd, argc, argv, "xw", 2, 2, &sa, &tk);
    if (r >= 0)
        return r;
    const char *dir = tk.dir;
    const void *k = tk.key;
    size_t klen = tk.klen;
    void *kown = tk.owned;
    fc_store *s;
    int rc = tool_open("get", dir, &sa, TOOL_READ_FLAGS, &s);
    int code = EXIT_TROUBLE;
    if (rc == 0) {
        fc_txn *t;
        fc_val v;
        rc = fc_txn_begin(s, &t);
        if (rc == 0) {
            rc = fc_get(t, k, klen, &v);
            if (rc == 0) {
                /* A failed write is reported by main (tool_out_finish). */
                if (sa.hex) {
                    if (tool_hex_print(v.data, v.size) == 0)
                        tool_write("\n", 1);
                } else {
                    tool_write(v.data, v.size);
                }
                code = EXIT_OK;
            } else if (rc == FC_ENOTFOUND) {
                code = EXIT_NO;
            }
            fc_txn_end(t);   /* the value is not used past here */
        }
        if (rc != 0 && rc != FC_ENOTFOUND)
            tool_fail("get", dir, "%s", tool_detail(s, rc));
        fc_close(s);
    }
    free(kown);
    return code;
}

int tool_cmd_compact(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("compact");
    store_args sa;
    int r = tool_parse(cmd, argc, argv, "w", &sa);
    if (r >= 0)
        return r;
    if (argc - optind != 1)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    const char *dir = argv[optind];
    fc_store *s;
    int rc = tool_open("compact", dir, &sa, TOOL_WRITE_FLAGS, &s);
    if (rc != 0)
        return EXIT_TROUBLE;
    /* Only the writer compacts; an attached process would get
     * FC_EREADONLY, which says less than the pid of the one that does. */
    int other = tool_other_writer(s);
    rc = other ? FC_EREADONLY : fc_compact_range(s, NULL, 0, NULL, 0);
    if (rc == FC_EREADONLY)
        tool_fail("compact", dir, "a writer is running (pid %d); it compacts by itself",
                  other ? other : tool_other_writer(s));
    else if (rc != 0)
        tool_fail("compact", dir, "%s", tool_detail(s, rc));
    int crc = fc_close(s);
    if (crc != 0 && rc == 0) {
        tool_fail("compact", dir, "closing the store: %s", fc_strerror(crc));
        rc = crc;
    }
    return rc == 0 ? EXIT_OK : EXIT_TROUBLE;
}

typedef struct verify_out {
    unsigned long long damage, notes, errors;
} verify_out;

/* One line per finding, compiler style, so editors and grep can jump to it. */
static void print_finding(void *arg, const fc_verify_finding *f)
{
    verify_out *o = arg;
    const char *tag = "";
    if (f->severity == FC_VERIFY_NOTE) {
        tag = "note: ";
        o->notes++;
    } else if (f->severity == FC_VERIFY_ERROR) {
        tag = "error: ";
        o->errors++;
    } else {
        o->damage++;
    }
    printf("%s:%llu: %s%s\n", f->file, (unsigned long long)f->offset, tag, f->message);
}

int tool_cmd_verify(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("verify");
    store_args sa;
    int r = tool_parse(cmd, argc, argv, "", &sa);
    if (r >= 0)
        return r;
    if (argc - optind != 1)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    const char *dir = argv[optind];
    verify_out o = { 0, 0, 0 };
    int rc = fc_verify(dir, print_finding, &o);
    fflush(stdout);
    if (rc == 0) {
        fprintf(stderr, "forkcache: verify %s: clean (%llu notes)\n", dir, o.notes);
        return EXIT_OK;
    }
    if (rc == FC_ECORRUPT) {
        fprintf(stderr, "forkcache: verify %s: damaged (%llu findings of damage, %llu notes)\n", dir,
                o.damage, o.notes);
        return EXIT_NO;
    }
    tool_fail("verify", dir, "could not check the store: %s", fc_strerror(rc));
    return EXIT_TROUBLE;
}
