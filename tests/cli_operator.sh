#!/bin/sh
# What an unlucky operator meets with the forkcache command (issue 16):
#  - a store made by `forkcache writer --ttl-framing` takes TTLs through it;
#  - a write that must wait for a stopped writer says, after 3 s, what it waits for
#    (the writer's pid) and gives up at --timeout with exit 2;
#  - a user who may not read the store is told "Permission denied" and the
#    path, not "not a store";
#  - two shells writing to one store at once take turns instead of failing.
set -u
cli_name=fc-cli-operator
wait_tenths=100
. "${top_srcdir:?run through make check}/tests/cli_common.sh"
command -v timeout >/dev/null 2>&1 || { echo "SKIP: timeout is not installed"; exit 77; }

# start_writer ARGS...: forkcache writer ARGS $S in the background ($wpid).
start_writer() {
    "$FC" writer "$@" "$S" >"$tmp/writer.out" 2>&1 &
    wpid=$!
    wait_for grep -q "^forkcache: writer pid $wpid: " "$tmp/writer.out" || fail "writer did not start"
}
stop_writer() {
    kill -CONT "$wpid" 2>/dev/null
    kill -TERM "$wpid"
    wait "$wpid" || fail "writer exit $? after SIGTERM"
    wpid=
}

# ---- writer --ttl-framing: a new store takes TTLs through its writer
start_writer --ttl-framing
expect 0 "$FC" put --ttl 3600 "$S" session token
expect 0 "$FC" put --ttl 0.2 "$S" brief gone
expect 0 "$FC" get "$S" session
[ "$(cat "$tmp/out")" = token ] || fail "get session: '$(cat "$tmp/out")'"
sleep 0.3
expect 1 "$FC" get "$S" brief
grep -q '^ttl_framing 1$' "$S/FORKCACHE" || fail "no ttl_framing 1 in FORKCACHE"
stop_writer
# a plain store refuses it, naming the reason
expect 0 "$FC" put "$tmp/plain" k v
expect 2 "$FC" writer --ttl-framing "$tmp/plain"
"$FC" help writer | grep -q -- '--ttl-framing' || fail "help writer lacks --ttl-framing"

# ---- a stopped writer: a put needs no writer (the command applies it
# itself under the arena's write lock); a load that fills the memtable
# must wait for the writer to switch it: a note after 3 s, and --timeout
# ends the wait
start_writer --write-buffer 64k
expect 0 "$FC" put "$S" before stop
kill -STOP "$wpid"
timeout 8 "$FC" put "$S" direct v >"$tmp/out" 2>"$tmp/err" ||
    fail "put through a stopped writer: exit $?, expected 0 (applied by the command itself)"
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "row%05d\t%0100d\n", i, i }' >"$tmp/rows.tsv"
timeout 8 "$FC" load "$S" "$tmp/rows.tsv" >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" -eq 124 ] || fail "load past the memtable through a stopped writer: exit $st, expected the timeout's 124"
grep -q "still waiting for the store's writer (pid $wpid)" "$tmp/err" ||
    fail "no note about the stopped writer"
[ "$(grep -c 'still waiting' "$tmp/err")" -eq 1 ] || fail "more than one note"
timeout 30 "$FC" load --timeout 2 "$S" "$tmp/rows.tsv" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'within --timeout' "$tmp/err" || fail "load --timeout 2 through a stopped writer"
kill -CONT "$wpid"
expect 0 "$FC" put --timeout 30 "$S" after cont
expect 0 "$FC" get "$S" direct
expect 2 "$FC" put --timeout 0 "$S" k v
grep -q 'bad --timeout' "$tmp/err" || fail "--timeout 0 accepted"
stop_writer

# ---- permission denied is said, with the path
chmod 700 "$S"
perm_checks=yes
if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$tmp"
    as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    if ! command -v setpriv >/dev/null 2>&1; then
        echo "note: no setpriv, permission checks skipped"; perm_checks=no
    elif ! as_other "$FC" --version >/dev/null 2>&1; then
        # A build tree under a private directory (CI's sanitizer clone is
        # in a mode-0700 temporary directory) cannot run as another user.
        echo "note: uid 65534 cannot run $FC here, permission checks skipped"; perm_checks=no
    fi
else
    chmod 000 "$S"
    as_other() { "$@"; }
fi
if [ "$perm_checks" = yes ]; then
    for cmd in "get $S before" "scan $S" "stats $S" "del $S before"; do
        as_other "$FC" $cmd >"$tmp/out" 2>"$tmp/err"
        st=$?
        [ "$st" -eq 2 ] || fail "$cmd without permission: exit $st"
        grep -q "Permission denied" "$tmp/err" && grep -q "$S" "$tmp/err" ||
            fail "$cmd without permission: no 'Permission denied' with the path"
        ! grep -q 'not a store' "$tmp/err" || fail "$cmd without permission: says 'not a store'"
    done
fi
chmod 700 "$S"

# ---- two shells writing to one store at once: each command is the writer
# only while it runs, so the other waits for its turn (it failed with "the
# writer (pid N) has no arena file" for about 40% of the puts before)
T="$tmp/two"
expect 0 "$FC" put "$T" k0 v0
two_puts() {
    for i in $(seq 1 25); do "$FC" put "$T" "$1$i" v >/dev/null 2>>"$tmp/two-$1.err" || echo "$1$i" >>"$tmp/two-failed"; done
}
two_puts a & apid=$!
two_puts b
wait "$apid"
[ ! -s "$tmp/two-failed" ] || fail "puts failed while another ran: $(tr '\n' ' ' <"$tmp/two-failed") ($(head -n 1 "$tmp/two-b.err" "$tmp/two-a.err" 2>/dev/null | tr '\n' ' '))"
expect 0 "$FC" scan "$T"
[ "$(wc -l <"$tmp/out")" -eq 51 ] || fail "after 50 puts from two shells: $(wc -l <"$tmp/out") keys"
echo PASS
