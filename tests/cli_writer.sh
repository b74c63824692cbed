#!/bin/sh
# forkcache writer end to end: a writer runs in the background with its
# arena in the store directory; put, del and load go through its queue,
# get, scan and stats see the writes at once, a second writer and compact
# are refused naming its pid, SIGTERM stops it cleanly, and every write is
# still there when the store is read with no writer running.
set -u
cli_name=fc-cliw
. "${top_srcdir:?run through make check}/tests/cli_common.sh"

# ---- a store with some rows, then its writer in the background
printf 'before\t0\nkeep\tkept\n' >"$tmp/first.tsv"
expect 0 "$FC" load "$S" "$tmp/first.tsv"
"$FC" writer --write-buffer 64k "$S" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for test -e "$S/forkcache.arena" || fail "no $S/forkcache.arena after 5 s"
wait_for grep -q "^forkcache: writer pid $wpid: " "$tmp/writer.out" || fail "no startup line"
grep -q "arena $S/forkcache.arena" "$tmp/writer.out" || fail "startup line lacks the arena"

# ---- writes go through its queue; reads see them at once
expect 0 "$FC" put "$S" alpha one
expect 0 "$FC" get "$S" alpha
[ "$(cat "$tmp/out")" = "one" ] || fail "get alpha: '$(cat "$tmp/out")'"
expect 0 "$FC" put --hex --sync "$S" 00ff 4142
expect 0 "$FC" get --hex "$S" 00ff
[ "$(cat "$tmp/out")" = "4142" ] || fail "hex put through the writer"
expect 0 "$FC" del "$S" before
expect 1 "$FC" get "$S" before
expect 0 "$FC" get "$S" keep
# 20000 rows of 100-byte values: several flushes, batches cut to fit the queue
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "row%05d\t%0100d\n", i, i }' >"$tmp/rows.tsv"
expect 0 "$FC" load --batch 5000 "$S" "$tmp/rows.tsv"
grep -q '20000 rows' "$tmp/err" || fail "load summary: $(cat "$tmp/err")"
expect 0 "$FC" scan --from row --to rox "$S"
cmp -s "$tmp/out" "$tmp/rows.tsv" || fail "scan through the writer differs from the rows"
expect 0 "$FC" scan --reverse --limit 1 --to row "$S"
[ "$(cat "$tmp/out")" = "keep	kept" ] || fail "scan --reverse: '$(cat "$tmp/out")'"
expect 0 "$FC" get "$S" row12345
[ "$(cat "$tmp/out")" = "$(printf '%0100d' 12345)" ] || fail "get row12345"

# ---- stats shows the writer; the writer reported its flushes
expect 0 "$FC" stats "$S"
grep -q "^writer pid  *$wpid\$" "$tmp/out" || fail "stats: writer pid: $(cat "$tmp/out")"
expect 0 "$FC" stats --json "$S"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["writer_pid"] == int(sys.argv[2]); assert d["last_sequence"] >= 20004' \
    "$tmp/out" "$wpid" || fail "stats --json: $(cat "$tmp/out")"
wait_for grep -q '^flush' "$tmp/writer.out" || fail "the writer printed no flush line"

# ---- a second writer and compact are refused, naming the running one
expect 2 "$FC" writer "$S"
grep -q "$wpid" "$tmp/err" || fail "second writer does not name pid $wpid"
expect 2 "$FC" compact "$S"
grep -q "a writer is running (pid $wpid)" "$tmp/err" || fail "compact message"

# ---- SIGTERM: the writer closes the store and exits 0
kill -TERM "$wpid"
i=0
while kill -0 "$wpid" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 50 ] || fail "the writer still runs 5 s after SIGTERM"
    sleep 0.1
done
wait "$wpid"
st=$?
wpid=
[ "$st" -eq 0 ] || fail "writer exited $st after SIGTERM"
grep -q 'stopped by SIGTERM' "$tmp/writer.out" || fail "no stop line"

# ---- no writer now: get and scan open read-only and find every write
expect 0 "$FC" get "$S" alpha
[ "$(cat "$tmp/out")" = "one" ] || fail "alpha after the writer stopped"
expect 1 "$FC" get "$S" before
expect 0 "$FC" get --hex "$S" 00ff
[ "$(cat "$tmp/out")" = "4142" ] || fail "00ff after the writer stopped"
expect 0 "$FC" scan --from row --to rox "$S"
cmp -s "$tmp/out" "$tmp/rows.tsv" || fail "rows after the writer stopped"
expect 0 "$FC" stats "$S"
grep -q '^writer pid  *none$' "$tmp/out" || fail "stats after stop: $(cat "$tmp/out")"
expect 0 "$FC" verify "$S"

# ---- and a writer can be started again on the same store (stale arena file)
"$FC" writer "$S" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for grep -q "^forkcache: writer pid $wpid: " "$tmp/writer.out" || fail "restart: no startup line"
expect 0 "$FC" put "$S" again yes
expect 0 "$FC" get "$S" again
kill -INT "$wpid"
wait "$wpid"
st=$?
wpid=
[ "$st" -eq 0 ] || fail "writer exited $st after SIGINT"
expect 0 "$FC" get "$S" again
echo "cli_writer: ok"
