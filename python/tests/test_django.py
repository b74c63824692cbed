"""forkcache.django.ForkCache against the semantics of Django's own cache
tests (tests/cache/tests.py, BaseCacheTests, as of Django 3.2): Debian's
python3-django does not ship its test suite, so the cases that apply to a
non-locmem backend are restated here, through django.core.cache.caches."""
import os
import pickle
import time
import warnings

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    base = tmp_path_factory.mktemp("django")
    opts = {"arena_size": 64 << 20, "block_cache_size": 1 << 20}

    def conf(name, **kw):
        d = {"BACKEND": "forkcache.django.ForkCache", "LOCATION": str(base / name),
             "OPTIONS": opts}
        d.update(kw)
        return d
    if not settings.configured:
        settings.configure(CACHES={
            "default": conf("default"),
            "prefix": conf("default", KEY_PREFIX="cacheprefix"),
            "v2": conf("default", VERSION=2),
            "custom_key": conf("default", KEY_FUNCTION=lambda k, p, v: "CUSTOM-" + "-".join([p, str(v), k])),
            "custom_key2": conf("default", KEY_FUNCTION="test_django.custom_key_func"),
            "short": conf("short", TIMEOUT=1),
        })
        django.setup()
    from django.core.cache import caches as django_caches
    return django_caches


def custom_key_func(key, key_prefix, version):
    return "CUSTOM-" + "-".join([key_prefix, str(version), key])


@pytest.fixture
def cache(caches):
    c = caches["default"]
    c.clear()
    yield c
    c.clear()


class Unpicklable:
    def __getstate__(self):
        raise pickle.PickleError()


def test_simple(cache):
    cache.set("key", "value")
    assert cache.get("key") == "value"


def test_default_used_when_none_is_set(cache):
    cache.set("key_default_none", None)
    assert cache.get("key_default_none", default="default") is None


def test_add(cache):
    assert cache.add("addkey1", "value") is True
    assert cache.add("addkey1", "newvalue") is False
    assert cache.get("addkey1") == "value"


def test_prefix(cache, caches):
    cache.set("somekey", "value")
    caches["prefix"].set("somekey", "value2")
    assert cache.get("somekey") == "value"
    assert caches["prefix"].get("somekey") == "value2"
    assert cache.has_key("somekey") and caches["prefix"].has_key("somekey")


def test_non_existent(cache):
    assert cache.get("does_not_exist") is None
    assert cache.get("does_not_exist", "bang!") == "bang!"


def test_get_many(cache):
    cache.set_many({"a": "a", "b": "b", "c": "c", "d": "d"})
    assert cache.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
    assert cache.get_many(["a", "b", "e"]) == {"a": "a", "b": "b"}
    assert cache.get_many(iter(["a", "b", "e"])) == {"a": "a", "b": "b"}
    cache.set_many({"x": None, "y": 1})
    assert cache.get_many(["x", "y"]) == {"x": None, "y": 1}


def test_delete(cache):
    cache.set_many({"key1": "spam", "key2": "eggs"})
    assert cache.delete("key1") is True
    assert cache.get("key1") is None and cache.get("key2") == "eggs"
    assert cache.delete("nonexistent_key") is False


def test_has_key_and_in(cache):
    cache.set("hello1", "goodbye1")
    assert cache.has_key("hello1") and "hello1" in cache
    assert not cache.has_key("goodbye1") and "goodbye1" not in cache
    cache.set("no_expiry", "here", None)
    assert cache.has_key("no_expiry")
    cache.set("null", None)
    assert cache.has_key("null") and "null" in cache


def test_incr_decr(cache):
    cache.set("answer", 41)
    assert cache.incr("answer") == 42 and cache.get("answer") == 42
    assert cache.incr("answer", 10) == 52 and cache.get("answer") == 52
    assert cache.incr("answer", -10) == 42
    assert cache.decr("answer") == 41 and cache.decr("answer", 10) == 31
    assert cache.decr("answer", -10) == 41
    with pytest.raises(ValueError):
        cache.incr("does_not_exist")
    with pytest.raises(ValueError):
        cache.decr("does_not_exist")
    cache.set("error", "a string")
    with pytest.raises(TypeError):
        cache.incr("error")
    cache.set("float", 1.5)
    assert cache.incr("float") == 2.5 and cache.get("float") == 2.5


def test_incr_keeps_timeout(cache):
    cache.set("counter", 1, 60)
    cache.incr("counter")
    key = cache.make_key("counter")
    assert 0 < cache._cache.ttl(key) <= 60


