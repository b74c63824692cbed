# http_common.sh - sourced by the tests of examples/prefork_http: the
# binaries ($HTTP, $FC), a scratch directory ($tmp, removed at exit) with
# the store path ($S), a cleanup that never lets the server ($spid) or its
# workers outlive the test, and starting, stopping and asking the server.
# Set http_name (the scratch prefix) before sourcing; http_wrap, when set,
# is a command start_server runs the server under (prlimit ...); http_workers (default
# 2) is how many workers start_server starts and waits for.
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
HTTP="$top_builddir/examples/prefork_http"
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
command -v timeout >/dev/null 2>&1 || { echo "SKIP: timeout is not installed"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${http_name:-fc-http}.XXXXXX")
S="$tmp/store"
spid=
workers=
http_workers=${http_workers:-2}

# The server and its workers never outlive the test, whatever way it ends.
cleanup() {
    if [ -n "$spid" ]; then
        kill -KILL "$spid" $workers 2>/dev/null
        wait "$spid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*"
    [ -f "$tmp/server.err" ] && sed 's/^/  server: /' "$tmp/server.err"
    exit 1
}

# children_of: the pids whose parent is the server ($spid). The kernel's
# list of the server's children when it keeps one (CONFIG_PROC_CHILDREN),
# else a scan of /proc read with builtins (a fork per process is slow on a
# loaded machine).
children_of() {
    local list="/proc/$spid/task/$spid/children" p stat
    if [ -r "$list" ]; then
        read -r stat <"$list" || true
        for p in $stat; do echo "$p"; done
        return
    fi
    for p in /proc/[0-9]*; do
        read -r stat <"$p/stat" 2>/dev/null || continue
        stat=${stat##*) }                  # past "pid (comm) "
        set -- $stat                       # state ppid ...
        [ "${2:-}" = "$spid" ] && echo "${p#/proc/}"
    done
}

# wait_for CONDITION...: polls up to 10 s.
wait_for() {
    local i=0
    while ! "$@"; do
        i=$((i + 1))
        [ "$i" -le 100 ] || return 1
        sleep 0.1
    done
}

# all_workers: as many workers run as start_server started.
all_workers() { [ "$(children_of | wc -l)" -eq "$http_workers" ]; }

# start_server ARGS...: runs prefork_http with $http_workers workers on a
# port the kernel picks and learns the port ($port, $URL) and the
# workers' pids ($workers).
start_server() {
    rm -f "$tmp/server.out"   # the previous server's line must not be read
    ${http_wrap:-} "$HTTP" --dir "$S" --port 0 --workers "$http_workers" "$@" >"$tmp/server.out" 2>"$tmp/server.err" &
    spid=$!
    wait_for grep -qs ' port [0-9]' "$tmp/server.out" || fail "no listening line"
    port=$(sed -n 's/.* port \([0-9][0-9]*\),.*/\1/p' "$tmp/server.out")
    [ -n "$port" ] || fail "no port in: $(cat "$tmp/server.out")"
    URL="http://127.0.0.1:$port"
    wait_for all_workers || fail "$http_workers workers did not start"
    workers=$(children_of)
}

# stop_server: SIGTERM, exit 0, and not one worker left.
stop_server() {
    kill -TERM "$spid"
    wait "$spid"
    local rc=$?
    [ "$rc" -eq 0 ] || fail "server exit $rc after SIGTERM"
    grep -q 'stopped by SIGTERM; store closed$' "$tmp/server.err" || fail "no stop line"
    local w
    for w in $workers; do
        ! kill -0 "$w" 2>/dev/null || fail "worker $w still runs after the server stopped"
    done
    spid=
    workers=
}

# code METHOD PATH [CURL ARGS...]: the status code of one request; the
# body is in $tmp/body.
code() {
    local m=$1 p=$2
    shift 2
    curl -s -m 30 -o "$tmp/body" -w '%{http_code}' -X "$m" "$@" "$URL$p"
}
