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


# (period, zone) → the window [start, next start) last asked for: every budgeted submit asks,
# and working the calendar out again costs more than the rest of preparing the budget.
_WINDOWS: dict[tuple[str, str], tuple[datetime, datetime]] = {}


def budget_period_start(*, period: str, now: datetime | None = None) -> datetime:
    """The instant the budget period containing `now` started."""
    if period == BudgetPeriod.LIFETIME:
        return LIFETIME_START
    now = now or timezone.now()
    slot = (period, str(settings.TIME_ZONE))
    window = _WINDOWS.get(slot)
    if window is not None and window[0] <= now < window[1]:
        return window[0]
    today = local_today(now=now)
    if period == BudgetPeriod.DAY:
        first, following = today, today + timedelta(days=1)
    elif period == BudgetPeriod.WEEK:
        first = today - timedelta(days=today.weekday())
        following = first + timedelta(days=7)
    elif period == BudgetPeriod.MONTH:
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    # Kept in UTC: comparing with `now` (UTC) then needs no zone offset lookups.
    starts_at = local_day_start(first).astimezone(UTC)
    _WINDOWS[slot] = (starts_at, local_day_start(following).astimezone(UTC))
    return starts_at
