"""The cache's writes over its lean connection (veosaas/cache.py, veosaas/redis_wire.py) store
exactly what Django's own Redis backend stores, with Django's timeout meanings, against a real
Redis on loopback; an unreachable server drops them softly."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from tests.test_redis_wire import URL, server  # noqa: F401  (the fixture)
from veosaas.cache import RedisCache

VALUES: list[Any] = [
    7,
    -12,
    2**70,
    0,
    True,
    2.5,
    "text",
    b"bytes",
    None,
    {"job": [1, 2], "at": datetime(2026, 12, 7, tzinfo=UTC)},
    Decimal("1.10"),
]


@pytest.fixture
def pair(server: redis.Redis) -> tuple[RedisCache, DjangoRedisCache]:  # noqa: F811
    """Our backend and Django's stock one on the same server, database and key prefix."""
    params = {"KEY_PREFIX": f"test-{uuid.uuid4().hex}", "TIMEOUT": 60}
    return RedisCache(URL, params), DjangoRedisCache(URL, params)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_set_stores_the_bytes_django_stores(pair, server, value) -> None:  # noqa: F811
    ours, django = pair
    ours.set("mine", value)
    django.set("theirs", value)
    assert ours._wire(write=True)._local.sock is not None  # the write went over the wire
    mine, theirs = ours.make_key("mine"), ours.make_key("theirs")
    assert server.get(mine) == server.get(theirs)
    assert 55 < server.ttl(mine) <= 60 and 55 < server.ttl(theirs) <= 60
    assert django.get("mine", "missing") == value and ours.get("theirs", "missing") == value


def test_set_timeouts_mean_what_they_mean_in_django(pair, server) -> None:  # noqa: F811
    ours, _ = pair
    ours.set("forever", 1, None)
    assert server.ttl(ours.make_key("forever")) == -1
    ours.set("brief", 1, 5)
    assert 0 < server.ttl(ours.make_key("brief")) <= 5
    ours.set("brief", 2, 0)  # zero (or less) deletes, as in Django
    ours.set("gone", 2, -3)
    assert ours.get("brief") is None and ours.get("gone") is None
    ours.set("versioned", "a", version=2)
    assert ours.get("versioned") is None and ours.get("versioned", version=2) == "a"


def test_add_only_when_absent(pair, server) -> None:  # noqa: F811
    ours, django = pair
    assert ours.add("k", {"first": 1}, 30) is True
    assert ours.add("k", {"second": 2}, 30) is False
    assert django.get("k") == {"first": 1}
    assert 0 < server.ttl(ours.make_key("k")) <= 30
    assert ours.add("lasting", 5, None) is True and server.ttl(ours.make_key("lasting")) == -1
    assert ours.add("lasting", 6, None) is False and ours.get("lasting") == 5
    # Django's meaning of a zero timeout: added (True) and expired at once.
    assert ours.add("instant", 1, 0) is True and ours.get("instant") is None
    assert django.add("instant", 1, 0) is True


def test_delete_says_whether_there_was_something(pair) -> None:
    ours, django = pair
    django.set("k", "v")
    assert ours.delete("k") is True
    assert ours.delete("k") is False
    assert django.get("k") is None


def test_a_cache_with_another_key_function_writes_under_its_keys(server) -> None:  # noqa: F811
    prefix = f"test-{uuid.uuid4().hex}"
    ours = RedisCache(URL, {"KEY_PREFIX": prefix, "KEY_FUNCTION": lambda k, p, v: f"{p}|{k}"})
    ours.set("k", "v")
    assert server.exists(f"{prefix}|k") and ours.get("k") == "v"
    assert ours.delete("k") is True and not server.exists(f"{prefix}|k")


def test_writes_to_an_unreachable_server_are_dropped_softly() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = RedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_connect_timeout": 0.5}})
    assert dead.set("k", "v") is None
    assert dead.add("k", "v") is False
    assert dead.delete("k") is False
    assert dead.get("k", "default") == "default"
    assert dead._wire(write=True)._local.sock is None  # nothing half-open left behind


def test_reads_and_writes_of_a_thread_share_one_socket(pair) -> None:
    ours, _ = pair
    ours.set("k", "v")
    assert ours.get_many(["k"]) == {"k": "v"}
    assert ours._wire(write=True) is ours._wire()  # one server: one connection per thread
