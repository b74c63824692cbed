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
