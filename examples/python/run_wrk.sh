#!/bin/sh
# run_wrk.sh - app.py under Debian's gunicorn (--preload, 4 sync workers)
# and wrk: the route mix (70% data reads, 10% writes, 10% a shared counter,
# 10% a memoized computation) and the memoized view alone, with ForkCache
# and with Django's LocMemCache. Prints wrk's report for each; a figure,
# not a test.
#   examples/python/run_wrk.sh [seconds]     (default 10)
set -u
. "$(dirname "$0")/common.sh"
DURATION=${1:-10}
write_mix
for backend in forkcache locmem; do
    start_gunicorn "$backend"
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/load"
    echo "== $backend: route mix, ${DURATION}s"
    wrk -t2 -c8 --timeout 30s -d"${DURATION}s" -s "$tmp/mix.lua" "http://127.0.0.1:$PORT/" | grep -E "requests in|Requests/sec|Non-2xx|Socket"
    echo "== $backend: /compute/7 (memoized), ${DURATION}s"
    wrk -t2 -c8 --timeout 30s -d"${DURATION}s" "http://127.0.0.1:$PORT/compute/7" | grep -E "requests in|Requests/sec|Non-2xx|Socket"
    stop_gunicorn
done
