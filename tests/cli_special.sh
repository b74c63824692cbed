#!/bin/sh
# Store files that are not regular files: CURRENT, the MANIFEST, the live
# WAL and a table are each replaced by a FIFO and by a symbolic link to
# /dev/zero. `forkcache verify` and `forkcache get` must each exit promptly
# with an error (never hang, never die of a signal) and say which file is
# what. Each command runs under `timeout`: a hang fails the test.
set -u
: "${top_builddir:?run through make check}"
FC="$top_builddir/src/tool/forkcache"
LIMIT=${FC_SPECIAL_TIMEOUT:-20}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-special.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && sed 's/^/  stderr: /' "$tmp/err" | head -20; exit 1; }

# A table holding key000000..key000999, then one write left in the WAL.
P="$tmp/pristine"
awk 'BEGIN { for (i = 0; i < 1000; i++) printf "key%06d\tvalue %d\n", i, i }' >"$tmp/rows"
"$FC" load "$P" "$tmp/rows" 2>"$tmp/err" || fail "load"
"$FC" compact "$P" 2>"$tmp/err" || fail "compact"
"$FC" put "$P" walkey walvalue 2>"$tmp/err" || fail "put"
"$FC" verify "$P" >"$tmp/out" 2>"$tmp/err" || fail "the pristine store does not verify"

name_of() {
    case $1 in
    CURRENT) echo CURRENT ;;
    MANIFEST) sed -n 1p "$P/CURRENT" ;;
    WAL) (cd "$P" && ls -- *.log | tail -n 1) ;;
    table) (cd "$P" && ls -- *.ldb | head -n 1) ;;
    esac
}

# run WANT WHAT CMD...: exit status WANT within the limit, and the
# message says what the file is.
run() {
    want=$1 what=$2; shift 2
    timeout "$LIMIT" "$FC" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -ne 124 ] || fail "$case: '$*' hung (killed after ${LIMIT}s)"
    [ $rc -lt 128 ] || fail "$case: '$*' died of signal $((rc - 128))"
    [ $rc -eq "$want" ] || fail "$case: '$*' exited $rc, expected $want"
    cat "$tmp/out" "$tmp/err" | grep -q "$name.*$what" ||
        fail "$case: '$*' does not say that $name is $what"
}

cases=0
for kind in CURRENT MANIFEST WAL table; do
    for as in fifo link; do
        D="$tmp/d"
        rm -rf "$D"
        cp -R "$P" "$D"
        name=$(name_of $kind)
        [ -n "$name" ] || fail "no $kind file"
        rm -f "$D/$name"
        if [ $as = fifo ]; then
            mkfifo "$D/$name"; what="a FIFO"
        else
            ln -s /dev/zero "$D/$name"; what="a symbolic link"
        fi
        case="$kind ($name) as $what"
        run 1 "$what" verify "$D"      # 1: damage found
        # a get reads CURRENT, the MANIFEST and the WAL at open, the table
        # when the key is looked up
        run 2 "$what" get "$D" key000500   # 2: an error (1 is "not found")
        cases=$((cases + 1))
    done
done
echo "ok: $cases special files, verify and get each answered in time"
