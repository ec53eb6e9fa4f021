"""Read paths for users and API keys."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiKey, User


class ApiKeyInvalid(Exception):
    """The presented key is malformed, unknown, revoked or expired."""


def api_key_authenticate(*, token: str) -> ApiKey:
    """Return the usable key for a raw token, or raise ApiKeyInvalid.

    Malformed tokens (wrong shape or checksum) are rejected without touching the database.
    """
    token = token.strip()
    if not tokens.is_well_formed(token):
        raise ApiKeyInvalid("malformed")
    api_key = (
        ApiKey.objects.select_related("user").filter(digest=tokens.digest(token)).first()
    )
    if api_key is None or not api_key.user.is_active:
        raise ApiKeyInvalid("unknown")
    if api_key.revoked_at is not None:
        raise ApiKeyInvalid("revoked")
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        raise ApiKeyInvalid("expired")
    return api_key


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")
