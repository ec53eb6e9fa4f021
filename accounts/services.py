"""Write paths for users and API keys (webhook signing secrets are outbound's)."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import tokens
from accounts.models import ALL_SCOPES, LIMIT_FIELDS, ApiKey, ApiKeyChange, BudgetPeriod, User
from accounts.selectors import api_key_cache_store, auth_cache_key, auth_fence_key


@dataclass(frozen=True)
class CreatedApiKey:
    """A freshly created key. `token` is the only copy of the raw key that will ever exist."""

    api_key: ApiKey
    token: str


def user_get_or_create(*, email: str) -> tuple[User, bool]:
    """Return the user with this email (case-insensitive), creating it with no password."""
    normalized = User.objects.normalize_email(email).lower()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=normalized).first()
        if user is not None:
            return user, False
        return User.objects.create_user(email=normalized), True


def api_key_create(
    *,
    user: User,
    name: str = "default",
    expires_at: datetime | None = None,
    limits: dict[str, Any] | None = None,
    actor: User | None = None,
    via: str = "system",
) -> CreatedApiKey:
    """Create an API key for `user` and return it with its raw token (shown once, never stored).

    `limits` (LIMIT_FIELDS) are applied in the same transaction, audited like later changes
    (`api_key_limits_set`); ApiKeyLimitsInvalid means nothing was created.
    """
    token = tokens.generate()
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            user=user,
            name=(name or "default")[:100],
            prefix=tokens.display_prefix(token),
            digest=tokens.digest(token),
            expires_at=expires_at,
        )
        if limits:
            api_key = api_key_limits_set(api_key=api_key, changes=limits, actor=actor, via=via)
    return CreatedApiKey(api_key=api_key, token=token)


class ApiKeyLimitsInvalid(ValueError):
    """A key limit cannot be set as asked; `field` names it. Nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


MAX_ALLOWED_IPS = 50
MAX_LIMIT_VALUE = 10**15


