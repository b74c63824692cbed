/*
 * cmd_writer.c - `forkcache writer`: keeps a store open as its writer in
 * the foreground, with its arena in a file in the store directory, so that
 * other forkcache commands (and programs opening with FC_ATTACH) read its
 * arena and write through its queue while it runs. It reports each flush
 * and compaction as the counters move, and stops cleanly on SIGTERM/SIGINT.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool/tool.h"

#define POLL_NS 100000000L   /* 100 ms between looks at the counters */

/* Set by the signal handler, read by the poll loop: a sig_atomic_t
 * written in a handler is async-signal-safe, and nothing forks after it
 * is set. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* SA_RESTART keeps the library's own system calls from seeing EINTR;
 * nanosleep is never restarted, so the poll still wakes at once. */
static int catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    return 0;
}

static const struct option writer_opts[] = {
    { "sync", no_argument, NULL, OPT_SYNC },
    { "write-buffer", required_argument, NULL, OPT_WRITE_BUFFER },
    { "arena-size", required_argument, NULL, OPT_ARENA_SIZE },
    { "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
    { "ttl-framing", no_argument, NULL, OPT_TTL_FRAMING },
    { "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
    { "metrics-address", required_argument, NULL, OPT_METRICS_ADDRESS },
    { "follow", required_argument, NULL, OPT_FOLLOW },
    { "prefix", required_argument, NULL, OPT_PREFIX },
    { "max-stale-ms", required_argument, NULL, OPT_MAX_STALE },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

static void levels(const fc_stats *st)
{
    printf("files per level");
    for (int l = 0; l < FC_NUM_LEVELS; l++)
        printf(" %u", (unsigned)st->files[l]);
}

/* "flush #7", or "flushes #5-#7" when several happened between two polls. */
static void number(const char *one, const char *many, uint64_t was, uint64_t now)
{
    if (now - was == 1)
        printf("%s #%llu", one, (unsigned long long)now);
    else
        printf("%s #%llu-#%llu", many, (unsigned long long)was + 1, (unsigned long long)now);
}

/* One line per flush and per compaction; several between two polls share
 * a line, since the figures after them are all that can be read. A
 * followed Redis's link going up or down gets a line too. */
static void report(const fc_stats *was, const fc_stats *now)
{
    if (now->flushes != was->flushes) {
        number("flush", "flushes", was->flushes, now->flushes);
        printf(": L0 files %u, last sequence %llu\n", (unsigned)now->files[0],
               (unsigned long long)now->last_sequence);
    }
    if (now->compactions != was->compactions) {
        number("compaction", "compactions", was->compactions, now->compactions);
        printf(": %llu bytes compacted in all, ", (unsigned long long)now->bytes_compacted);
        levels(now);
        putchar('\n');
    }
    if (now->follow_link != was->follow_link && now->follow_link != FC_LINK_NONE)
        printf("redis link %s (%llu clears, %llu links lost so far)\n",
               now->follow_link == FC_LINK_UP ? "up" : "down",
               (unsigned long long)now->clears, (unsigned long long)now->follow_link_losses);
    if (now->flushes != was->flushes || now->compactions != was->compactions ||
        now->follow_link != was->follow_link)
        fflush(stdout);
}

static void serve(fc_store *s)
{
    fc_stats was, now;
    if (fc_stats_get(s, &was) != 0)
        memset(&was, 0, sizeof was);
    while (!stop_signal) {
        struct timespec ts = { 0, POLL_NS };
        nanosleep(&ts, NULL);   /* EINTR when a signal came: checked above */
        if (fc_stats_get(s, &now) != 0)
            continue;
        report(&was, &now);
        was = now;
    }
}

/* --follow, --prefix, --max-stale-ms: 1 taken, 0 not one of them, -1 bad. */
static int follow_opt(const tool_cmd *cmd, int opt, const char *arg, store_args *sa)
{
    if (opt == OPT_FOLLOW) {
        sa->follow = arg;
    } else if (opt == OPT_PREFIX) {
        if (sa->nprefixes == (int)(sizeof sa->prefixes / sizeof sa->prefixes[0])) {
            tool_usage(cmd, "at most 16 --prefix");
            return -1;
        }
        sa->prefixes[sa->nprefixes++] = arg;
    } else if (opt == OPT_MAX_STALE) {
        char *end;
        long v = strtol(arg, &end, 10);
        if (end == arg || *end != '\0' || v < 10 || v > 3600000) {
            tool_usage(cmd, "--max-stale-ms takes 10 .. 3600000");
            return -1;
        }
        sa->max_stale_ms = (int)v;
    } else {
        return 0;
    }
    return 1;
}

int tool_cmd_writer(int argc, char **argv)
{
    const tool_cmd *cmd = tool_find("writer");
    store_args sa = { 0 };
    int opt, r, port = -1;
    const char *maddr = "127.0.0.1";
    while ((opt = getopt_long(argc, argv, "+", writer_opts, NULL)) != -1) {
        if ((r = tool_store_opt(cmd, opt, optarg, &sa)) < 0)
            return EXIT_TROUBLE;
        if (r > 0)
            continue;
        if (opt == OPT_HELP) {
            tool_help_cmd(cmd);
            return EXIT_OK;
        }
        if (opt == OPT_TTL_FRAMING) {
            sa.has_ttl = 1;   /* framing only: the writer writes no values */
            continue;
        }
        if (opt == OPT_METRICS_PORT) {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 0 || v > 65535)
                return tool_usage(cmd, "--metrics-port is a port number, 0 to 65535");
            port = (int)v;
            continue;
        }
        if (opt == OPT_METRICS_ADDRESS) {
            maddr = optarg;
            continue;
        }
        if ((r = follow_opt(cmd, opt, optarg, &sa)) < 0)
            return EXIT_TROUBLE;
        if (r > 0)
            continue;
        return tool_usage(cmd, NULL);
    }
    if (argc - optind != 1)
        return tool_usage(cmd, argc - optind < 1 ? "no store directory" : "too many arguments");
    const char *dir = argv[optind];
    if (catch_signals() != 0) {
        tool_fail("writer", dir, "sigaction: %s", strerror(errno));
        return EXIT_TROUBLE;
    }
    sa.arena_here = 1;
    fc_store *s;
    /* No FC_ATTACH: a second writer must fail with FC_EBUSY, naming the first. */
    if (tool_open("writer", dir, &sa, FC_CREATE, &s) != 0)
        return EXIT_TROUBLE;
    tool_metrics *metrics = NULL;
    const char *why = NULL;
    if (port >= 0 && tool_metrics_start(s, maddr, &port, &metrics, &why) != 0) {
        tool_fail("writer", dir, "--metrics-port on %s:%d: %s", maddr, port, why);
        fc_close(s);
        return EXIT_TROUBLE;
    }
    printf("forkcache: writer pid %d: store %s, arena %s/%s; SIGTERM or SIGINT stops it\n",
           (int)getpid(), dir, dir, FC_ARENA_FILE);
    if (metrics != NULL)
        printf("forkcache: writer pid %d: metrics on http://%s:%d/metrics\n", (int)getpid(),
               maddr, port);
    if (sa.follow != NULL)
        printf("forkcache: following %s (%d prefixes)\n", sa.follow, sa.nprefixes);
    fflush(stdout);
    serve(s);
    tool_metrics_stop(metrics);   /* before the store it reads closes */
    fc_stats st;
    int have = fc_stats_get(s, &st) == 0;
    int rc = fc_close(s);
    if (rc != 0) {
        tool_fail("writer", dir, "closing the store: %s", fc_strerror(rc));
        return EXIT_TROUBLE;
    }
    printf("forkcache: writer pid %d: stopped by %s", (int)getpid(),
           stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    if (have)
        printf(" after %llu flushes and %llu compactions", (unsigned long long)st.flushes,
               (unsigned long long)st.compactions);
    printf("; the store is closed\n");
    return EXIT_OK;   /* a log line that could not be written: main says so */
}
