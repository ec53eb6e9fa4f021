"""The cache's lean MGET connection (veosaas/redis_wire.py) against a real Redis on loopback."""

from __future__ import annotations

import os
import socket
import threading
import uuid

import pytest
import redis

from veosaas import redis_wire
from veosaas.cache import RedisCache
from veosaas.redis_wire import Wire

URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"


def redis_or_skip(url: str) -> redis.Redis:
    """A client of the Redis server at `url`; the test is skipped where none answers."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip(f"needs a Redis server at {url} (CI runs one)")
    return client


@pytest.fixture
def server() -> redis.Redis:
    return redis_or_skip(URL)


@pytest.fixture
def backend(server: redis.Redis) -> RedisCache:
    return RedisCache(URL, {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})


def _wire_of(backend: RedisCache) -> Wire:
    wire = backend._wire()
    assert wire is not None
    return wire


def test_get_many_reads_through_the_wire_in_the_pools_database(backend: RedisCache) -> None:
    backend.set_many({"a": {"n": 1}, "b": 7}, 30)  # written by redis-py, in the URL's database
    wire = _wire_of(backend)
    assert backend.get_many(["a", "b", "missing"]) == {"a": {"n": 1}, "b": 7}
    assert wire._local.sock is not None  # the read went over the wire's own socket
    # Every cache instance of the process shares the one Wire of that server and database.
    assert _wire_of(RedisCache(URL, {"KEY_PREFIX": "other"})) is wire


def test_each_thread_has_its_own_socket(backend: RedisCache) -> None:
    backend.set("k", 1, 30)
    wire = _wire_of(backend)
    sockets: list[socket.socket | None] = []

    def read() -> None:
        assert backend.get_many(["k"]) == {"k": 1}
        sockets.append(wire._local.sock)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    read()
    assert len({id(s) for s in sockets}) == 3 and None not in sockets


def test_a_connection_the_server_closed_is_replaced_without_a_miss(
    server: redis.Redis, backend: RedisCache
) -> None:
    backend.set("k", "v", 30)
    wire = _wire_of(backend)
    assert backend.get_many(["k"]) == {"k": "v"}
    client_id = wire._call(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
    server.client_kill_filter(_id=client_id)
    assert backend.get_many(["k"]) == {"k": "v"}  # resent once on a new connection
    assert wire._call(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n") != client_id


def test_an_unreachable_server_is_a_miss_not_an_error() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = RedisCache(f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    assert backend.get_many(["a", "b"]) == {}
    with pytest.raises(redis.exceptions.ConnectionError):
        _wire_of(backend).mget(["a"])
    assert _wire_of(backend)._local.sock is None


def test_an_error_reply_is_raised(backend: RedisCache) -> None:
    wire = _wire_of(backend)
    backend.get_many(["x"])
    with pytest.raises(redis.exceptions.ResponseError):
        wire._call(b"*1\r\n$13\r\nNOSUCHCOMMAND\r\n")
    assert backend.get_many(["x"]) == {}  # the connection is still usable


def test_credentials_are_sent_and_a_refusal_leaves_no_socket(server: redis.Redis) -> None:
    name, password = f"wire-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.acl_setuser(
        name, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"]
    )
    try:
        db = server.connection_pool.connection_kwargs.get("db", 0)
        base = (
            f"redis://{name}:{{}}@127.0.0.1:{server.connection_pool.connection_kwargs['port']}/{db}"
        )
        good = RedisCache(base.format(password), {"KEY_PREFIX": uuid.uuid4().hex})
        good.set("k", "authenticated", 30)
        assert good.get_many(["k"]) == {"k": "authenticated"}
        bad = RedisCache(base.format("wrong"), {})
        with pytest.raises(redis.exceptions.ResponseError):
            _wire_of(bad).mget(["k"])
        assert _wire_of(bad)._local.sock is None
    finally:
        server.acl_deluser(name)


def test_a_forked_child_opens_its_own_socket(backend: RedisCache) -> None:
    backend.get_many(["k"])
    wire = _wire_of(backend)
    parent_socket = wire._local.sock
    redis_wire._after_fork_in_child()  # what os.fork runs in the child
    assert wire._local.sock is None
    backend.get_many(["k"])
    assert wire._local.sock is not None and wire._local.sock is not parent_socket
    parent_socket.close()


def test_pools_that_are_not_plain_tcp_use_redis_py() -> None:
    assert Wire.for_pool(redis.ConnectionPool.from_url("unix:///tmp/none.sock")) is None
    assert Wire.for_pool(redis.ConnectionPool.from_url("rediss://127.0.0.1:6390/0")) is None
