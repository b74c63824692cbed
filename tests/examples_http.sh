#!/bin/bash
# examples/prefork_http end to end: on a kernel-picked port it serves a
# binary value loaded with `forkcache load --hex` byte for byte, answers 404,
# 400 (garbage, bad %XX, oversized head), 405 and 413, stores PUTs (small,
# binary, and large enough for "Expect: 100-continue") and DELETEs through
# the writer, keeps connections alive, answers pipelined requests in order,
# honours "Connection: close", replaces a worker killed with SIGKILL, and
# on SIGTERM stops with every worker gone. Then the same reads in --mode copy.
# Needs curl (bootstrap installs it) and bash's /dev/tcp for raw bytes.
# The server's plumbing is in tests/http_common.sh.
set -u
http_name=fc-http
. "${top_srcdir:?run through make check}/tests/http_common.sh"

# raw FILE: sends FILE's bytes on one connection and keeps everything the
# server sends until it closes the connection (which must happen in 5 s).
raw() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && cat "$1" >&3 && cat <&3 >"$2"' \
        "$port" "$1" "$tmp/raw.out" || fail "raw request: the server did not close in 5 s"
}

"$HTTP" --help >"$tmp/help" || fail "--help exit status"
grep -q '^SYNOPSIS' "$tmp/help" || fail "--help has no SYNOPSIS"
"$HTTP" --workers 2 >/dev/null 2>&1
[ $? -eq 2 ] || fail "no --dir: exit status is not 2"

# ---- a binary value (bytes 0..255) and a text one, loaded before the server
hex=$(for i in $(seq 0 255); do printf '%02x' "$i"; done)
printf '62696e\t%s\n%s\t%s\n' "$hex" "$(printf 'greeting' | od -An -tx1 | tr -d ' \n')" \
    "$(printf 'hello world' | od -An -tx1 | tr -d ' \n')" >"$tmp/load.tsv"
"$FC" load --hex "$S" "$tmp/load.tsv" 2>"$tmp/load.err" || fail "forkcache load --hex: $(cat "$tmp/load.err")"
for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done >"$tmp/bin"
[ "$(wc -c <"$tmp/bin")" -eq 256 ] || fail "test setup: the binary file is not 256 bytes"

start_server --max-body 65536

# ---- GET: exact bytes, 404, HEAD
[ "$(code GET /k/bin)" = 200 ] || fail "GET /k/bin"
cmp -s "$tmp/body" "$tmp/bin" || fail "GET /k/bin: body differs from bytes 0..255"
[ "$(code GET /k/greeting)" = 200 ] && [ "$(cat "$tmp/body")" = "hello world" ] || fail "GET /k/greeting"
[ "$(code GET /k/g%72eeting)" = 200 ] && [ "$(cat "$tmp/body")" = "hello world" ] || fail "percent-decoded key"
[ "$(code GET /k/missing)" = 404 ] || fail "GET of a missing key is not 404"
[ "$(code GET /other)" = 404 ] || fail "unknown route is not 404"
curl -s -m 30 -I "$URL/k/bin" >"$tmp/head" || fail "HEAD"
grep -qi '^Content-Length: 256' "$tmp/head" || fail "HEAD: no Content-Length 256: $(cat "$tmp/head")"

# ---- 400, 405, 413
[ "$(code GET /k/a%zz)" = 400 ] || fail "bad percent-encoding is not 400"
[ "$(code GET /k/a%4)" = 400 ] || fail "truncated percent-encoding is not 400"
[ "$(code GET /k/)" = 400 ] || fail "empty key is not 400"
[ "$(code POST /k/greeting -d x)" = 405 ] || fail "POST is not 405"
head -c 70000 /dev/zero >"$tmp/big"
[ "$(code PUT /k/big --data-binary @"$tmp/big")" = 413 ] || fail "a body over --max-body is not 413"
printf 'GARBAGE\r\n\r\n' >"$tmp/req"
raw "$tmp/req"
head -n 1 "$tmp/raw.out" | grep -q '^HTTP/1.1 400 ' || fail "garbage: $(head -n 1 "$tmp/raw.out")"
printf 'GET /k/bin HTTP/1.1\r\nX-Long: %s\r\n\r\n' "$(head -c 9000 /dev/zero | tr '\0' a)" >"$tmp/req"
raw "$tmp/req"
head -n 1 "$tmp/raw.out" | grep -q '^HTTP/1.1 400 ' || fail "oversized head: $(head -n 1 "$tmp/raw.out")"
printf 'GET /k/bin HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab' >"$tmp/req"
raw "$tmp/req"
head -n 1 "$tmp/raw.out" | grep -q '^HTTP/1.1 400 ' || fail "conflicting Content-Length: $(head -n 1 "$tmp/raw.out")"
# random bytes, and random bytes after a valid request line, each followed
# by a request that asks to close: whether the server refuses the noise
# (400, and closes) or, rarely, takes it for a header, the connection ends
for i in $(seq 1 20); do
    { [ $((i % 2)) -eq 0 ] && printf 'PUT /k/x HTTP/1.1\r\n'
      head -c $((i * 150)) /dev/urandom
      printf '\r\n\r\nGET /k/x HTTP/1.1\r\nConnection: close\r\n\r\n'; } >"$tmp/noise"
    raw "$tmp/noise"
