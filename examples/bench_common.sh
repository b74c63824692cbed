# bench_common.sh - sourced by examples/bench_http.sh and
# examples/bench_compute.sh: a scratch directory ($tmp, removed at exit), a
# prefork_http server ($spid) that never outlives the script, starting it
# and learning its port, wrk's random-key script, and the median of figures.
# Set bench_name (the scratch prefix), HTTP and WORKERS before sourcing.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${bench_name:-fc-bench}.XXXXXX")
spid=
cleanup() {
    [ -z "$spid" ] || { kill -TERM "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT

# keys_lua LO HI FORMAT: $tmp/keys.lua makes wrk ask for FORMAT (a Lua
# string.format pattern) of a uniformly random integer in [LO, HI] in
# every request.
keys_lua() {
    cat >"$tmp/keys.lua" <<LUA
function init(args) math.randomseed(os.time() + wrk.thread:get("id")) end
function setup(thread) thread:set("id", tostring(math.random(1, 1000000))) end
function request() return wrk.format("GET", string.format("$3", math.random($1, $2))) end
LUA
}

# server_start ARGS...: prefork_http with WORKERS workers on a port the
# kernel picks, and ARGS; sets spid and port.
server_start() {
    rm -f "$tmp/srv.out"   # no stale listening line from the previous run
    "$HTTP" --port 0 --workers "$WORKERS" "$@" >"$tmp/srv.out" 2>"$tmp/srv.err" &
    spid=$!
    local i=0
    until grep -qs ' port [0-9]' "$tmp/srv.out"; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { echo "server did not start" >&2; exit 1; }
        sleep 0.1
    done
    port=$(sed -n 's/.* port \([0-9][0-9]*\),.*/\1/p' "$tmp/srv.out")
}

# server_stop: SIGTERM and wait.
server_stop() {
    kill -TERM "$spid"
    wait "$spid"
    spid=
}

# wrk_failed: wrk's output ($tmp/wrk.out) reports answers other than 2xx.
wrk_failed() {
    grep -q 'Non-2xx' "$tmp/wrk.out" || return 1
    echo "$0: non-2xx answers:" >&2
    cat "$tmp/wrk.out" >&2
}

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

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
