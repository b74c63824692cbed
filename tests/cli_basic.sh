#!/bin/sh
# The forkcache command end to end: load (plain and hex), get, put, del,
# scan (both ways, bounds, limit, hex round trip), stats (text and JSON),
# compact, verify on a clean and on a damaged store, and the usage rules
# (exit 2, a usage line) and help pages.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
S="$tmp/store"

. "${top_srcdir:?run through make check}/tests/cli_lib.sh"

# ---- load 10k plain rows, read some back
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "key%05d\tvalue %d\twith a tab\n", i, i * 7 }' >"$tmp/rows.tsv"
expect 0 "$FC" load --write-buffer 256k "$S" "$tmp/rows.tsv"
grep -q '10000 rows' "$tmp/err" || fail "no summary line: $(cat "$tmp/err")"
expect 0 "$FC" get "$S" key04242
[ "$(cat "$tmp/out")" = "value 29694	with a tab" ] || fail "get key04242: '$(cat "$tmp/out")'"
expect 0 "$FC" get "$S" key00000
[ "$(cat "$tmp/out")" = "value 0	with a tab" ] || fail "get key00000"
expect 1 "$FC" get "$S" key10000
[ ! -s "$tmp/out" ] || fail "output for a missing key"

# ---- stdin, empty values, and a bad line that stops the load
printf 'empty\t\nsecond\tx\n' | "$FC" load "$S" - 2>"$tmp/err" || fail "load from stdin"
expect 0 "$FC" get "$S" empty
[ ! -s "$tmp/out" ] || fail "empty value not empty"
printf 'ok1\tv1\nno-tab-here\nok2\tv2\n' >"$tmp/bad.tsv"
expect 2 "$FC" load "$S" "$tmp/bad.tsv"
grep -q 'bad.tsv:2:' "$tmp/err" || fail "bad line not named: $(cat "$tmp/err")"
expect 0 "$FC" get "$S" ok1
expect 1 "$FC" get "$S" ok2

# ---- scan: forward, reverse, bounds, limit (the 10k plain rows plus
# 'empty' before them, 'ok1' and 'second' after)
expect 0 "$FC" scan --from key --to kez "$S"
[ "$(wc -l <"$tmp/out")" -eq 10000 ] || fail "scan --from key --to kez: $(wc -l <"$tmp/out") lines"
cmp -s "$tmp/out" "$tmp/rows.tsv" || fail "scan differs from the loaded rows"
expect 0 "$FC" scan --from key00010 --to key00013 "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "key00010 key00011 key00012 " ] || fail "scan --from/--to: $(cat "$tmp/out")"
expect 0 "$FC" scan --reverse --from key00010 --to key00013 "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "key00012 key00011 key00010 " ] || fail "scan --reverse range: $(cat "$tmp/out")"
expect 0 "$FC" scan --reverse --to key00013x --limit 2 "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "key00013 key00012 " ] || fail "scan --reverse --to between keys: $(cat "$tmp/out")"
expect 0 "$FC" scan --reverse --limit 3 "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "second ok1 key09999 " ] || fail "scan --reverse from the end: $(cat "$tmp/out")"
expect 0 "$FC" scan --from key09998 --limit 3 "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "key09998 key09999 ok1 " ] || fail "scan --limit: $(cat "$tmp/out")"
expect 0 "$FC" scan --limit 0 "$S"
[ ! -s "$tmp/out" ] || fail "scan --limit 0 printed"
expect 0 "$FC" scan --from zzz "$S"
[ ! -s "$tmp/out" ] || fail "scan past the end printed"
expect 0 "$FC" scan --from b --to a "$S"
[ ! -s "$tmp/out" ] || fail "scan of an empty range printed"
"$FC" scan "$S" 2>"$tmp/err" | head -n 1 >"$tmp/out"
st=$?
[ "$st" -eq 0 ] && [ ! -s "$tmp/err" ] || fail "scan | head: exit $st, stderr $(cat "$tmp/err")"
# the exit status of scan itself, behind the pipe
( "$FC" scan "$S" 2>"$tmp/err"; echo $? >"$tmp/st" ) | head -n 1 >/dev/null
[ "$(cat "$tmp/st")" = 0 ] && [ ! -s "$tmp/err" ] || fail "scan into a closed pipe: exit $(cat "$tmp/st"), $(cat "$tmp/err")"

# ---- hex: 10k binary keys (with zero bytes) and values
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "00%08x\t%08x00ff\n", i, i * 3 }' >"$tmp/hex.tsv"
expect 0 "$FC" load --hex --batch 500 "$S" "$tmp/hex.tsv"
expect 0 "$FC" get --hex "$S" 000000002a
[ "$(cat "$tmp/out")" = "0000007e00ff" ] || fail "hex get: '$(cat "$tmp/out")'"
printf 'zz\t00\n' | "$FC" load --hex "$S" 2>"$tmp/err" && fail "bad hex accepted"
grep -q 'stdin:1:' "$tmp/err" || fail "bad hex line not named"

