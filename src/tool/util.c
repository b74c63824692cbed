/*
 * util.c - helpers the forkcache commands share: error messages that name
 * the store, the store options every command accepts, sizes with k/M/G
 * suffixes, and hex encoding for binary keys and values.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool/tool.h"

/* Every message starts with the program and the command, and names the
 * store, so a line in a log of many runs still says what failed where. */
void tool_fail(const char *cmd, const char *dir, const char *fmt, ...)
{
    va_list ap;
    if (dir)
        fprintf(stderr, "forkcache: %s %s: ", cmd, dir);
    else
        fprintf(stderr, "forkcache: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The library keeps a sentence with the detail; fall back on the code's
 * name when it has none. */
const char *tool_detail(const fc_store *store, int rc)
{
    const char *m = fc_errmsg(store);
    return m && *m ? m : fc_strerror(rc);
}

/* A failed close matters (a writer's last sync, its LOCK), but the
 * command's own error, when there is one, is the one to report. */
int tool_close(const char *cmd, const char *dir, fc_store *store, int rc)
{
    int crc = fc_close(store);
    if (crc != 0 && rc == 0) {
        tool_fail(cmd, dir, "closing the store: %s", fc_strerror(crc));
        return crc;
    }
    return rc;
}

/* Usage errors print the command's synopsis so the fix is on screen. */
int tool_usage(const tool_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    if (fmt) {
        fprintf(stderr, "forkcache: %s%s", cmd ? cmd->name : "", cmd ? ": " : "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    if (cmd) {
        const char *s = cmd->synopsis, *nl = strchr(s, '\n');
        fprintf(stderr, "usage: forkcache %.*s\n", nl ? (int)(nl - s) : (int)strlen(s), s);
    } else {
        fprintf(stderr, "usage: forkcache [--help | --version] COMMAND [OPTIONS] DIR [ARGS]\n");
    }
    return EXIT_TROUBLE;
}

const tool_cmd *tool_find(const char *name)
{
    for (const tool_cmd *c = tool_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* --ttl SECONDS: a non-negative number, fractions allowed, kept in ms
 * (0 = never expires). */
static int parse_ttl(const tool_cmd *cmd, const char *arg, store_args *sa)
{
    char *end;
    errno = 0;
    double secs = strtod(arg, &end);
    if (errno || end == arg || *end || !(secs >= 0) || secs > 1e12) {
        tool_usage(cmd, "bad --ttl '%s' (seconds, a number >= 0)", arg);
        return -1;
    }
    sa->has_ttl = 1;
    sa->ttl_ms = (uint64_t)(secs * 1000.0 + 0.5);
    if (secs > 0 && sa->ttl_ms == 0)
        sa->ttl_ms = 1; /* rounded to 0 it would mean "never expires" */
    return 1;
}

int tool_store_opt(const tool_cmd *cmd, int opt, const char *arg, store_args *sa)
{
    switch (opt) {
    case OPT_TTL:
        return parse_ttl(cmd, arg, sa);
    case OPT_TIMEOUT: {
        char *end;
        errno = 0;
        double secs = strtod(arg, &end);
        if (errno || end == arg || *end || !(secs > 0) || secs > 86400) {
            tool_usage(cmd, "bad --timeout '%s' (seconds, a number > 0, at most 86400)", arg);
            return -1;
        }
        sa->timeout_ms = (int)(secs * 1000.0 + 0.5);
        if (sa->timeout_ms == 0)
            sa->timeout_ms = 1;
        return 1;
    }
    case OPT_MAX_BYTES:
        if (tool_parse_size(arg, &sa->max_bytes) != 0 || sa->max_bytes < 64 * 1024) {
            tool_usage(cmd, "bad size '%s' for --max-bytes (at least 64k)", arg);
            return -1;
        }
        return 1;
    case OPT_HEX:
        sa->hex = 1;
        return 1;
    case OPT_SYNC:
        sa->sync = 1;
        return 1;
    case OPT_WRITE_BUFFER:
    case OPT_ARENA_SIZE: {
        size_t v;
        if (tool_parse_size(arg, &v) != 0 || v == 0) {
            tool_usage(cmd, "bad size '%s' for --%s (bytes, or a number with k, M or G)", arg,
                       opt == OPT_WRITE_BUFFER ? "write-buffer" : "arena-size");
            return -1;
        }
        if (opt == OPT_WRITE_BUFFER)
            sa->write_buffer = v;
        else
            sa->arena_size = v;
        return 1;
    }
    default:
        return 0;
    }
}

/* Every command goes through here so that the flags (attach to a running
 * writer, read-only, create) are chosen per command in one place: the
 * caller passes FC_* open flags and gets the library's message on failure. */
/* How long a command waits for another one that holds the store (its
 * writer, for a moment: a put, a load) when no --timeout says. */
#define TOOL_BUSY_WAIT_S 10

/* fc_open, retried while the store is busy: two shells writing to one
 * store at once take turns (each command is the writer only while it
 * runs) instead of the second failing. A writer that runs for long with no
 * arena file to attach to is busy for good: the wait then ends at
 * --timeout, or after TOOL_BUSY_WAIT_S, and says so after a second. */
static int open_waiting(const char *cmd, const char *dir, const fc_options *o,
                        const store_args *sa, fc_store **out)
{
    double limit = sa->timeout_ms ? sa->timeout_ms / 1000.0 : TOOL_BUSY_WAIT_S;
    double start = tool_now();
    long pause_us = 2000;
    int noted = 0;
    for (;;) {
        int rc = fc_open(dir, o, out);
        double waited = tool_now() - start;
        if (rc != FC_EBUSY || waited >= limit)
            return rc;
        if (!noted && waited >= 1.0) {
            fprintf(stderr, "forkcache: %s %s: waiting for the process that holds the store: "
                    "%s (at most %g s more)\n", cmd, dir, fc_errmsg(NULL), limit - waited);
            noted = 1;
        }
        usleep((useconds_t)pause_us);
        pause_us = pause_us < 50000 ? pause_us * 2 : 50000;
    }
}

int tool_open(const char *cmd, const char *dir, const store_args *sa, unsigned flags,
              fc_store **out)
{
    fc_options o;
    fc_options_init(&o);
    int create = (flags & FC_CREATE) != 0;
    o.flags = flags;
    if (sa->sync)
        o.flags |= FC_SYNC;
    if (sa->write_buffer)
        o.write_buffer_size = sa->write_buffer;
    if (sa->arena_size)
        o.arena_size = sa->arena_size;
    if (sa->arena_here)
        o.arena_path = "";   /* DIR/forkcache.arena, where FC_ATTACH looks */
    if (sa->has_ttl)
        o.ttl_framing = 1;   /* a new store is made framed; a plain one refuses */
    o.max_bytes = sa->max_bytes;
    o.write_timeout_ms = sa->timeout_ms;
    o.follow = sa->follow;
    o.follow_prefixes = sa->prefixes;
    o.follow_nprefixes = sa->nprefixes;
    if (sa->max_stale_ms)
        o.max_stale_ms = sa->max_stale_ms;
    const char *why = NULL;
    if (fc_options_validate(&o, &why) != 0) {
        tool_fail(cmd, dir, "bad option: %s", why ? why : "out of range");
        return FC_EINVAL;
    }
    /* Without FC_CREATE the library's complaint is about LOCK; say what
     * the user needs to hear instead. */
    char current[4096];
    struct stat sb;
    snprintf(current, sizeof current, "%s/CURRENT", dir);
    if (!create && stat(current, &sb) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            tool_fail(cmd, dir, "not a store (%s)",
                      err == ENOENT ? "no CURRENT file" : "not a directory");
            return FC_ENOTFOUND;
        }
        /* EACCES: the store may well be there; say so, not "no store". */
        tool_fail(cmd, dir, "cannot look at %s: %s", current, strerror(err));
        return err == EACCES || err == EPERM ? FC_EPERM : FC_EIO;
    }
    int rc = open_waiting(cmd, dir, &o, sa, out);
    if (rc != 0)
        tool_fail(cmd, dir, "%s", tool_detail(NULL, rc));
    return rc;
}

int tool_parse_size(const char *s, size_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tool_hex_decode(const char *s, size_t len, unsigned char *out, size_t *bad)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0) {
            *bad = hi < 0 ? i : i + 1;
            return -1;
        }
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    if (len % 2) {
        *bad = len - 1;
        return -1;
    }
    return 0;
}

/* In chunks through tool_write, so a failure is noticed and kept. */
int tool_hex_print(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    char buf[512];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        buf[n++] = digits[p[i] >> 4];
        buf[n++] = digits[p[i] & 15];
        if (n == sizeof buf) {
            if (tool_write(buf, n) != 0)
                return -1;
            n = 0;
        }
    }
    return tool_write(buf, n);
}

/* The first error met writing standard output. Kept apart from errno,
 * which the calls made after it (closing the store) may change before
 * main reports it. Written by the one thread the tool runs. */
static int out_errno;

int tool_out_failed(void)
{
    if (!ferror(stdout))
        return 0;
    if (out_errno == 0)
        out_errno = errno ? errno : EIO;
    return 1;
}

int tool_write(const void *data, size_t len)
{
    if (len == 0)
        return tool_out_failed() ? -1 : 0;
    errno = 0;
    if (fwrite(data, 1, len, stdout) != len) {
        tool_out_failed();
        return -1;
    }
    return 0;
}

/* Output that did not reach its file is a failed command, whatever the
 * command itself concluded: a scan cut short by a full disk must not pass
 * for a backup. Only a reader that went away (EPIPE, with SIGPIPE
 * ignored) is not an error, as for `scan | head`. */
int tool_out_finish(const char *cmd, int code)
{
    int err = out_errno;
    errno = 0;
    if (fflush(stdout) != 0 && err == 0)
        err = errno ? errno : EIO;
    if (ferror(stdout) && err == 0)
        err = EIO;   /* failed earlier, errno lost: the generic I/O error */
    errno = 0;
    if (fclose(stdout) != 0 && err == 0)
        err = errno ? errno : EIO;
    if (err == 0 || err == EPIPE)
        return code;
    fprintf(stderr, "forkcache: %s: writing standard output: %s\n", cmd ? cmd : "", strerror(err));
    return EXIT_TROUBLE;
}

/* A command that opened with FC_ATTACH may have become the writer itself
 * or joined another process's arena; the arena's writer pid tells which. */
int tool_other_writer(fc_store *store)
{
    fc_stats st;
    if (fc_stats_get(store, &st) != 0)
        return 0;
    return st.writer_pid != 0 && st.writer_pid != (int)getpid() ? st.writer_pid : 0;
}

/* The note the alarm prints, formatted before it is armed: the handler
 * may only write(2) it. Both are touched by the tool's one thread and its
 * signal handler; wait_noted is a sig_atomic_t for that reason. */
static char wait_note[512];
static size_t wait_note_len;
static volatile sig_atomic_t wait_noted;

static void on_wait_alarm(int sig)
{
    (void)sig;
    if (wait_noted)
        return;
    wait_noted = 1;
    ssize_t r = write(STDERR_FILENO, wait_note, wait_note_len);
    (void)r;   /* nothing to do if stderr is gone */
}

void tool_wait_begin(const char *cmd, const char *dir, fc_store *store, const store_args *sa)
{
    int pid = tool_other_writer(store);
    if (pid == 0 || wait_noted)
        return;   /* this process is the writer: nothing to wait for */
    int n = snprintf(wait_note, sizeof wait_note,
                     "forkcache: %s %s: still waiting for the store's writer (pid %d) after "
                     "%d s; it may be stopped or stalled. %s\n", cmd, dir, pid, TOOL_WAIT_NOTE_S,
                     sa->timeout_ms ? "The wait ends at --timeout."
                                    : "--timeout SECONDS would bound the wait.");
    wait_note_len = n < 0 ? 0 : (size_t)n < sizeof wait_note ? (size_t)n : sizeof wait_note - 1;
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_wait_alarm;
    act.sa_flags = SA_RESTART;   /* the queue's waits loop on EINTR anyway */
    sigemptyset(&act.sa_mask);
    if (sigaction(SIGALRM, &act, NULL) == 0)
        alarm(TOOL_WAIT_NOTE_S);
}

void tool_wait_end(void)
{
    alarm(0);
}

void tool_write_failed(const char *cmd, const char *dir, fc_store *store, int rc)
{
    if (rc == FC_ETIMEDOUT)
        tool_fail(cmd, dir, "%s: the writer did not answer within --timeout; the write may "
                  "or may not have been applied", tool_detail(store, rc));
    else
        tool_fail(cmd, dir, "%s", rc == FC_ETOOBIG ? "key or value too big" : tool_detail(store, rc));
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The Prometheus text of the store in a malloc()ed buffer (NUL-ended), or
 * NULL with *rc the failure: sized by a first call, with room for figures
 * that grow meanwhile, and sized again if they grew more. */
char *tool_prometheus_text(fc_store *s, size_t *len, int *rc)
{
    size_t need = 0;
    *rc = fc_stats_prometheus(s, NULL, 0, &need);
    for (int tries = 0; tries < 4 && (*rc == 0 || *rc == FC_ELIMIT); tries++) {
        char *buf = malloc(need + 1024);
        if (buf == NULL) {
            *rc = FC_ENOMEM;
            return NULL;
        }
        *rc = fc_stats_prometheus(s, buf, need + 1024, &need);
        if (*rc == 0) {
            *len = need;
            return buf;
        }
        free(buf);
    }
    return NULL;
}
