"""Language and display time zone for the dashboard only.

The APIs answer in the vendors' languages (English messages clients match on), whatever the
caller's Accept-Language; the dashboard and docs follow the user's choice (LocaleMiddleware).
Likewise the APIs keep their contracts' time formats, while pages render times in the zone
the visitor picked.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation

API_PREFIXES = (
    "/api/",
    "/generate",
    "/status/",
    "/videos",
    "/media/",
    "/healthz",
    "/billing/stripe/",
)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class DashboardLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if is_api_path(request.path_info):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
            return
        super().process_request(request)

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if is_api_path(request.path_info):
            return response
        return super().process_response(request, response)


# The cookie holding a visitor's display time zone (set on the dashboard's footer form).
DISPLAY_TIME_ZONE_COOKIE = "veosaas_tz"


def display_time_zone_name(request: HttpRequest) -> str:
    """The zone a visitor reads times in: their cookie's valid IANA name, else TIME_ZONE."""
    name = request.COOKIES.get(DISPLAY_TIME_ZONE_COOKIE, "")
    if name and len(name) <= 64:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return str(settings.TIME_ZONE)
        return name
    return str(settings.TIME_ZONE)


class DisplayTimeZoneMiddleware:
    """Renders times in the visitor's display zone. Day boundaries never follow it: services
    and selectors name the business zone (settings.TIME_ZONE) explicitly."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_path(request.path_info):
            return self.get_response(request)
        timezone.activate(ZoneInfo(display_time_zone_name(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
