#!/bin/sh
# docs_manpage.sh - the manual page follows `forkcache --help`, which is
# the source of truth: the NAME line of docs/forkcache.1 must be the one
# under NAME in --help (with roff's \- for -), and every command in the
# help's SYNOPSIS must have its own synopsis line in the page.
set -u
: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
MAN="$top_srcdir/docs/forkcache.1"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$FC" --help >"$tmp/help" || fail "forkcache --help exited $?"

# The line after NAME, without its indent.
want=$(sed -n '/^NAME$/{n;s/^ *//;p;q;}' "$tmp/help")
[ -n "$want" ] || fail "no NAME line in forkcache --help"
# The line after .SH NAME, with roff's \- read as -.
got=$(sed -n '/^\.SH NAME$/{n;s/\\-/-/g;p;q;}' "$MAN")
[ "$got" = "$want" ] ||
    fail "docs/forkcache.1 NAME is '$got' but forkcache --help says '$want'"

sed -n '/^SYNOPSIS$/,/^$/p' "$tmp/help" |
    awk '$1 == "forkcache" && $2 ~ /^[a-z]+$/ { print $2 }' | sort -u >"$tmp/cmds"
[ -s "$tmp/cmds" ] || fail "no commands in the SYNOPSIS of forkcache --help"
while read -r cmd; do
    grep -qx "\.B forkcache $cmd" "$MAN" ||
        fail "forkcache --help lists '$cmd' but docs/forkcache.1 has no '.B forkcache $cmd' line"
done <"$tmp/cmds"
echo "docs/forkcache.1 matches forkcache --help ($(wc -l <"$tmp/cmds") commands)"