# ---- scan --hex: the binary rows round-trip through load --hex
expect 0 "$FC" scan --hex --from 00 --to 01 "$S"
[ "$(wc -l <"$tmp/out")" -eq 10000 ] || fail "scan --hex range: $(wc -l <"$tmp/out") lines"
cmp -s "$tmp/out" "$tmp/hex.tsv" || fail "scan --hex differs from the loaded hex rows"
cp "$tmp/out" "$tmp/scan.hex"
expect 0 "$FC" load --hex "$tmp/copy" "$tmp/scan.hex"
expect 0 "$FC" scan --hex "$tmp/copy"
cmp -s "$tmp/out" "$tmp/hex.tsv" || fail "hex round trip through a second store"
expect 0 "$FC" scan --hex --reverse --from 0000000009 --to 000000000c "$S"
[ "$(cut -f1 "$tmp/out" | tr '\n' ' ')" = "000000000b 000000000a 0000000009 " ] || fail "scan --hex --reverse: $(cat "$tmp/out")"
expect 2 "$FC" scan --hex --from 0g "$S"

# ---- put, del, keys starting with '-'
expect 0 "$FC" put "$S" -dash- dashed
expect 0 "$FC" get "$S" -dash-
[ "$(cat "$tmp/out")" = "dashed" ] || fail "dash key"
expect 0 "$FC" del --sync "$S" key04242
expect 1 "$FC" get "$S" key04242
expect 0 "$FC" put --hex "$S" 00ff 4142
expect 0 "$FC" get --hex "$S" 00FF
[ "$(cat "$tmp/out")" = "4142" ] || fail "put --hex"

# ---- compact, verify clean
expect 0 "$FC" compact "$S"
expect 0 "$FC" get "$S" key09999
expect 0 "$FC" verify "$S"
ls "$S"/*.ldb >/dev/null 2>&1 || fail "no tables after compact"

# ---- stats: text and JSON, with no writer running
expect 0 "$FC" stats "$S"
grep -q '^writer pid  *none$' "$tmp/out" || fail "stats: writer pid: $(cat "$tmp/out")"
for label in 'version' 'last sequence' 'memtable' 'arena' 'limiter' 'writer counters' 'this process' 'readers:'; do
    grep -q "^$label" "$tmp/out" || fail "stats lacks '$label'"
done
grep -q '^L6 ' "$tmp/out" || fail "stats lacks the level table"
expect 0 "$FC" stats --json "$S"
python3 -m json.tool "$tmp/out" >/dev/null 2>&1 || fail "stats --json is not JSON: $(cat "$tmp/out")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["writer_pid"] is None; assert len(d["levels"]) == 7; assert d["last_sequence"] > 0; assert sum(l["files"] for l in d["levels"]) > 0; assert d["writer"]["stall"] == "none"' "$tmp/out" \
    || fail "stats --json figures: $(cat "$tmp/out")"

# ---- damage one table in the middle: verify names it, exit 1
t=$(ls "$S"/*.ldb | head -n 1)
size=$(wc -c <"$t")
printf 'CORRUPTCORRUPT!!' | dd of="$t" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect 1 "$FC" verify "$S"
grep -q "^$(basename "$t"):[0-9]*: " "$tmp/out" || fail "verify did not name $(basename "$t"): $(cat "$tmp/out")"

# ---- not a store
mkdir "$tmp/empty"
expect 2 "$FC" verify "$tmp/empty"
expect 2 "$FC" get "$tmp/nothing-here" k

# ---- usage errors: exit 2 and a usage line
for args in "" "nosuchcmd" "--nosuch" "get" "get $S" "get $S a b" "put $S k" \
            "load --batch 0 $S" "load --batch x $S" "load --write-buffer 12Q $S" \
            "verify" "verify --hex $S" "compact" "help nosuchcmd" \
            "scan" "scan --limit x $S" "scan --sync $S" "scan $S extra" "stats" \
            "stats --hex $S" "writer" "writer --hex $S" "writer $S extra"; do
    # shellcheck disable=SC2086
    expect 2 "$FC" $args
    grep -q '^usage: forkcache' "$tmp/err" || fail "no usage line for '$args': $(cat "$tmp/err")"
done

# ---- help and version
expect 0 "$FC" --help
for sec in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS 'EXIT STATUS' EXAMPLES FILES; do
    grep -q "^$sec" "$tmp/out" || fail "--help lacks $sec"
done
expect 0 "$FC" help load
grep -q '^SYNOPSIS' "$tmp/out" && grep -q -- '--batch N' "$tmp/out" || fail "help load"
expect 0 "$FC" get --help
grep -q '^SYNOPSIS' "$tmp/out" || fail "get --help"
for c in scan stats writer; do
    expect 0 "$FC" help $c
    grep -q "^    forkcache $c " "$tmp/out" && grep -q '^EXIT STATUS' "$tmp/out" || fail "help $c"
    expect 0 "$FC" --help
    grep -q "^    $c " "$tmp/out" || fail "--help does not list $c"
done
expect 0 "$FC" help scan
grep -q -- '--reverse' "$tmp/out" && grep -q 'default' "$tmp/out" || fail "help scan options"
expect 0 "$FC" --version
grep -q '^forkcache [0-9]' "$tmp/out" || fail "--version"
echo "cli_basic: ok"
