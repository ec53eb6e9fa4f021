"""Reads of outbound state: the account's callback URL, delivery histories."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from outbound.models import Delivery


def account_callback_url_get(*, user: User) -> str:
    """The account's event callback URL, read from the database (request.user may be a cached
    snapshot)."""
    return (
        User.objects.filter(pk=user.pk).values_list("account_callback_url", flat=True).first() or ""
    )


def deliveries_for_reference(*, topic: str, reference: str) -> QuerySet[Delivery]:
    """Every delivery about one thing (a job's callbacks), oldest first, attempts prefetched."""
    return (
        Delivery.objects.filter(topic=topic, reference=reference)
        .order_by("created_at", "id")
        .prefetch_related("attempt_log")
    )


def deliveries_recent(*, user: User, topic: str, limit: int = 20) -> QuerySet[Delivery]:
    """The account's latest deliveries of one topic, newest first."""
    return Delivery.objects.filter(user_id=user.pk, topic=topic).order_by("-created_at", "-id")[
        :limit
    ]
