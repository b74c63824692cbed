/*
 * forkcache.c - the forkcache command: main, the command table and the
 * help pages. Each command lives in its own function (cmds.c, cmd_load.c);
 * this file only dispatches and explains.
 *
 * The help text is the manual: `forkcache --help` prints every section a
 * man page has, and `forkcache help CMD` one command's page.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tool/tool.h"

#define STORE_OPTIONS \
    "--write-buffer SIZE\n" \
    "    Memtable size before it is written out as a table (default 4M). SIZE is\n" \
    "    bytes, or a number with a k, M or G suffix (powers of 1024).\n" \
    "--arena-size SIZE\n" \
    "    Bytes of address space reserved for the shared arena (default 1G); only\n" \
    "    what the memtables use is ever touched. The writer's arena is a file in\n" \
    "    DIR whose blocks are all allocated when it starts (a full disk fails then,\n" \
    "    not later).\n" \
    "--help\n" \
    "    Print this page and exit.\n"

/* The commands that write through a running writer's queue. */
#define WAIT_OPTIONS \
    "--timeout S\n" \
    "    While another process is the store's writer, wait at most S seconds for it\n" \
    "    to take and apply each write, then fail (exit 2): the write's outcome is\n" \
    "    then unknown. Default: no limit; a write still waiting after 3 s says so\n" \
    "    on standard error, naming the writer's pid. While another command holds\n" \
    "    the store (two shells writing at once), the command waits for its turn,\n" \
    "    at most S seconds (default 10).\n"

