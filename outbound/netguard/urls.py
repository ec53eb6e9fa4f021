"""URL validation (rule 1 of the package doc)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from outbound.netguard.base import MAX_URL_LENGTH, BlockedDestination
from outbound.netguard.policy import _ip_literal

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
