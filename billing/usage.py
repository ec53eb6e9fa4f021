"""Usage days: calendar days in TIME_ZONE.

That zone's midnight resets the daily job limit and the "credits used today" alert, and the
usage API (dashboard/selectors.py) counts its days in it, so the API's days, the chart and the
alerts agree.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def usage_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_day_start(day: date) -> datetime:
    """Midnight starting `day` in the usage time zone."""
    return datetime.combine(day, time.min, tzinfo=usage_time_zone())


def local_today(*, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(usage_time_zone()).date()