const tool_cmd tool_cmds[] = {
    {
        "load", tool_cmd_load,
        "load [--hex] [--sync] [--batch N] [--ttl SECONDS] [--max-bytes SIZE] [--timeout S]\n"
        "     [STORE OPTIONS] DIR [FILE]",
        "load key<TAB>value lines in batches",
        "Reads lines of the form key<TAB>value from FILE (standard input when FILE is\n"
        "absent or -) and stores them in the store at DIR, creating it if needed.\n"
        "The first TAB ends the key; the value is the rest of the line without its\n"
        "newline and may be empty or hold further TABs. Rows are written in batches\n"
        "(one fc_write each), so a crash loses at most the batch being written.\n"
        "A malformed line (no TAB, bad hex, key or value over the size limits) stops\n"
        "the load with an error naming its line number; the rows before it are stored.\n"
        "While standard error is a terminal a progress line (rows, rows/s, MB/s) is\n"
        "updated there; a summary line (rows, seconds, rows/s) is always printed.\n",
        "--hex\n"
        "    Both fields are hex-encoded (two digits per byte, either case), for binary\n"
        "    keys and values. Default: the bytes are taken as they are.\n"
        "--sync\n"
        "    fdatasync the write-ahead log after every batch (default: no sync; a\n"
        "    machine crash may lose the last batches, a process crash loses nothing).\n"
        "--batch N\n"
        "    Rows per batch, 1 to 1000000 (default 1000). Through a running writer's\n"
        "    queue a batch is also cut before it passes 192 KiB, to fit a queue entry.\n"
        "--ttl SECONDS\n"
        "    Every row expires SECONDS after its batch is written (see put --ttl).\n"
        "--max-bytes SIZE\n"
        "    When this command is the writer: bound the tables' total size, evicting\n"
        "    the oldest tables first (at least 64k; default: no bound).\n"
        WAIT_OPTIONS STORE_OPTIONS,
        NULL,
        "printf 'alpha\\t1\\nbeta\\t2\\n' | forkcache load /var/cache/fc\n"
        "forkcache load --batch 10000 /var/cache/fc dump.tsv\n"
        "forkcache load --hex /var/cache/fc hexdump.tsv\n"
    },
    {
        "put", tool_cmd_put,
        "put [--hex] [--sync] [--ttl SECONDS] [--timeout S] [STORE OPTIONS] DIR KEY VALUE",
        "store one key",
        "Stores VALUE under KEY in the store at DIR, creating the store if needed.\n",
        "--hex\n"
        "    KEY and VALUE are hex-encoded (default: taken as they are).\n"
        "--sync\n"
        "    fdatasync the write-ahead log before returning (default: no sync).\n"
        "--ttl SECONDS\n"
        "    The value expires SECONDS from now (a number >= 0, fractions allowed;\n"
        "    0 = never) and is then gone for every reader. A store put --ttl creates\n"
        "    frames every value with its expiry; a store created without framing\n"
        "    refuses --ttl (exit 2).\n"
        WAIT_OPTIONS STORE_OPTIONS,
        NULL,
        "forkcache put /var/cache/fc user:42 '{\"name\":\"Ada\"}'\n"
        "forkcache put --ttl 300 /var/cache/fc session:9 token\n"
        "forkcache put --hex /var/cache/fc 00ff 0102\n"
    },
    {
        "del", tool_cmd_del,
        "del [--hex] [--sync] [--timeout S] [STORE OPTIONS] DIR KEY",
        "delete one key",
        "Deletes KEY from the store at DIR. Deleting an absent key is not an error.\n",
        "--hex\n"
        "    KEY is hex-encoded (default: taken as it is).\n"
        "--sync\n"
        "    fdatasync the write-ahead log before returning (default: no sync).\n"
        WAIT_OPTIONS STORE_OPTIONS,
        NULL,
        "forkcache del /var/cache/fc user:42\n"
    },
    {
        "get", tool_cmd_get,
        "get [--hex] [STORE OPTIONS] DIR KEY",
        "print the value of one key",
        "Prints the value stored under KEY in the store at DIR on standard output:\n"
        "the raw bytes with no newline added, or with --hex two hex digits per byte\n"
        "and a newline. The store must exist. It is opened read-only (no LOCK,\n"
        "nothing written) or, while a writer runs, through that writer's arena, so\n"
        "the newest writes are seen.\n",
        "--hex\n"
        "    KEY is hex-encoded and the value is printed in hex (default: raw bytes).\n"
        STORE_OPTIONS,
        "0  the key was found and its value printed.\n"
        "1  the key is absent or deleted.\n"
        "2  an error: usage, no store at DIR, I/O, damage.\n",
        "forkcache get /var/cache/fc user:42\n"
        "if forkcache get /var/cache/fc k >/dev/null; then echo present; fi\n"
    },
    {
        "compact", tool_cmd_compact,
        "compact [STORE OPTIONS] DIR",
        "compact the whole store",
        "Writes the memtable out and compacts every level over the whole key range,\n"
        "so that each key lives in one table and deleted or overwritten entries are\n"
        "dropped. Waits until the compaction is done. Only the store's writer\n"
        "compacts: while another process is the writer (forkcache writer, say) the\n"
        "command fails, naming its pid; that writer compacts by itself.\n",
        STORE_OPTIONS,
        NULL,
        "forkcache compact /var/cache/fc\n"
    },
    {
        "verify", tool_cmd_verify,
        "verify DIR",
        "check every file of a store",
        "Checks the store at DIR without writing or locking anything: CURRENT, every\n"
        "record of the MANIFEST and the levels it describes, every live table (size,\n"
        "every block checksum, key order, first and last keys against the MANIFEST),\n"
        "and every write-ahead log still needed (checksums, batch layout). Prints one\n"
        "line per finding on standard output, as FILE:OFFSET: sentence, and a\n"
        "summary on standard error. Findings marked 'note:' (a torn log tail left by\n"
        "a crash, a leftover table) are not damage.\n",
        "--help\n"
        "    Print this page and exit.\n",
        "0  no damage found (notes may have been printed).\n"
        "1  the store is damaged: see the findings.\n"
        "2  the check could not run: usage, DIR is not a store, I/O error.\n",
        "forkcache verify /var/cache/fc || echo 'store damaged'\n"
    },
    {
        "scan", tool_cmd_scan,
        "scan [--hex] [--from KEY] [--to KEY] [--limit N] [--reverse] DIR",
        "print pairs in key order",
        "Prints the pairs of the store at DIR in bytewise key order, one\n"
        "key<TAB>value line each, all from one snapshot (writes made while the scan\n"
        "runs are not shown). The range is [--from, --to): --from is included, --to\n"
        "is not. Without --hex the bytes are printed as they are, so a key or value\n"
        "holding a TAB or a newline makes its line ambiguous; with --hex both fields\n"
        "are hex, and the output loads back with load --hex. The store is opened\n"
        "read-only or, while a writer runs, through its arena. Output is buffered;\n"
        "when the reader of a pipe goes away (| head) the scan ends quietly, exit 0.\n",
        "--hex\n"
        "    Print both fields in hex, and take --from and --to in hex (default: raw\n"
        "    bytes).\n"
        "--from KEY\n"
        "    Start at the first key >= KEY (default: the smallest key).\n"
        "--to KEY\n"
        "    Stop before the first key >= KEY (default: after the largest key).\n"
        "--limit N\n"
        "    Print at most N pairs (default: no limit; 0 prints nothing).\n"
        "--reverse\n"
        "    Walk backwards, from the last key < --to (or the largest key) down to\n"
        "    --from (default: forwards).\n"
        "--help\n"
        "    Print this page and exit.\n",
        "0  the range was printed (it may be empty), or the reader went away.\n"
        "2  an error: usage, no store at DIR, I/O, damage met while scanning, or\n"
        "   output that could not be written (a full disk): the dump is incomplete.\n",
        "forkcache scan /var/cache/fc | head\n"
        "forkcache scan --from user: --to 'user;' /var/cache/fc\n"
        "forkcache scan --reverse --limit 10 /var/cache/fc\n"
        "forkcache scan --hex /var/cache/fc > dump.hex; forkcache load --hex copy dump.hex\n"
    },
    {
        "stats", tool_cmd_stats,
        "stats [--json] [--format text|json|prometheus] DIR",
        "print a store's figures",
        "Prints the figures of the store at DIR as every attached process sees\n"
        "them: the current version and last sequence, the writer's pid (none when\n"
        "no writer runs), tables and bytes per level, the memtables (active bytes\n"
        "and entries, the immutable one being flushed), the arena (reserved, in\n"
        "use), the reader slots with each holder's pid, pinned version and mappings,\n"
        "the Limiter (table mappings in use, capacity; mapped bytes, cap), the writer's counters\n"
        "(flushes, compactions, bytes compacted, stalls, and why writes wait now:\n"
        "none, memtable, l0 or error), what expiry dropped (expired entries removed\n"
        "by compaction; tables dropped whole because every entry had expired, and\n"
        "their bytes), what the max-bytes bound evicted (tables, bytes), and this\n"
        "process's tables mapped and read by\n"
        "pread; then the operation counters of every process since the writer opened\n"
        "the store: gets (hits, misses, misses that met an expired value, the hit\n"
        "ratio), puts, deletes and batches, the mean write latency, atomic operations\n"
        "by outcome (applied/refused/failed), get-or-compute computations and waits;\n"
        "per reader its gets, hits and puts. A process's counts stay in the totals\n"
        "after it exits or is killed. The store is opened read-only or, while a writer runs, through its\n"
        "arena; then the command itself holds one of the reader slots shown. Without\n"
        "a writer the arena is the command's own, and the writer counters are 0.\n",
        "--json\n"
        "    One JSON object instead of aligned text (default: text). Keys: store,\n"
        "    version, last_sequence, writer_pid (null when none), levels[], memtable,\n"
        "    arena, reader_slots, readers[], limiter, writer, dropped (expired_entries,\n"
        "    expired_tables, expired_bytes, evicted_tables, evicted_bytes), process,\n"
        "    ops (the operation counters; also in each reader), bytes (memtables,\n"
        "    tables, block_cache).\n"
        "--format text|json|prometheus\n"
        "    text (the default), json (as --json), or prometheus: Prometheus's text\n"
        "    exposition format (names forkcache_*, counters ending in _total, units\n"
        "    in names, the write latency as the histogram\n"
        "    forkcache_write_latency_seconds; the hit ratio is\n"
        "    forkcache_get_hits_total / forkcache_gets_total).\n"
        "--help\n"
        "    Print this page and exit.\n",
        NULL,
        "forkcache stats /var/cache/fc\n"
        "forkcache stats --json /var/cache/fc | python3 -m json.tool\n"
        "forkcache stats --format prometheus /var/cache/fc | promtool check metrics\n"
    },
    {
        "writer", tool_cmd_writer,
        "writer [--sync] [--ttl-framing] [--max-bytes SIZE] [--write-buffer SIZE]\n"
        "       [--arena-size SIZE] [--metrics-port N] [--metrics-address ADDR]\n"
        "       [--follow URL [--prefix P]... [--max-stale-ms N]] DIR",
        "run the store's writer in the foreground",
        "Opens the store at DIR as its writer (creating it if needed) with its\n"
        "shared arena in the file DIR/forkcache.arena, and keeps it open until\n"
        "SIGTERM or SIGINT. Meanwhile other forkcache commands, and programs that\n"
        "open the store with FC_ATTACH, read its arena zero-copy and apply their\n"
        "writes themselves under the arena's write lock (the writer applies what\n"
        "needs it: a full memtable is switched, flushed and compacted here).\n"
        "Prints a startup line (pid, store, arena)\n"
        "and then one line per flush (its number, L0 files, last sequence) and per\n"
        "compaction (its number, bytes compacted, files per level), and with\n"
        "--follow one per change of the Redis link (up or down), from its\n"
        "counters looked at every 100 ms; nothing else. On SIGTERM or SIGINT it\n"
        "drains the write queue, syncs, closes the store and exits 0. While another\n"
        "process is the store's writer it fails (exit 2), naming that process.\n",
        "--sync\n"
        "    fdatasync the write-ahead log on every write (default: only writes that\n"
        "    ask for it, such as put --sync).\n"
        "--max-bytes SIZE\n"
        "    Bound the tables' total size (at least 64k; default: no bound): tables\n"
        "    stay in level 0 and, whenever a flush takes the total past SIZE, the\n"
        "    oldest are deleted (FIFO), never the newest. Readers are not blocked: a\n"
        "    reader still looking at an evicted table keeps it until it is done.\n"
        "--ttl-framing\n"
        "    Create the store with expiry framing, so that put --ttl, add --ttl, incr\n"
        "    --ttl and load --ttl work through this writer (default: a new store is\n"
        "    plain, and then refuses --ttl for good). Framing is chosen when a store\n"
        "    is created: on an existing plain store this option fails (exit 2).\n"
        "--metrics-port N\n"
        "    Also serve GET /metrics over HTTP on 127.0.0.1:N with the text of stats\n"
        "    --format prometheus, for a Prometheus server to scrape (port 0 takes a\n"
        "    free one, named in a second startup line). One connection at a time, a\n"
        "    request of at most 4 KiB read within 2 s, the answer written within 2 s.\n"
        "--metrics-address ADDR\n"
        "    The IPv4 address --metrics-port listens on (default 127.0.0.1).\n"
        "--follow URL\n"
        "    Keep the store coherent with the Redis at URL (redis://HOST:PORT or\n"
        "    unix:///PATH) as a near cache: a thread of the writer subscribes to\n"
        "    Redis's invalidations (CLIENT TRACKING BCAST) and deletes every key\n"
        "    Redis changes; FLUSHALL, a lost connection or a Redis restart clear\n"
        "    the followed prefixes. Workers fill misses with fc_get_through.\n"
        "--prefix P\n"
        "    With --follow: the keys cached are those starting with P (repeatable,\n"
        "    at most 16 of up to 48 bytes; default: every key).\n"
        "--max-stale-ms N\n"
        "    With --follow: while Redis does not answer, followed keys read as\n"
        "    misses once N ms (10 .. 3600000; default 1000) have passed since the\n"
        "    last proof that every invalidation had arrived.\n"
        STORE_OPTIONS,
        "0  stopped by SIGTERM or SIGINT; the store was closed cleanly.\n"
        "2  an error: usage, the store could not be opened (another writer holds it,\n"
        "   damage, I/O) or closing it failed.\n",
        "forkcache writer /var/cache/fc &\n"
        "forkcache put /var/cache/fc k v     # through the writer's queue\n"
        "forkcache writer --metrics-port 9187 /var/cache/fc &   # curl :9187/metrics\n"
        "kill -TERM %1\n"
    },
    {
        "incr", tool_cmd_incr,
        "incr [--hex] [--sync] [--ttl SECONDS] [--timeout S] [STORE OPTIONS] DIR KEY [DELTA]",
        "add to a counter atomically and print it",
        "Adds DELTA (default 1; negative to subtract) to the counter stored under\n"
        "KEY and prints the new value and a newline. A counter is its value in\n"
        "decimal ASCII text (\"-42\", \"1000\"); an absent key counts as 0. The\n"
        "addition is decided under the store's write lock, so increments from any\n"
        "number of processes and commands are never lost. While a writer runs, the\n"
        "command applies the increment itself in the writer's arena; otherwise the\n"
        "store is opened (and created if needed) as its writer for the length of\n"
        "the command.\n",
        "--hex\n"
        "    KEY is hex-encoded (default: taken as it is). DELTA and the printed\n"
        "    value are always decimal.\n"
        "--sync\n"
        "    fdatasync the write-ahead log before returning (default: no sync).\n"
        "--ttl SECONDS\n"
        "    A counter this command creates expires SECONDS from now (as put --ttl);\n"
        "    an existing counter keeps its expiry, so a counter counts over a fixed\n"
        "    window. Needs a store with expiry framing (put --ttl says more).\n"
        WAIT_OPTIONS STORE_OPTIONS,
        "0  the counter was updated and its new value printed.\n"
        "1  the value under KEY is not a decimal 64-bit integer, or the sum would\n"
        "   overflow; nothing was written.\n"
        "2  an error: usage, I/O, damage.\n",
        "forkcache incr /var/cache/fc hits\n"
        "forkcache incr /var/cache/fc stock:42 -3\n"
    },
    {
        "add", tool_cmd_add,
        "add [--hex] [--sync] [--ttl SECONDS] [--timeout S] [STORE OPTIONS] DIR KEY VALUE",
        "store one key only if it is absent",
        "Stores VALUE under KEY only when KEY is absent, atomically with respect to\n"
        "every other write: of several processes adding the same key, exactly one\n"
        "succeeds. An expired key counts as absent. Otherwise like put.\n",
        "--hex\n"
        "    KEY and VALUE are hex-encoded (default: taken as they are).\n"
        "--sync\n"
        "    fdatasync the write-ahead log before returning (default: no sync).\n"
        "--ttl SECONDS\n"
        "    The value expires SECONDS from now, as with put --ttl.\n"
        WAIT_OPTIONS STORE_OPTIONS,
        "0  the key was absent and VALUE is now stored.\n"
        "1  the key exists; nothing was written.\n"
        "2  an error: usage, I/O, damage.\n",
        "forkcache add /var/cache/fc lock:job7 \"$$\" && echo \"we own job7\"\n"
    },
    {
        "bench", tool_cmd_bench,
        "bench --dir DIR [--keys N] [--value-size B] [--procs P] [--seconds S] "
        "[--warmup S] [--rounds R] [--mode LIST] [--memory-limit SIZE] [--csv FILE] "
        "[--plot FILE.png]",
        "measure point gets from forked readers, beside LMDB, LevelDB, Redis",
        tool_bench_description, tool_bench_options,
        "0  every mode asked for ran (with --mode all, anchors this machine lacks are\n"
        "   skipped with a note).\n"
        "2  an error: usage, a data set could not be built, a reader failed or read\n"
        "   a wrong value, or an anchor named in --mode is missing.\n",
        tool_bench_examples
    },
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

#define COMMON_EXIT \
    "0  success.\n" \
    "1  a negative answer: get found no such key, verify found damage, add found\n" \
    "   the key present, incr found a value that is not a 64-bit integer.\n" \
    "2  an error: a usage error (with a usage line on standard error), no store,\n" \
    "   a store held by another writer, an I/O error, damage met while working,\n" \
    "   or output that could not be written (a full disk, a closed standard\n" \
    "   output): every command checks its writes, then flushes and closes\n" \
    "   standard output, and says \"writing standard output\" and why.\n"

/* Indents each line of text by n spaces. */
static void indented(const char *text, int n)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        if (len)
            printf("%*s%.*s\n", n, "", (int)len, text);
        else
            putchar('\n');
        text += len + (nl != NULL);
    }
}

