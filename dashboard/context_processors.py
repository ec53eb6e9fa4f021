"""Template context every dashboard page gets: the business time zone (day boundaries) and
the visitor's display time zone with the choices the footer form offers."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

# Offered in the footer's display-zone select (plus TIME_ZONE and the current choice).
DISPLAY_TIME_ZONES = (
    "UTC",
    "Europe/Istanbul",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)


def display_time_zone_choices(current: str) -> list[str]:
    return sorted({*DISPLAY_TIME_ZONES, str(settings.TIME_ZONE), current})


def time_zones(request: HttpRequest) -> dict[str, object]:
    current = timezone.get_current_timezone_name()
    return {
        "business_time_zone": settings.TIME_ZONE,
        "display_time_zone": current,
        "display_time_zone_choices": display_time_zone_choices(current),
    }
