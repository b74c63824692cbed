#!/usr/bin/env python3
"""layers.py [--self-test] [SRC_DIR] - checks that no #include and no call
in the library's sources runs up a layer (docs/DESIGN.md draws the layers).

A file's layer is its folder: src/util, src/format, src/shm, then the
layers of src/db from the bottom up (core, read, write, bg, store), then
src/tool. A file may include headers of, and call fc_/fci_ functions
defined in, its own layer and the layers it is allowed to use (USES). It
also fails when files of src/db call each other in a circle of more than
MAX_CIRCLE files, so a layer does not grow a knot of its own.

It reads C as text: a function is defined in a file when its name opens a
top-level line (after its return type) and a '{' follows before any ';';
it is called wherever 'name(' appears outside comments and strings.
Prints one line per violation, then a summary; exits 1 on any violation.
"""
import os
import re
import sys
import tempfile

# Which layers each layer may use, besides itself.
USES = {
    'util': [],
    'format': ['util'],
    'shm': ['util'],
    'db/core': ['util', 'format', 'shm'],
    'db/read': ['db/core', 'util', 'format', 'shm'],
    'db/write': ['db/read', 'db/core', 'util', 'format', 'shm'],
    'db/bg': ['db/write', 'db/read', 'db/core', 'util', 'format', 'shm'],
    'db/store': ['db/bg', 'db/write', 'db/read', 'db/core', 'util', 'format', 'shm'],
    # The command line tool sees only the public header (forkcache.h).
    'tool': [],
}
MAX_CIRCLE = 3

DEF_RE = re.compile(r'^(?:[A-Za-z_][\w \*]*\s+\**)?((?:fci|fc)_\w+)\s*\(', re.M)
CALL_RE = re.compile(r'\b((?:fci|fc)_\w+)\s*\(')
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """The layer of a path relative to the source root, or None."""
    parts = rel.split('/')
    if parts[0] == 'db' and len(parts) > 2:
        return 'db/' + parts[1]
    if parts[0] == 'db':
        return 'db/?'   # a file directly in src/db belongs to no layer
    return parts[0] if parts[0] in USES and len(parts) > 1 else None