static void synopsis_lines(const tool_cmd *c)
{
    printf("    forkcache %s\n", c->synopsis);
}

void tool_help_cmd(const tool_cmd *c)
{
    printf("NAME\n    forkcache %s - %s\n\n", c->name, c->summary);
    printf("SYNOPSIS\n");
    synopsis_lines(c);
    printf("\nDESCRIPTION\n");
    indented(c->description, 4);
    printf("\nOPTIONS\n");
    indented(c->options, 4);
    printf("\nEXIT STATUS\n");
    indented(c->exit_status ? c->exit_status : COMMON_EXIT, 4);
    printf("\nEXAMPLES\n");
    indented(c->examples, 4);
}

static void help_all(void)
{
    printf("NAME\n"
           "    forkcache - load, read, write, scan, compact, check and benchmark a store\n\n"
           "SYNOPSIS\n"
           "    forkcache --help | --version\n"
           "    forkcache help COMMAND\n");
    for (const tool_cmd *c = tool_cmds; c->name; c++)
        synopsis_lines(c);
    printf("\nDESCRIPTION\n");
    indented("A forkcache store is a directory in LevelDB's on-disk format (CURRENT,\n"
             "MANIFEST-*, *.log, *.ldb) that a parent process opens and its forked\n"
             "workers read zero-copy. This command works on such a directory.\n"
             "\n"
             "While `forkcache writer DIR` (or any program that opens the store with\n"
             "its arena in DIR/forkcache.arena) runs, the other commands attach to it:\n"
             "put, del, add, incr and load apply their writes in its arena under its\n"
             "write lock (and wait for the writer only when a full memtable must be\n"
             "switched),\n"
             "get, scan and stats read its arena and see every write the moment it is\n"
             "made. When no writer runs, put, del, add, incr, load and compact open the\n"
             "store as its writer for the length of the command, and get, scan and\n"
             "stats open it read-only (no LOCK taken, nothing written). A writer whose\n"
             "arena is not in a file cannot be attached to: the command then fails\n"
             "naming its pid.\n"
             "\n"
             "Options come before DIR; everything after DIR is taken literally, so keys\n"
             "may start with '-'.\n", 4);
    printf("\nCOMMANDS\n");
    for (const tool_cmd *c = tool_cmds; c->name; c++)
        printf("    %-8s %s\n", c->name, c->summary);
    printf("    %-8s %s\n", "help", "print the page of one command");
    printf("\nOPTIONS\n");
    indented("--help\n"
             "    Print this page (before a command: the whole manual; after one: that\n"
             "    command's page) and exit 0.\n"
             "--version\n"
             "    Print the program's and the library's versions and exit 0.\n", 4);
    for (const tool_cmd *c = tool_cmds; c->name; c++) {
        printf("\n  %s\n", c->name);
        indented(c->options, 4);
    }
    printf("\nEXIT STATUS\n");
    indented(COMMON_EXIT, 4);
    printf("\nEXAMPLES\n");
    for (const tool_cmd *c = tool_cmds; c->name; c++)
        indented(c->examples, 4);
    printf("\nFILES\n");
    indented("DIR/CURRENT          names the live MANIFEST\n"
             "DIR/MANIFEST-NNNNNN  the tables of every level, as a log of version edits\n"
             "DIR/NNNNNN.log       write-ahead log of recent writes\n"
             "DIR/NNNNNN.ldb       tables (NNNNNN.sst is read too)\n"
             "DIR/LOCK             locked (fcntl) by the store's writer\n"
             "DIR/forkcache.arena  the shared arena of forkcache writer, for attaching\n", 4);
}

/* Everything but the output check, which main adds to every path. */
static int run(int argc, char **argv, const char **name)
{
    if (argc < 2)
        return tool_usage(NULL, "no command given");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        help_all();
        return EXIT_OK;
    }
    if (strcmp(first, "--version") == 0) {
        printf("forkcache %s (library %s)\n", PACKAGE_VERSION, fc_version(NULL, NULL, NULL));
        return EXIT_OK;
    }
    if (strcmp(first, "help") == 0) {
        *name = "help";
        if (argc == 2) {
            help_all();
            return EXIT_OK;
        }
        const tool_cmd *c = tool_find(argv[2]);
        if (c == NULL)
            return tool_usage(NULL, "no such command '%s'", argv[2]);
        if (argc > 3)
            return tool_usage(NULL, "help takes one command");
        tool_help_cmd(c);
        return EXIT_OK;
    }
    const tool_cmd *c = tool_find(first);
    if (c == NULL)
        return tool_usage(NULL, first[0] == '-' ? "unknown option '%s'"
                                                : "unknown command '%s'", first);
    *name = c->name;
    return c->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "";
    int code = run(argc, argv, &name);
    return tool_out_finish(name, code);
}
