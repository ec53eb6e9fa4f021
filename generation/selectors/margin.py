"""Finance's margin per day: revenue of finished jobs against their estimated upstream cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from generation.models import Job


@dataclass(frozen=True)
class MarginDay:
    day: date
    jobs: int
    credits_charged: int
    revenue_usd: Decimal  # credits charged x BILLING_CREDIT_VALUE_USD
    upstream_cost_usd: Decimal
    margin_usd: Decimal


def upstream_margin_daily(*, start: date, end: date) -> list[MarginDay]:
    """One row per day (completion date, in the current time zone) with succeeded jobs, from
    `start` to `end` inclusive."""
    zone = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=zone)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone)
    credit_value = Decimal(str(settings.BILLING_CREDIT_VALUE_USD))
    rows = (
        Job.objects.filter(
            state=Job.State.SUCCEEDED, completed_at__gte=since, completed_at__lt=until
        )
        .annotate(day=TruncDate("completed_at", tzinfo=zone))
        .values("day")
        .annotate(jobs=Count("id"), credits=Sum("credits_charged"), cost=Sum("upstream_cost_usd"))
        .order_by("day")
    )
    days = []
    for row in rows:
        revenue = (credit_value * (row["credits"] or 0)).quantize(Decimal("0.0001"))
        cost = row["cost"] or Decimal("0")
        days.append(
            MarginDay(
                day=row["day"],
                jobs=row["jobs"],
                credits_charged=row["credits"] or 0,
                revenue_usd=revenue,
                upstream_cost_usd=cost,
                margin_usd=revenue - cost,
            )
        )
    return days
