"""Django's Redis cache backend, keeping one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` around the (cached) pool on
every cache call; building one costs about as much as a loopback round trip, so reads on hot
paths (API key lookups, status snapshots) paid it twice. A `redis.Redis` is safe to share
between threads (each command takes a connection from the pool), and Django already keeps one
backend instance per thread. Keys are not checked for memcached portability (see
`validate_key`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    # Django's private helpers used below; django-stubs declares only the public interface.
    _client: Callable[..., Any]
    _get_connection_pool_index: Callable[[bool], int]
    _get_connection_pool: Callable[[bool], Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def validate_key(self, key: str) -> None:
        """Redis keys are binary-safe: skip Django's memcached portability warnings, which
        walk every character of every key on every call."""
