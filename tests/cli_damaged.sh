#!/bin/sh
# Damaged stores: a store with tables on two levels, a live WAL and a stale
# arena file is copied, one file of it damaged (a byte flipped at several
# offsets, or the file cut short), and every command run on the copy under
# a timeout. No command may die of a signal or hang; `verify` must exit 1
# naming the file and an offset for damage to CURRENT, the MANIFEST, the
# middle of the WAL and the tables. A WAL cut short is what a crash leaves
# (a torn tail): verify reports it as a note naming the file, not as damage.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
# Hundreds of short writer runs each sync their files: on tmpfs when there
# is one (this test is about damaged bytes, not about the disk).
base=${TMPDIR:-/tmp}
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
tmp=$(mktemp -d "$base/fc-dmg.XXXXXX")
wpid=
cleanup() {
    if [ -n "$wpid" ]; then kill -KILL "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
P="$tmp/pristine"
D="$tmp/damaged"
LIMIT=${FC_DAMAGED_TIMEOUT:-30}
cases=0 runs=0

fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -20; exit 1; }

# ---- the pristine store: 20k rows compacted to L1, more rows in L0
# tables, 800 rows in batches of 40 left in the WAL, and the arena file a
# writer leaves behind when it stops.
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "key%06d\tvalue %d %s\n", i, i, "padding-padding-padding" }' >"$tmp/rows"
"$FC" load --write-buffer 64k "$P" "$tmp/rows" 2>"$tmp/err" || fail "load"
"$FC" compact "$P" 2>"$tmp/err" || fail "compact"
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "key%06d\tsecond %d\n", i * 5, i }' |
    "$FC" load --write-buffer 64k "$P" - 2>"$tmp/err" || fail "second load"
"$FC" writer --arena-size 32M "$P" >"$tmp/writer.out" 2>&1 &
wpid=$!
i=0
until grep -q arena "$tmp/writer.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "the writer did not start"; sleep 0.1
done
kill -TERM "$wpid"; wait "$wpid"; wpid=
awk 'BEGIN { for (i = 0; i < 800; i++) printf "wal%05d\tin the log %d\n", i, i }' |
    "$FC" load --batch 40 "$P" - 2>"$tmp/err" || fail "WAL load"
"$FC" verify "$P" >"$tmp/out" 2>"$tmp/err" || fail "the pristine store does not verify"

