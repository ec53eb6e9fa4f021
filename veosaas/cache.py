"""Django's Redis cache backend, keeping one client object per connection pool.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` around the (cached) pool on
every cache call; building one costs about as much as a loopback round trip, so reads on hot
paths (API key lookups, status snapshots) paid it twice. A `redis.Redis` is safe to share
between threads (each command takes a connection from the pool), and Django already keeps one
backend instance per thread. Keys are not checked for memcached portability (see
`validate_key`), and `get_many` (the one read of every status poll) makes its keys and decodes
its values without Django's per-key overhead, answering exactly as Django's does, over the lean
per-thread connection of veosaas.redis_wire (redis-py's per-command overhead was most of a
status poll's cost above a bare view). `set`, `add` and `delete` (five of a submit's commands)
go over that connection too, as the same commands with the same encoding as Django's.

Fail-soft: when Redis cannot be reached, reads miss and writes are dropped (logged), so
everything that reads through the cache (API-key authentication, status snapshots) falls back
to the database instead of answering 500. What must not fail open does not use this backend:
rate limits talk to Redis directly and refuse with 503 (generation/ratelimit.py).
"""

from __future__ import annotations

import functools
import logging
import pickle
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT, default_key_func
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from veosaas.redis_wire import Wire

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_last_warning = [0.0]


def _fail_soft(fallback: Any) -> Callable[[F], F]:
    """Answer `fallback` (a miss, a dropped write) when Redis is unreachable."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                now = time.monotonic()
                if now - _last_warning[0] > 10:  # one line per 10 s, not one per request
                    _last_warning[0] = now
                    logger.warning("cache unreachable, falling back (%s): %s", method.__name__, exc)
                if callable(fallback):
                    return fallback(*args, **kwargs)
                return fallback

        return wrapper  # type: ignore[return-value]

    return decorate


def _default(self: Any, key: Any, default: Any = None, version: Any = None) -> Any:
    return default


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

    get = _fail_soft(_default)(DjangoRedisCache.get)

    @_fail_soft(lambda *a, **k: {})
    def get_many(self, keys: Any, version: Any = None) -> dict[str, Any]:
        """Django's `get_many` with its per-key overhead cut (status polls read three
        entries per request): the keys are made in one pass when the key function is the
        default one, and values are decoded as Django's serializer does (integers are stored
        as digits, everything else pickled, and a pickle starts with PROTO) without its
        exception on every pickled value. Same answer as Django's."""
        if self.key_func is not default_key_func:
            return DjangoRedisCache.get_many(self, keys, version=version)
        decode = self.decode
        return {key: decode(raw) for key, raw in self._get_many_raw(keys, version).items()}

    @_fail_soft(lambda *a, **k: {})
    def get_many_raw(self, keys: Any, version: Any = None) -> dict[str, bytes]:
        """The stored bytes of the present `keys` (decode each with `decode`): a caller can
        tell an unchanged entry from its bytes without decoding it."""
        return self._get_many_raw(keys, version)

    def _get_many_raw(self, keys: Any, version: Any) -> dict[str, bytes]:
        keys = list(keys)
        if self.key_func is default_key_func:
            prefix = f"{self.key_prefix}:{self.version if version is None else version}:"
            names = [f"{prefix}{k}" for k in keys]
        else:
            names = [self.make_key(k, version=version) for k in keys]
        wire = self._wire()
        client: Any = self._cache
        values: list[bytes | None] = (
            wire.mget(names) if wire is not None else client.get_client(None).mget(names)
        )
        return {key: value for key, value in zip(keys, values, strict=True) if value is not None}

    # Writes: Django's own, sent over the lean connection when there is one (same commands,
    # same encoding: integers as digits, everything else pickled by Django's serializer).

    @_fail_soft(None)
    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        wire = self._wire(write=True)
        if wire is None:
            return DjangoRedisCache.set(self, key, value, timeout, version)
        name, seconds = self.make_key(key, version=version), self.get_backend_timeout(timeout)
        if seconds == 0:
            wire.command("DEL", name)
        elif seconds is None:
            wire.command("SET", name, self._dumps(value))
        else:
            wire.command("SET", name, self._dumps(value), "EX", seconds)
        return None

    @_fail_soft(False)
    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        wire = self._wire(write=True)
        if wire is None:
            return DjangoRedisCache.add(self, key, value, timeout, version)
        name, seconds = self.make_key(key, version=version), self.get_backend_timeout(timeout)
        if seconds is None or seconds == 0:
            added = wire.command("SET", name, self._dumps(value), "NX") is not None
            if added and seconds == 0:  # Django's meaning: added, and expired at once
                wire.command("DEL", name)
            return added
        return wire.command("SET", name, self._dumps(value), "EX", seconds, "NX") is not None

    @_fail_soft(False)
    def delete(self, key: Any, version: Any = None) -> bool:
        wire = self._wire(write=True)
        if wire is None:
            return DjangoRedisCache.delete(self, key, version)
        return bool(wire.command("DEL", self.make_key(key, version=version)))

    def _dumps(self, value: Any) -> bytes | int:
        client: Any = self._cache  # Django's private serializer is not in its stubs
        dumped: bytes | int = client._serializer.dumps(value)
        return dumped

    def decode(self, raw: bytes) -> Any:
        """A value as `get` answers it, from the bytes `get_many_raw` read."""
        if raw[:1] == pickle.PROTO:
            # Django's serializer unpickles these same bytes; only this cache writes them.
            return pickle.loads(raw)  # noqa: S301
        client: Any = self._cache  # Django's private serializer is not in its stubs
        return client._serializer.loads(raw)

    def _wire(self, *, write: bool = False) -> Wire | None:
        """The lean per-thread connection (veosaas.redis_wire) to the server Django would use
        for a read or a `write`, None when its pool is not plain TCP."""
        slot = "_wire_write" if write else "_wire_read"
        try:
            return self.__dict__[slot]
        except KeyError:
            client: Any = self._cache
            wire = Wire.for_pool(client._get_connection_pool(write))
            self.__dict__[slot] = wire
            return wire

    touch = _fail_soft(False)(DjangoRedisCache.touch)
    delete_many = _fail_soft(None)(DjangoRedisCache.delete_many)
    set_many = _fail_soft(lambda *a, **k: [])(DjangoRedisCache.set_many)
    has_key = _fail_soft(False)(DjangoRedisCache.has_key)
    incr = _fail_soft(lambda *a, **k: 0)(DjangoRedisCache.incr)

    def validate_key(self, key: str) -> None:
        """Redis keys are binary-safe: skip Django's memcached portability warnings, which
        walk every character of every key on every call."""
