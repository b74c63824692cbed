#!/bin/sh
# kill_test.sh - app.py under Debian's gunicorn (--preload, 4 sync workers,
# --max-requests so workers are recycled during the run) and wrk, with a
# SIGKILL of a worker mid-run. Checks, and exits non-zero when one fails:
#   - every answer is 2xx (wrk's "Non-2xx" count is 0); a connection the
#     killed worker was serving is lost with it (at most one per kill, as
#     sync workers serve one at a time): socket errors <= kills
#   - workers were recycled and the killed one replaced
#   - a write through one worker is read by the others (several X-Worker
#     pids answer each key), and 200 /incr requests count exactly 200
# Then it measures the PSS summed over the master and its workers, of the
# store's mappings and of the whole processes, after every worker has
# read the data set, with ForkCache and with Django's LocMemCache.
#   examples/python/kill_test.sh [seconds]     (default 20)
set -u
. "$(dirname "$0")/common.sh"
DURATION=${1:-20}
fail() { echo "FAIL: $*"; tail -n 30 "$tmp/gunicorn.log"; exit 1; }

write_mix
start_gunicorn forkcache --max-requests 1000 --max-requests-jitter 300
first_workers=$(workers)
echo "gunicorn master $GPID, workers: $first_workers"
curl -fsS "http://127.0.0.1:$PORT/load" >/dev/null || fail "/load"

wrk -t2 -c8 --timeout 30s -d"${DURATION}s" -s "$tmp/mix.lua" "http://127.0.0.1:$PORT/" >"$tmp/wrk.txt" 2>&1 &
wrkpid=$!
sleep $((DURATION / 3))
victim=$(workers | awk '{print $1}')
kill -KILL "$victim" && echo "SIGKILL worker $victim"
wait "$wrkpid"
cat "$tmp/wrk.txt"
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk.txt")
[ -n "$requests" ] && [ "$requests" -gt 0 ] || fail "wrk made no requests"
! grep -q "Non-2xx" "$tmp/wrk.txt" || fail "answers that were not 2xx"
sockerr=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$tmp/wrk.txt" |
    awk '{print $1 + $2 + $3 + $4}')
sockerr=${sockerr:-0}
[ "$sockerr" -le 1 ] || fail "$sockerr socket errors for 1 kill"
echo "requests: $requests, non-2xx: 0, socket errors: $sockerr (1 worker killed)"
recycled=$(grep -c "Autorestarting worker" "$tmp/gunicorn.log")
grep -q "was sent SIGKILL\|signal 9" "$tmp/gunicorn.log" || echo "note: gunicorn did not log the kill"
kill -0 "$victim" 2>/dev/null && fail "the killed worker still runs"
[ "$recycled" -gt 0 ] || fail "no worker was recycled (max_requests)"
now_workers=$(workers)
[ "$(echo $now_workers | wc -w)" -eq 4 ] || fail "not 4 workers after the run: $now_workers"
echo "workers recycled by max_requests: $recycled; workers now: $now_workers"

# Writes made through one worker, read through the others.
for i in $(seq 1 20); do
    curl -fsS "http://127.0.0.1:$PORT/set/check$i/value$i" >/dev/null || fail "/set/check$i"
    pids=""
    for _ in 1 2 3 4 5 6 7 8; do
        out=$(curl -fsS -D "$tmp/h" "http://127.0.0.1:$PORT/get/check$i") || fail "/get/check$i"
        [ "$out" = "value$i" ] || fail "check$i read '$out' instead of value$i"
        pids="$pids $(sed -n 's/^X-Worker: \([0-9]*\).*/\1/p' "$tmp/h" | tr -d '\r')"
    done
    echo "$pids" | tr ' ' '\n' | sort -u | grep -c . >>"$tmp/distinct"
done
echo "writes read back by up to $(sort -n "$tmp/distinct" | tail -n 1) distinct workers per key; all 160 reads right"
[ "$(sort -n "$tmp/distinct" | tail -n 1)" -ge 2 ] || fail "every read came from one worker"
seq 1 200 | xargs -P 8 -I{} curl -fsS -o /dev/null "http://127.0.0.1:$PORT/incr/exact" || fail "/incr"
total=$(curl -fsS "http://127.0.0.1:$PORT/get/exact")
[ "$total" = 200 ] || fail "200 increments from 8 clients counted $total"
echo "200 concurrent /incr: $total"
stop_gunicorn

# PSS, without recycling: every worker reads the whole data set.
data_kib=$(( ${FC_DATA_KEYS:-20000} * ${FC_DATA_SIZE:-1024} / 1024 ))
for backend in forkcache locmem; do
    start_gunicorn "$backend"
    before=$("$PY" "$here/pss.py" "$GPID" "$FC_STORE")
    for w in 1 2 3 4 5 6 7 8; do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/load"; done
    wrk -t2 -c8 -d3s "http://127.0.0.1:$PORT/load" >/dev/null 2>&1
    # every worker reads every value once
    wrk -t2 -c8 -d5s -s "$tmp/mix.lua" "http://127.0.0.1:$PORT/" >/dev/null 2>&1
    after=$("$PY" "$here/pss.py" "$GPID" "$FC_STORE")
    stored=$(curl -fsS "http://127.0.0.1:$PORT/stored" 2>/dev/null || echo 0)
    "$PY" - "$backend" "$data_kib" "$before" "$after" "$stored" <<'PYEOF'
import json, sys
backend, data, before, after = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
stored = int(sys.argv[5]) if sys.argv[5].strip().isdigit() else 0
grow = after["total_kib"] - before["total_kib"]
print("PSS %-9s: %d processes, values %d KiB%s; store mappings %d KiB (%.2fx values); "
      "total PSS grew %d KiB (%.2fx values)" % (
          backend, after["processes"], data,
          " (the store holds %d KiB: tables + memtables)" % stored if stored else "",
          after["store_kib"], after["store_kib"] / data, grow, grow / data))
PYEOF
    stop_gunicorn
done
echo "PASS"
