"""The one SSRF-guarded HTTP client for requests to customer-supplied URLs.

Every request to a URL a customer gave us (webhook callbacks, image URLs) goes through
`guarded_get` or `guarded_post`; nothing else may open a connection to such a URL.
RELIABILITY.md W2/W3 and "Outgoing requests to customer URLs"; reference
billing-reliability.md §3.3.

Rules, applied on every call (DNS answers change, so a URL accepted at submit time is checked
again at each request):

1. `validate_url`: http or https only, no credentials in the URL, a hostname, at most
   `MAX_URL_LENGTH` characters, printable ASCII only. Plain http is allowed because many
   customers run http callback receivers; the body is signed (Standard Webhooks), not secret.
2. `resolve_public`: the host is resolved once with `socket.getaddrinfo` and every answer must
   be a public unicast address. One bad answer refuses the whole host, so a mixed answer
   (public + private) cannot win a race. Python's `ip.is_global` is not enough on its own:
   it returns True for the NAT64 (`64:ff9b::7f00:1`) and 6to4 (`2002:7f00:1::`) forms of
   127.0.0.1, for multicast `224.0.0.1` and for `192.0.0.8`, so an explicit deny list is
   checked as well (see `_DENIED_NETWORKS`).
3. Pinning: we open the TCP connection ourselves to the exact address that was checked and
   hand the connected socket to urllib3, so there is no second DNS lookup (DNS rebinding
   cannot switch the address). The original hostname is still sent as the Host header and, for
   https, as SNI and as the name the certificate is verified against.
4. Redirects are never followed: a 3xx comes back to the caller like any other status.
5. Time and bytes are capped: the connect phase gets at most `CONNECT_TIMEOUT` seconds per
   address, and a watchdog shuts the socket down when the total `timeout` is spent, so a
   server that drips one byte at a time cannot hold a worker. Response bodies are streamed and
   reading stops at the byte cap. Content-Encoding is not decoded (we ask for `identity`), so
   the cap counts wire bytes and a gzip bomb is never inflated.

Setting `WEBHOOK_ALLOW_PRIVATE_NETWORKS` (default False) additionally allows loopback and
private-network addresses (127/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) for
local development and tests. Cloud metadata addresses stay blocked whatever the setting.

DNS resolution uses the system resolver and its own timeouts (resolv.conf `timeout` and
`attempts`); the total `timeout` budget starts counting at the call.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any
from urllib.parse import urlsplit

import urllib3.exceptions
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
CONNECT_TIMEOUT = 5.0
USER_AGENT = "veosaas-netguard/1.0"
_READ_CHUNK = 64 * 1024

# Headers the client sets itself; a caller may not override them.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class BlockedDestination(Exception):
    """The URL or an address it resolves to is not allowed; nothing was sent.

    `reason` is a short human-readable explanation, safe to store in a delivery log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"destination blocked: {reason}")
        self.reason = reason


class FetchError(Exception):
    """A network or HTTP failure: DNS, connect, TLS, timeout, body too large, bad status.

    `status` is the HTTP status when the failure is an unwanted status (guarded_get), else None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GuardedResponse:
    """A response read through the guard.

    `headers` has lower-cased names (repeated headers joined with ", "); `body` is the full body
    for `guarded_get` and at most `excerpt_bytes` for `guarded_post`; `address` is the IP the
    connection went to; `latency_ms` runs from the call to the end of reading.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    latency_ms: int
    address: str


# --------------------------------------------------------------------------------------------
# Address policy
# --------------------------------------------------------------------------------------------


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), label) for cidr, label in pairs)


# Blocked whatever WEBHOOK_ALLOW_PRIVATE_NETWORKS says: cloud instance-metadata endpoints
# (AWS/GCP/Azure/OpenStack 169.254.169.254, ECS task metadata, AWS IPv6 IMDS, Alibaba Cloud).
_ALWAYS_BLOCKED = _nets(
    ("169.254.169.254/32", "cloud metadata address"),
    ("169.254.170.2/32", "cloud metadata address"),
    ("fd00:ec2::254/128", "cloud metadata address"),
    ("100.100.100.200/32", "cloud metadata address"),
)

