/*
 * bench_incr.c - fc_incr throughput on one shared counter from 1, 2 and 4
 * worker processes (forked from the writer, so every increment goes
 * through the write queue), beside Redis INCR over a unix socket and
 * APCu's apcu_inc under php-cli (children forked with pcntl_fork share
 * APCu's segment), each run in the same invocation when installed. After
 * each forkcache run the counter must equal the increments counted. A
 * benchmark: it prints figures and asserts nothing about speed.
 *
 *   bench/bench_incr [--seconds S] [--dir D]
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkcache.h"
#include "bench_common.h"

/* One child: increments until the deadline, then writes its count. */
static void incr_child(fc_store *s, const char *redis, double seconds, int out)
{
    int fd = -1;
    if (redis != NULL ? (fd = redis_connect(redis)) < 0 : fc_after_fork(s) != 0)
        _exit(5);
    static const char req[] = "*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n";
    char reply[32];
    double end = bench_now() + seconds;
    long n = 0;
    while ((n & 63) != 0 || bench_now() < end) {
        int ok = redis != NULL
                     ? redis_roundtrip(fd, req, sizeof req - 1, reply, sizeof reply, 4) > 0 &&
                           reply[0] == ':'
                     : fc_incr(s, "ctr", 3, 1, 0, 0, NULL) == 0;
        if (!ok)
            _exit(3);
        n++;
    }
    if (write(out, &n, sizeof n) != sizeof n)
        _exit(4);
    _exit(0);
}

/* Runs procs children; returns increments per second, *total the count. */
static double run(fc_store *s, const char *redis, int procs, double seconds, long *total)
{
    int p[2];
    pid_t kids[8];
    *total = 0;
    if (procs > 8 || pipe2(p, O_CLOEXEC) != 0)
        return -1;
    for (int c = 0; c < procs; c++) {
        kids[c] = fc_fork();
        if (kids[c] == 0) {
            close(p[0]);
            incr_child(s, redis, seconds, p[1]);
        }
    }
    close(p[1]);
    int ok = 1;
    for (int c = 0; c < procs; c++) {
        long n = 0;
        ok &= read(p[0], &n, sizeof n) == (ssize_t)sizeof n;
        *total += n;
    }
    close(p[0]);
    for (int c = 0; c < procs; c++) {
        int status;
        ok &= waitpid(kids[c], &status, 0) == kids[c] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0;
    }
    return ok ? (double)*total / seconds : -1;
}

/* The APCu anchor: the same loop in PHP, children from pcntl_fork. */
static const char php_script[] =
    "<?php\n"
    "$procs = (int)$argv[1]; $secs = (float)$argv[2];\n"
    "if (!function_exists('apcu_inc') || !function_exists('pcntl_fork')) exit(3);\n"
    "apcu_store('ctr', 0); apcu_store('ops', 0);\n"
    "$kids = [];\n"
    "for ($c = 0; $c < $procs; $c++) {\n"
    "  $pid = pcntl_fork();\n"
    "  if ($pid === 0) {\n"
    "    $end = microtime(true) + $secs; $n = 0;\n"
    "    while (($n & 63) != 0 || microtime(true) < $end) { apcu_inc('ctr'); $n++; }\n"
    "    apcu_inc('ops', $n); exit(0);\n"
    "  }\n"
    "  $kids[] = $pid;\n"
    "}\n"
    "foreach ($kids as $k) pcntl_waitpid($k, $st);\n"
    "printf(\"%d %d\\n\", apcu_fetch('ops'), apcu_fetch('ctr'));\n";

/* Increments per second under APCu, -1 when PHP or APCu is missing. */
static double run_apcu(const char *dir, int procs, double seconds)
{
    char path[4200], cmd[8600];
    snprintf(path, sizeof path, "%s/incr.php", dir);
    FILE *f = fopen(path, "we");
    if (f == NULL || fputs(php_script, f) < 0 || fclose(f) != 0)
        return -1;
    snprintf(cmd, sizeof cmd,
             "php -d apc.enable_cli=1 -d apc.shm_size=32M '%s' %d %g 2>/dev/null", path, procs,
             seconds);
    FILE *p = popen(cmd, "re");
    if (p == NULL)
        return -1;
    long ops = -1, ctr = -2;
    int got = fscanf(p, "%ld %ld", &ops, &ctr);
    int rc = pclose(p);
    if (got != 2 || rc != 0 || ops != ctr)
        return -1;
    return (double)ops / seconds;
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    const char *base = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--dir D]\n", argv[0]);
            return 2;
        }
    }
    if (seconds <= 0) {
        fprintf(stderr, "bench_incr: --seconds > 0\n");
        return 2;
    }
    char dir[4096], sock[4300];
    fc_store *s = bench_open(base, "incr", dir);
    if (s == NULL)
        return 1;
    pid_t redis = redis_start(dir, sock, sizeof sock);
    printf("incr benchmark: one shared counter, %.1f s per run, workers forked from the writer\n",
           seconds);
    printf("%-6s %16s %16s %16s %10s %10s\n", "procs", "forkcache incr/s", "redis INCR/s",
           "apcu_inc/s", "fc/redis", "fc/apcu");
    const int procs[3] = { 1, 2, 4 };
    int exact = 1, have_apcu = 0;
    for (int k = 0; k < 3; k++) {
        long total = 0, rtotal = 0;
        int64_t before = bench_fc_counter(s);
        double fc = run(s, NULL, procs[k], seconds, &total);
        int64_t after = bench_fc_counter(s);
        exact &= after - (before < 0 ? 0 : before) == total;
        double rd = redis > 0 ? run(s, sock, procs[k], seconds, &rtotal) : -1;
        double ap = run_apcu(dir, procs[k], seconds);
        have_apcu |= ap > 0;
        printf("%-6d %16.0f %16.0f %16.0f %10.2f %10.2f\n", procs[k], fc, rd, ap,
               rd > 0 ? fc / rd : 0, ap > 0 ? fc / ap : 0);
    }
    printf("forkcache counter %s the increments counted\n", exact ? "equals" : "DIFFERS FROM");
    if (redis <= 0)
        printf("(redis-server not found or did not start: no Redis anchor)\n");
    if (!have_apcu)
        printf("(php-cli with APCu and pcntl not found: no APCu anchor; "
               "apt-get install php-cli php-apcu)\n");
    fc_close(s);
    redis_stop(redis);
    return bench_remove(dir) == 0 && exact ? 0 : 1;
}
