#!/usr/bin/python3
"""bench.py - gets/s and sets/s per process from Python, same keys and
values for every store: forkcache (copying c[k], and view(): one `with`
block per get, and 100 gets per block), py-lmdb, diskcache, Django's
LocMemCache (one per process) and redis-py over a unix socket to a
redis-server this script starts in a scratch directory. A figure, not a
test.

    examples/python/bench.py [--keys N] [--value-size B] [--seconds S] [--procs 1,2]

Each measurement forks P worker processes (the parent opened forkcache's
store, so it is the writer: the workers read it directly and write through
its write queue, as gunicorn workers do; lmdb (sync=False: no fsync per
commit, as forkcache's default) and diskcache are opened in
each worker, since neither survives a fork). Every worker runs for S
seconds over random keys of the data set; the rate printed is per worker
(median of the P workers) and the sum.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import forkcache


def keyset(n):
    return [b"key:%08d" % i for i in range(n)]


def run_for(seconds, op, keys):
    """Calls op(key) on random keys for `seconds`; returns ops/s."""
    rnd = random.Random(os.getpid())
    batch = [rnd.choice(keys) for _ in range(4096)]
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for k in batch:
            op(k)
        n += len(batch)
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def in_workers(procs, setup, seconds, keys):
    """Forks procs workers; each calls setup() -> op, then run_for.
    Returns the list of per-worker rates."""
    pipes = []
    for _ in range(procs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                op = setup()
                rate = run_for(seconds, op, keys)
                os.write(w, b"%f" % rate)
            except BaseException as e:
                os.write(w, b"error " + repr(e).encode())
                code = 1
            os._exit(code)
        os.close(w)
        pipes.append((pid, r))
    rates = []
    for pid, r in pipes:
        out = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            out += chunk
        os.close(r)
        os.waitpid(pid, 0)
        if out.startswith(b"error"):
            raise RuntimeError(out.decode())
        rates.append(float(out))
    return rates


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


class Stores:
    """Every store, filled with the same keys and values, in tmp."""

    def __init__(self, tmp, keys, value):
        self.tmp, self.keys, self.value = tmp, keys, value
        self.fc = forkcache.Cache(os.path.join(tmp, "fc"), arena_size=512 << 20)
        for k in keys:
            self.fc[k] = value
        self.fc.flush()
        import lmdb
        self.lmdb_path = os.path.join(tmp, "lmdb")
        env = lmdb.open(self.lmdb_path, map_size=1 << 30)
        with env.begin(write=True) as t:
            for k in keys:
                t.put(k, value)
        env.close()
        import diskcache
        self.dc_path = os.path.join(tmp, "diskcache")
        with diskcache.Cache(self.dc_path) as dc:
            for k in keys:
                dc[k] = value
        self.redis_sock = os.path.join(tmp, "redis.sock")
        self.redis = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.redis_sock, "--save", "",
             "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(self.redis_sock):
                break
            time.sleep(0.05)
        import redis
        r = redis.Redis(unix_socket_path=self.redis_sock)
        p = r.pipeline(transaction=False)
        for k in keys:
            p.set(k, value)
        p.execute()

    def close(self):
        self.redis.terminate()
        self.redis.wait()
        self.fc.close()

    # Each returns (get setup, set setup): run in the worker after fork.
    def fc_copy(self):
        c, v = self.fc, self.value
        return (lambda: c.__getitem__), (lambda: lambda k: c.__setitem__(k, v))

    def fc_view(self):
        c = self.fc

        def get(k):
            with c.view() as view:
                return len(view[k])
        return (lambda: get), None

    def fc_view100(self):
        c = self.fc
        state = {"n": 0, "v": None}

        def get(k):
            if state["n"] == 0:
                if state["v"] is not None:
                    state["v"].__exit__(None, None, None)
                state["v"] = c.view().__enter__()
                state["n"] = 100
            state["n"] -= 1
            return len(state["v"][k])
        return (lambda: get), None

    def lmdb(self):
        import lmdb
        v = self.value

        def env():
            return lmdb.open(self.lmdb_path, map_size=1 << 30, sync=False)

        def get_setup():
            e = env()

            def get(k):
                with e.begin() as t:
                    return t.get(k)
            return get

        def set_setup():
            e = env()

            def put(k):
                with e.begin(write=True) as t:
                    t.put(k, v)
            return put
        return get_setup, set_setup

    def diskcache(self):
        import diskcache
        v = self.value
        return ((lambda: diskcache.Cache(self.dc_path).get),
                (lambda: (lambda c: lambda k: c.set(k, v))(diskcache.Cache(self.dc_path))))

    def locmem(self):
        keys, v = self.keys, self.value

        def make():
            from django.core.cache.backends.locmem import LocMemCache
            c = LocMemCache("bench-%d" % os.getpid(), {"OPTIONS": {"MAX_ENTRIES": 10 ** 9},
                                                       "TIMEOUT": None})
            for k in keys:
                c.set(k.decode(), v)
            return c

        def get_setup():
            c = make()
            return lambda k: c.get(k.decode())

        def set_setup():
            c = make()
            return lambda k: c.set(k.decode(), v)
        return get_setup, set_setup

    def redis_py(self):
        import redis
        v = self.value
        return ((lambda: redis.Redis(unix_socket_path=self.redis_sock).get),
                (lambda: (lambda r: lambda k: r.set(k, v))(redis.Redis(unix_socket_path=self.redis_sock))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--value-size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--procs", default="1,2")
    a = ap.parse_args()
    from django.conf import settings
    settings.configure()
    procs = [int(p) for p in a.procs.split(",")]
    keys = keyset(a.keys)
    value = os.urandom(a.value_size)
    tmp = tempfile.mkdtemp(prefix="fc-pybench.")
    try:
        s = Stores(tmp, keys, value)
        print("%d keys, %d-byte values, %.1f s per measurement, forkcache %s, Python %s" % (
            a.keys, a.value_size, a.seconds, forkcache.version(), sys.version.split()[0]))
        print("%-22s %5s %14s %14s %14s %14s" % ("store", "procs", "get/s/proc", "get/s total",
                                                  "set/s/proc", "set/s total"))
        rows = [("forkcache c[k]", s.fc_copy()), ("forkcache view/get", s.fc_view()),
                ("forkcache view/100", s.fc_view100()), ("py-lmdb", s.lmdb()),
                ("diskcache", s.diskcache()), ("LocMemCache", s.locmem()),
                ("redis-py unix", s.redis_py())]
        # Every get first, then every set: sets leave newer versions of the
        # keys behind (a larger memtable), which would slow gets measured
        # after them.
        gets = {(name, p): in_workers(p, get_setup, a.seconds, keys)
                for name, (get_setup, _) in rows for p in procs}
        for name, (_, set_setup) in rows:
            for p in procs:
                g = gets[name, p]
                st = in_workers(p, set_setup, a.seconds, keys) if set_setup else None
                print("%-22s %5d %14.0f %14.0f %14s %14s" % (
                    name, p, median(g), sum(g),
                    "%.0f" % median(st) if st else "-", "%.0f" % sum(st) if st else "-"),
                    flush=True)
        s.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
