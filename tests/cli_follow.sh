#!/bin/sh
# forkcache writer --follow end to end, against a redis-server of the
# test's own on a unix socket: bad follow options are refused (status 2),
# the writer's link comes up and stats says so, a SET in Redis deletes the
# key from the store, FLUSHALL clears the followed prefix only, and
# stats --json carries the follow figures. Skipped (77) without
# redis-server or redis-cli.
set -u
cli_name=fc-clif
. "${top_srcdir:?run through make check}/tests/cli_common.sh"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || exit 77
grep -q '^#define HAVE_HIREDIS 1' "$top_builddir/config.h" || exit 77   # built without hiredis

rpid=
sock="$tmp/redis.sock"
trap 'kill -KILL $rpid 2>/dev/null; cleanup' EXIT
redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$tmp" \
    >"$tmp/redis.log" 2>&1 &
rpid=$!
wait_for redis-cli -s "$sock" ping || fail "redis-server did not start"
r() { redis-cli -s "$sock" "$@" >/dev/null || fail "redis-cli $*"; }

# ---- options
expect 2 "$FC" writer --follow "unix://$sock" --max-stale-ms 5 "$S"
expect 2 "$FC" writer --follow "http://nowhere" "$S"
grep -q "follow" "$tmp/err" || fail "bad URL: $(cat "$tmp/err")"

# ---- the writer follows u: with a 200 ms bound
"$FC" writer --follow "unix://$sock" --prefix u: --max-stale-ms 200 "$S" \
    >"$tmp/writer.out" 2>&1 &
wpid=$!
wait_for grep -q "^forkcache: following unix://$sock (1 prefixes)" "$tmp/writer.out" ||
    fail "no following line"
link_up() { "$FC" stats "$S" 2>/dev/null | grep -q '^redis  *link up'; }
wait_for link_up || fail "the link did not come up"
wait_for grep -q '^redis link up' "$tmp/writer.out" || fail "the writer did not report the link"

# ---- an invalidation deletes; keys outside the prefix are not touched
expect 0 "$FC" put "$S" u:1 cached
expect 0 "$FC" put "$S" x:1 other
r SET u:1 new
gone() { ! "$FC" get "$S" u:1 >/dev/null 2>&1; }
wait_for gone || fail "u:1 still cached after SET u:1"
r SET x:1 new
expect 0 "$FC" get "$S" x:1
[ "$(cat "$tmp/out")" = "other" ] || fail "x:1 changed"

# ---- FLUSHALL clears the followed prefix
expect 0 "$FC" put "$S" u:2 cached
r FLUSHALL
gone2() { ! "$FC" get "$S" u:2 >/dev/null 2>&1; }
wait_for gone2 || fail "u:2 survived FLUSHALL"
expect 0 "$FC" get "$S" x:1

expect 0 "$FC" stats --json "$S"
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["follow"]; assert f["link"] == "up", f; assert f["invalidations"] == 1, f; assert f["clears"] >= 2, f' \
    "$tmp/out" || fail "stats --json: $(cat "$tmp/out")"
kill -TERM "$wpid"
wait "$wpid" || fail "the writer did not stop cleanly"
wpid=
echo "cli_follow: ok"
