#!/bin/sh
# forkcache put/load --ttl, load/writer --max-bytes end to end: a framed store is
# made by the first --ttl write, values expire (a long TTL is read back, a
# short one is gone once it has passed), a plain store refuses --ttl,
# load --max-bytes bounds the tables, and stats shows the counters.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli-ttl.XXXXXX")
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

fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

# wait_for CONDITION...: polls up to 10 s.
wait_for() {
    i=0
    while ! "$@"; do
        i=$((i + 1))
        [ "$i" -le 100 ] || return 1
        sleep 0.1
    done
}

expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $*"
}

# ---- expiry
expect 0 "$FC" put --ttl 3600 "$S" long "stays"
grep -q '^ttl_framing 1$' "$S/FORKCACHE" || fail "no FORKCACHE with ttl_framing 1"
expect 0 "$FC" put --ttl 0.2 "$S" short "goes"
expect 0 "$FC" put "$S" plain "never"
expect 0 "$FC" get "$S" long
[ "$(cat "$tmp/out")" = "stays" ] || fail "get long: '$(cat "$tmp/out")'"
sleep 0.3
expect 1 "$FC" get "$S" short
expect 0 "$FC" get "$S" plain
[ "$(cat "$tmp/out")" = "never" ] || fail "get plain: '$(cat "$tmp/out")'"
expect 0 "$FC" scan "$S"
[ "$(cat "$tmp/out")" = "long	stays
plain	never" ] || fail "scan: '$(cat "$tmp/out")'"
expect 2 "$FC" put --ttl x "$S" k v
expect 2 "$FC" del --ttl 5 "$S" k

# ---- a plain store refuses --ttl
expect 0 "$FC" put "$tmp/plain" k v
expect 2 "$FC" put --ttl 5 "$tmp/plain" k v
grep -q 'ttl_framing' "$tmp/err" || fail "no reason given: $(cat "$tmp/err")"

# ---- load --ttl and --max-bytes; stats shows the counters
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "key%05d\tvalue %d with some padding to fill tables\n", i, i }' >"$tmp/rows.tsv"
expect 0 "$FC" load --ttl 3600 --max-bytes 256k --write-buffer 64k "$tmp/b" "$tmp/rows.tsv"
expect 0 "$FC" get "$tmp/b" key19999
expect 1 "$FC" get "$tmp/b" key00000
expect 0 "$FC" stats "$tmp/b"
grep -q '^evicted ' "$tmp/out" || fail "stats lacks evicted: $(cat "$tmp/out")"
grep -q '^expired ' "$tmp/out" || fail "stats lacks expired"
expect 0 "$FC" stats --json "$tmp/b"
grep -q '"dropped": {"expired_entries": 0' "$tmp/out" || fail "stats --json lacks dropped"
bytes=$("$FC" stats "$tmp/b" | awk '$1 == "total" { print $3 }')
[ "$bytes" -le $((256 * 1024 + 128 * 1024)) ] || fail "tables $bytes bytes over 256k + a table"
expect 0 "$FC" help put
grep -q -- '--ttl SECONDS' "$tmp/out" || fail "help put lacks --ttl"
expect 0 "$FC" help writer
grep -q -- '--max-bytes SIZE' "$tmp/out" || fail "help writer lacks --max-bytes"
# ---- writer --max-bytes: loads through its queue are bounded; stats,
# attached, shows the writer's eviction counters
expect 0 "$FC" put --ttl 3600 "$tmp/w" first row    # creates a framed store
"$FC" writer --max-bytes 256k --write-buffer 64k "$tmp/w" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for test -e "$tmp/w/forkcache.arena" || fail "no writer arena after 10 s"
wait_for grep -q "^forkcache: writer pid $wpid: " "$tmp/writer.out" || fail "no startup line"
expect 0 "$FC" load --ttl 3600 "$tmp/w" "$tmp/rows.tsv"
evicted() {
    n=$("$FC" stats --json "$tmp/w" | sed -n 's/.*"evicted_tables": \([0-9]*\).*/\1/p')
    [ -n "$n" ] && [ "$n" -gt 0 ]
}
wait_for evicted || fail "no eviction counted through the writer"
expect 0 "$FC" get "$tmp/w" key19999
expect 1 "$FC" get "$tmp/w" key00000
expect 1 "$FC" get "$tmp/w" first
kill -TERM "$wpid"
wait "$wpid" || fail "writer exit status $?"
wpid=
echo "cli ttl: ok"
