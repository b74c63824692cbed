#!/bin/sh
# No #include and no call in src/ runs up a layer (docs/DESIGN.md, "Layers"),
# and no circle of more than three src/db files calls each other. The
# checker first proves on made-up trees that it catches each kind of fault.
set -u
: "${top_srcdir:?run through make check}"
command -v python3 >/dev/null 2>&1 || { echo "layers: python3 is needed (./bootstrap installs it)"; exit 1; }
exec python3 "$top_srcdir/tests/layers.py" --self-test "$top_srcdir/src"