def test_close(cache):
    cache.set("k", "v")
    cache.close()
    assert cache.get("k") == "v"


def test_data_types(cache):
    stuff = {"string": "this is a string", "int": 42, "list": [1, 2, 3, 4],
             "tuple": (1, 2, 3, 4), "dict": {"A": 1, "B": 2},
             "function": os.path.join, "class": Unpicklable, "bool": True,
             "bytes": b"\x00\xff", "negative": -7, "big": 2 ** 80}
    cache.set("stuff", stuff)
    assert cache.get("stuff") == stuff
    for k, v in stuff.items():
        cache.set(k, v)
        got = cache.get(k)
        assert got == v and type(got) is type(v)


def test_unpicklable_value(cache):
    with pytest.raises(pickle.PickleError):
        cache.set("unpicklable", Unpicklable())
    with pytest.raises(pickle.PickleError):
        cache.add("unpicklable", Unpicklable())


def test_expiration(cache):
    cache.set("expire1", "very quickly", 1)
    cache.set("expire2", "very quickly", 1)
    cache.set("expire3", "very quickly", 1)
    time.sleep(1.2)
    assert cache.get("expire1") is None
    assert cache.add("expire2", "newvalue") is True
    assert cache.get("expire2") == "newvalue"
    assert cache.has_key("expire3") is False


def test_touch(cache):
    cache.set("expire1", "very quickly", timeout=1)
    assert cache.touch("expire1", timeout=4) is True
    time.sleep(1.2)
    assert cache.has_key("expire1")
    cache.set("expire2", "very quickly", timeout=1)
    assert cache.touch("expire2", timeout=None) is True
    assert cache._cache.ttl(cache.make_key("expire2")) is None
    assert cache.touch("nonexistent") is False


def test_unicode_and_binary(cache):
    stuff = {"ascii": "ascii_value", "unicode_ascii": "Iñtërnâtiônàlizætiøn1",
             "Iñtërnâtiônàlizætiøn": "Iñtërnâtiônàlizætiøn2",
             "ascii2": {"x": 1}}
    for key, value in stuff.items():
        cache.set(key, value)
        assert cache.get(key) == value
        cache.delete(key)
        cache.add(key, value)
        assert cache.get(key) == value
    cache.set_many(stuff)
    for key, value in stuff.items():
        assert cache.get(key) == value
    compressed = b"x\x9c\xcb\x48\xcd\xc9\xc9\x07\x00\x06,\x02\x15"
    cache.set("binary1", compressed)
    assert cache.get("binary1") == compressed


def test_set_many(cache):
    assert cache.set_many({"key1": "spam", "key2": "eggs"}) == []
    assert cache.get("key1") == "spam" and cache.get("key2") == "eggs"


def test_set_many_expiration(cache):
    cache.set_many({"key1": "spam", "key2": "eggs"}, 1)
    time.sleep(1.2)
    assert cache.get("key1") is None and cache.get("key2") is None


def test_delete_many(cache):
    cache.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"})
    cache.delete_many(["key1", "key2"])
    assert cache.get("key1") is None and cache.get("key2") is None
    assert cache.get("key3") == "ham"


def test_clear(cache):
    cache.set_many({"key1": "spam", "key2": "eggs"})
    cache.clear()
    assert cache.get("key1") is None and cache.get("key2") is None


def test_long_and_forever_timeout(cache):
    cache.set("key1", "eggs", 60 * 60 * 24 * 30 + 1)       # more than 30 days
    assert cache.get("key1") == "eggs"
    assert cache.add("key2", "ham", 60 * 60 * 24 * 30 + 1) is True
    cache.set("key3", "forever", None)
    assert cache._cache.ttl(cache.make_key("key3")) is None
    assert cache.add("key4", "x", None) is True
    assert cache.touch("key4", None) is True


def test_zero_and_negative_timeout(cache):
    cache.set("key1", "eggs", 0)
    assert cache.get("key1") is None
    assert cache.add("key2", "ham", 0) is True
    assert cache.get("key2") is None
    cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, 0)
    assert cache.get("key3") is None and cache.get("key4") is None
    cache.set("key5", "belgian fries", timeout=1)
    assert cache.touch("key5", timeout=0) is True
    assert cache.get("key5") is None
    cache.set("key6", "x", -1)
    assert cache.get("key6") is None


def test_float_timeout(cache):
    cache.set("key1", "spam", 100.2)
    assert cache.get("key1") == "spam"


