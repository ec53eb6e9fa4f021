"""Read paths for users and API keys."""

from __future__ import annotations

import ipaddress
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


def api_key_cache_key(token: str) -> str | None:
    """The shared-cache key under which a token's key is kept; None for a malformed token
    (no key has it). For callers that read it together with other entries (`prefetched`)."""
    token = token.strip()
    return auth_cache_key(tokens.digest(token)) if tokens.is_well_formed(token) else None


def _snapshot(instance: Model) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _rebuild(model: type[Model], values: dict[str, Any]) -> Any:
    names = list(values)
    return model.from_db("default", names, [values[n] for n in names])


def api_key_cache_store(*, api_key: ApiKey) -> None:
    """Keep the key and its user in the shared cache (every web process sees one copy)."""
    cache.set(
        auth_cache_key(api_key.digest),
        {"key": _snapshot(api_key), "user": _snapshot(api_key.user)},
        settings.ACCOUNTS_API_KEY_CACHE_SECONDS,
    )


def _lookup(digest: str, prefetched: dict[str, Any] | None) -> ApiKey | None:
    key = auth_cache_key(digest)
    cached = prefetched.get(key) if prefetched is not None else cache.get(key)
    if cached is not None:
        api_key = _rebuild(ApiKey, cached["key"])
        api_key.user = _rebuild(User, cached["user"])
        return api_key
    api_key = ApiKey.objects.select_related("user").filter(digest=digest).first()
    if api_key is not None:
        api_key_cache_store(api_key=api_key)
    return api_key


def api_key_authenticate(*, token: str, prefetched: dict[str, Any] | None = None) -> ApiKey:
    """Return the usable key for a raw token, or raise ApiKeyInvalid.

    Malformed tokens (wrong shape or checksum) are rejected without touching the database.
    Known keys are read through the shared cache (ACCOUNTS_API_KEY_CACHE_SECONDS); revoking a
    key and saving a key or its user drop the cached copy, so every process sees the change at
    once (accounts.signals).

    `prefetched` is the result of a `cache.get_many` whose keys included
    `api_key_cache_key(token)`: a caller that needs other cache entries too reads them all in
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
