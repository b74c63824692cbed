"""forkcache.Cache: the mapping protocol, every method, TTLs and errors."""
import collections.abc
import time

import pytest

import forkcache
from conftest import SMALL


def test_is_a_mutable_mapping(cache):
    assert isinstance(cache, collections.abc.MutableMapping)


def test_mapping_protocol(cache):
    cache[b"b"] = b"2"
    cache["a"] = b"1"                       # str keys are UTF-8
    cache["é"] = bytearray(b"3")            # any bytes-like value
    assert cache[b"a"] == b"1" and cache["b"] == b"2"
    assert cache["é".encode()] == b"3"
    assert type(cache[b"a"]) is bytes
    assert b"a" in cache and "zz" not in cache
    assert cache.get(b"zz") is None and cache.get(b"zz", b"d") == b"d"
    assert len(cache) == 3
    assert list(cache) == [b"a", b"b", "é".encode()]   # bytewise key order
    assert dict(cache.items())[b"b"] == b"2"
    del cache[b"b"]
    assert b"b" not in cache and len(cache) == 2
    with pytest.raises(KeyError):
        cache[b"b"]
    with pytest.raises(KeyError):
        del cache[b"b"]
    assert cache.pop(b"a") == b"1"
    assert cache.setdefault(b"n", b"v") == b"v"
    cache.update({b"u1": b"1", b"u2": b"2"})
    assert cache[b"u2"] == b"2"
    cache.clear()
    assert len(cache) == 0 and list(cache) == []


def test_empty_value_and_binary_keys(cache):
    cache[b"\x00\xff"] = b""
    assert cache[b"\x00\xff"] == b""
    assert b"\x00\xff" in cache


def test_iteration_crosses_chunks(cache):
    keys = [b"k%05d" % i for i in range(700)]     # more than one chunk of 256
    for k in reversed(keys):
        cache[k] = k
    assert list(cache) == keys
    assert len(cache) == 700


def test_set_add_replace_delete(cache):
    assert cache.set(b"k", b"v") is None
    assert cache.add(b"k", b"x") is False and cache[b"k"] == b"v"
    assert cache.add(b"new", b"x") is True and cache[b"new"] == b"x"
    assert cache.replace(b"absent", b"x") is False and b"absent" not in cache
    assert cache.replace(b"k", b"w") is True and cache[b"k"] == b"w"
    assert cache.delete(b"k") is True and b"k" not in cache
    assert cache.delete(b"k") is False


def test_cas(cache):
    cache[b"k"] = b"one"
    assert cache.cas(b"k", b"two", b"three") is False and cache[b"k"] == b"one"
    assert cache.cas(b"k", b"one", b"two") is True and cache[b"k"] == b"two"
    with pytest.raises(KeyError):
        cache.cas(b"absent", b"a", b"b")


def test_incr_decr(cache):
    assert cache.incr(b"n") == 1
    assert cache.incr(b"n", 10) == 11
    assert cache.decr(b"n", 2) == 9
    assert cache[b"n"] == b"9"
    assert cache.incr(b"m", delta=5, default=100) == 105
    assert cache.decr(b"z") == -1
    cache[b"text"] = b"abc"
    with pytest.raises(forkcache.NotANumberError) as e:
        cache.incr(b"text")
    assert isinstance(e.value, ValueError) and e.value.code == -17
    cache[b"big"] = b"9223372036854775807"
    with pytest.raises(forkcache.CounterOverflowError):
        cache.incr(b"big")
    assert cache[b"big"] == b"9223372036854775807"


def test_get_or_set(cache):
    calls = []

    def compute():
        calls.append(1)
        return b"computed"
    assert cache.get_or_set(b"g", compute) == b"computed"
    assert cache.get_or_set(b"g", compute) == b"computed"
    assert len(calls) == 1 and cache[b"g"] == b"computed"
    assert cache.get_or_set(b"w", compute, expire=None, wait=None) == b"computed"
    assert cache.get_or_set(b"w2", compute, wait=2.5) == b"computed"
    with pytest.raises(TypeError):
        cache.get_or_set(b"w3", compute, wait="long")


def test_get_or_set_errors(cache):
    def boom():
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_set(b"e", boom)
    assert b"e" not in cache
    with pytest.raises(TypeError):
        cache.get_or_set(b"e", lambda: "not bytes")
    with pytest.raises(TypeError):
        cache.get_or_set(b"e", b"not callable")
    assert cache.get_or_set(b"e", lambda: b"fine") == b"fine"


def test_memoize(cache):
    calls = []

    @cache.memoize(expire=60)
    def square(x, scale=1):
        calls.append(x)
        return {"x": x * x * scale}
    assert square(3) == {"x": 9}
    assert square(3) == {"x": 9}
    assert square(3, scale=2) == {"x": 18}
    assert calls == [3, 3]
    assert cache.ttl(square.cache_key(3)) <= 60
    del cache[square.cache_key(3)]
    assert square(3) == {"x": 9} and calls == [3, 3, 3]


