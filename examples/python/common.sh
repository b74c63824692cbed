# common.sh - sourced by run_wrk.sh and kill_test.sh: the forkcache package
# on PYTHONPATH, and one gunicorn server (Debian's, sync workers, --preload)
# serving app.py.
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
PY=/usr/bin/python3
GUNICORN=${GUNICORN:-/usr/bin/gunicorn}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-pyex.XXXXXX")
GPID=
trap 'stop_gunicorn; rm -rf "$tmp"' EXIT INT TERM

# An installed forkcache package is used as it is; else the one built in
# this tree is assembled in $tmp (as tests/python_suite.sh does).
if ! "$PY" -c 'import forkcache' 2>/dev/null; then
    so="$top_builddir/python/forkcache/.libs/_forkcache.so"
    [ -f "$so" ] || { echo "build the tree first (make), or install forkcache" >&2; exit 77; }
    mkdir -p "$tmp/pkg/forkcache"
    for f in "$top_srcdir"/python/forkcache/*.py; do ln -s "$f" "$tmp/pkg/forkcache/"; done
    ln -s "$so" "$tmp/pkg/forkcache/_forkcache.so"
    export PYTHONPATH="$tmp/pkg${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH="$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export PYTHONDONTWRITEBYTECODE=1

# start_gunicorn BACKEND [gunicorn options...]: serves app.py on a free
# port ($PORT); the master's pid in $GPID, its log in $tmp/gunicorn.log.
start_gunicorn() {
    backend=$1; shift
    PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export FC_STORE="$tmp/store-$backend" FC_BACKEND=$backend
    rm -rf "$FC_STORE"
    "$GUNICORN" --preload --workers "${WORKERS:-4}" --worker-class sync -b "127.0.0.1:$PORT" \
        --chdir "$here" --pid "$tmp/gunicorn.pid" --log-level info "$@" app:application \
        >>"$tmp/gunicorn.log" 2>&1 &
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$PORT/get/ping" -o /dev/null -w '%{http_code}' 2>/dev/null | grep -q 404 ||
           curl -sS "http://127.0.0.1:$PORT/get/ping" 2>/dev/null | grep -q absent; then
            GPID=$(cat "$tmp/gunicorn.pid")
            # every worker up
            for _ in $(seq 1 50); do
                [ "$(workers | wc -w)" -ge "${WORKERS:-4}" ] && return 0
                sleep 0.1
            done
            return 0
        fi
        sleep 0.1
    done
    cat "$tmp/gunicorn.log" >&2
    echo "gunicorn did not start" >&2
    exit 1
}

# The master's current workers.
workers() {
    cat "/proc/$GPID/task/$GPID/children" 2>/dev/null
}

stop_gunicorn() {
    [ -n "$GPID" ] || return 0
    kill -TERM "$GPID" 2>/dev/null
    for _ in $(seq 1 100); do
        kill -0 "$GPID" 2>/dev/null || break
        sleep 0.1
    done
    GPID=
}

# A wrk Lua script: a mix of routes over the data set, writes and counters.
write_mix() {
    cat >"$tmp/mix.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  local r = math.random(100)
  local path
  if r <= 70 then path = "/data/" .. math.random(0, 19999)
  elseif r <= 80 then path = "/set/w" .. math.random(0, 999) .. "/" .. n
  elseif r <= 90 then path = "/incr/hits"
  else path = "/compute/" .. math.random(0, 49) end
  return wrk.format("GET", path)
end
LUA
}
