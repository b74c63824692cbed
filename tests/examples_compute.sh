#!/bin/bash
# examples/prefork_http's cached /compute/<n> and its /stats, end to end
# with 3 workers: 50 concurrent requests for one key get 50 identical,
# correct bodies from one computation, a second key makes it 2 and repeats
# are hits; with --compute-ttl 1 a key is computed again once it expired;
# --no-cache computes every time; a store created without ttl_framing
# still caches (without expiry, and says so); a worker SIGKILLed while it
# computes (--compute-ms 1500) is replaced, another process computes the
# value instead, and every waiting request is answered. "Correct" is what
# `prefork_http --print-compute N` computes in its own process.
# The server's plumbing is in tests/http_common.sh.
set -u
http_name=fc-compute
http_workers=3
. "${top_srcdir:?run through make check}/tests/http_common.sh"

# counter NAME: the number NAME in /stats (empty when /stats failed).
counter() {
    curl -s -m 30 "$URL/stats" | sed -n "s/.*\"$1\": \([0-9][0-9]*\).*/\1/p"
}

# expect_counter NAME VALUE WHAT: fails unless /stats says NAME is VALUE.
expect_counter() {
    local got
    got=$(counter "$1")
    [ "$got" = "$2" ] || fail "$3: $1 is '$got', expected $2 ($(curl -s -m 30 "$URL/stats"))"
}

# expected N: the file holding the body /compute/N must answer.
expected() {
    [ -f "$tmp/expect.$1" ] || "$HTTP" --print-compute "$1" >"$tmp/expect.$1" ||
        fail "--print-compute $1"
    echo "$tmp/expect.$1"
}

# burst N PATH: N requests for PATH at once (background curls), each
# status in $tmp/burst.I.code and body in $tmp/burst.I.
burst() {
    local i pids=
    rm -f "$tmp"/burst.*
    for i in $(seq 1 "$1"); do
        curl -s -m 60 -o "$tmp/burst.$i" -w '%{http_code}' "$URL$2" >"$tmp/burst.$i.code" &
        pids="$pids $!"
    done
    wait $pids
}

# burst_ok N FILE WHAT: each of the burst's N answers is a 200 with FILE's bytes.
burst_ok() {
    local i
    for i in $(seq 1 "$1"); do
        [ "$(cat "$tmp/burst.$i.code")" = 200 ] || fail "$3: request $i: status $(cat "$tmp/burst.$i.code")"
        cmp -s "$tmp/burst.$i" "$2" || fail "$3: request $i: body '$(cat "$tmp/burst.$i")', expected '$(cat "$2")'"
    done
}

# get_ok N WHAT: one GET /compute/N answers 200 with the right body.
get_ok() {
    [ "$(code GET "/compute/$1")" = 200 ] || fail "$2: GET /compute/$1 status"
    cmp -s "$tmp/body" "$(expected "$1")" || fail "$2: GET /compute/$1: '$(cat "$tmp/body")'"
}

"$HTTP" --help | grep -q -- '--compute-ttl' || fail "--help does not document --compute-ttl"
grep -q '^compute(7) = [0-9a-f]\{16\}$' "$(expected 7)" || fail "--print-compute 7: $(cat "$tmp/expect.7")"
cmp -s "$(expected 7)" "$(expected 8)" && fail "compute(7) and compute(8) have the same result"
"$HTTP" --print-compute 12x >/dev/null 2>&1
[ $? -eq 2 ] || fail "--print-compute 12x: exit status is not 2"

# ---- a new store is created with ttl_framing; one computation per key
start_server --compute-ttl 600
grep -qx 'ttl_framing 1' "$S/FORKCACHE" || fail "the new store is not framed: $(cat "$S/FORKCACHE" 2>&1)"
! grep -q 'without ttl_framing' "$tmp/server.err" || fail "a framed store was said to lack framing"
expect_counter computations 0 "fresh server"
burst 50 /compute/7
burst_ok 50 "$(expected 7)" "50 concurrent requests"
expect_counter computations 1 "50 concurrent requests for one key"
expect_counter completed 1 "50 concurrent requests for one key"
expect_counter requests 50 "50 concurrent requests for one key"
hits=$(counter hits) waits=$(counter waits)
[ $((hits + waits)) -eq 49 ] || fail "hits $hits + waits $waits is not the 49 requests that did not compute"
get_ok 8 "a second key"
expect_counter computations 2 "a second key"
burst 20 /compute/7
burst_ok 20 "$(expected 7)" "20 more requests for the first key"
expect_counter computations 2 "repeats of cached keys"
expect_counter hits $((hits + 20)) "20 more requests for the first key"
curl -s -m 30 "$URL/stats" | grep -q '"computing": \[\]}' || fail "computing is not empty"
[ "$(code GET /k/compute%2F7)" = 200 ] && cmp -s "$tmp/body" "$(expected 7)" ||
    fail "the value is not in the store under compute/7"
