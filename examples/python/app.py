"""A small WSGI app over Django's cache API, for gunicorn --preload.

    FC_STORE=/tmp/store gunicorn --preload --workers 4 --max-requests 2000 \
        -b 127.0.0.1:8000 --chdir examples/python app:application

The cache is forkcache.django.ForkCache on the directory $FC_STORE, or
Django's LocMemCache (one copy per worker) with FC_BACKEND=locmem, so the
two can be compared under the same load. Routes (every answer names the
worker in X-Worker):

    GET /get/<key>       the cached value, 404 when absent
    GET /set/<key>/<v>   stores v (visible to every worker at once)
    GET /incr/<key>      adds 1 to a counter shared by the workers
    GET /compute/<n>     an expensive function of n, memoized: computed
                         once per n across all workers (fc_get_or_compute)
    GET /data/<i>        value i of the data set (FC_DATA_KEYS values of
                         FC_DATA_SIZE bytes), loading the set on a miss
    GET /load            makes sure the data set is in the cache
    GET /stored          KiB the store holds: its tables and memtables

With ForkCache the master opens the store at import (--preload), before
the workers fork; the fork hooks give each worker its own share.
"""
import hashlib
import os

import django
from django.conf import settings

BACKEND = os.environ.get("FC_BACKEND", "forkcache")
STORE = os.environ.get("FC_STORE", "/tmp/forkcache-example")
DATA_KEYS = int(os.environ.get("FC_DATA_KEYS", "20000"))
DATA_SIZE = int(os.environ.get("FC_DATA_SIZE", "1024"))

if BACKEND == "locmem":
    cache_conf = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                  "OPTIONS": {"MAX_ENTRIES": 10 ** 9}, "TIMEOUT": None}
else:
    cache_conf = {"BACKEND": "forkcache.django.ForkCache", "LOCATION": STORE, "TIMEOUT": None,
                  "OPTIONS": {"arena_size": 256 << 20}}
settings.configure(CACHES={"default": cache_conf})
django.setup()

from django.core.cache import cache  # noqa: E402

if BACKEND != "locmem":
    import forkcache  # noqa: E402
    cache.get("warm-up")                     # opens the store here, in the master
    store = cache._cache

    @store.memoize(expire=30)
    def expensive(n):
        return hashlib.sha256(str(n).encode() * 20000).hexdigest()
else:
    _memo = {}

    def expensive(n):
        if n not in _memo:
            _memo[n] = hashlib.sha256(str(n).encode() * 20000).hexdigest()
        return _memo[n]

_loaded = False


def load():
    """The data set, written by whoever misses it first: with ForkCache
    once for all workers, with LocMemCache once per worker."""
    global _loaded
    if _loaded:
        return 0
    wrote = 0
    for i in range(DATA_KEYS):
        k = "data:%d" % i
        if cache.get(k) is None:
            cache.set(k, (b"%08d" % i) * (DATA_SIZE // 8))
            wrote += 1
    _loaded = True
    return wrote


def answer(start, status, body, ctype="text/plain"):
    if isinstance(body, str):
        body = body.encode()
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(body))),
                   ("X-Worker", str(os.getpid()))])
    return [body]


def application(environ, start):
    parts = environ.get("PATH_INFO", "/").strip("/").split("/")
    route = parts[0]
    if route == "get" and len(parts) == 2:
        v = cache.get(parts[1])
        if v is None:
            return answer(start, "404 Not Found", "absent\n")
        return answer(start, "200 OK", v if isinstance(v, bytes) else str(v))
    if route == "set" and len(parts) == 3:
        cache.set(parts[1], parts[2])
        return answer(start, "200 OK", "ok\n")
    if route == "incr" and len(parts) == 2:
        if cache.add(parts[1], 1):
            return answer(start, "200 OK", "1\n")
        return answer(start, "200 OK", "%d\n" % cache.incr(parts[1]))
    if route == "compute" and len(parts) == 2 and parts[1].isdigit():
        return answer(start, "200 OK", expensive(int(parts[1])) + "\n")
    if route == "data" and len(parts) == 2 and parts[1].isdigit():
        k = "data:%d" % (int(parts[1]) % DATA_KEYS)
        v = cache.get(k)
        if v is None:
            load()
            v = cache.get(k)
        return answer(start, "200 OK", v)
    if route == "stored" and BACKEND != "locmem":
        st = store.stats()
        return answer(start, "200 OK", "%d\n" % ((sum(st["level_bytes"]) + st["mem_bytes"] +
                                                  st["imm_bytes"]) // 1024))
    if route == "load":
        return answer(start, "200 OK", "%d\n" % load())
    return answer(start, "404 Not Found", "no such route\n")
