#!/bin/bash
# bench_compute.sh - prefork_http's /compute/<n> under wrk, cached beside
# --no-cache in one session: RUNS rounds each start a fresh server (on a
# fresh store, so every run starts cold) in cache mode and in --no-cache
# mode in turn and run wrk against it, every request asking for one of
# KEYS keys (/compute/1 .. /compute/KEYS) at random. Printed per mode: the
# median requests/s, the median number of requests wrk made, and the
# median number of computations the server ran (from /stats), and the
# median CPU time the workers spent per request (/proc/PID/schedstat,
# which other load on the machine disturbs far less than the rate), with
# every run's figures. In cache mode the computations should be about KEYS for
# each --compute-ttl period the run lasts, whatever the request count.
#
#   examples/bench_compute.sh [KEYS] [RUNS] [SECONDS]      (defaults 10 3 10)
#   env: TTL=5 WORKERS=2 THREADS=2 CONNS=32 BUILD=. TMPDIR=/tmp
#
# Needs wrk and curl (bootstrap installs them). Prints figures; asserts nothing.
set -eu
KEYS=${1:-10}
RUNS=${2:-3}
SECS=${3:-10}
TTL=${TTL:-5}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
BUILD=${BUILD:-.}
HTTP="$BUILD/examples/prefork_http"
command -v wrk >/dev/null || { echo "bench_compute: wrk is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench_compute: curl is not installed" >&2; exit 1; }
bench_name=fc-bench-compute
. "$(dirname "$0")/bench_common.sh"
keys_lua 1 "$KEYS" /compute/%d   # one of the KEYS keys at random

# run_one MODE-ARGS: one wrk run against a fresh server on a fresh store;
# prints "requests/s requests computations worker-CPU-us/request".
run_one() {
    rm -rf "$tmp/store"
    server_start --dir "$tmp/store" --compute-ttl "$TTL" "$@"
    local cpu0 cpu1
    cpu0=$(workers_cpu_ns)
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s "$tmp/keys.lua" "http://127.0.0.1:$port/" >"$tmp/wrk.out"
    cpu1=$(workers_cpu_ns)
    local computations
    computations=$(curl -s -m 60 "http://127.0.0.1:$port/stats" |
        sed -n 's/.*"computations": \([0-9]*\).*/\1/p')
    server_stop
    ! wrk_failed || exit 1
    awk -v c="$computations" -v cpu=$((cpu1 - cpu0)) '/requests in/ { n = $1 }
        /^Requests\/sec:/ { r = $2 }
        END { printf "%.0f %d %d %.1f", r, n, c, (n > 0) ? cpu / n / 1000 : 0 }' "$tmp/wrk.out"
}

# column K "A B C D A B C D ...": the K-th figure of every run (K = 1..4).
column() { echo $2 | awk -v k="$1" '{ for (i = k; i <= NF; i += 4) printf "%s ", $i }'; }

# row MODE "RATE REQS COMPS CPU ...": one line of the table.
row() {
    local rates reqs comps cpus
    rates=$(column 1 "$2") reqs=$(column 2 "$2") comps=$(column 3 "$2") cpus=$(column 4 "$2")
    printf '%-9s %12s %15s %13s %14s   req/s: %s requests: %s computations: %s us: %s\n' "$1" \
        "$(echo $rates | median)" "$(echo $reqs | median)" "$(echo $comps | median)" \
        "$(echo $cpus | median)" "$rates" "$reqs" "$comps" "$cpus"
}

echo "prefork_http /compute under wrk: $KEYS keys, --compute-ttl $TTL, $WORKERS workers," \
     "wrk -t$THREADS -c$CONNS -d${SECS}s, $RUNS runs, $(nproc) cores"
printf '%-9s %12s %15s %13s %14s   %s\n' mode 'median req/s' 'median requests' \
    'computations' 'worker us/req' 'each run'
cached="" uncached=""
for r in $(seq 1 "$RUNS"); do
    cached="$cached $(run_one)"
    uncached="$uncached $(run_one --no-cache)"
done
row cache "$cached"
row no-cache "$uncached"
