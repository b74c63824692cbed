#!/bin/sh
# The forkcache command end to end: load (plain and hex), get, put, del,
# compact, verify on a clean and on a damaged store, and the usage rules
# (exit 2, a usage line) and help pages.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
S="$tmp/store"

fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

# expect STATUS CMD...: runs CMD, stdout in $tmp/out, stderr in $tmp/err.
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "exit $got, expected $want: $*"
}

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

# ---- hex: 10k binary keys (with zero bytes) and values
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "00%08x\t%08x00ff\n", i, i * 3 }' >"$tmp/hex.tsv"
expect 0 "$FC" load --hex --batch 500 "$S" "$tmp/hex.tsv"
expect 0 "$FC" get --hex "$S" 000000002a
[ "$(cat "$tmp/out")" = "0000007e00ff" ] || fail "hex get: '$(cat "$tmp/out")'"
printf 'zz\t00\n' | "$FC" load --hex "$S" 2>"$tmp/err" && fail "bad hex accepted"
grep -q 'stdin:1:' "$tmp/err" || fail "bad hex line not named"

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
            "verify" "verify --hex $S" "compact" "help nosuchcmd"; do
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
expect 0 "$FC" --version
grep -q '^forkcache [0-9]' "$tmp/out" || fail "--version"
echo "cli_basic: ok"
