#!/bin/sh
# forkcache bench on tiny data sets: the shape of every mode's line, the
# CSV rows, reuse of a built data set, readers catching a wrong value, the
# plot's script and data (drawn when gnuplot is installed, left for the
# user when it is not), the write modes' lines, and the usage rules.
# Nothing here looks at speed.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
B="$tmp/bench"

. "${top_srcdir:?run through make check}/tests/cli_lib.sh"

LINE_RE='^bench mode=(mmap|cache|copy|floor|lmdb|leveldb|redis) procs=[0-9]+ keys=2000 value_size=100 gets_per_s=[0-9]+ ns_per_get=[0-9]+ p99_ns=[0-9]+ pss_mib=[0-9]+\.[0-9]$'

# ---- every mode: one line each, in the fixed shape; the CSV has the rows
expect 0 "$FC" bench --dir "$B" --keys 2000 --seconds 0.3 --warmup 0.1 --mode all --csv "$tmp/out.csv"
grep '^bench ' "$tmp/out" >"$tmp/lines"
bad=$(grep -Ev "$LINE_RE" "$tmp/lines")
[ -z "$bad" ] || fail "lines out of shape: $bad"
for m in mmap cache copy floor; do
    [ "$(grep -c "^bench mode=$m " "$tmp/lines")" -eq 1 ] || fail "not one $m line: $(cat "$tmp/out")"
done
grep -q '^bench mode=floor procs=1 ' "$tmp/lines" || fail "the floor ran in more than one process"
[ -f "$B/floor-2000-100/floor.dat" ] || fail "no floor file in the bench directory"
# An anchor gives a line, or a note saying why this machine has none.
for m in lmdb leveldb redis; do
    n=$(grep -c "^bench mode=$m " "$tmp/lines")
    if [ "$n" -ne 1 ]; then
        grep -q "no $m line:" "$tmp/err" || fail "neither a $m line nor a note"
    fi
done
grep -q '^bench mode=leveldb procs=2 ' "$tmp/lines" && fail "LevelDB ran in 2 processes"
grep -Eq 'gets_per_s=0 ' "$tmp/lines" && fail "a mode did no gets: $(cat "$tmp/lines")"
grep -q '^mode  *procs  *keys' "$tmp/out" || fail "no table after the lines"
[ -f "$B/forkcache-2000-100/CURRENT" ] || fail "no forkcache store in the bench directory"
# keys are %016llu of 0..N-1 (the bench formats them by hand)
"$FC" scan "$B/forkcache-2000-100" | cut -f1 >"$tmp/keys" || fail "scan of the bench store"
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "%016d\n", i }' | cmp -s - "$tmp/keys" \
    || fail "bench keys are not %016llu of 0..1999: $(head -n 3 "$tmp/keys")"
head -n 1 "$tmp/out.csv" | grep -qx 'mode,procs,keys,value_size,gets_per_s,ns_per_get,p99_ns,pss_mib,data_mib,cpu_ns_per_get,note' \
    || fail "CSV header: $(head -n 1 "$tmp/out.csv")"
[ "$(($(wc -l <"$tmp/out.csv") - 1))" -eq "$(wc -l <"$tmp/lines")" ] || fail "CSV rows differ from the lines"
while read -r line; do
    mode=$(echo "$line" | sed 's/^bench mode=\([a-z]*\) procs=\([0-9]*\) .*/\1,\2,2000,100,/')
    grep -q "^$mode" "$tmp/out.csv" || fail "no CSV row for: $line"
done <"$tmp/lines"

# ---- a second run reuses the data set instead of building it again; with
# rounds, still one line per mode (its median round)
expect 0 "$FC" bench --dir "$B" --keys 2000 --procs 1 --seconds 0.2 --warmup 0 --rounds 3 --mode mmap,copy
grep -q 'forkcache store' "$tmp/err" && fail "the store was built again"
[ "$(grep -c '^bench mode=' "$tmp/out")" -eq 2 ] || fail "not two lines: $(cat "$tmp/out")"
[ "$(grep -c 'round [123]/3: ' "$tmp/err")" -eq 6 ] || fail "not three rounds of two modes: $(cat "$tmp/err")"
grep -q '^bench mode=mmap procs=1 ' "$tmp/out" || fail "--procs 1 not honoured"

