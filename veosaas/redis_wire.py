"""One plain socket per thread for the cache's hot commands (the MGET of every status poll,
the writes and the rate-limit script of every submit).

redis-py 8 spends about 60 µs of Python per command on this machine before and after the
round trip itself (connection checkout with a readability poll, fork checks, retry and
observability hooks, response callbacks); the round trip costs about 20 µs. A status poll
is one MGET and a submit six commands, so that overhead was most of what a poll costs above
a bare view. `Wire` sends each command on a socket of its thread's own with hiredis's packer
and parser: two system calls and no per-command machinery. It speaks to the same server,
database and credentials as the redis-py pool it stands for, and only for plain TCP pools (TLS
and Unix-socket pools use redis-py as before: `Wire.for_pool` answers None).

Errors: any socket error or timeout closes the socket (the next call opens a new one) and is
raised as redis-py's ConnectionError / TimeoutError, so the cache's fail-soft handling
(veosaas.cache) applies unchanged. A server error reply is raised as ResponseError.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import hiredis
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

_RECV = 65536
# hiredis's stubs type the argument as a one-element tuple; it takes any number of parts.
_pack = cast(Callable[[tuple[Any, ...]], bytes], hiredis.pack_command)


class _Local(threading.local):
    sock: socket.socket | None = None
    reader: Any = None


class Wire:
    """Commands on a per-thread socket to the server of a redis-py connection pool."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        socket_timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.address = (host, port)
        self.db = db
        self.username = username
        self.password = password
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else socket_timeout
        self._local = _Local()

    @classmethod
    def for_pool(cls, pool: Any) -> Wire | None:
        """The process's Wire to the server of `pool` (one per server, database and
        credentials, shared by every cache instance), or None when the pool is not plain
        TCP."""
        if pool.connection_class is not redis.Connection:
            return None
        kwargs = pool.connection_kwargs
        if kwargs.get("credential_provider") is not None:
            return None
        params = (
            kwargs.get("host", "localhost"),
            int(kwargs.get("port", 6379)),
            int(kwargs.get("db", 0) or 0),
            kwargs.get("username"),
            kwargs.get("password"),
            kwargs.get("socket_timeout"),
            kwargs.get("socket_connect_timeout"),
        )
        wire = _wires.get(params)
        if wire is None:
            with _wires_lock:
                wire = _wires.setdefault(
                    params,
                    cls(
                        host=params[0],
                        port=params[1],
                        db=params[2],
                        username=params[3],
                        password=params[4],
                        socket_timeout=params[5],
                        connect_timeout=params[6],
                    ),
                )
        return wire

    def _forget(self) -> None:
        self._local = _Local()

    def close(self) -> None:
        local = self._local
        if local.sock is not None:
            try:
                local.sock.close()
            finally:
                local.sock = None
                local.reader = None

    def _connect(self) -> None:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.socket_timeout)
        local = self._local
        local.sock = sock
        local.reader = hiredis.Reader()
        try:
            if self.password is not None:
                user = (self.username,) if self.username else ()
                self._call(_pack(("AUTH", *user, self.password)))
            if self.db:
                self._call(_pack(("SELECT", self.db)))
        except BaseException:  # a refused AUTH must not leave a half-set-up socket behind
            self.close()
            raise

    def _call(self, packed: bytes) -> Any:
        local = self._local
        sock, reader = local.sock, local.reader
        if sock is None:
            raise RedisConnectionError("not connected")
        with self._closing_on_error():
            sock.sendall(packed)
            reply = reader.gets()
            while reply is False:
                chunk = sock.recv(_RECV)
                if not chunk:
                    raise RedisConnectionError("Redis closed the connection")
                reader.feed(chunk)
                reply = reader.gets()
        if isinstance(reply, hiredis.ReplyError):
            raise ResponseError(str(reply))
        return reply

    def mget(self, keys: list[str]) -> list[bytes | None]:
        """The values of `keys` (None where missing), as redis-py's `mget` answers."""
        reply: list[bytes | None] = self.command("MGET", *keys)
        return reply

    def command(self, *parts: str | bytes | int | float) -> Any:
        """Send one command and answer its reply as hiredis parses it (bytes, int, None, list).

        A kept socket the server has closed meanwhile (idle timeout, restart) fails on first
        use: the command is sent once more on a new connection, as redis-py retries it."""
        packed = _pack(parts)
        reused = self._local.sock is not None
        if not reused:
            self._open()
        try:
            return self._call(packed)
        except RedisConnectionError:
            if not reused:
                raise
            self._open()
            return self._call(packed)

    def _open(self) -> None:
        with self._closing_on_error():
            self._connect()

    @contextmanager
    def _closing_on_error(self) -> Iterator[None]:
        """Close the thread's socket on any socket error or timeout, raised as redis-py's
        TimeoutError / ConnectionError (what the cache's fail-soft handling catches)."""
        try:
            yield
        except TimeoutError as exc:
            self.close()
            raise RedisTimeoutError(str(exc)) from exc
        except OSError as exc:
            self.close()
            raise RedisConnectionError(str(exc)) from exc
        except RedisConnectionError:
            self.close()
            raise


_wires: dict[tuple[Any, ...], Wire] = {}
_wires_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child (gunicorn's preload, Celery's prefork pool) must not share its parent's
    sockets: it opens its own on first use."""
    for wire in list(_wires.values()):
        wire._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
