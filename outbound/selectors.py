"""Reads of outbound state: the account's callback URL, delivery histories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from outbound.models import Attempt, Delivery


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


@dataclass(frozen=True)
class DeliveryRate:
    topic: str
    attempts: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.attempts if self.attempts else 0.0


def delivery_rates(*, since: datetime) -> list[DeliveryRate]:
    """Attempts since `since` per topic, and how many did not deliver (staff view, metrics)."""
    rows = (
        Attempt.objects.filter(sent_at__gte=since)
        .values("delivery__topic")
        .annotate(
            attempts=Count("pk"),
            failed=Count("pk", filter=~Q(outcome=Attempt.Outcome.DELIVERED)),
        )
        .order_by("delivery__topic")
    )
    return [DeliveryRate(r["delivery__topic"], r["attempts"], r["failed"]) for r in rows]


def deliveries_gauges() -> list[tuple[str, str, list[str], dict[tuple[str, ...], float]]]:
    """Scrape-time gauges for /metrics (registered in OutboundConfig.ready)."""
    now = timezone.now()
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).count()
    rates = delivery_rates(since=now - timedelta(hours=1))
    return [
        (
            "veosaas_deliveries_pending",
            "Deliveries not yet delivered or given up.",
            [],
            {(): pending},
        ),
        (
            "veosaas_delivery_failure_ratio_1h",
            "Share of delivery attempts in the last hour that did not deliver, per topic.",
            ["topic"],
            {(r.topic,): r.failure_rate for r in rates},
        ),
    ]
