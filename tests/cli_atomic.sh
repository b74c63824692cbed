#!/bin/sh
# forkcache incr and add end to end: the answers and exit codes with no
# writer running (the command is the writer), then through a running
# `forkcache writer`: 8 shells x 50 increments in parallel add up exactly,
# and of 8 shells adding one key exactly one wins.
set -u
cli_name=fc-clia
. "${top_srcdir:?run through make check}/tests/cli_common.sh"

out_is() { [ "$(cat "$tmp/out")" = "$1" ] || fail "output '$(cat "$tmp/out")', expected '$1'"; }

# ---- no writer running
expect 0 "$FC" incr "$S" hits
out_is 1
expect 0 "$FC" incr "$S" hits 41
out_is 42
expect 0 "$FC" incr "$S" hits -50
out_is -8
expect 0 "$FC" get "$S" hits
out_is -8
expect 0 "$FC" incr --hex "$S" 6869 5
out_is 5
expect 0 "$FC" get "$S" hi
out_is 5
expect 0 "$FC" add "$S" k first
expect 1 "$FC" add "$S" k second
expect 0 "$FC" get "$S" k
out_is first
expect 1 "$FC" incr "$S" k
grep -q 'not a 64-bit integer' "$tmp/err" || fail "not-a-number message: $(cat "$tmp/err")"
expect 0 "$FC" put "$S" max 9223372036854775807
expect 1 "$FC" incr "$S" max
grep -q 'overflow' "$tmp/err" || fail "overflow message: $(cat "$tmp/err")"
expect 2 "$FC" incr "$S" hits 1x
expect 2 "$FC" incr "$S"
expect 2 "$FC" add "$S" k
# --ttl: refused by a store made without expiry framing, fine in a framed one
expect 2 "$FC" incr --ttl 60 "$S" hits
grep -q 'ttl_framing' "$tmp/err" || fail "ttl refusal message: $(cat "$tmp/err")"
expect 0 "$FC" add --ttl 60 "$tmp/framed" k v
expect 1 "$FC" add "$tmp/framed" k w
expect 0 "$FC" get "$tmp/framed" k
out_is v
expect 0 "$FC" incr --ttl 60 "$tmp/framed" n 5
out_is 5
expect 0 "$FC" incr "$tmp/framed" n
out_is 6
expect 0 "$FC" help incr
grep -q 'DELTA' "$tmp/out" || fail "help incr"
expect 0 "$FC" --help
grep -q 'forkcache add' "$tmp/out" || fail "add missing from --help"

# ---- through a running writer
"$FC" writer "$S" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for grep -q "^forkcache: writer pid $wpid: " "$tmp/writer.out" || fail "the writer did not start"
pids=
for w in 1 2 3 4 5 6 7 8; do
    (
        n=0
        while [ "$n" -lt 50 ]; do
            "$FC" incr "$S" shared >/dev/null 2>>"$tmp/incr.err" || exit 1
            n=$((n + 1))
        done
    ) &
    pids="$pids $!"
done
ok=1
for job in $pids; do
    wait "$job" || ok=0
done
[ "$ok" -eq 1 ] || { cat "$tmp/incr.err"; fail "an incr shell failed"; }
expect 0 "$FC" get "$S" shared
out_is 400
pids=
for w in 1 2 3 4 5 6 7 8; do
    ( "$FC" add "$S" race "w$w" 2>/dev/null; echo $? >"$tmp/add.$w" ) &
    pids="$pids $!"
done
for job in $pids; do
    wait "$job"
done
wins=$(cat "$tmp"/add.* | grep -c '^0$')
[ "$wins" -eq 1 ] || fail "$wins adders won, expected exactly 1"
[ "$(cat "$tmp"/add.* | grep -c '^1$')" -eq 7 ] || fail "losers did not exit 1"
kill -TERM "$wpid"
wait "$wpid"
wpid=
expect 0 "$FC" get "$S" shared
out_is 400
expect 0 "$FC" verify "$S"
exit 0
