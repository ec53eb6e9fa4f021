"""Constants, errors and the response type shared by the guard's modules."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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