def test_default_timeout(caches):
    c = caches["short"]
    c.set("k", "v")
    assert 0 < c._cache.ttl(c.make_key("k")) <= 1


def test_versioning_get_set(cache, caches):
    v2 = caches["v2"]
    cache.set("answer1", 42)
    assert cache.get("answer1") == 42
    assert cache.get("answer1", version=1) == 42
    assert cache.get("answer1", version=2) is None
    assert v2.get("answer1") is None
    assert v2.get("answer1", version=1) == 42
    cache.set("answer2", 42, version=2)
    assert cache.get("answer2") is None and v2.get("answer2") == 42
    v2.set("answer3", 42)
    assert cache.get("answer3", version=2) == 42 and cache.get("answer3") is None


def test_versioning_add_has_key_delete(cache):
    cache.add("answer1", 42, version=2)
    assert cache.get("answer1", version=1) is None
    assert cache.add("answer1", 37, version=2) is False
    assert cache.add("answer1", 37, version=1) is True
    assert cache.get("answer1", version=1) == 37 and cache.get("answer1", version=2) == 42
    assert cache.has_key("answer1", version=2)
    assert cache.delete("answer1", version=2) is True
    assert cache.get("answer1", version=2) is None and cache.get("answer1", version=1) == 37


def test_versioning_incr_decr(cache):
    cache.set("answer1", 37, version=1)
    cache.set("answer1", 42, version=2)
    assert cache.incr("answer1", version=2) == 43
    assert cache.get("answer1", version=1) == 37
    assert cache.decr("answer1", version=1) == 36


def test_versioning_many(cache, caches):
    cache.set_many({"ford1": 37, "arthur1": 42}, version=2)
    assert cache.get_many(["ford1", "arthur1"]) == {}
    assert cache.get_many(["ford1", "arthur1"], version=2) == {"ford1": 37, "arthur1": 42}
    assert caches["v2"].get_many(["ford1", "arthur1"]) == {"ford1": 37, "arthur1": 42}
    cache.delete_many(["ford1", "arthur1"], version=2)
    assert cache.get_many(["ford1", "arthur1"], version=2) == {}


def test_incr_decr_version(cache):
    cache.set("answer", 42, version=2)
    assert cache.incr_version("answer", version=2) == 3
    assert cache.get("answer", version=2) is None and cache.get("answer", version=3) == 42
    assert cache.decr_version("answer", version=3) == 2
    assert cache.get("answer", version=2) == 42
    with pytest.raises(ValueError):
        cache.incr_version("does_not_exist")


def test_custom_key_func(cache, caches):
    cache.set("answer1", 42)
    assert caches["custom_key"].get("answer1") is None
    caches["custom_key"].set("answer2", 42)
    assert cache.get("answer2") is None
    assert caches["custom_key2"].get("answer2") == 42


def test_key_validation_warnings(cache):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cache.set("key with spaces", "v")
        cache.set("a" * 251, "v")
    msgs = [str(x.message) for x in w]
    assert any("characters that will cause errors" in m for m in msgs)
    assert any("longer than 250" in m for m in msgs)
    assert cache.get("key with spaces") == "v"


def test_get_or_set(cache):
    assert cache.get("projector") is None
    assert cache.get_or_set("projector", 42) == 42
    assert cache.get("projector") == 42
    assert cache.get_or_set("null", None) is None
    assert cache.get_or_set("mykey", lambda: "value") == "value"
    assert cache.get_or_set("mykey", lambda: "other") == "value"


def test_shared_across_fork(cache):
    cache.set("before", {"x": 1})
    pid = os.fork()
    if pid == 0:
        ok = cache.get("before") == {"x": 1}
        cache.set("from-child", [1, 2])
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("from-child") == [1, 2]


def test_reopens_when_the_writer_is_gone(tmp_path):
    """Without --preload: attach to a writer in another process; when it
    exits, the backend opens the store again (and becomes the writer)."""
    from test_fork import start_writer, stop_writer

    from forkcache.django import ForkCache
    loc = str(tmp_path / "lazy")
    w = start_writer(loc)
    b = ForkCache(loc, {"OPTIONS": {"attach": True, "arena_path": "",
                                    "arena_size": 64 << 20, "block_cache_size": 1 << 20}})
    try:
        b.set("k", "v")
        assert b.get("k") == "v"
    finally:
        stop_writer(w)
    b.set("k2", "v2")                           # stale, reopened, retried
    assert b.get("k") == "v" and b.get("k2") == "v2"
    assert b._cache.stats()["writer_pid"] == os.getpid()
    b._cache.close()
