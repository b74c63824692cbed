"""Cache.view(): zero-copy memoryviews valid inside their block only."""
import threading

import pytest

import forkcache


def test_view_reads_zero_copy(cache):
    cache[b"a"] = b"hello"
    cache["b"] = b"x" * 10000
    with cache.view() as v:
        mv = v[b"a"]
        assert isinstance(mv, memoryview) and mv.readonly
        assert bytes(mv) == b"hello" and mv.tobytes() == b"hello"
        assert len(v["b"]) == 10000
        assert v.get(b"zz") is None and v.get(b"zz", 7) == 7
        assert b"a" in v and b"zz" not in v
        with pytest.raises(KeyError):
            v[b"zz"]
        with pytest.raises(TypeError):
            mv[0:1] = b"x"                          # read-only
    with pytest.raises(ValueError):
        bytes(mv)                                   # released at the block's end
    with pytest.raises(ValueError):
        mv[0]


def test_view_is_a_snapshot(cache):
    cache[b"k"] = b"old"
    with cache.view() as v:
        cache[b"k"] = b"new"
        cache[b"other"] = b"x"
        assert bytes(v[b"k"]) == b"old"
        assert b"other" not in v
    assert cache[b"k"] == b"new"


def test_view_used_after_block(cache):
    cache[b"k"] = b"v"
    v = cache.view()
    with pytest.raises(forkcache.ClosedError):
        v[b"k"]                                     # not entered yet
    with v:
        mv = v[b"k"]
        exporter = mv.obj
    with pytest.raises(forkcache.ClosedError):
        v[b"k"]
    with pytest.raises(forkcache.ClosedError):
        v.get(b"k")
    with pytest.raises(forkcache.Error):
        with v:                                     # a view is entered once
            pass
    with pytest.raises(ValueError):
        mv.tobytes()
    with pytest.raises(forkcache.ClosedError):
        memoryview(exporter)                        # the exporter refuses too


def test_slice_outliving_block_stays_valid(cache):
    """A slice keeps the snapshot pinned instead of pointing at freed memory."""
    cache[b"k"] = b"0123456789"
    with cache.view() as v:
        part = v[b"k"][2:5]
    for i in range(2000):                           # churn the store meanwhile
        cache[b"k"] = b"%010d" % i
    cache.flush()
    assert bytes(part) == b"234"
    del part                                        # the transaction ends now
    cache.close()                                   # and nothing stays open


def test_close_refused_with_open_view(cache):
    cache[b"k"] = b"v"
    with cache.view() as v:
        with pytest.raises(forkcache.BusyError):
            cache.close()
        assert bytes(v[b"k"]) == b"v"
    cache.close()


def test_view_belongs_to_its_thread(cache):
    cache[b"k"] = b"v"
    errors = []
    with cache.view() as v:
        def other():
            try:
                v[b"k"]
            except forkcache.Error as e:
                errors.append(e)
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1


def test_many_values_in_one_view(cache):
    for i in range(500):
        cache[b"%d" % i] = b"v%d" % i
    with cache.view() as v:
        got = [v[b"%d" % i] for i in range(500)]
        assert all(bytes(g) == b"v%d" % i for i, g in enumerate(got))