# Allowed only when WEBHOOK_ALLOW_PRIVATE_NETWORKS is on (local development and tests).
_DEV_ALLOWED = _nets(
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("10.0.0.0/8", "private network"),
    ("172.16.0.0/12", "private network"),
    ("192.168.0.0/16", "private network"),
    ("fc00::/7", "unique local address"),
    ("100.64.0.0/10", "carrier-grade NAT"),
)

# Special-purpose ranges (IANA registries), denied explicitly because `is_global` misses some
# of them (NAT64, 6to4, 192.0.0.0/24, multicast on CPython 3.11) and its answers have changed
# between Python patch releases.
_DENIED_NETWORKS = _nets(
    ("0.0.0.0/8", "'this network' address"),
    ("10.0.0.0/8", "private network"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private network"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation range"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private network"),
    ("198.18.0.0/15", "benchmarking range"),
    ("198.51.100.0/24", "documentation range"),
    ("203.0.113.0/24", "documentation range"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified address"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible IPv6 address"),
    ("::ffff:0:0/96", "IPv4-mapped IPv6 address"),
    ("::ffff:0:0:0/96", "IPv4-translated IPv6 address"),
    ("64:ff9b::/96", "NAT64 address"),
    ("64:ff9b:1::/48", "NAT64 address"),
    ("100::/64", "discard-only address"),
    ("2001::/32", "Teredo address"),
    ("2001::/23", "IETF protocol assignment"),
    ("2001:db8::/32", "documentation range"),
    ("2002::/16", "6to4 address"),
    ("3fff::/20", "documentation range"),
    ("5f00::/16", "segment routing SID"),
    ("fc00::/7", "unique local address"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)


def _unwrap(ip: IPAddress) -> IPAddress:
    """`::ffff:a.b.c.d` is a.b.c.d on a dual-stack socket: judge (and connect to) the IPv4."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_block_reason(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `ip` may not be connected to, or None if it may.

    IPv4-mapped IPv6 addresses are judged as their IPv4 address. With `allow_private`,
    loopback and private-network addresses pass; metadata addresses never do.
    """
    ip = _unwrap(ip)
    for network, label in _ALWAYS_BLOCKED:
        if ip in network:
            return label
    if allow_private and any(ip in network for network, _ in _DEV_ALLOWED):
        return None
    for network, label in _DENIED_NETWORKS:
        if ip in network:
            return label
    # Belt and braces over the table above.
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private network"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not a globally routable address"),
    )
    for blocked, label in checks:
        if blocked:
            return label
    return None


def _allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False))


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve_public(host: str, port: int) -> list[IPAddress]:
    """Resolve `host` once and return its addresses, all of them allowed, in resolver order.

    An IP literal is checked as is, without a lookup. Raises BlockedDestination if ANY answer
    is not allowed (see `address_block_reason`; WEBHOOK_ALLOW_PRIVATE_NETWORKS applies) and
    FetchError if the name does not resolve. IPv4-mapped answers are returned as IPv4.
    """
    literal = _ip_literal(host)
    if literal is not None:
        candidates: list[IPAddress] = [literal]
    else:
        try:
            answers = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"could not resolve {host}: {exc}") from exc
        candidates = []
        for family, _type, _proto, _canonname, sockaddr in answers:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            candidates.append(ipaddress.ip_address(sockaddr[0]))
        if not candidates:
            raise FetchError(f"could not resolve {host}: no IPv4 or IPv6 address")

    allow_private = _allow_private()
    addresses: list[IPAddress] = []
    for candidate in candidates:
        reason = address_block_reason(candidate, allow_private=allow_private)
        if reason is not None:
            shown = host if literal is not None else f"{host} resolves to {candidate}"
            raise BlockedDestination(f"{shown}: {reason}")
        address = _unwrap(candidate)
        if address not in addresses:
            addresses.append(address)
    return addresses


