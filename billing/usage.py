"""Usage days: calendar days in TIME_ZONE.

That zone's midnight resets the daily job limit and the "credits used today" alert, and the
usage API (dashboard/selectors.py) counts its days in it, so the API's days, the chart and the
alerts agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from accounts.models import BudgetPeriod

# Where a "lifetime" key budget period starts: it never rolls over.
LIFETIME_START = datetime(2000, 1, 1, tzinfo=UTC)


def usage_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_day_start(day: date) -> datetime:
    """Midnight starting `day` in the usage time zone."""
    return datetime.combine(day, time.min, tzinfo=usage_time_zone())


def local_today(*, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(usage_time_zone()).date()


def budget_period_start(*, period: str, now: datetime | None = None) -> datetime:
    """The instant the budget period containing `now` started."""
    if period == BudgetPeriod.LIFETIME:
        return LIFETIME_START
    today = local_today(now=now)
    if period == BudgetPeriod.DAY:
        return local_day_start(today)
    if period == BudgetPeriod.WEEK:
        return local_day_start(today - timedelta(days=today.weekday()))
    if period == BudgetPeriod.MONTH:
        return local_day_start(today.replace(day=1))
    raise ValueError(f"unknown budget period {period!r}")
