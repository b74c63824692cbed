"""Builds forkcache._forkcache against an installed libforkcache.

The compiler and linker flags come from `pkg-config forkcache` (set
PKG_CONFIG_PATH for a library installed under another prefix); the
library's directory is also recorded as the extension's run path, so a
prefix outside the loader's search path works without LD_LIBRARY_PATH.
"""
import os
import shlex
import subprocess

from setuptools import Extension, setup


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "forkcache"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit("forkcache: pkg-config could not find libforkcache "
                         "(install it, or set PKG_CONFIG_PATH): %s" % e)
    return shlex.split(out)


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
libdirs = [f[2:] for f in libs if f.startswith("-L")]
here = os.path.dirname(os.path.abspath(__file__))
sources = ["module.c", "cache.c", "view.c", "keyiter.c", "args.c"]

setup(
    ext_modules=[Extension(
        "forkcache._forkcache",
        sources=[os.path.join("src", s) for s in sources],
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        library_dirs=libdirs,
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        runtime_library_dirs=libdirs,
        extra_compile_args=["-std=c11"],
    )],
)
