# cli_common.sh - sourced by the command-line tests that run a writer in
# the background: the forkcache binary ($FC), a scratch directory ($tmp,
# removed at exit) with the store path ($S), a cleanup that never lets a
# background writer ($wpid) outlive the test, and the checks they share.
# Set cli_name (the scratch prefix) and, if 5 s is too short for
# wait_for, wait_tenths before sourcing.
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/${cli_name:-fc-cli}.XXXXXX")
S="$tmp/store"
wpid=
# The writer must never outlive the test, whatever way it ends.
cleanup() {
    if [ -n "$wpid" ]; then
        kill -KILL "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*"
    [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"
    [ -f "$tmp/writer.out" ] && sed 's/^/  writer: /' "$tmp/writer.out"
    exit 1
}

# expect STATUS CMD...: runs CMD, stdout in $tmp/out, stderr in $tmp/err.
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $*"
}

# wait_for CONDITION...: polls every 0.1 s, up to wait_tenths times (5 s).
wait_for() {
    i=0
    while ! "$@"; do
        i=$((i + 1))
        [ "$i" -le "${wait_tenths:-50}" ] || return 1
        sleep 0.1
    done
}
