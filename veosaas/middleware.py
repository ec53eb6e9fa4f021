"""Language selection for the dashboard only.

The APIs answer in the vendors' languages (English messages clients match on), whatever the
caller's Accept-Language; the dashboard and docs follow the user's choice (LocaleMiddleware).
"""

from __future__ import annotations

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

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