def test_ttl(cache):
    cache.set(b"short", b"v", expire=0.05)
    cache.set(b"long", b"v", expire=3600)
    cache[b"forever"] = b"v"
    assert 0 < cache.ttl(b"short") <= 0.05
    assert 3500 < cache.ttl(b"long") <= 3600
    assert cache.ttl(b"forever") is None
    assert cache.add(b"a", b"v", expire=0.05)
    assert cache.incr(b"n", expire=0.05) == 1
    time.sleep(0.2)
    for k in (b"short", b"a", b"n"):
        assert k not in cache
        assert cache.get(k) is None
        with pytest.raises(KeyError):
            cache.ttl(k)
    assert list(cache) == [b"forever", b"long"]
    assert cache.add(b"a", b"again")            # an expired key counts as absent
    assert cache.incr(b"n") == 1


def test_expire_argument_checked(cache):
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            cache.set(b"k", b"v", expire=bad)
    with pytest.raises(TypeError):
        cache.set(b"k", b"v", expire="soon")


def test_unframed_store_refuses_expire(tmp_path):
    with forkcache.Cache(str(tmp_path / "s"), ttl_framing=False, **SMALL) as c:
        c[b"k"] = b"v"
        with pytest.raises(forkcache.UnsupportedError) as e:
            c.set(b"k", b"v", expire=1)
        assert e.value.code == -9 and e.value.name
    # Reopened with the default, it keeps what it was created with.
    with forkcache.Cache(str(tmp_path / "s"), **SMALL) as c:
        assert c[b"k"] == b"v"
        with pytest.raises(forkcache.UnsupportedError):
            c.set(b"k", b"v", expire=1)


def test_bad_keys_and_values(cache):
    for bad in ("str", 1, None, 1.5, [b"x"]):
        with pytest.raises(TypeError):
            cache[b"k"] = bad
        with pytest.raises(TypeError):
            cache.set(b"k", bad)
    for bad in (1, None, 2.0):
        with pytest.raises(TypeError):
            cache[bad]
        with pytest.raises(TypeError):
            cache[bad] = b"v"
    with pytest.raises(UnicodeEncodeError):
        cache["\udcff"] = b"v"
    big = b"k" * (forkcache.MAX_KEY_SIZE + 1)
    with pytest.raises(forkcache.TooBigError) as e:
        cache[big] = b"v"
    assert isinstance(e.value, ValueError) and isinstance(e.value, forkcache.Error)
    assert e.value.code == -12
    cache[b"k" * forkcache.MAX_KEY_SIZE] = b"fits"
    assert cache[b"k" * forkcache.MAX_KEY_SIZE] == b"fits"


def test_closed_handle(store_dir):
    c = forkcache.Cache(store_dir, **SMALL)
    c[b"k"] = b"v"
    c.close()
    c.close()                                   # idempotent
    assert c.closed
    for op in (lambda: c[b"k"], lambda: c.set(b"k", b"v"), lambda: len(c),
               lambda: list(c), lambda: c.incr(b"n"), lambda: c.stats(),
               lambda: c.view(), lambda: b"k" in c):
        with pytest.raises(forkcache.ClosedError) as e:
            op()
        assert e.value.code == -13
    with forkcache.Cache(store_dir, **SMALL) as c2:   # context manager
        assert c2[b"k"] == b"v"
    assert c2.closed


def test_open_errors(tmp_path):
    with pytest.raises(forkcache.NotFoundError):
        forkcache.Cache(str(tmp_path / "none"), create=False)
    with pytest.raises(TypeError):
        forkcache.Cache(str(tmp_path / "s"), no_such_option=1)
    with pytest.raises(forkcache.Error) as e:
        forkcache.Cache(str(tmp_path / "s"), write_buffer_size=1)
    assert "write_buffer_size" in str(e.value)


def test_second_writer_is_busy(cache, store_dir):
    with pytest.raises(forkcache.BusyError) as e:
        forkcache.Cache(store_dir, **SMALL)
    assert e.value.code == -6


def test_readonly_reopen(store_dir):
    with forkcache.Cache(store_dir, **SMALL) as c:
        c[b"k"] = b"v"
    with forkcache.Cache(store_dir, readonly=True, **SMALL) as r:
        assert r[b"k"] == b"v"
        with pytest.raises(forkcache.Error):
            r[b"k"] = b"w"


def test_stats_and_flush(cache):
    for i in range(100):
        cache[b"%03d" % i] = b"x" * 100
    cache.flush()
    st = cache.stats()
    assert st["files"][0] >= 1 and len(st["level_bytes"]) == 7
    assert st["writer_pid"] > 0 and st["readers"] >= 1
    assert list(cache)[:2] == [b"000", b"001"]


def test_threads_share_a_cache(cache):
    import threading

    def work(t):
        for i in range(200):
            cache.incr(b"shared")
            cache[b"t%d-%d" % (t, i)] = b"v"
            assert cache[b"t%d-%d" % (t, i)] == b"v"
    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert cache[b"shared"] == b"800"


def test_bool_without_counting(cache):
    assert not cache
    cache[b"k"] = b"v"
    assert cache
