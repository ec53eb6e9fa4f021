"""Pinned connections, time and byte caps, and the two public calls (package doc rules 3-5)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.client import HTTPException
from typing import Any

import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection

from outbound.netguard.base import (
    _READ_CHUNK,
    _RESERVED_HEADERS,
    CONNECT_TIMEOUT,
    USER_AGENT,
    FetchError,
    GuardedResponse,
    IPAddress,
)
from outbound.netguard.policy import resolve_public
from outbound.netguard.urls import _parse_url

# --------------------------------------------------------------------------------------------
# Pinned connections
# --------------------------------------------------------------------------------------------


class _PinnedSocketMixin:
    """Use a socket we connected ourselves instead of letting urllib3 resolve the host.

    urllib3's `_new_conn` would call getaddrinfo on the hostname again; this is the seam that
    pins the connection to the checked address. A pinned connection can be used once.
    """

    pinned_sock: socket.socket | None = None

    def _new_conn(self) -> socket.socket:
        sock, self.pinned_sock = self.pinned_sock, None
        if sock is None:
            raise OSError("a pinned connection cannot reconnect")
        return sock


class _PinnedHTTPConnection(_PinnedSocketMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedSocketMixin, HTTPSConnection):
    pass


def _connect(
    host: str, addresses: list[IPAddress], port: int, deadline: float
) -> tuple[socket.socket, IPAddress]:
    """Connect to the first address that answers; each attempt gets at most CONNECT_TIMEOUT."""
    last_error: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(CONNECT_TIMEOUT, remaining))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect((str(address), port))
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock, address
    if last_error is None:
        raise FetchError(f"{host}: timed out before a connection could be made")
    raise FetchError(f"could not connect to {host} port {port}: {last_error}") from last_error


class _Watchdog:
    """Shut the connection down when the total time budget is spent.

    Socket timeouts bound each read, not the whole exchange; a server sending one byte per
    second would otherwise hold the worker forever. `shutdown` on a dup of the socket wakes any
    blocked send/recv in the requesting thread. `fired` tells a timeout apart from the peer
    closing the connection (a close-delimited body would otherwise look complete).
    """

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self._killer: socket.socket | None = sock.dup()
        self._lock = threading.Lock()
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._killer is None:
                return
            self.fired = True
            with contextlib.suppress(OSError):
                self._killer.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            killer, self._killer = self._killer, None
        if killer is not None:
            killer.close()


def _read_capped(response: Any, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes; the flag says whether the body had more."""
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk = response.read1(min(_READ_CHUNK, limit + 1 - received))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        received += len(chunk)
        if received > limit:
            data = b"".join(chunks)
            return data[:limit], True


def _request(
    method: str,
    url: str,
    *,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    body_limit: int,
    is_download: bool,
    keep_alive: bool = False,
) -> GuardedResponse:
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if body_limit < 0:
        raise ValueError("byte limit must not be negative")
    clashing = sorted(name for name in headers if name.lower() in _RESERVED_HEADERS)
    if clashing:
        raise ValueError(f"headers set by the client cannot be overridden: {clashing}")

    started = time.monotonic()
    deadline = started + timeout
    target = _parse_url(url)
    addresses = resolve_public(target.host, target.port)
    key = (target.scheme, target.host, target.port)
    idle = _idle_take(key, addresses) if keep_alive else None
    if idle is not None:
        try:
            return _exchange(
                idle,
                method,
                target,
                body,
                headers,
                timeout,
                deadline,
                started,
                body_limit=body_limit,
                is_download=is_download,
                keep_alive=True,
                reused=True,
            )
        except _StaleConnection:
            pass  # the receiver closed it while idle: nothing was answered, send afresh
    sock, address = _connect(target.host, addresses, target.port, deadline)
    conn: HTTPConnection
    if target.scheme == "https":
        # server_hostname is sent as SNI and OpenSSL verifies the certificate against it
        # (urllib3 leaves check_hostname on when assert_hostname is not given): the
        # customer's hostname, although the socket is connected to an IP.
        conn = _PinnedHTTPSConnection(
            target.host, target.port, timeout=timeout, server_hostname=target.host
        )
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, timeout=timeout)
    conn.pinned_sock = sock
    return _exchange(
        (conn, sock, address),
        method,
        target,
        body,
        headers,
        timeout,
        deadline,
        started,
        body_limit=body_limit,
        is_download=is_download,
        keep_alive=keep_alive,
        reused=False,
    )


class _StaleConnection(Exception):
    """A kept-alive connection turned out closed before any answer came back."""


# Kept-alive connections, one per (scheme, host, port) and thread, with the address they are
# pinned to and when they fell idle. One is reused only while that address is still among the
# host's checked addresses of this very request, and for at most _IDLE_SECONDS.
_IDLE_SECONDS = 4.0
_MAX_IDLE = 8
_idle = threading.local()
_Pinned = tuple[HTTPConnection, socket.socket, IPAddress]


def _idle_take(key: tuple[str, str, int], addresses: list[IPAddress]) -> _Pinned | None:
    pool: dict[tuple[str, str, int], tuple[_Pinned, float]] = _idle.__dict__.setdefault("pool", {})
    entry = pool.pop(key, None)
    if entry is None:
        return None
    pinned, since = entry
    if pinned[2] in addresses and time.monotonic() - since <= _IDLE_SECONDS:
        return pinned
    pinned[0].close()
    pinned[1].close()
    return None


