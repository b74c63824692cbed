/*
 * cmd_atomic.c - forkcache incr: a counter from the shell. It opens the
 * store like put (through a running writer's queue, else as the writer)
 * and prints the new value. (add is put's sibling, in cmds.c.)
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

int tool_cmd_incr(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("incr");
    store_args sa;
    tool_key tk;
    int r = tool_key_args(cmd, argc, argv, "xswtT", 2, 3, &sa, &tk);
    if (r >= 0)
        return r;
    const char *dir = tk.dir;
    int64_t delta = 1, value = 0;
    if (tk.nops == 3 && parse_delta(tk.ops[2], &delta) != 0) {
        free(tk.owned);
        return tool_usage(cmd, "DELTA '%s' is not a 64-bit decimal integer", tk.ops[2]);
    }
    fc_store *s;
    int rc = tool_open("incr", dir, &sa, TOOL_WRITE_FLAGS | FC_CREATE, &s);
    int code = EXIT_TROUBLE;
    if (rc == 0) {
        tool_wait_begin("incr", dir, s, &sa);
        rc = fc_incr(s, tk.key, tk.klen, delta, 0, sa.ttl_ms, &value);
        tool_wait_end();
        if (rc != 0)
            tool_write_failed("incr", dir, s, rc);
        if (rc == FC_ENAN || rc == FC_EOVERFLOW)
            code = EXIT_NO; /* a negative answer: the value is not a counter */
        rc = tool_close("incr", dir, s, rc);
        if (rc == 0) {
            printf("%" PRId64 "\n", value);   /* checked by main */
            code = EXIT_OK;
        }
    }
    free(tk.owned);
    return code;
}
