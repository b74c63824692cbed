#!/bin/sh
# docs_identifiers.sh - fail when a backticked identifier in README.md or
# docs/*.md names nothing in the source, so the docs cannot drift from the
# code unseen.
#
#   tests/docs_identifiers.sh              self-test, then check this tree
#   tests/docs_identifiers.sh --root DIR   check the tree at DIR only
#
# What counts, inside one `...` span (which may run over the lines of one
# paragraph; fenced ``` blocks are skipped):
#   - a path: the whole span starts with src/ include/ examples/ tests/
#     bench/ docs/ or .ci/; it must exist (a file, a directory, a program
#     built from PATH.c, or that test's log PATH.log); a glob such as
#     src/db/*.c must match something;
#   - a file name: the whole span is NAME.c, NAME.h or NAME.sh; some file in
#     the tree must have that name;
#   - a name: every word of the span with an underscore inside it (fc_open,
#     FC_ECORRUPT, next_file, O_CLOEXEC); it must be a whole word of a
#     source file under src/ include/ examples/ tests/ bench/ python/ or of the build
#     files (Makefile.am, configure.ac, bootstrap, .ci/run), comments
#     included (a name the docs explain may be a static's). A word followed
#     by '*' (fc_batch_*, FC_E*), or a whole span ending in '_' (fc_), is a
#     prefix: some word must start with it.
# Each miss prints as FILE:LINE: WHAT, with the file's new home when a file
# of the same name exists elsewhere, so moved files are quick to fix.
set -u

# The words of the source, one per line, sorted: what a name must be.
source_words() {
    (cd "$1" && find src include examples tests bench python Makefile.am configure.ac \
            bootstrap .ci/run -type f \
            \( -name '*.c' -o -name '*.h' -o -name '*.sh' -o -name '*.am' \
               -o -name '*.ac' -o -name '*.py' -o -name bootstrap -o -name run \) \
            ! -name docs_identifiers.sh 2>/dev/null |
        xargs grep -hoE '[A-Za-z_][A-Za-z0-9_]*' 2>/dev/null) | sort -u
}

# Every checkable span of the docs as "kind<TAB>file:line<TAB>token".
doc_tokens() {
    (cd "$1" && for f in README.md docs/*.md; do
        [ -f "$f" ] || continue
        awk -v file="$f" '
            /^[ \t]*```/ { fenced = !fenced; open = 0; next }
            fenced { next }
            /^[ \t]*$/ { open = 0; next }
            # A span may run over lines of one paragraph; it is reported at
            # the line it starts on.
            {
                n = split($0, part, "`")
                if (open) buf = buf " " part[1]
                for (i = 2; i <= n; i++) {
                    open = !open
                    if (open) { buf = part[i]; start = NR }
                    else span(buf, file ":" start)
                }
            }
            function span(s, where,   rest, w, next1) {
                if (s ~ /^\.?\/?(src|include|examples|tests|bench|docs|\.ci)\/[^ ]*$/) {
                    sub(/^\.\//, "", s); sub(/^\//, "", s)
                    print "path\t" where "\t" s; return
                }
                if (s ~ /^[A-Za-z0-9_.-]+\.(c|h|sh)$/) { print "file\t" where "\t" s; return }
                if (s ~ /^[A-Za-z_][A-Za-z0-9_]*_$/) { print "prefix\t" where "\t" s; return }
                rest = s
                while (match(rest, /[A-Za-z_][A-Za-z0-9_]*/)) {
                    w = substr(rest, RSTART, RLENGTH)
                    next1 = substr(rest, RSTART + RLENGTH, 1)
                    rest = substr(rest, RSTART + RLENGTH)
                    if (next1 == "*") print "prefix\t" where "\t" w
                    else if (w ~ /[A-Za-z0-9]_[A-Za-z0-9]/) print "name\t" where "\t" w
                }
            }' "$f"
    done)
}

# Check the tree at $1; print each miss; return 1 when there is one.
check_tree() {
    root=$1
    words=$(mktemp "${TMPDIR:-/tmp}/fc-docwords.XXXXXX") || return 2
    source_words "$root" >"$words"
    doc_tokens "$root" | {
        bad=0
        while IFS='	' read -r kind where tok; do
            case $kind in
            name)
                grep -qxF -- "$tok" "$words" && continue
                echo "$where: $tok: names nothing in the source" ;;
            prefix)
                awk -v p="$tok" 'index($0, p) == 1 { found = 1; exit } END { exit !found }' \
                    "$words" && continue
                echo "$where: $tok*: no name in the source starts so" ;;
            path)
                p=${tok%/}
                # A glob must match; a plain path must exist (or be a program
                # built from PATH.c, or that test's PATH.log).
                # shellcheck disable=SC2086
                (cd "$root" && set -- $p && [ -e "$1" ]) && continue
                [ -e "$root/$p.c" ] || [ -e "$root/${p%.log}.c" ] && continue
                base=${p##*/}
                moved=$(cd "$root" && find src include examples tests bench docs \
                    -name "$base" 2>/dev/null | head -n 3 | tr '\n' ' ')
                echo "$where: $tok: no such file${moved:+ (now at: ${moved% })}" ;;
            file)
                found=$(cd "$root" && find src include examples tests bench docs \
                    -name "$tok" 2>/dev/null | head -n 1)
                [ -n "$found" ] && continue
                echo "$where: $tok: no file of that name" ;;
            esac
            bad=1
        done
        exit $bad
    }
    rc=$?
    rm -f "$words"
    return $rc
}

# Prove the check can fail: a small tree whose doc names a real function and
# file, then a bogus name, a bogus path and a moved file.
self_test() {
    t=$(mktemp -d "${TMPDIR:-/tmp}/fc-docid.XXXXXX") || return 1
    mkdir -p "$t/src/db/core" "$t/docs"
    printf 'int fci_real_thing(void);\nenum { FC_EREAL = 1 };\n' >"$t/src/db/core/real.c"
    printf '# x\nSee `fci_real_thing()` in `src/db/core/real.c`, `real.c`, `FC_E*`.\n' \
        >"$t/docs/X.md"
    printf '```\n`fci_inside_a_fence`\n```\n' >>"$t/docs/X.md"
    out=$(check_tree "$t" 2>&1) ||
        { echo "self-test: a clean tree failed: $out"; rm -rf "$t"; return 1; }
    bogus="fci_no_such_""thing"
    printf 'Also `%s`, `src/db/gone.c` and `src/db/real.c`, `FC_EREAL |\nfci_gone_too`.\n' \
        "$bogus" >>"$t/docs/X.md"
    out=$(check_tree "$t" 2>&1) && { echo "self-test: a bogus name passed"; rm -rf "$t"; return 1; }
    for want in "docs/X.md:6: $bogus:" "docs/X.md:6: src/db/gone.c:" \
            "src/db/real.c: no such file (now at: src/db/core/real.c)" \
            "docs/X.md:6: fci_gone_too:"; do
        case $out in
        *"$want"*) ;;
        *) echo "self-test: no '$want' in: $out"; rm -rf "$t"; return 1 ;;
        esac
    done
    rm -rf "$t"
}

if [ "${1:-}" = --root ]; then
    check_tree "${2:?--root DIR}"
    exit $?
fi
root=${top_srcdir:-$(dirname "$0")/..}
self_test || exit 1
check_tree "$root" || { echo "docs_identifiers: fix the docs (or the code) above"; exit 1; }
