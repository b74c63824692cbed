#!/bin/sh
# `forkcache scan` and `get` on a database that real LevelDB wrote (snappy
# on, tables in several levels, the newest writes only in the WAL) print
# exactly what LevelDB itself reads, both ways, and leave every file of the
# directory as it was. tests/ldb_tool writes the database and LevelDB's
# reading; skipped (77) when configure found no LevelDB.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
LDB="$top_builddir/tests/ldb_tool"
[ -x "$LDB" ] || { echo "SKIP: no LevelDB (tests/ldb_tool not built)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-interop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
D="$tmp/ldb"

fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err"; exit 1; }

# Every file's name, size, mode and sha256: what "unchanged" means.
snapshot() {
    (cd "$D" && find . -print | LC_ALL=C sort | while IFS= read -r f; do
        if [ -f "$f" ]; then
            printf '%s %s %s\n' "$f" "$(stat -c '%s %a %Y' "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
        else
            printf '%s %s\n' "$f" "$(stat -c '%F %a' "$f")"
        fi
    done)
}

"$LDB" create "$D" "$tmp/ldb.fwd" "$tmp/ldb.rev" 2>"$tmp/err" || fail "ldb_tool create"
cat "$tmp/err"
n=$(wc -l <"$tmp/ldb.fwd")
[ "$n" -gt 1000 ] || fail "LevelDB read back only $n pairs"
ls "$D"/*.ldb >/dev/null 2>&1 || fail "no tables written"
snapshot >"$tmp/before"
sleep 1 # a rewrite within the same second would keep the mtime

"$FC" scan --hex "$D" >"$tmp/fc.fwd" 2>"$tmp/err" || fail "forkcache scan"
cmp -s "$tmp/fc.fwd" "$tmp/ldb.fwd" ||
    fail "scan differs from LevelDB: $(diff "$tmp/ldb.fwd" "$tmp/fc.fwd" | head -5)"
"$FC" scan --hex --reverse "$D" >"$tmp/fc.rev" 2>"$tmp/err" || fail "forkcache scan --reverse"
cmp -s "$tmp/fc.rev" "$tmp/ldb.rev" ||
    fail "scan --reverse differs from LevelDB: $(diff "$tmp/ldb.rev" "$tmp/fc.rev" | head -5)"

# A bounded scan: the middle third of LevelDB's keys.
from=$(sed -n "$((n / 3))p" "$tmp/ldb.fwd" | cut -f1)
to=$(sed -n "$((2 * n / 3))p" "$tmp/ldb.fwd" | cut -f1)
sed -n "$((n / 3)),$((2 * n / 3 - 1))p" "$tmp/ldb.fwd" >"$tmp/ldb.mid"
"$FC" scan --hex --from "$from" --to "$to" "$D" >"$tmp/fc.mid" 2>"$tmp/err" || fail "bounded scan"
cmp -s "$tmp/fc.mid" "$tmp/ldb.mid" || fail "bounded scan differs from LevelDB"

# get: every 97th pair LevelDB has, byte for byte, and keys it does not.
sed -n '1~97p' "$tmp/ldb.fwd" >"$tmp/sample"
while IFS="$(printf '\t')" read -r k v; do
    "$FC" get --hex "$D" "$k" >"$tmp/out" 2>"$tmp/err" || fail "get $k: exit $?"
    [ "$(cat "$tmp/out")" = "$v" ] || fail "get $k: '$(cat "$tmp/out")', LevelDB has '$v'"
done <"$tmp/sample"
[ "$(wc -l <"$tmp/sample")" -gt 10 ] || fail "too few sampled keys"
"$FC" get --hex "$D" 00 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "get of an absent key: not exit 1"
# A key LevelDB deleted (every 7th key is; key 7, 0000ff2037).
"$FC" get --hex "$D" 0000ff2037 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "get of a deleted key: not exit 1 ($(cat "$tmp/out"))"
grep -q "^0000ff2037	" "$tmp/ldb.fwd" && fail "LevelDB still has the deleted key"

snapshot >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" ||
    fail "the directory changed: $(diff "$tmp/before" "$tmp/after" | head -10)"

# LevelDB reopening the directory (which recovers its WAL) still reads the
# same: forkcache left nothing it would see differently.
"$LDB" dump "$D" "$tmp/ldb.again" 2>"$tmp/err" || fail "ldb_tool dump"
cmp -s "$tmp/ldb.again" "$tmp/ldb.fwd" || fail "LevelDB reads differently after forkcache"
echo "ok: $n pairs, scan both ways, bounded scan and $(wc -l <"$tmp/sample") gets match LevelDB"