def _idle_put(key: tuple[str, str, int], pinned: _Pinned) -> None:
    """Keep `pinned` for the next request to its host; connections idle too long, and the
    oldest beyond _MAX_IDLE hosts, are closed (a thread never holds many sockets)."""
    pool: dict[tuple[str, str, int], tuple[_Pinned, float]] = _idle.__dict__.setdefault("pool", {})
    now = time.monotonic()
    for old_key, (old, since) in list(pool.items()):
        if old_key == key or now - since > _IDLE_SECONDS or len(pool) >= _MAX_IDLE:
            del pool[old_key]
            old[0].close()
            old[1].close()
    pool[key] = (pinned, now)


def _exchange(
    pinned: _Pinned,
    method: str,
    target: Any,
    body: bytes | None,
    headers: dict[str, str],
    timeout: float,
    deadline: float,
    started: float,
    *,
    body_limit: int,
    is_download: bool,
    keep_alive: bool,
    reused: bool,
) -> GuardedResponse:
    conn, sock, address = pinned
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        watchdog = _Watchdog(sock, deadline - time.monotonic())
    except BaseException:
        conn.close()
        sock.close()
        raise
    request_headers = {
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **headers,
        "Connection": "keep-alive" if keep_alive else "close",
    }
    where = f"{target.host} ({address})"
    reusable = False
    answered = False
    try:
        try:
            conn.timeout = max(deadline - time.monotonic(), 0.001)
            conn.request(
                method,
                target.request_target,
                body=body,
                headers=request_headers,
                preload_content=False,
                decode_content=False,
            )
            conn.timeout = max(deadline - time.monotonic(), 0.001)
            response = conn.getresponse()
            answered = True
            status = response.status
            response_headers = {name.lower(): response.headers[name] for name in response.headers}
            if is_download:
                if not 200 <= status < 300:
                    hint = " (redirects are not followed)" if 300 <= status < 400 else ""
                    raise FetchError(f"{where} answered HTTP {status}{hint}", status=status)
                declared = response_headers.get("content-length", "")
                if declared.isascii() and declared.isdigit() and int(declared) > body_limit:
                    raise FetchError(f"{where}: response is larger than {body_limit} bytes")
            data, truncated = _read_capped(response, body_limit)
            if watchdog.fired:
                raise FetchError(f"{where}: no complete response within {timeout:g} s")
            if truncated and is_download:
                raise FetchError(f"{where}: response is larger than {body_limit} bytes")
            original = getattr(response, "_original_response", None)
            reusable = keep_alive and not truncated and not getattr(original, "will_close", True)
            response.close()
        except (OSError, HTTPException, urllib3.exceptions.HTTPError) as exc:
            if reused and not answered and not watchdog.fired:
                raise _StaleConnection from exc
            if watchdog.fired or isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
                raise FetchError(f"{where}: no complete response within {timeout:g} s") from exc
            raise FetchError(f"{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        watchdog.cancel()
        if reusable:
            _idle_put((target.scheme, target.host, target.port), pinned)
        else:
            conn.close()
            sock.close()

    return GuardedResponse(
        status=status,
        headers=response_headers,
        body=data,
        latency_ms=int((time.monotonic() - started) * 1000),
        address=str(address),
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def guarded_get(url: str, *, max_bytes: int, timeout: float = 30.0) -> GuardedResponse:
    """Download `url` (e.g. a customer's image URL) through the guard.

    Returns the full body. Raises BlockedDestination for a disallowed URL or address (nothing
    is sent), FetchError for network failures, for any non-2xx status (3xx included: redirects
    are not followed; `FetchError.status` holds the status), and for a body over `max_bytes`
    ("larger than N bytes", detected from Content-Length or while streaming). `timeout` caps
    the whole call (DNS time counts against it but a lookup is bounded only by the system
    resolver). Idempotent (a GET); no side effects on our side.
    """
    return _request(
        "GET",
        url,
        body=None,
        headers={},
        timeout=timeout,
        body_limit=max_bytes,
        is_download=True,
    )


def guarded_post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float = 15.0,
    excerpt_bytes: int = 2048,
    keep_alive: bool = False,
) -> GuardedResponse:
    """POST `body` with `headers` to `url` (a customer's callback) through the guard.

    Returns whatever status came back, 3xx included (never followed); the caller decides what
    counts as delivered. The response body is read up to `excerpt_bytes` and the rest is
    discarded. Host, Content-Length, Transfer-Encoding and Connection are set by the client
    (ValueError if passed); a User-Agent is added unless given. Raises BlockedDestination for
    a disallowed URL or address (nothing is sent) and FetchError for DNS, connect, TLS and
    timeout failures. Not idempotent by itself: receivers deduplicate on the webhook-id.

    `keep_alive`: keep the connection open after a complete answer and reuse it for this
    thread's next request to the same host (still pinned to an address checked for that
    request, idle for at most a few seconds). A kept connection the receiver closed meanwhile
    is replaced by a new one, once, when nothing had been answered on it.
    """
    return _request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=timeout,
        body_limit=excerpt_bytes,
        is_download=False,
        keep_alive=keep_alive,
    )
