#!/bin/sh
# A symbolic link re-pointed under a running command, as a deploy does
# (`ln -sfn store-2 LINK`): `forkcache load LINK` has opened store-1 when
# LINK is switched to store-2 (another valid store), and goes on loading.
# Every row must land in store-1, which must verify; store-2 must be left
# byte for byte alone. Before the store kept one directory descriptor, the
# tables written after the switch went into store-2 and the load's cleanup
# deleted store-2's files, and the load still exited 0.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-dirfd.XXXXXX")
trap 'exec 3>&-; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -20; exit 1; }
OPTS="--write-buffer 64k --arena-size 64M --batch 100"

rows() { awk -v a="$1" -v b="$2" -v g="$3" \
    'BEGIN { for (i = a; i < b; i++) printf "key%06d\tvalue %d of %s %0100d\n", i, i, g, i }'; }

# A digest of a directory: every file's name, size and bytes.
digest() { (cd "$1" && for f in *; do printf '%s %s ' "$f" "$(wc -c <"$f")"; cksum <"$f"; done); }

mkdir "$tmp/store-1" || fail "mkdir"
rows 0 2000 two | "$FC" load $OPTS "$tmp/store-2" 2>"$tmp/err" || fail "load store-2"
before=$(digest "$tmp/store-2")
ln -s store-1 "$tmp/LINK"

# The rows reach the load through a FIFO, so the test decides when the
# second half is written: after the switch.
mkfifo "$tmp/in"
"$FC" load $OPTS "$tmp/LINK" "$tmp/in" 2>"$tmp/err" &
loader=$!
exec 3>"$tmp/in"
rows 0 3000 one >&3
# The store is open once the writer has named itself in store-1.
i=0
while [ ! -e "$tmp/store-1/FORKCACHE-WRITER" ]; do
    kill -0 $loader 2>/dev/null || fail "the load ended early"
    i=$((i + 1))
    [ $i -lt 2000 ] || fail "the load never opened store-1"
    sleep 0.01
done
ln -s store-2 "$tmp/LINK.new" && mv -T "$tmp/LINK.new" "$tmp/LINK" || fail "re-pointing LINK"
rows 3000 6000 one >&3
exec 3>&-
wait $loader || fail "the load failed"

[ "$(digest "$tmp/store-2")" = "$before" ] || fail "store-2 changed under a load of store-1"
"$FC" verify "$tmp/store-1" >"$tmp/out" 2>"$tmp/err" || fail "store-1 does not verify"
"$FC" verify "$tmp/store-2" >"$tmp/out" 2>"$tmp/err" || fail "store-2 does not verify"
n=$("$FC" scan "$tmp/store-1" 2>"$tmp/err" | wc -l)
[ "$n" -eq 6000 ] || fail "store-1 holds $n rows, expected 6000"
for k in 0 2999 3000 5999; do
    key=$(printf 'key%06d' $k)
    v=$("$FC" get "$tmp/store-1" "$key" 2>"$tmp/err") || fail "get $key from store-1"
    case $v in "value $k of one "*) ;; *) fail "$key in store-1 is '$v'" ;; esac
done
n=$("$FC" scan "$tmp/store-2" 2>"$tmp/err" | wc -l)
[ "$n" -eq 2000 ] || fail "store-2 holds $n rows, expected 2000"
echo "ok: a load through a re-pointed link wrote only the store it opened"
