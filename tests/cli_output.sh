#!/bin/sh
# Failed output is never success (issue 16, item 10): every command that
# prints checks its writes and the final flush and close of standard
# output, so scan, scan --hex, get (small and large values), stats and a
# help page written to /dev/full (a device whose every write fails with
# ENOSPC, like a full disk) exit 2 with a message naming the command and
# the error. A reader that goes away (| head) is still not an error.
set -u
cli_name=fc-cli-output
. "${top_srcdir:?run through make check}/tests/cli_common.sh"

[ -w /dev/full ] || { echo "SKIP: no /dev/full"; exit 77; }

# full_fails CMD...: CMD with stdout on /dev/full must exit 2 and say so.
full_fails() {
    "$@" >/dev/full 2>"$tmp/err"
    got=$?
    [ "$got" -eq 2 ] || fail "exit $got, expected 2 with stdout on /dev/full: $*"
    grep -q "forkcache: $2.*No space left on device" "$tmp/err" ||
        fail "no message naming '$2' and the error: $*"
}

awk 'BEGIN { for (i = 0; i < 10000; i++) printf "key%05d\tvalue %d\n", i, i }' >"$tmp/rows.tsv"
expect 0 "$FC" load "$S" "$tmp/rows.tsv"
big=$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf "v" }')
expect 0 "$FC" put "$S" big "$big"
expect 0 "$FC" put "$S" small "tiny"

full_fails "$FC" scan "$S"
full_fails "$FC" scan --hex "$S"
full_fails "$FC" scan --limit 1 "$S"
full_fails "$FC" get "$S" big
full_fails "$FC" get "$S" small
full_fails "$FC" get --hex "$S" 736d616c6c
full_fails "$FC" stats "$S"
full_fails "$FC" stats --json "$S"
full_fails "$FC" help scan
full_fails "$FC" incr "$S" counter

# a closed standard output is an error too
"$FC" get "$S" small >&- 2>"$tmp/err"
[ $? -eq 2 ] || fail "get with stdout closed did not exit 2"

# the reader going away is not an error, for scan and for get
for reader in "head -n 1" true; do
    { "$FC" scan "$S" 2>"$tmp/err"; echo $? >"$tmp/st"; } | $reader >/dev/null
    [ "$(cat "$tmp/st")" -eq 0 ] && [ ! -s "$tmp/err" ] ||
        fail "scan | $reader: exit $(cat "$tmp/st")"
done

# nothing changed for output that works
expect 0 "$FC" get "$S" big
[ "$(cat "$tmp/out")" = "$big" ] || fail "get big"
expect 0 "$FC" scan --limit 2 "$S"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "scan --limit 2"
echo "PASS"
