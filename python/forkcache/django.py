"""forkcache.django.ForkCache: a Django cache backend over a forkcache store.

    CACHES = {
        "default": {
            "BACKEND": "forkcache.django.ForkCache",
            "LOCATION": "/var/cache/app",          # the store directory
            "OPTIONS": {"arena_size": 256 << 20},  # forkcache.Cache options
        }
    }

Every process shares one store. Open it in the parent before the workers
fork: with gunicorn ``--preload``, touch ``caches["default"]`` in the WSGI
module (the store opens on first use). Django makes a backend object per
thread; they all share the process's one ``forkcache.Cache`` per LOCATION.

Values are pickled, except plain ints, which are stored as decimal text so
that ``incr``/``decr`` are atomic across processes (fc_incr). Keys go
through Django's key function (KEY_PREFIX, VERSION, KEY_FUNCTION) and its
key validation (a CacheKeyWarning for keys memcached would refuse).
Timeouts follow Django: None is forever, 0 or less is "do not keep".
``clear()`` deletes every key of the store. ``close()`` (called by Django
after every request) keeps the store open.

Without --preload (uWSGI lazy-apps: every worker imports the app after
fork), give OPTIONS ``"attach": True, "arena_path": ""``: the first worker
becomes the store's writer and the others attach to it. When that writer
exits (recycled), the others' writes fail (forkcache.AgainError: the
writer went away; StaleError once another writer replaced it): the
backend then opens the store again, once, and retries the call, so one of
them becomes the new writer.
"""
import functools
import os
import pickle
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

import forkcache

_stores = {}                 # absolute LOCATION -> forkcache.Cache, per process
_stores_lock = threading.Lock()
_EXPIRED = object()


def _encode(value):
    if type(value) is int:
        return str(value).encode()
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _decode(raw):
    # Pickles of protocol >= 2 start with 0x80; decimal text never does.
    if raw[:1] == b"\x80":
        return pickle.loads(raw)
    return int(bytes(raw))


def _reopen_if_stale(method):
    """Runs method; if the store's writer has gone (AgainError, or
    StaleError after another writer took over), opens the store again and
    runs it once more."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (forkcache.StaleError, forkcache.AgainError):
            self._reopen()
            return method(self, *args, **kwargs)
    return wrapper


class ForkCache(BaseCache):
    def __init__(self, location, params):
        super().__init__(params)
        self._location = os.path.abspath(location)
        self._options = dict(params.get("OPTIONS") or {})

    @property
    def _cache(self):
        c = _stores.get(self._location)
        if c is None or c.closed:
            with _stores_lock:
                c = _stores.get(self._location)
                if c is None or c.closed:
                    c = forkcache.Cache(self._location, **self._options)
                    _stores[self._location] = c
        return c

    def _reopen(self):
        with _stores_lock:
            stale = _stores.pop(self._location, None)
            if stale is not None:
                try:
                    stale.close()
                except forkcache.Error:
                    pass

    def _key(self, key, version):
        key = self.make_key(key, version=version)
        self.validate_key(key)
        return key

    def _expire(self, timeout):
        """Django's timeout as forkcache's expire: None (forever), seconds
        from now, or _EXPIRED for a value not to keep."""
        deadline = self.get_backend_timeout(timeout)
        if deadline is None:
            return None
        left = deadline - time.time()
        return left if left > 0 else _EXPIRED

    @_reopen_if_stale
    def get(self, key, default=None, version=None):
        raw = self._cache.get(self._key(key, version))
        return default if raw is None else _decode(raw)

    @_reopen_if_stale
    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        expire = self._expire(timeout)
        if expire is _EXPIRED:
            self._cache.delete(key)
        else:
            self._cache.set(key, _encode(value), expire=expire)

    @_reopen_if_stale
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        expire = self._expire(timeout)
        if expire is _EXPIRED:
            return key not in self._cache
        return self._cache.add(key, _encode(value), expire=expire)

    @_reopen_if_stale
    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self._key(key, version)
        expire = self._expire(timeout)
        c = self._cache
        while True:
            raw = c.get(key)
            if raw is None:
                return False
            if expire is _EXPIRED:
                c.delete(key)
                return True
            try:
                if c.cas(key, raw, raw, expire=expire):
                    return True
            except KeyError:
                return False

    @_reopen_if_stale
    def delete(self, key, version=None):
        return self._cache.delete(self._key(key, version))

    @_reopen_if_stale
    def has_key(self, key, version=None):
        return self._key(key, version) in self._cache

    @_reopen_if_stale
    def get_many(self, keys, version=None):
        names = {self._key(k, version): k for k in keys}
        out = {}
        with self._cache.view() as v:         # one snapshot for every key
            for name, k in names.items():
                mv = v.get(name)
                if mv is not None:
                    out[k] = _decode(mv)
        return out

    @_reopen_if_stale
    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        for k, value in data.items():
            self.set(k, value, timeout, version)
        return []

    @_reopen_if_stale
    def delete_many(self, keys, version=None):
        for k in keys:
            self.delete(k, version)

    @_reopen_if_stale
    def incr(self, key, delta=1, version=None):
        key = self._key(key, version)
        c = self._cache
        if key not in c:
            raise ValueError("Key '%s' not found" % key)
        try:
            return c.incr(key, delta)
        except forkcache.NotANumberError:
            pass
        while True:                            # a pickled number: swap it
            raw = c.get(key)
            if raw is None:
                raise ValueError("Key '%s' not found" % key)
            new = _decode(raw) + delta
            try:
                if c.cas(key, raw, _encode(new), expire=c.ttl(key)):
                    return new
            except KeyError:
                raise ValueError("Key '%s' not found" % key) from None

    @_reopen_if_stale
    def clear(self):
        c = self._cache
        for k in list(c):
            c.delete(k)

    def close(self, **kwargs):
        """Django calls this after each request: the store stays open."""
