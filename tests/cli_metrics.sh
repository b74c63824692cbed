#!/bin/sh
# The operation counters from the command line: `forkcache stats` in text,
# --json and --format prometheus (which promtool accepts), and a running
# writer's --metrics-port serving the same text on /metrics; the counts
# match the gets, misses and puts the test made.
set -u
cli_name=fc-clim
. "${top_srcdir:?run through make check}/tests/cli_common.sh"

command -v promtool >/dev/null 2>&1 || { echo "SKIP: promtool not installed"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }

# has LINE FILE: FILE holds LINE as a whole line.
has() { grep -qx -- "$1" "$2" || fail "no line '$1' in $2: $(grep -- "${1%% *}" "$2")"; }

expect 2 "$FC" stats --format yaml "$S"
expect 2 "$FC" writer --metrics-port 70000 "$S"
"$FC" writer --metrics-port 0 "$S" >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for grep -q "metrics on http://127.0.0.1:[0-9]*/metrics" "$tmp/writer.out" \
    || fail "the writer did not start its metrics endpoint"
url=$(sed -n 's|.*metrics on \(http://[0-9.:]*/metrics\)$|\1|p' "$tmp/writer.out")
for k in a b c; do
    expect 0 "$FC" put "$S" "$k" "value-$k"
done
for k in a b c a; do
    expect 0 "$FC" get "$S" "$k"
done
expect 1 "$FC" get "$S" nope
expect 1 "$FC" get "$S" nope2
expect 1 "$FC" add "$S" a again

expect 0 "$FC" stats --format prometheus "$S"
cp "$tmp/out" "$tmp/prom.txt"
promtool check metrics <"$tmp/prom.txt" >"$tmp/err" 2>&1 || fail "promtool refused the text"
has "forkcache_gets_total 6" "$tmp/prom.txt"
has "forkcache_get_hits_total 4" "$tmp/prom.txt"
has "forkcache_get_misses_total 2" "$tmp/prom.txt"
has "forkcache_puts_total 3" "$tmp/prom.txt"
has 'forkcache_atomic_ops_total{op="add",outcome="refused"} 1' "$tmp/prom.txt"
has 'forkcache_write_latency_seconds_bucket{le="+Inf"} 3' "$tmp/prom.txt"

curl -sf "$url" >"$tmp/scraped.txt" || fail "GET $url failed"
promtool check metrics <"$tmp/scraped.txt" >"$tmp/err" 2>&1 || fail "promtool refused /metrics"
has "forkcache_get_hits_total 4" "$tmp/scraped.txt"
has "forkcache_get_misses_total 2" "$tmp/scraped.txt"
# a client that connects and says nothing holds the endpoint 2 s at most
port=${url##*:}
port=${port%/metrics}
python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(8)' "$port" &
silent=$!
sleep 0.3
curl -sf -m 6 "$url" >"$tmp/after-silent.txt" || fail "GET $url behind a silent client failed"
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
has "forkcache_get_hits_total 4" "$tmp/after-silent.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' "${url%/metrics}/other")
[ "$code" = 404 ] || fail "GET /other answered $code, expected 404"

expect 0 "$FC" stats --json "$S"
grep -q '"ops": {"gets": 6, "hits": 4, "misses": 2' "$tmp/out" || fail "--json ops: $(cat "$tmp/out")"
expect 0 "$FC" stats "$S"
grep -q '^gets  *6 (4 hits, 2 misses, 0 expired), hit ratio 66.67%' "$tmp/out" \
    || fail "text gets line: $(grep gets "$tmp/out")"

kill -TERM "$wpid"
wait "$wpid"
wpid=
exit 0