# --------------------------------------------------------------------------------------------
# URL validation
# --------------------------------------------------------------------------------------------

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$"
)
# A last label that is a number (decimal, octal or 0x-hex) makes resolvers read the host as an
# IPv4 address in a non-canonical spelling (127.1, 2130706433, 0x7f.0.0.1, 0177.0.0.1).
_NUMERIC_LABEL_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case, without IPv6 brackets
    port: int
    request_target: str  # path and query, what goes on the request line


def _parse_url(url: str) -> _Target:
    if not isinstance(url, str) or not url:
        raise BlockedDestination("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise BlockedDestination(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(not (0x21 <= ord(char) <= 0x7E) for char in url):
        raise BlockedDestination(
            "URL must be printable ASCII without spaces (percent-encode the path, "
            "punycode the host)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedDestination(f"URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedDestination(f"scheme must be http or https, not {scheme or 'missing'!r}")
    if "@" in parts.netloc:
        raise BlockedDestination("credentials in the URL are not allowed")
    host = parts.hostname or ""
    if not host:
        raise BlockedDestination("URL has no host")
    if port == 0:
        raise BlockedDestination("port 0 is not allowed")
    literal = _ip_literal(host)
    if parts.netloc.startswith("["):
        if not isinstance(literal, ipaddress.IPv6Address) or literal.scope_id:
            raise BlockedDestination("bracketed host must be a plain IPv6 address")
    elif literal is None:
        if not _HOSTNAME_RE.match(host):
            raise BlockedDestination(f"invalid hostname {host!r}")
        if _NUMERIC_LABEL_RE.match(host.rstrip(".").rsplit(".", 1)[-1]):
            raise BlockedDestination(
                f"numeric host {host!r} must be written as a dotted-quad IPv4 address"
            )
    request_target = parts.path or "/"
    if parts.query:
        request_target += "?" + parts.query
    return _Target(
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        request_target=request_target,
    )


def validate_url(url: str) -> None:
    """Raise BlockedDestination unless `url` is acceptable as a customer callback/image URL.

    Rules: http or https; no userinfo; a host (a DNS name, a dotted-quad IPv4 address or a
    bracketed IPv6 address; numeric hosts in other spellings are refused); any port but 0; at
    most MAX_URL_LENGTH characters of printable ASCII. No DNS lookup is done here: the address
    check runs at every request (`resolve_public`).
    """
    _parse_url(url)


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
    sock, address = _connect(target.host, addresses, target.port, deadline)
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        watchdog = _Watchdog(sock, deadline - time.monotonic())
    except BaseException:
        sock.close()
        raise

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

    request_headers = {
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **headers,
        "Connection": "close",
    }
    where = f"{target.host} ({address})"
    try:
        try:
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
        except (OSError, HTTPException, urllib3.exceptions.HTTPError) as exc:
            if watchdog.fired or isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError):
                raise FetchError(f"{where}: no complete response within {timeout:g} s") from exc
            raise FetchError(f"{where}: {type(exc).__name__}: {exc}") from exc
    finally:
        watchdog.cancel()
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
) -> GuardedResponse:
    """POST `body` with `headers` to `url` (a customer's callback) through the guard.

    Returns whatever status came back, 3xx included (never followed); the caller decides what
    counts as delivered. The response body is read up to `excerpt_bytes` and the rest is
    discarded. Host, Content-Length, Transfer-Encoding and Connection are set by the client
    (ValueError if passed); a User-Agent is added unless given. Raises BlockedDestination for
    a disallowed URL or address (nothing is sent) and FetchError for DNS, connect, TLS and
    timeout failures. Not idempotent by itself: receivers deduplicate on the webhook-id.
    """
    return _request(
        "POST",
        url,
        body=body,
        headers=headers,
        timeout=timeout,
        body_limit=excerpt_bytes,
        is_download=False,
    )
