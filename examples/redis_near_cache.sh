#!/bin/bash
# redis_near_cache.sh - forkcache as the host's near cache in front of
# Redis: starts a private redis-server on a unix socket, prefork_http with
# WORKERS workers whose parent follows that Redis (--follow), and a mutator
# that changes keys in Redis while curl reads them back through the
# workers. Each line shows what Redis has and what /k/KEY answers right
# after the change; the last lines are forkcache's stats of the link.
#
#   examples/redis_near_cache.sh [CHANGES]          (default 20)
#   env: WORKERS=2 BUILD=. TMPDIR=/tmp
#
# Needs redis-server, redis-cli and curl (bootstrap installs them).
set -eu
CHANGES=${1:-20}
WORKERS=${WORKERS:-2}
BUILD=${BUILD:-.}
FC="$BUILD/src/tool/forkcache"
HTTP="$BUILD/examples/prefork_http"
for c in redis-server redis-cli curl; do
    command -v $c >/dev/null || { echo "redis_near_cache: $c is not installed" >&2; exit 1; }
done
bench_name=fc-near-cache
. "$(dirname "$0")/bench_common.sh"
sock="$tmp/redis.sock"
redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$tmp" \
    >"$tmp/redis.log" 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null; cleanup' EXIT
until redis-cli -s "$sock" ping >/dev/null 2>&1; do sleep 0.05; done
rc() { redis-cli -s "$sock" "$@" >/dev/null; }
for i in $(seq 0 9); do rc SET "user:$i" "name-$i-v0"; done

server_start --dir "$tmp/store" --arena-file --follow "unix://$sock"
until "$FC" stats "$tmp/store" | grep -q 'link up'; do sleep 0.05; done
echo "redis on $sock; prefork_http on port $port with $WORKERS workers following it"
get() { curl -s "http://127.0.0.1:$port/k/$1"; }
for i in $(seq 0 9); do get "user:$i" >/dev/null; done   # fill the near cache
stale=0 late=0
for n in $(seq 1 "$CHANGES"); do
    i=$((RANDOM % 10))
    if [ $((n % 5)) -eq 0 ]; then
        rc DEL "user:$i"; want="(none)"
    else
        rc SET "user:$i" "name-$i-v$n"; want="name-$i-v$n"
    fi
    sleep 0.01   # the invalidation usually lands in well under a millisecond
    got=$(get "user:$i"); [ "$got" != "not found" ] || got="(none)"
    note=
    if [ "$got" != "$want" ]; then
        # allowed until max-stale-ms (1000 by default) has passed: look again
        stale=$((stale + 1)); sleep 1.1
        again=$(get "user:$i"); [ "$again" != "not found" ] || again="(none)"
        note="  (10 ms after the change; after 1.1 s: $again)"
        [ "$again" = "$want" ] || late=$((late + 1))
    fi
    printf '%-8s redis: %-16s near cache: %s%s\n' "user:$i" "$want" "$got" "$note"
done
echo "answers older than Redis 10 ms after the change: $stale of $CHANGES;" \
     "after max-stale-ms: $late"
"$FC" stats "$tmp/store" | grep -E '^(clears|redis) '