one() { (cd "$P" && ls $1 2>/dev/null | head -n 1); }
size_of() { wc -c <"$1" | tr -d ' '; }
MANIFEST=$(one 'MANIFEST-*')
WAL=$(cd "$P" && ls -S ./*.log | head -n 1 | sed 's|^\./||')
# The largest table sits in L1 after the compaction; the newest is an L0 one.
TABLE_L1=$(cd "$P" && ls -S ./*.ldb | head -n 1 | sed 's|^\./||')
TABLE_L0=$(cd "$P" && ls ./*.ldb | tail -n 1 | sed 's|^\./||')
[ -n "$MANIFEST" ] && [ -n "$WAL" ] && [ -n "$TABLE_L1" ] && [ -n "$TABLE_L0" ] ||
    fail "pristine store lacks a kind of file: $(ls "$P")"
[ -f "$P/forkcache.arena" ] || fail "no arena file left by the writer"
[ "$(size_of "$P/$WAL")" -gt 20000 ] || fail "WAL $WAL is too small to damage in the middle"

# flip FILE OFFSET: inverts every bit of one byte.
flip() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "$(printf '\\%03o' $((b ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# run NAME CMD...: a command on the damaged store must end by itself, with
# one of the tool's own statuses (0 ok, 1 not found or damaged, 2 error).
run() {
    name=$1; shift
    [ -z "${FC_DAMAGED_TRACE:-}" ] || echo "$(date +%s.%N | cut -c1-14) $what: $name" >&2
    timeout -k 5 "$LIMIT" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    st=$?
    runs=$((runs + 1))
    [ "$st" -ne 124 ] && [ "$st" -ne 137 ] || fail "$what: $name hung (>${LIMIT}s)"
    [ "$st" -le 2 ] || fail "$what: $name ended with status $st (a signal?)"
}

# every_command: the whole command set, readers first, then writers.
every_command() {
    run verify "$FC" verify "$D"
    run get "$FC" get "$D" key000123
    run scan "$FC" scan "$D"
    run stats "$FC" stats "$D"
    run put "$FC" put "$D" newkey newvalue
    run del "$FC" del "$D" key000124
    printf 'l1\tv1\nl2\tv2\n' >"$tmp/load.tsv"
    run load "$FC" load "$D" "$tmp/load.tsv"
    run compact "$FC" compact "$D"
    run verify-after "$FC" verify "$D"
}

# verify_names FILE: verify exits 1 and names FILE with an offset.
verify_names() {
    timeout -k 5 "$LIMIT" "$FC" verify "$D" >"$tmp/vout" 2>"$tmp/err"
    st=$?
    [ "$st" -eq 1 ] || { cat "$tmp/vout"; fail "$what: verify exited $st, expected 1"; }
    grep -Eq "^$1:[0-9]+: " "$tmp/vout" || { cat "$tmp/vout"; fail "$what: verify does not name $1 with an offset"; }
}

# damage KIND FILE HOW ARG EXPECT: fresh copy, damage, check, run all.
# HOW is flip (ARG an offset) or cut (ARG the new size); EXPECT is
# "damage" (verify exits 1 naming FILE), "note" (verify names FILE, any
# status 0 or 1) or "any".
damage() {
    kind=$1 file=$2 how=$3 arg=$4 expect=$5
    what="$kind $file $how $arg"
    rm -rf "$D"; cp -a "$P" "$D"
    case $how in
        flip) flip "$D/$file" "$arg" ;;
        cut) truncate -s "$arg" "$D/$file" ;;
    esac
    case $expect in
        damage) verify_names "$file" ;;
        note)
            timeout -k 5 "$LIMIT" "$FC" verify "$D" >"$tmp/vout" 2>"$tmp/err"
            st=$?
            [ "$st" -le 1 ] || fail "$what: verify exited $st"
            grep -q "^$file:[0-9]*: " "$tmp/vout" || { cat "$tmp/vout"; fail "$what: verify does not name $file"; }
            ;;
    esac
    every_command
    cases=$((cases + 1))
}

# flips_and_cuts KIND FILE FLIP_EXPECT CUT_EXPECT: flips at the start, a
# third, the middle and the last byte; cuts to nothing, half, and one byte
# short.
flips_and_cuts() {
    n=$(size_of "$P/$2")
    for off in 0 $((n / 3)) $((n / 2)) $((n - 1)); do damage "$1" "$2" flip "$off" "$3"; done
    for len in 0 $((n / 2)) $((n - 1)); do damage "$1" "$2" cut "$len" "$4"; done
}

flips_and_cuts CURRENT CURRENT damage damage
# A MANIFEST cut short ends in a partial record, which is what a crash
# between appending an edit and syncing it leaves: a note, as for the WAL.
# Cut to nothing it holds no edit: damage.
n=$(size_of "$P/$MANIFEST")
for off in 0 $((n / 3)) $((n / 2)) $((n - 1)); do damage MANIFEST "$MANIFEST" flip "$off" damage; done
damage MANIFEST "$MANIFEST" cut 0 damage
for len in $((n / 2)) $((n - 1)); do damage MANIFEST "$MANIFEST" cut "$len" note; done
# The WAL's last byte ends its last record: a flip there is damage too. A
# cut inside it is a torn tail (a note); cut to nothing it is a WAL a crash
# left just after creating it, clean.
n=$(size_of "$P/$WAL")
for off in 0 $((n / 3)) $((n / 2)) $((n - 1)); do damage WAL "$WAL" flip "$off" damage; done
for len in $((n / 2)) $((n - 1)); do damage WAL "$WAL" cut "$len" note; done
damage WAL "$WAL" cut 0 any
# A table's footer holds padding no checksum covers: flip inside blocks only.
for t in "$TABLE_L1" "$TABLE_L0"; do
    n=$(size_of "$P/$t")
    for off in 0 $((n / 3)) $((n / 2)); do damage table "$t" flip "$off" damage; done
    for len in 0 $((n / 2)) $((n - 1)); do damage table "$t" cut "$len" damage; done
done

# LOCK is empty: damage is bytes in it, or something else in its place.
what="LOCK with bytes"
rm -rf "$D"; cp -a "$P" "$D"; printf 'garbage\n' >"$D/LOCK"; every_command; cases=$((cases + 1))
what="LOCK a directory"
rm -rf "$D"; cp -a "$P" "$D"; rm "$D/LOCK"; mkdir "$D/LOCK"; every_command; cases=$((cases + 1))
what="LOCK a symlink"
rm -rf "$D"; cp -a "$P" "$D"; rm "$D/LOCK"; ln -s "$tmp/nowhere" "$D/LOCK"; every_command
[ ! -e "$tmp/nowhere" ] || fail "a command created the target of a LOCK symlink"
cases=$((cases + 1))

# The arena file is read only by a writer starting over it (and by
# commands attaching to a live writer): start one on each damaged arena. A
# damaged header is refused, a damaged heap is rebuilt; either way the
# writer must answer SIGTERM, and the store stays intact.
arena_writer() {
    timeout -k 5 1 "$FC" writer "$D" >"$tmp/out" 2>"$tmp/werr"
    st=$?
    runs=$((runs + 1))
    [ "$st" -le 2 ] || [ "$st" -eq 124 ] || fail "$what: writer ended with status $st: $(cat "$tmp/werr")"
    timeout -k 5 "$LIMIT" "$FC" verify "$D" >"$tmp/vout" 2>"$tmp/err" ||
        { cat "$tmp/vout"; fail "$what: the store does not verify after the writer"; }
}
A=forkcache.arena
n=$(size_of "$P/$A")
for off in 0 8 16 24 40 64 $((n / 2)) $((n - 1)); do
    damage arena "$A" flip "$off" any
    arena_writer
done
for len in 0 100 4096 $((n / 2)); do
    damage arena "$A" cut "$len" any
    arena_writer
done
rm -rf "$D"; cp -a "$P" "$D"; rm "$D/$A"; ln -s "$P/$A" "$D/$A"
what="arena a symlink"
arena_writer
grep -q "symbolic link" "$tmp/werr" || fail "$what: writer did not refuse the link: $(cat "$tmp/werr")"

echo "cli_damaged: $cases damaged stores, $runs command runs, none crashed or hung"
exit 0
