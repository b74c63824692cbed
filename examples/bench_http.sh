#!/bin/bash
# bench_http.sh - prefork_http under wrk on loopback, mmap mode beside copy
# mode in one session: for each value size, a store of KEYS keys
# (%016llu, 0..KEYS-1) is loaded and compacted, then RUNS rounds each start
# the server in mmap mode and in copy mode in turn and run wrk against it
# with uniformly random keys. Printed per mode: the median requests/s, and
# the median CPU time the workers spent per request (from
# /proc/PID/schedstat), which other load on the machine disturbs far less
# than the rate does.
#
#   examples/bench_http.sh [KEYS] [RUNS] [SECONDS]      (defaults 100000 3 10)
#   env: SIZES="100 4096" WORKERS=2 THREADS=2 CONNS=32 BUILD=. TMPDIR=/tmp
#
# Needs wrk (bootstrap installs it). Prints figures; asserts nothing.
set -eu
KEYS=${1:-100000}
RUNS=${2:-3}
SECS=${3:-10}
SIZES=${SIZES:-"100 4096"}
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
BUILD=${BUILD:-.}
FC="$BUILD/src/tool/forkcache"
HTTP="$BUILD/examples/prefork_http"
command -v wrk >/dev/null || { echo "bench_http: wrk is not installed" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-bench-http.XXXXXX")
spid=
cleanup() {
    [ -z "$spid" ] || { kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT

# wrk asks for a uniformly random key of the store in every request.
cat >"$tmp/keys.lua" <<EOF
local n = $KEYS
function init(args) math.randomseed(os.time() + wrk.thread:get("id")) end
function setup(thread) thread:set("id", tostring(math.random(1, 1000000))) end
function request() return wrk.format("GET", string.format("/k/%016d", math.random(0, n - 1))) end
EOF

# workers_cpu_ns: CPU time used so far by the server's workers, in ns.
workers_cpu_ns() {
    local sum=0 p stat
    for p in /proc/[0-9]*; do
        stat=$(cat "$p/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        set -- $stat
        [ "${2:-}" = "$spid" ] || continue
        read -r ns _ <"$p/schedstat" && sum=$((sum + ns))
    done
    echo "$sum"
}

# run_one STORE MODE: one wrk run against a fresh server; prints
# "requests/s worker-CPU-us/request".
run_one() {
    rm -f "$tmp/srv.out"   # no stale listening line from the previous run
    "$HTTP" --dir "$1" --port 0 --workers "$WORKERS" --mode "$2" >"$tmp/srv.out" 2>"$tmp/srv.err" &
    spid=$!
    local i=0
    until grep -qs ' port [0-9]' "$tmp/srv.out"; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { echo "server did not start" >&2; exit 1; }
        sleep 0.1
    done
    local port
    port=$(sed -n 's/.* port \([0-9][0-9]*\),.*/\1/p' "$tmp/srv.out")
    local cpu0 cpu1
    cpu0=$(workers_cpu_ns)
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s "$tmp/keys.lua" "http://127.0.0.1:$port/" >"$tmp/wrk.out"
    cpu1=$(workers_cpu_ns)
    kill -TERM "$spid"; wait "$spid"; spid=
    if grep -q 'Non-2xx' "$tmp/wrk.out"; then
        echo "bench_http: non-2xx answers:" >&2; cat "$tmp/wrk.out" >&2; exit 1
    fi
    awk -v cpu=$((cpu1 - cpu0)) '/requests in/ { n = $1 } /^Requests\/sec:/ { r = $2 }
        END { printf "%.0f %.2f", r, (n > 0) ? cpu / n / 1000 : 0 }' "$tmp/wrk.out"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# row SIZE MODE "RATE CPU RATE CPU ...": one line of the table.
row() {
    local rates cpus
    rates=$(echo $3 | awk '{ for (i = 1; i <= NF; i += 2) printf "%s ", $i }')
    cpus=$(echo $3 | awk '{ for (i = 2; i <= NF; i += 2) printf "%s ", $i }')
    printf '%-8s %-5s %12s %14s   req/s: %s  us: %s\n' "$1" "$2" "$(echo $rates | median)" \
        "$(echo $cpus | median)" "$rates" "$cpus"
}

echo "prefork_http under wrk: $KEYS keys, $WORKERS workers, wrk -t$THREADS -c$CONNS -d${SECS}s, $RUNS runs, $(nproc) cores"
printf '%-8s %-5s %12s %14s   %s\n' value mode 'median req/s' 'worker us/req' 'each run'
for size in $SIZES; do
    store="$tmp/store-$size"
    awk -v n="$KEYS" -v b="$size" 'BEGIN {
        v = sprintf("%0" b "d", 0); gsub(/0/, "v", v)
        for (i = 0; i < n; i++) printf "%016d\t%s\n", i, v }' | "$FC" load --batch 1000 "$store" - 2>/dev/null
    "$FC" compact "$store" >/dev/null
    mmap="" copy=""
    for r in $(seq 1 "$RUNS"); do
        mmap="$mmap $(run_one "$store" mmap)"
        copy="$copy $(run_one "$store" copy)"
    done
    row "$size B" mmap "$mmap"
    row "$size B" copy "$copy"
    rm -rf "$store"
done