done
[ "$(code GET /k/greeting)" = 200 ] || fail "the server does not answer after random bytes"

# ---- PUT then GET (text, binary key and value, a body large enough that
# curl waits for "100 Continue"), DELETE
[ "$(code PUT /k/fresh --data-binary 'new value')" = 204 ] || fail "PUT /k/fresh"
[ "$(code GET /k/fresh)" = 200 ] && [ "$(cat "$tmp/body")" = "new value" ] || fail "GET after PUT"
[ "$(code PUT /k/b%00%ff%2F --data-binary @"$tmp/bin")" = 204 ] || fail "PUT binary"
[ "$(code GET /k/b%00%ff%2F)" = 200 ] && cmp -s "$tmp/body" "$tmp/bin" || fail "GET binary key after PUT"
head -c 50000 /dev/urandom >"$tmp/mid"
[ "$(code PUT /k/mid --data-binary @"$tmp/mid")" = 204 ] || fail "PUT of 50000 bytes"
[ "$(code GET /k/mid)" = 200 ] && cmp -s "$tmp/body" "$tmp/mid" || fail "GET of 50000 bytes"
[ "$(code DELETE /k/fresh)" = 204 ] || fail "DELETE"
[ "$(code GET /k/fresh)" = 404 ] || fail "GET after DELETE is not 404"

# ---- keep-alive: two requests, one connection (curl reports connects)
curl -s -m 30 -o /dev/null -o /dev/null -w '%{num_connects}\n' "$URL/k/bin" "$URL/k/greeting" >"$tmp/nc"
[ "$(tr '\n' ' ' <"$tmp/nc")" = "1 0 " ] || fail "keep-alive: connects per request: $(cat "$tmp/nc")"

# ---- pipelining: three requests in one write, answers in order; the last
# asks to close, so the server must close the connection after it
printf 'GET /k/greeting HTTP/1.1\r\nHost: x\r\n\r\nGET /k/missing HTTP/1.1\r\n\r\nGET /k/bin HTTP/1.1\r\nConnection: close\r\n\r\n' >"$tmp/req"
raw "$tmp/req"
[ "$(grep -ao 'HTTP/1.1 [0-9]*' "$tmp/raw.out" | tr '\n' ' ')" = "HTTP/1.1 200 HTTP/1.1 404 HTTP/1.1 200 " ] ||
    fail "pipelined answers: $(grep -ao 'HTTP/1.1 [0-9]*' "$tmp/raw.out" | tr '\n' ' ')"
grep -aq 'hello world' "$tmp/raw.out" || fail "pipelined: first body missing"
tail -c 256 "$tmp/raw.out" | cmp -s - "$tmp/bin" || fail "pipelined: last body is not the binary value"
printf 'GET /k/greeting HTTP/1.0\r\n\r\n' >"$tmp/req"
raw "$tmp/req"   # HTTP/1.0 without keep-alive closes by itself
grep -aq 'hello world' "$tmp/raw.out" || fail "HTTP/1.0 request"

# ---- no input so far made a worker die (a dead worker is replaced and logged)
! grep -q 'replacing it' "$tmp/server.err" || fail "a worker died on the inputs above"

# ---- a worker killed with SIGKILL is replaced, and the server still serves
set -- $workers
victim=$1
kill -KILL "$victim"
replaced() { all_workers && ! children_of | grep -qx "$victim"; }
wait_for replaced || fail "worker $victim was not replaced"
wait_for grep -q "(pid $victim) killed by signal 9" "$tmp/server.err" || fail "no log line for the killed worker"
workers=$(children_of)
for i in 1 2 3 4 5 6; do
    [ "$(code GET /k/bin)" = 200 ] && cmp -s "$tmp/body" "$tmp/bin" || fail "GET $i after the worker was replaced"
done
[ "$(code PUT /k/after --data-binary 'still writes')" = 204 ] || fail "PUT after the worker was replaced"
[ "$(grep -c 'replacing it' "$tmp/server.err")" -eq 1 ] || fail "another worker died besides the killed one"
stop_server

# ---- --mode copy serves the same bytes, including what was PUT before
start_server --mode copy
grep -q 'mode copy' "$tmp/server.out" || fail "copy mode not announced"
[ "$(code GET /k/bin)" = 200 ] && cmp -s "$tmp/body" "$tmp/bin" || fail "copy mode: GET /k/bin"
[ "$(code GET /k/mid)" = 200 ] && cmp -s "$tmp/body" "$tmp/mid" || fail "copy mode: GET /k/mid"
[ "$(code GET /k/after)" = 200 ] && [ "$(cat "$tmp/body")" = "still writes" ] || fail "copy mode: a PUT survived the restart"
[ "$(code GET /k/missing)" = 404 ] || fail "copy mode: 404"
# /metrics: the store's counters in Prometheus's text, gets of every worker
[ "$(code GET /metrics)" = 200 ] || fail "GET /metrics"
grep -q '^forkcache_get_misses_total [1-9]' "$tmp/body" || fail "/metrics: no misses counted"
grep -q '^# TYPE forkcache_write_latency_seconds histogram$' "$tmp/body" || fail "/metrics: histogram"
if command -v promtool >/dev/null 2>&1; then
    promtool check metrics <"$tmp/body" >/dev/null 2>&1 || fail "promtool refused /metrics"
fi
stop_server
echo "prefork_http: all checks passed"
exit 0
