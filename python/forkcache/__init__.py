"""forkcache: a shared-memory, fork-safe cache for pre-fork Python servers.

``Cache(path, **options)`` opens (by default creates) a forkcache store: a
directory in LevelDB's format plus a shared memory arena. Open it once in
the parent (gunicorn's master with ``--preload``), then fork: every worker
reads the same memory, and writes from any worker are seen by all. The
fork hooks are installed with ``os.register_at_fork``, so ``os.fork``,
``multiprocessing`` (fork start method) and gunicorn need nothing more.

A Cache is a ``collections.abc.MutableMapping`` of bytes to bytes (str
keys are encoded as UTF-8; keys come back as bytes). ``len(cache)`` counts
the keys and is O(n); iteration is in bytewise key order.

Options are the fields of ``fc_options`` in forkcache.h (``arena_size``,
``write_buffer_size``, ``max_bytes``, ``arena_path``, ``write_timeout_ms``,
...) plus the flags ``create`` (default True), ``readonly``, ``sync``,
``paranoid``, ``best_effort`` and ``attach``. ``ttl_framing`` defaults to
True for a new store (so ``expire=`` works) and to the store's own choice
for an existing one.

Errors are ``forkcache.Error`` (``.code`` is the FC_E* code, ``.name`` its
name) or one of its subclasses; a missing key in ``cache[k]`` is KeyError.
"""
import collections.abc
import functools
import hashlib
import os
import pickle

from . import _forkcache
from ._forkcache import (  # noqa: F401
    AgainError, BusyError, ClosedError, CorruptError, CounterOverflowError, Error, InvalidError,
    MAX_KEY_SIZE, MAX_VALUE_SIZE, NotANumberError, NotFoundError, ReadOnlyError,
    StaleError, TimeoutError, TooBigError, UnsupportedError, View, version,
)

__all__ = ["Cache", "View", "Error", "version"]

os.register_at_fork(before=_forkcache._before_fork,
                    after_in_parent=_forkcache._after_fork_parent,
                    after_in_child=_forkcache._after_fork_child)


class Cache(_forkcache.Cache, collections.abc.MutableMapping):
    """A forkcache store as a MutableMapping of bytes to bytes (see the module help)."""
    __slots__ = ()

    def __bool__(self):
        """True when the store holds a key: reads one chunk, not len()'s count."""
        return next(iter(self), None) is not None

    def memoize(self, expire=None, prefix=None, wait=None):
        """Decorator: caches fn(*args, **kwargs) (pickled) in the store.

        On a miss exactly one process computes the value while the others
        asking for the same arguments wait for it (fc_get_or_compute), so a
        stampede of workers computes it once. The key is the function's
        qualified name and a hash of the pickled arguments;
        ``wrapper.cache_key(*args, **kwargs)`` gives it, to delete it.
        """
        def decorate(fn):
            name = prefix or "%s.%s" % (fn.__module__, fn.__qualname__)

            def cache_key(*args, **kwargs):
                blob = pickle.dumps((args, sorted(kwargs.items())), protocol=4)
                return ("memoize:%s:" % name).encode() + hashlib.sha256(blob).hexdigest().encode()

            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                raw = self.get_or_set(cache_key(*args, **kwargs),
                                      lambda: pickle.dumps(fn(*args, **kwargs), protocol=4),
                                      expire=expire, wait=wait)
                return pickle.loads(raw)

            wrapper.cache_key = cache_key
            return wrapper
        return decorate