def strip_comments(text):
    """Comments and string literals blanked, line breaks kept."""
    def blank(m):
        return re.sub(r'[^\n]', ' ', m.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', blank, text, flags=re.S)


def read_sources(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(('.c', '.h')):
                path = os.path.join(d, n)
                rel = os.path.relpath(path, root).replace(os.sep, '/')
                with open(path, errors='replace') as f:
                    files[rel] = f.read()
    return files


def definitions(files):
    """Function name -> the .c file that defines it."""
    defs = {}
    for rel, text in files.items():
        if not rel.endswith('.c'):
            continue
        code = strip_comments(text)
        for m in DEF_RE.finditer(code):
            line_start = code.rfind('\n', 0, m.start()) + 1
            if code[line_start] in ' \t#':
                continue
            rest = code[m.end():]
            brace, semi = rest.find('{'), rest.find(';')
            if brace >= 0 and (semi < 0 or brace < semi):
                defs.setdefault(m.group(1), rel)
    return defs


def allowed(src_layer, dst_layer):
    return dst_layer == src_layer or dst_layer in USES.get(src_layer, [])


def include_violations(files):
    out = []
    for rel, text in sorted(files.items()):
        src = layer_of(rel)
        if src is None:
            continue
        if src == 'db/?':
            out.append('%s: a file in src/db must sit in a layer folder' % rel)
            continue
        for m in INCLUDE_RE.finditer(text):
            inc = m.group(1)
            dst = layer_of(inc)
            if dst is None or allowed(src, dst):
                continue
            line = text.count('\n', 0, m.start()) + 1
            out.append('%s:%d: %s includes "%s" (%s)' % (rel, line, src, inc, dst))
    return out


def call_edges(files, defs):
    """(caller file, callee file) -> the names called."""
    edges = {}
    for rel, text in files.items():
        if not rel.endswith('.c'):
            continue
        for m in CALL_RE.finditer(strip_comments(text)):
            dst = defs.get(m.group(1))
            if dst and dst != rel:
                edges.setdefault((rel, dst), set()).add(m.group(1))
    return edges


def call_violations(edges):
    out = []
    for (src, dst), names in sorted(edges.items()):
        ls, ld = layer_of(src), layer_of(dst)
        if ls is None or ld is None or allowed(ls, ld):
            continue
        if ls == 'tool':
            names = {n for n in names if not n.startswith('fc_')}  # the public API
            if not names:
                continue
        out.append('%s: %s calls %s of %s (%s)' % (src, ls, ', '.join(sorted(names)), dst, ld))
    return out


def largest_circle(edges, prefix):
    """The largest strongly connected set of files under prefix (Tarjan)."""
    graph = {}
    for (a, b) in edges:
        if a.startswith(prefix) and b.startswith(prefix):
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index, low, stack, on, best = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > len(best):
                best[:] = sorted(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return best


def check(root):
    """The violations found under root, one string each."""
    files = read_sources(root)
    defs = definitions(files)
    edges = call_edges(files, defs)
    problems = include_violations(files) + call_violations(edges)
    circle = largest_circle(edges, 'db/')
    if len(circle) > MAX_CIRCLE:
        problems.append('src/db: %d files call each other in a circle (at most %d): %s'
                        % (len(circle), MAX_CIRCLE, ', '.join(circle)))
    return problems, len(files), circle


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def self_test():
    """The check must fail on each kind of violation and pass a clean tree."""
    clean = {
        'db/core/a.c': '#include "db/core/a.h"\nint fci_a(void)\n{\n    return 0;\n}\n',
        'db/core/a.h': 'int fci_a(void);\n',
        'db/read/b.c': '#include "db/core/a.h"\nint fci_b(void)\n{\n    return fci_a();\n}\n',
    }
    cases = {
        'clean': ({}, 0),
        'include up': ({'db/core/c.c': '#include "db/read/b.h"\n'}, 1),
        'call up': ({'db/core/c.c': 'int fci_c(void)\n{\n    return fci_b();\n}\n'}, 1),
        'loose file': ({'db/d.c': 'int fci_d(void)\n{\n    return 0;\n}\n'}, 1),
        'tool includes db': ({'tool/t.c': '#include "db/core/a.h"\n'}, 1),
        'tool calls fci_': ({'tool/t.c': 'int main(void)\n{\n    return fci_a();\n}\n'}, 1),
        'tool calls fc_': ({'tool/t.c': 'int fc_b2(void);\nint main(void)\n{\n    return fc_b2();\n}\n',
                            'db/read/b2.c': 'int fc_b2(void)\n{\n    return 0;\n}\n'}, 0),
        'call in a comment': ({'db/core/c.c': '/* fci_b() */\nint fci_c(void)\n{\n    return 1;\n}\n'}, 0),
        'circle of four': ({
            'db/read/w.c': 'void fci_w(void)\n{\n    fci_x();\n}\n',
            'db/read/x.c': 'void fci_x(void)\n{\n    fci_y();\n}\n',
            'db/read/y.c': 'void fci_y(void)\n{\n    fci_z();\n}\n',
            'db/read/z.c': 'void fci_z(void)\n{\n    fci_w();\n}\n'}, 1),
    }
    failed = 0
    for name, (extra, want) in cases.items():
        with tempfile.TemporaryDirectory() as tmp:
            tree = dict(clean)
            tree.update(extra)
            write_tree(tmp, tree)
            problems, _, _ = check(tmp)
            got = 1 if problems else 0
            if got != want:
                failed += 1
                print('self-test %s: expected %s, got %s' % (name, 'failure' if want else 'pass',
                                                             problems or 'pass'))
    print('layers self-test: %d of %d cases as expected' % (len(cases) - failed, len(cases)))
    return failed == 0


def main(argv):
    args = [a for a in argv[1:] if a != '--self-test']
    if '--self-test' in argv and not self_test():
        return 1
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src')
    problems, nfiles, circle = check(root)
    for p in problems:
        print(p)
    print('layers: %d files read, %d violations, largest circle in src/db: %d files (%s)'
          % (nfiles, len(problems), len(circle), ', '.join(circle) or 'none'))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