def _optional_int(field: str, value: Any, *, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiKeyLimitsInvalid(field, "must be an integer or null")
    if not low <= value <= high:
        raise ApiKeyLimitsInvalid(field, f"must be between {low} and {high}")
    return value


def _string_list(field: str, value: Any, *, max_items: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ApiKeyLimitsInvalid(field, "must be a list of strings")
    if len(value) > max_items:
        raise ApiKeyLimitsInvalid(field, f"must have at most {max_items} items")
    cleaned: list[str] = []
    for item in value:
        text = item.strip()
        if text and text not in cleaned:
            cleaned.append(text)
    return cleaned


def api_key_networks_clean(value: Any) -> list[str]:
    """Allowed source addresses as normalised CIDRs (`10.0.0.0/8`, `2001:db8::/32`; a bare
    address is its /32 or /128). Raises ApiKeyLimitsInvalid naming `allowed_ips`."""
    networks: list[str] = []
    for text in _string_list("allowed_ips", value, max_items=MAX_ALLOWED_IPS):
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ApiKeyLimitsInvalid(
                "allowed_ips", f"{text[:60]!r} is not an IP address or CIDR"
            ) from exc
        if str(network) not in networks:
            networks.append(str(network))
    return networks


def api_key_limits_clean(*, changes: dict[str, Any]) -> dict[str, Any]:
    """Type and range checks of the limit fields that need no product vocabulary (models and
    resolutions are checked by the caller, generation.services.keys)."""
    unknown = sorted(set(changes) - set(LIMIT_FIELDS))
    if unknown:
        raise ApiKeyLimitsInvalid(unknown[0], "is not a key setting")
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "name":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
                raise ApiKeyLimitsInvalid("name", "must be 1 to 100 characters")
            cleaned[field] = value.strip()
        elif field == "expires_at":
            if value is not None and not isinstance(value, datetime):
                raise ApiKeyLimitsInvalid("expires_at", "must be a date-time or null")
            cleaned[field] = value
        elif field == "scopes":
            scopes = _string_list("scopes", value, max_items=len(ALL_SCOPES))
            bad = [s for s in scopes if s not in ALL_SCOPES]
            if bad or not scopes:
                raise ApiKeyLimitsInvalid("scopes", f"must be some of {', '.join(ALL_SCOPES)}")
            cleaned[field] = [s for s in ALL_SCOPES if s in scopes]
        elif field == "budget_credits":
            cleaned[field] = _optional_int(field, value, low=1, high=MAX_LIMIT_VALUE)
        elif field == "budget_period":
            if value not in BudgetPeriod.values:
                raise ApiKeyLimitsInvalid(field, f"must be one of {', '.join(BudgetPeriod.values)}")
            cleaned[field] = value
        elif field == "allowed_models":
            cleaned[field] = _string_list(field, value, max_items=50)
        elif field == "max_resolution":
            if value is not None and not isinstance(value, str):
                raise ApiKeyLimitsInvalid(field, "must be a string or null")
            cleaned[field] = (value or "").strip()
        elif field == "max_seconds":
            cleaned[field] = _optional_int(field, value, low=1, high=3600)
        elif field in ("rate_limit_per_minute", "max_concurrent_jobs"):
            cleaned[field] = _optional_int(field, value, low=1, high=1_000_000)
        elif field == "allowed_ips":
            cleaned[field] = api_key_networks_clean(value)
    return cleaned


def api_key_limits_set(
    *, api_key: ApiKey, changes: dict[str, Any], actor: User | None, via: str
) -> ApiKey:
    """Change a key's name, expiry, scopes and limits (LIMIT_FIELDS); returns the saved key.

    One transaction under the key's row lock: the fields that really change are saved and each
    writes an ApiKeyChange row (who, how, when, old → new). Raises ApiKeyLimitsInvalid naming
    the field (nothing written). Saving drops the cached copy, so every process applies the new
    limits at once (accounts.signals). A revoked key cannot be changed.
    """
    cleaned = api_key_limits_clean(changes=changes)
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            raise ApiKeyLimitsInvalid("key", "is revoked")
        before = locked.limits()
        for field, value in cleaned.items():
            setattr(locked, field, value)
        after = locked.limits()
        changed = [f for f in LIMIT_FIELDS if f in cleaned and before[f] != after[f]]
        if changed:
            locked.save(update_fields=changed)
            now = timezone.now()
            ApiKeyChange.objects.bulk_create(
                ApiKeyChange(
                    api_key=locked,
                    actor=actor,
                    via=via,
                    field=f,
                    old=before[f],
                    new=after[f],
                    created_at=now,
                )
                for f in changed
            )
    return locked


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key now. Idempotent: an already revoked key keeps its first revocation time.

    Drops the shared cached copy after commit, so no process accepts the key afterwards.
    """
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    api_key_cache_forget(digests=[api_key.digest])
    return api_key


def api_key_cache_forget(*, digests: list[str]) -> None:
    """Drop cached authentication entries now and, after commit, fence them off: a snapshot
    read before the fence is never trusted again, even if a concurrent request writes it back
    later (accounts/selectors.py). Fences never expire."""
    keys = [auth_cache_key(d) for d in digests]
    cache.delete_many(keys)

    def fence() -> None:
        now = time.time()
        cache.set_many({auth_fence_key(d): now for d in digests}, timeout=None)
        cache.delete_many(keys)

    transaction.on_commit(fence, robust=True)


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use of the key, writing at most once per ACCOUNTS_API_KEY_LAST_USED_RESOLUTION.

    The conditional UPDATE keeps concurrent requests from writing the same minute twice.
    """
    now = timezone.now()
    resolution = timedelta(seconds=settings.ACCOUNTS_API_KEY_LAST_USED_RESOLUTION)
    if api_key.last_used_at is not None and now - api_key.last_used_at < resolution:
        return
    stale = now - resolution
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=api_key.pk
    ).update(last_used_at=now)
    api_key.last_used_at = now
    api_key_cache_store(api_key=api_key)
