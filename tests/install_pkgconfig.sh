#!/bin/sh
# Installs into a scratch DESTDIR and builds a small program against the
# installed header and library with nothing but pkg-config's flags: this is
# what a user of `make install` gets.
set -eu
: "${top_builddir:?run through make check}"
: "${MAKE:=make}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
$MAKE -s -C "$top_builddir" install DESTDIR="$tmp" >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log"; echo "FAIL: make install DESTDIR"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$top_builddir/forkcache.pc")
pcfile=$(find "$tmp" -name forkcache.pc | head -n 1)
[ -n "$pcfile" ] || { echo "FAIL: forkcache.pc not installed"; exit 1; }
find "$tmp" -name forkcache.h | grep -q . || { echo "FAIL: header not installed"; exit 1; }
find "$tmp" -name 'libforkcache.so*' | grep -q . || { echo "FAIL: library not installed"; exit 1; }
cat >"$tmp/hello.c" <<'C'
#include <forkcache.h>
#include <stdio.h>
int main(void)
{
    fc_options o;
    fc_options_init(&o);
    printf("forkcache %s: %s\n", fc_version(NULL, NULL, NULL), fc_strerror(FC_ENOTFOUND));
    return fc_options_validate(&o, NULL) == 0 ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
export PKG_CONFIG_SYSROOT_DIR="$tmp"
flags=$(pkg-config --cflags --libs forkcache)
# A sanitizer build needs its runtime linked into the program too.
${CC:-cc} -o "$tmp/hello" "$tmp/hello.c" $flags ${FC_LDFLAGS:-}
libpath=$(dirname "$(find "$tmp" -name 'libforkcache.so' | head -n 1)")
out=$(LD_LIBRARY_PATH="$libpath" "$tmp/hello")
echo "$out"
case "$out" in "forkcache "*": not found") echo "PASS: installed library links via pkg-config (prefix $prefix)";;
  *) echo "FAIL: unexpected output"; exit 1;; esac

# The Python package, when the extension was built: installed beside
# Debian's dist-packages layout and importable from there.
if [ -f "$top_builddir/python/forkcache/.libs/_forkcache.so" ]; then
    so=$(find "$tmp" -name _forkcache.so | head -n 1)
    [ -n "$so" ] || { echo "FAIL: the Python extension was not installed"; exit 1; }
    pkg=$(dirname "$so")
    [ -f "$pkg/__init__.py" ] && [ -f "$pkg/django.py" ] || { echo "FAIL: forkcache/*.py not installed"; exit 1; }
    [ ! -e "$pkg/_forkcache.la" ] || { echo "FAIL: a libtool archive was installed in $pkg"; exit 1; }
    asan=$(ldd "$so" 2>/dev/null | sed -n 's/^[[:space:]]*\(libasan[^ ]*\) => \([^ ]*\).*/\2/p')
    out=$(cd "$tmp" && LD_PRELOAD="$asan" ASAN_OPTIONS=detect_leaks=0 LD_LIBRARY_PATH="$libpath" \
        PYTHONPATH="$(dirname "$pkg")" PYTHONDONTWRITEBYTECODE=1 "${PYTHON:-/usr/bin/python3}" -c '
import forkcache, sys
with forkcache.Cache(sys.argv[1], arena_size=64 << 20) as c:
    c[b"k"] = b"v"
    print("python", forkcache.version(), forkcache.__file__, c[b"k"].decode())' "$tmp/pystore") ||
        { echo "FAIL: the installed Python package does not work"; exit 1; }
    echo "$out"
    case "$out" in "python "*" v") echo "PASS: installed Python package imports and works";;
      *) echo "FAIL: unexpected output from the installed Python package"; exit 1;; esac
fi
