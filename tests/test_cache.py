"""The Redis cache backend (veosaas/cache.py) against a real Redis on loopback."""

from __future__ import annotations

import os
import uuid
import warnings

import pytest
import redis

from veosaas.cache import RedisCache


@pytest.fixture
def backend() -> RedisCache:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"needs a Redis server at {url} (CI runs one)")
    return RedisCache(url, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})


def test_one_client_per_pool_is_reused(backend: RedisCache) -> None:
    client = backend._cache.get_client()
    assert backend._cache.get_client() is client
    assert backend._cache.get_client(write=True) is client  # one server: one pool


def test_reads_and_writes_go_through(backend: RedisCache) -> None:
    backend.set("a", {"n": 1}, 30)
    assert backend.add("a", {"n": 2}, 30) is False
    assert backend.get_many(["a", "missing"]) == {"a": {"n": 1}}
    backend.delete("a")
    assert backend.get("a") is None


def test_keys_memcached_would_refuse_work_without_warnings(backend: RedisCache) -> None:
    key = "status with spaces and ünicode " + "x" * 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django's default check warns (CacheKeyWarning)
        backend.set(key, 1, 30)
        assert backend.get(key) == 1