# ---- readers check values: a store holding other values fails the run
awk 'BEGIN { for (i = 0; i < 10; i++) printf "%016d\t%0100d\n", i, 7 }' >"$tmp/wrong.tsv"
mkdir -p "$tmp/wrong"
"$FC" load "$tmp/wrong/forkcache-10-100" "$tmp/wrong.tsv" 2>/dev/null || fail "load of the wrong store"
expect 2 "$FC" bench --dir "$tmp/wrong" --keys 10 --procs 1 --seconds 0.2 --warmup 0 --mode mmap
grep -q 'value missing or wrong' "$tmp/err" || fail "a wrong value went unnoticed"

# ---- the plot: script and data always, the PNG when gnuplot is here
expect 0 "$FC" bench --dir "$B" --keys 2000 --seconds 0.2 --warmup 0 --mode mmap,copy --plot "$tmp/p.png"
grep -q '^sweep for the plot' "$tmp/out" || fail "no sweep"
grep -q '^bench mode=copy procs=1 keys=2000 value_size=4096 ' "$tmp/out" || fail "sweep point missing"
[ -s "$tmp/p.gp" ] && [ -s "$tmp/p.csv" ] || fail "no script or data beside the plot"
grep -q '^\$v4096 << EOD' "$tmp/p.gp" || fail "no 4096-byte panel in the script"
if command -v gnuplot >/dev/null 2>&1; then
    [ -s "$tmp/p.png" ] || fail "gnuplot is installed but drew no PNG"
fi
expect 0 env PATH=/nonexistent "$FC" bench --dir "$B" --keys 2000 --seconds 0.2 --warmup 0 --mode mmap --plot "$tmp/q.png"
grep -q 'gnuplot is not installed' "$tmp/out" || fail "no word about the missing gnuplot"
[ -s "$tmp/q.gp" ] && [ ! -e "$tmp/q.png" ] || fail "without gnuplot: script expected, no PNG"

# ---- writes (a smoke run of the write benchmark: a few hundred operations
# per row; forkcache's incr row fails unless its counter is exact)
W_RE='^bench mode=(put|incr|syncput) engine=(forkcache|lmdb|redis|apcu) procs=2 ops_per_s=[0-9]+ median_ns=[0-9]+ p99_ns=[0-9]+$'
expect 0 "$FC" bench --dir "$B" --mode put,incr,syncput --procs 2 --seconds 0.05 --warmup 0
grep '^bench ' "$tmp/out" >"$tmp/wlines"
bad=$(grep -Ev "$W_RE" "$tmp/wlines")
[ -z "$bad" ] || fail "write lines out of shape: $bad"
for m in put incr syncput; do
    grep -q "^bench mode=$m engine=forkcache procs=2 ops_per_s=[1-9]" "$tmp/wlines" ||
        fail "no forkcache $m line: $(cat "$tmp/out")"
done
grep -q '^op  *procs  *engine' "$tmp/out" || fail "no table after the write lines"
expect 2 "$FC" bench --dir "$B" --mode put,mmap
grep -q 'bad --mode' "$tmp/err" || fail "writes and reads together not refused"

# ---- --memory-limit: a run in a cgroup where this machine allows one, else
# a failure that says why (never a silent run without the limit)
"$FC" bench --dir "$B" --keys 2000 --procs 1 --seconds 0.2 --warmup 0 --mode mmap \
    --memory-limit 256M >"$tmp/out" 2>"$tmp/err"
case $? in
0) grep -q 'running in .*forkcache-bench-' "$tmp/err" || fail "no cgroup named: $(cat "$tmp/err")"
   grep -q 'OOM kills' "$tmp/err" || fail "no cgroup figures: $(cat "$tmp/err")"
   grep -q '^bench mode=mmap ' "$tmp/out" || fail "no mmap line in the cgroup" ;;
*) grep -q -- '--memory-limit: ' "$tmp/err" || fail "no reason given: $(cat "$tmp/err")" ;;
esac
expect 2 "$FC" bench --dir "$B" --memory-limit 1k
expect 2 "$FC" bench --dir "$B" --memory-limit lots

# ---- usage
expect 2 "$FC" bench --keys 10
grep -q 'no --dir' "$tmp/err" || fail "missing --dir not named"
expect 2 "$FC" bench --dir "$B" --mode bogus
expect 2 "$FC" bench --dir "$B" --procs 0
expect 2 "$FC" bench --dir "$B" --rounds 0
expect 2 "$FC" bench --dir "$B" --seconds -1
expect 2 "$FC" bench --dir "$B" extra
expect 0 "$FC" bench --help
grep -q 'pss_mib' "$tmp/out" || fail "help page lacks the line's shape"
expect 0 "$FC" help bench
echo "cli_bench: ok"
