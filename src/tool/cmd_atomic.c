/*
 * cmd_atomic.c - forkcache incr and add: the store's atomic operations
 * from the shell. Both open the store like put (through a running
 * writer's queue, else as the writer) and answer in the exit code.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool/tool.h"

/* A DELTA operand: decimal, optional sign, within int64. */
static int parse_delta(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Closes the store, keeping the first error: the command's or close's. */
static int close_store(const char *name, const char *dir, fc_store *s, int rc)
{
    int crc = fc_close(s);
    if (crc != 0 && rc == 0) {
        tool_fail(name, dir, "closing the store: %s", fc_strerror(crc));
        return crc;
    }
    return rc;
}

int tool_cmd_incr(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("incr");
    store_args sa;
    int r = tool_parse(cmd, argc, argv, "xsw", &sa);
    if (r >= 0)
        return r;
    int n = argc - optind;
    if (n < 2 || n > 3)
        return tool_usage(cmd, n < 2 ? "missing arguments" : "too many arguments");
    const char *dir = argv[optind];
    int64_t delta = 1, value = 0;
    if (n == 3 && parse_delta(argv[optind + 2], &delta) != 0)
        return tool_usage(cmd, "DELTA '%s' is not a 64-bit decimal integer", argv[optind + 2]);
    const void *k;
    size_t klen;
    void *kown;
    if (tool_arg_bytes(cmd, &sa, "KEY", argv[optind + 1], &k, &klen, &kown) != 0)
        return EXIT_TROUBLE;
    fc_store *s;
    int rc = tool_open("incr", dir, &sa, TOOL_WRITE_FLAGS | FC_CREATE, &s);
    int code = EXIT_TROUBLE;
    if (rc == 0) {
        rc = fc_incr(s, k, klen, delta, 0, 0, &value);
        if (rc == FC_ENAN || rc == FC_EOVERFLOW) {
            tool_fail("incr", dir, "%s", tool_detail(s, rc));
            code = EXIT_NO;
        } else if (rc != 0) {
            tool_fail("incr", dir, "%s", tool_detail(s, rc));
        }
        rc = close_store("incr", dir, s, rc);
        if (rc == 0) {
            printf("%" PRId64 "\n", value);
            code = fflush(stdout) == 0 ? EXIT_OK : EXIT_TROUBLE;
        }
    }
    free(kown);
    return code;
}

int tool_cmd_add(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("add");
    store_args sa;
    int r = tool_parse(cmd, argc, argv, "xsw", &sa);
    if (r >= 0)
        return r;
    if (argc - optind != 3)
        return tool_usage(cmd, argc - optind < 3 ? "missing arguments" : "too many arguments");
    const char *dir = argv[optind];
    const void *k, *v;
    size_t klen, vlen;
    void *kown, *vown = NULL;
    if (tool_arg_bytes(cmd, &sa, "KEY", argv[optind + 1], &k, &klen, &kown) != 0)
        return EXIT_TROUBLE;
    if (tool_arg_bytes(cmd, &sa, "VALUE", argv[optind + 2], &v, &vlen, &vown) != 0) {
        free(kown);
        return EXIT_TROUBLE;
    }
    fc_store *s;
    int rc = tool_open("add", dir, &sa, TOOL_WRITE_FLAGS | FC_CREATE, &s);
    int code = EXIT_TROUBLE;
    if (rc == 0) {
        rc = fc_add(s, k, klen, v, vlen);
        if (rc != 0 && rc != FC_EEXIST)
            tool_fail("add", dir, "%s", rc == FC_ETOOBIG ? "key or value too big"
                                                         : tool_detail(s, rc));
        int crc = close_store("add", dir, s, rc == FC_EEXIST ? 0 : rc);
        if (crc == 0)
            code = rc == FC_EEXIST ? EXIT_NO : EXIT_OK;
    }
    free(kown);
    free(vown);
    return code;
}
