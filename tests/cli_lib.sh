# cli_lib.sh - what the forkcache command's script tests share; sourced
# after $tmp is set. fail prints the last command's standard error;
# expect STATUS CMD... runs CMD with its output in $tmp/out and $tmp/err
# and fails unless it exits with STATUS.
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $*"
}
