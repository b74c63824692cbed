"""Fixtures of the forkcache Python suite: a fresh store per test."""
import pytest

import forkcache

# Small arenas: many stores are opened, one per test.
SMALL = dict(arena_size=64 << 20, block_cache_size=1 << 20)


@pytest.fixture
def store_dir(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def cache(store_dir):
    c = forkcache.Cache(store_dir, **SMALL)
    yield c
    c.close()
