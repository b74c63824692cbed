#!/bin/sh
# examples/ipc_pipeline end to end, small: one producer and three consumers
# over a fresh store. The program itself checks that every consumer read
# every record in order, none missing, every byte intact, and exits
# non-zero otherwise; this script checks that exit status and that each
# consumer and the producer reported. A second run in the same store must
# not be confused by the first run's records. No timing is asserted.
set -u
: "${top_builddir:?run through make check}"
IPC="$top_builddir/examples/ipc_pipeline"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-ipc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "FAIL: $*"
    [ -f "$tmp/out" ] && sed 's/^/  stdout: /' "$tmp/out"
    [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"
    exit 1
}

# run_pipeline ARGS...: runs it with a generous no-progress limit, checks
# exit 0 and one report line per process.
run_pipeline() {
    "$IPC" --dir "$tmp/store" --timeout 120 "$@" >"$tmp/out" 2>"$tmp/err" ||
        fail "ipc_pipeline $* exited $?"
    for c in 0 1 2; do
        grep -q "^consumer $c: 2000 records, in order and intact;" "$tmp/out" ||
            fail "consumer $c did not report all 2000 records"
    done
    grep -q '^producer: 2000 records' "$tmp/out" || fail "no producer line"
    [ ! -s "$tmp/err" ] || fail "something on standard error"
}

"$IPC" --help >"$tmp/out" || fail "--help exit status"
grep -q '^SYNOPSIS' "$tmp/out" || fail "--help has no SYNOPSIS"
"$IPC" --records 10 >/dev/null 2>&1
[ $? -eq 2 ] || fail "no --dir: exit status is not 2"
"$IPC" --dir "$tmp/store" --value-size 3 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--value-size 3: exit status is not 2"

run_pipeline --records 2000 --consumers 3 --rate 20000
run_pipeline --records 2000 --consumers 3 --rate 0 --value-size 1000
echo "ipc_pipeline: all checks passed"
exit 0
