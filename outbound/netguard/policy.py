"""Address policy: which resolved addresses a customer URL may reach (rule 2 of the package doc)."""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings

from outbound.netguard.base import BlockedDestination, FetchError, IPAddress

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
