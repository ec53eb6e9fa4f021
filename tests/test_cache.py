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


def test_get_many_answers_as_djangos(backend: RedisCache) -> None:
    from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

    values = {"int": 7, "negative": -3, "big": 2**70, "flag": True, "text": "12", "none": None}
    values |= {"dict": {"n": [1, 2.5]}, "bytes": b"\x80raw"}
    backend.set_many(values, 30)
    backend.set("v2", "second version", 30, version=2)
    keys = [*values, "missing", "v2"]
    assert backend.get_many(keys) == DjangoRedisCache.get_many(backend, keys) == values
    assert backend.get_many(["v2", "int"], version=2) == {"v2": "second version"}


def test_get_many_with_a_custom_key_function(backend: RedisCache) -> None:
    url = backend._servers[0]
    custom = RedisCache(url, {"KEY_FUNCTION": lambda key, prefix, version: f"custom|{key}"})
    custom.set("k", [1], 30)
    assert custom.get_many(["k", "missing"]) == {"k": [1]}
    custom.delete("k")
