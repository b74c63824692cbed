"""Fork safety: os.fork, multiprocessing (fork start method), 8 processes
hammering one counter. The parent opened the store, so it is the writer;
children read it directly and write through its write queue."""
import multiprocessing
import os

import pytest

import forkcache
from conftest import SMALL


def run_child(fn):
    """Runs fn() in an os.fork child; returns its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if fn() else 2
        except BaseException:
            import traceback
            traceback.print_exc()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_os_fork_reads_and_writes(cache):
    cache[b"from-parent"] = b"p"

    def child():
        assert cache[b"from-parent"] == b"p"
        cache[b"from-child"] = b"c"
        assert cache.incr(b"n") == 1
        with cache.view() as v:
            assert bytes(v[b"from-child"]) == b"c"
        return True
    assert run_child(child) == 0
    assert cache[b"from-child"] == b"c"        # the parent sees the child's write
    assert cache[b"n"] == b"1"


def test_grandchild_and_sibling_see_writes(cache):
    def child():
        cache[b"gen1"] = b"1"
        return run_child(lambda: cache[b"gen1"] == b"1" and cache.add(b"gen2", b"2")) == 0
    assert run_child(child) == 0
    assert run_child(lambda: cache[b"gen2"] == b"2") == 0


def test_fork_inside_a_view_breaks_only_the_child(cache):
    cache[b"k"] = b"v"
    with cache.view() as v:
        def child():
            with pytest.raises(forkcache.Error):
                cache[b"k"]
            return True
        assert run_child(child) == 0
        assert bytes(v[b"k"]) == b"v"
    assert cache[b"k"] == b"v"                  # the parent is unharmed
    assert run_child(lambda: cache[b"k"] == b"v") == 0


def test_child_opens_its_own_store(tmp_path, cache):
    path = str(tmp_path / "second")

    def child():
        with forkcache.Cache(path, **SMALL) as c2:
            c2[b"x"] = b"y"
        return True
    assert run_child(child) == 0
    with forkcache.Cache(path, **SMALL) as c2:
        assert c2[b"x"] == b"y"


def _mp_worker(cache, q, i):
    cache[b"mp-%d" % i] = b"%d" % i
    q.put(cache[b"seed"])


def test_multiprocessing_fork(cache):
    ctx = multiprocessing.get_context("fork")
    cache[b"seed"] = b"s"
    q = ctx.Queue()
    ps = [ctx.Process(target=_mp_worker, args=(cache, q, i)) for i in range(4)]
    for p in ps:
        p.start()
    got = [q.get(timeout=60) for _ in ps]
    for p in ps:
        p.join(60)
        assert p.exitcode == 0
    assert got == [b"s"] * 4
    assert [cache[b"mp-%d" % i] for i in range(4)] == [b"0", b"1", b"2", b"3"]


def _hammer(cache, n):
    for _ in range(n):
        cache.incr(b"counter")
    cache.incr(b"done")


def test_eight_processes_incr_exact_count(cache):
    ctx = multiprocessing.get_context("fork")
    n = 500
    ps = [ctx.Process(target=_hammer, args=(cache, n)) for _ in range(8)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
        assert p.exitcode == 0
    assert cache[b"done"] == b"8"
    assert int(cache[b"counter"]) == 8 * n


def _compute_once(cache, q):
    def slow():
        import time
        cache.incr(b"computations")
        time.sleep(0.3)
        return b"answer"
    q.put(cache.get_or_set(b"expensive", slow, expire=60))


def test_get_or_set_computes_once_across_processes(cache):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=_compute_once, args=(cache, q)) for _ in range(6)]
    for p in ps:
        p.start()
    got = [q.get(timeout=60) for _ in ps]
    for p in ps:
        p.join(60)
    assert got == [b"answer"] * 6
    assert cache[b"computations"] == b"1"


WRITER = r"""
import sys, forkcache
c = forkcache.Cache(sys.argv[1], arena_path="", arena_size=64 << 20, block_cache_size=1 << 20)
c[b"from-writer"] = b"w"
print("ready", flush=True)
sys.stdin.readline()
print(c.get(b"from-attached", b"missing").decode(), flush=True)
c.close()
"""


def start_writer(store_dir):
    """A writer in an unrelated process, with its arena in a file."""
    import subprocess
    import sys
    w = subprocess.Popen([sys.executable, "-c", WRITER, store_dir], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert w.stdout.readline().strip() == "ready"
    return w


def stop_writer(w):
    """Lets the writer check for the attached process's key and exit."""
    w.stdin.write("go\n")
    w.stdin.flush()
    seen = w.stdout.readline().strip()
    w.stdin.close()
    assert w.wait(60) == 0
    return seen


def test_attach_to_another_processes_writer(store_dir):
    """FC_ATTACH: an unrelated process (uWSGI lazy-apps, a separate writer)
    reads and writes the store another process is the writer of; once that
    writer is gone the handle is stale, and opening again makes a writer."""
    w = start_writer(store_dir)
    try:
        with pytest.raises(forkcache.BusyError):
            forkcache.Cache(store_dir, **SMALL)
        c = forkcache.Cache(store_dir, attach=True, arena_path="", **SMALL)
        assert c[b"from-writer"] == b"w"
        c[b"from-attached"] = b"a"
        assert c.incr(b"n") == 1
    finally:
        assert stop_writer(w) == "a"
    with pytest.raises((forkcache.StaleError, forkcache.AgainError)):
        c[b"after"] = b"x"                       # the writer went away
    c.close()
    with forkcache.Cache(store_dir, attach=True, arena_path="", **SMALL) as c:
        assert c.stats()["writer_pid"] == os.getpid()
        assert c[b"from-attached"] == b"a"
