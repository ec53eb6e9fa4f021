"""Read paths for users and API keys.

Cached keys and revocation (RELIABILITY A8): a cached snapshot records when it was read from
the database (`read_at`, taken before the read). Every invalidation (revoking, saving a key or
its user) writes a *fence* after its commit: the time from which older snapshots are stale. A
request that read the row before the revocation may still write its snapshot back afterwards
(the key touch does), but that snapshot predates the fence and is never trusted again, so the
revocation wins every interleaving. Fences never expire (one small entry per key), so no touch
can outlive one.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Model, QuerySet
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiKey, User
from veosaas import logcontext


class ApiKeyInvalid(Exception):
    """The presented key is malformed, unknown, revoked or expired."""


def auth_cache_key(digest: str) -> str:
    return f"auth:apikey:{digest}"


def auth_fence_key(digest: str) -> str:
    return f"auth:apikey:fence:{digest}"


# Snapshots read less than this long before a fence count as stale too (clock skew between
# hosts); for that long after an invalidation, lookups go to the database.
FENCE_MARGIN_SECONDS = 2.0


def api_key_cache_key(token: str) -> str | None:
    """The shared-cache key under which a token's key is kept; None for a malformed token."""
    token = token.strip()
    return auth_cache_key(tokens.digest(token)) if tokens.is_well_formed(token) else None


def api_key_cache_keys(token: str) -> list[str]:
    """The cache entries `api_key_authenticate` reads for a token (its snapshot and its
    fence); empty for a malformed token. A caller that needs other entries too reads these
    with them in one `cache.get_many` and passes the result as `prefetched`."""
    token = token.strip()
    if not tokens.is_well_formed(token):
        return []
    digest = tokens.digest(token)
    return [auth_cache_key(digest), auth_fence_key(digest)]


def _snapshot(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _rebuild(model: type[Model], values: dict[str, Any]) -> Any:
    names = list(values)
    return model.from_db("default", names, [values[n] for n in names])


def api_key_cache_store(*, api_key: ApiKey) -> None:
    """Keep the key and its user in the shared cache (every web process sees one copy), with
    the time its row was read (kept across touches, so a stale copy stays stale)."""
    read_at = getattr(api_key, "_auth_read_at", None)
    cache.set(
        auth_cache_key(api_key.digest),
        {
            "key": _snapshot(api_key),
            "user": _snapshot(api_key.user),
            "read_at": read_at if read_at is not None else time.time(),
        },
        settings.ACCOUNTS_API_KEY_CACHE_SECONDS,
    )


def _lookup(digest: str, prefetched: dict[str, Any] | None) -> ApiKey | None:
    key, fence = auth_cache_key(digest), auth_fence_key(digest)
    entries = prefetched if prefetched is not None else cache.get_many([key, fence])
    cached, fenced_at = entries.get(key), entries.get(fence)
    if (
        isinstance(cached, dict)
        and isinstance(cached.get("read_at"), float)
        and (fenced_at is None or cached["read_at"] > fenced_at + FENCE_MARGIN_SECONDS)
    ):
        api_key = _rebuild(ApiKey, cached["key"])
        api_key.user = _rebuild(User, cached["user"])
        api_key._auth_read_at = cached["read_at"]
        return api_key
    read_at = time.time()  # before the read: a row read earlier than a fence is older than it
    api_key = ApiKey.objects.select_related("user").filter(digest=digest).first()
    if api_key is not None:
        api_key._auth_read_at = read_at  # type: ignore[attr-defined]
        api_key_cache_store(api_key=api_key)
    return api_key


def api_key_authenticate(*, token: str, prefetched: dict[str, Any] | None = None) -> ApiKey:
    """Return the usable key for a raw token, or raise ApiKeyInvalid.

    Malformed tokens (wrong shape or checksum) are rejected without touching the database.
    Known keys are read through the shared cache (ACCOUNTS_API_KEY_CACHE_SECONDS); revoking a
    key and saving a key or its user fence the cached copy off (module docstring), so every
    process sees the change at once (accounts.signals), whatever request interleaves. With the
    cache unreachable the database answers (the cache backend fails soft).

    `prefetched` is the result of a `cache.get_many` whose keys included
    `api_key_cache_keys(token)`: a caller that needs other cache entries too reads them all in
    one round trip.
    """
    token = token.strip()
    if not tokens.is_well_formed(token):
        raise ApiKeyInvalid("malformed")
    api_key = _lookup(tokens.digest(token), prefetched)
    if api_key is None or not api_key.user.is_active:
        raise ApiKeyInvalid("unknown")
    if api_key.revoked_at is not None:
        raise ApiKeyInvalid("revoked")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        raise ApiKeyInvalid("expired")
    # The request's log line (and anything it enqueues) names the account and key.
    logcontext.bind(account_id=api_key.user_id, key_id=api_key.pk)
    return api_key


def api_key_address_allowed(*, api_key: ApiKey, address: str) -> bool:
    """Whether a request from `address` may use the key (its `allowed_ips`; empty = any)."""
    networks = api_key.allowed_ips or []
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for text in networks:
        try:
            if ip in ipaddress.ip_network(text, strict=False):
                return True
        except ValueError:
            continue
    return False


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


def api_key_get(*, user: User, key_id: int) -> ApiKey | None:
    """One of the user's keys by id, or None (also for another account's key)."""
    return ApiKey.objects.filter(user=user, pk=key_id).first()
