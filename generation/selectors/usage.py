"""The account's daily job usage (codefast's jobs-per-day limit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from generation.models import Job


@dataclass(frozen=True)
class DailyUsage:
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def day_start(*, now: datetime | None = None) -> datetime:
    """Midnight today in TIME_ZONE (the day the daily limit counts)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def daily_usage(*, user: User, now: datetime | None = None) -> DailyUsage:
    """Jobs the account started today (local midnight), failed ones not counted: a failed
    job gives its slot back. The limit is the account's own or GENERATION_DAILY_LIMIT."""
    limit = user.daily_limit if user.daily_limit is not None else settings.GENERATION_DAILY_LIMIT
    used = (
        Job.objects.filter(user=user, created_at__gte=day_start(now=now))
        .exclude(state__in=[Job.State.FAILED, Job.State.CANCELLED])
        .count()
    )
    return DailyUsage(limit=limit, used=used)


# ---------------------------------------------------------------------------------------------
# codefast: daily limit reset, history, idempotent retries, queue positions
# ---------------------------------------------------------------------------------------------


def daily_limit_resets_at(*, now: datetime | None = None) -> datetime:
    """The next midnight in TIME_ZONE (when `daily_usage` starts over)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone)