curl -s -m 30 -I "$URL/compute/8" >"$tmp/head" || fail "HEAD /compute/8"
grep -qi "^Content-Length: $(wc -c <"$(expected 8)")" "$tmp/head" || fail "HEAD: $(cat "$tmp/head")"
[ "$(code GET /compute/abc)" = 400 ] || fail "/compute/abc is not 400"
[ "$(code GET /compute/)" = 400 ] || fail "/compute/ is not 400"
[ "$(code GET /compute/18446744073709551616)" = 400 ] || fail "n = 2^64 is not 400"
[ "$(code POST /compute/7 -d x)" = 405 ] || fail "POST /compute/7 is not 405"
[ "$(code PUT /stats -d x)" = 405 ] || fail "PUT /stats is not 405"
[ "$(code GET /statsx)" = 404 ] || fail "/statsx is not 404"
expect_counter errors 0 "after the checks above"
stop_server

# ---- --compute-ttl 1: an expired key is computed again (polled, bounded)
start_server --compute-ttl 1
curl -s -m 30 "$URL/stats" | grep -q '"ttl_s": 1,' || fail "ttl_s is not 1: $(curl -s "$URL/stats")"
get_ok 21 "first request with a 1 s TTL"
expect_counter computations 1 "first request with a 1 s TTL"
recomputed() {
    get_ok 21 "while waiting for the expiry"
    [ "$(counter computations)" -ge 2 ]
}
wait_for recomputed || fail "/compute/21 was not computed again within 10 s of a 1 s TTL"
get_ok 21 "after the recomputation"
stop_server

# ---- --no-cache computes on every request
start_server --no-cache
for i in 1 2 3 4 5; do get_ok 7 "--no-cache request $i"; done
expect_counter computations 5 "--no-cache"
expect_counter hits 0 "--no-cache"
curl -s -m 30 "$URL/stats" | grep -q '"mode": "no-cache"' || fail "--no-cache: mode"
stop_server

# ---- a store created without ttl_framing: cached without expiry, said so
S_framed=$S
S="$tmp/plain"
"$FC" put "$S" a b 2>"$tmp/put.err" || fail "forkcache put: $(cat "$tmp/put.err")"
start_server
grep -q 'created without ttl_framing: /compute results are stored without expiry' "$tmp/server.err" ||
    fail "no log line for a store without ttl_framing"
get_ok 3 "unframed store"
get_ok 3 "unframed store, again"
expect_counter computations 1 "unframed store"
curl -s -m 30 "$URL/stats" | grep -q '"ttl_s": 0,' || fail "unframed store: ttl_s is not 0"
stop_server
S=$S_framed

# ---- a worker SIGKILLed while it computes: another process computes
# instead, every waiting request is answered, nothing hangs. The kill
# must land during the 4 s computation; if it came after (the victim
# answered), or a loaded machine let the computation end before /stats
# showed it, the round is repeated with another key.
start_server --compute-ttl 600 --compute-ms 4000
computing_pid() { curl -s -m 30 "$URL/stats" | sed -n 's/.*"computing": \[\([0-9][0-9]*\).*/\1/p'; }
has_computing() { [ -n "$(computing_pid)" ]; }
killed_while_computing=
for key in 31 32 33 34 35 36; do
    started0=$(counter computations) completed0=$(counter completed)
    curl -s -m 60 -o "$tmp/first" "$URL/compute/$key" &
    first=$!
    victim=
    wait_for has_computing && victim=$(computing_pid)
    if [ -z "$victim" ]; then
        wait "$first"
        echo "note: key $key: the computation was not seen running; again with another key"
        continue
    fi
    burst 6 "/compute/$key" &
    waiters=$!
    kill -KILL "$victim" || fail "key $key: cannot kill worker $victim"
    wait "$waiters"
    burst_ok 6 "$(expected "$key")" "key $key: waiters after worker $victim was killed"
    wait "$first"
    first_rc=$?
    replaced() { all_workers && ! children_of | grep -qx "$victim"; }
    wait_for replaced || fail "worker $victim was not replaced"
    workers=$(children_of)
    wait_for grep -q "(pid $victim) killed by signal 9" "$tmp/server.err" || fail "no log line for $victim"
    get_ok "$key" "key $key: after the kill"
    started=$(($(counter computations) - started0)) completed=$(($(counter completed) - completed0))
    [ "$completed" -eq 1 ] || fail "key $key: $completed computations completed, expected 1"
    if [ "$started" -eq 2 ]; then
        [ "$first_rc" -ne 0 ] || fail "key $key: the killed worker's request was answered"
        killed_while_computing=$key
        break
    fi
    [ "$started" -eq 1 ] || fail "key $key: $started computations began, expected 1 or 2"
    echo "note: key $key: worker $victim was killed after it computed; again with another key"
done
[ -n "$killed_while_computing" ] || fail "six rounds never killed a worker while it computed"
! curl -s -m 30 "$URL/stats" | grep -q "\"computing\": \[[0-9]" || fail "a dead worker is still listed as computing"
stop_server
echo "prefork_http /compute: all checks passed"
exit 0
