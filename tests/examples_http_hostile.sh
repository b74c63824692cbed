#!/bin/bash
# examples/prefork_http against hostile or unlucky clients (issue 16, item
# 11), every client on 127.0.0.1 and bounded in count and time:
#  - slow-loris: connections that trickle a request head one byte a second
#    neither hold a worker's every slot (the oldest unfinished head is
#    closed to make room, so a GET is still answered) nor live past the
#    head deadline (--head-timeout);
#  - descriptor exhaustion: under a low `ulimit -n`, more connections than
#    the workers can take make accept4 fail with EMFILE; the workers must
#    neither spin (CPU time over 2 s) nor flood their log;
#  - a stopped writer (SIGSTOP on the server, whose process is the store's
#    writer): PUTs wait a bounded time (--write-timeout) and answer 503, so
#    GETs are still answered.
set -u
http_name=fc-http-hostile
http_workers=1
. "${top_srcdir:?run through make check}/tests/http_common.sh"
CLIENTS="$top_srcdir/tests/http_clients.py"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }

printf 'greeting\thello world\n' | "$FC" load "$S" - 2>"$tmp/load.err" || fail "load: $(cat "$tmp/load.err")"

# cpu_ticks PID: user + system time of PID, in clock ticks.
cpu_ticks() {
    local stat
    read -r stat <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    set -- $stat
    echo $(( ${12} + ${13} ))
}

# ---- slow-loris: 30 trickling connections against 8 slots
start_server --max-conns 8 --head-timeout 3
python3 "$CLIENTS" loris "$port" 30 20 >"$tmp/loris.out" &
loris=$!
sleep 3   # every slot now holds a trickling connection
got=$(curl -s -m 8 -o /dev/null -w '%{http_code}' "$URL/k/greeting")
[ "$got" = 200 ] || { kill "$loris"; fail "GET not answered in 8 s during slow-loris: '$got'"; }
wait "$loris"
read -r _ closed _ n _ longest _ <<EOF2
$(tr -d , <"$tmp/loris.out")
EOF2
[ "$closed" -eq "$n" ] && [ "$n" -eq 30 ] || fail "slow-loris: $(cat "$tmp/loris.out")"
# each lived at most the head deadline plus the loop's one-second tick
# (plus a generous margin for a busy machine), not the 20 s it trickled
awk -v l="$longest" 'BEGIN { exit !(l < 12) }' || fail "slow-loris: $(cat "$tmp/loris.out")"
[ "$(code GET /k/greeting)" = 200 ] || fail "GET after slow-loris"
stop_server

# ---- EMFILE: a worker allowed 40 descriptors, 150 connections
if command -v prlimit >/dev/null 2>&1; then
    http_wrap="prlimit --nofile=40 --"
    start_server
    http_wrap=
    set -- $workers
    w=$1
    before=$(wc -l <"$tmp/server.err")
    python3 "$CLIENTS" hold "$port" 150 6 >"$tmp/hold.out" &
    hold=$!
    sleep 2
    t0=$(cpu_ticks "$w") || fail "no /proc/$w/stat"
    sleep 2
    t1=$(cpu_ticks "$w") || fail "no /proc/$w/stat"
    wait "$hold"
    after=$(wc -l <"$tmp/server.err")
    grep -q 'EMFILE\|Too many open files' "$tmp/server.err" || fail "EMFILE was not met (or not logged)"
    # a spinning worker burns about 2 s (200 ticks at 100 Hz) in 2 s
    [ $((t1 - t0)) -lt 50 ] || fail "the worker spins on EMFILE: $((t1 - t0)) ticks in 2 s"
    [ $((after - before)) -le 10 ] || fail "the log grew by $((after - before)) lines on EMFILE"
    [ "$(code GET /k/greeting)" = 200 ] || fail "GET after EMFILE"
    stop_server
else
    echo "note: no prlimit, the EMFILE checks are skipped"
fi

# ---- a stopped writer: PUTs are applied by the workers themselves under
# the arena's write lock (204; a PUT that had to wait for the writer, when
# a full memtable must be switched, would answer 503 after
# --write-timeout), and GETs are still answered
http_workers=2
start_server --write-timeout 1000
kill -STOP "$spid"
puts=
for i in 1 2 3 4; do
    curl -s -m 60 -o /dev/null -w '%{http_code}\n' -X PUT --data-binary "v$i" "$URL/k/p$i" >"$tmp/put$i" &
    puts="$puts $!"
done
sleep 1
got=$(curl -s -m 20 -o "$tmp/body" -w '%{http_code}' "$URL/k/greeting")
[ "$got" = 200 ] || { kill -CONT "$spid"; fail "GET while the writer is stopped: '$got'"; }
wait $puts   # none waits past --write-timeout, the writer still stopped
kill -CONT "$spid"
for i in 1 2 3 4; do
    grep -qx '204\|503' "$tmp/put$i" || fail "PUT $i while the writer was stopped: $(cat "$tmp/put$i")"
done
[ "$(code GET /k/p1)" = 200 ] || grep -qx 503 "$tmp/put1" || fail "PUT 1 answered 204 but is not there"
[ "$(code PUT /k/after --data-binary x)" = 204 ] || fail "PUT once the writer runs again"
stop_server
echo "prefork_http hostile clients: all checks passed"
exit 0
