#!/bin/sh
# The Python package's pytest suite (python/tests) against the extension
# built in this tree. The package is assembled in a scratch directory
# (the .py files of the source tree, the module libtool built) so a VPATH
# build writes nothing into the source tree; bytecode and pytest's cache
# are off for the same reason. Skipped (77) when the extension was not
# configured (no python3-dev) or pytest is missing.
set -u
: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
PY=${PYTHON:-/usr/bin/python3}
so="$top_builddir/python/forkcache/.libs/_forkcache.so"
[ -f "$so" ] || { echo "SKIP: the Python extension was not built"; exit 77; }
"$PY" -c 'import pytest' 2>/dev/null || { echo "SKIP: $PY has no pytest (python3-pytest)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/forkcache"
for f in "$top_srcdir"/python/forkcache/*.py; do ln -s "$f" "$tmp/forkcache/"; done
ln -s "$so" "$tmp/forkcache/_forkcache.so"
# A sanitizer build: the runtime must be loaded before the interpreter, and
# the interpreter's own leaks at exit are not this code's (detect_leaks=0 last).
asan=$(ldd "$so" 2>/dev/null | sed -n 's/^[[:space:]]*\(libasan[^ ]*\) => \([^ ]*\).*/\2/p')
if [ -n "$asan" ]; then
    export LD_PRELOAD="$asan" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
fi
export PYTHONPATH="$tmp" PYTHONDONTWRITEBYTECODE=1
export LD_LIBRARY_PATH="$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FC_TEST_TMP="$tmp"
cd "$tmp" || exit 1
exec "$PY" -m pytest -q -p no:cacheprovider -o addopts= --rootdir="$tmp" "$top_srcdir/python/tests"
