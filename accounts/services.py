"""Write paths for users and API keys (webhook signing secrets are outbound's)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiKey, User
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
    *, user: User, name: str = "default", expires_at: datetime | None = None
) -> CreatedApiKey:
    """Create an API key for `user` and return it with its raw token (shown once, never stored)."""
    token = tokens.generate()
    api_key = ApiKey.objects.create(
        user=user,
        name=(name or "default")[:100],
        prefix=tokens.display_prefix(token),
        digest=tokens.digest(token),
        expires_at=expires_at,
    )
    return CreatedApiKey(api_key=api_key, token=token)


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
