"""Language and display time zone for the dashboard only; the request id and request log line.

The APIs answer in the vendors' languages (English messages clients match on), whatever the
caller's Accept-Language; the dashboard and docs follow the user's choice (LocaleMiddleware).
Likewise the APIs keep their contracts' time formats, while pages render times in the zone
the visitor picked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.locale import LocaleMiddleware
from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject, empty

from veosaas import logcontext, metrics

request_logger = logging.getLogger("veosaas.request")

API_PREFIXES = (
    "/api/",
    "/v1/",
    "/generate",
    "/status/",
    "/videos",
    "/media/",
    "/healthz",
    "/billing/stripe/",
)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


# Paths that authenticate by API key (or not at all) and never read a session, a login, a CSRF
# token or a flash message: the facades' endpoints and the health probes. The dashboard's own
# JSON APIs (/api/v1/account/, /api/v1/billing/) use the session and are not listed.
KEY_API_PREFIXES = (
    "/api/video-status/",
    "/api/generate-video",
    "/api/upload-video-image",
    "/api/file-",
    "/api/v1/veo/",
    "/api/v1/common/",
    "/api/v1/chat/",
    "/generate",
    "/status/",
    "/videos",
    "/v1/videos",
    "/healthz",
)


def is_key_api_path(path: str) -> bool:
    return path.startswith(KEY_API_PREFIXES)


# Session, login and message middleware that step aside on key-authenticated API paths
# (`is_key_api_path`): there they would only build lazy objects nobody reads, on the paths
# that carry most of the traffic. Everywhere else they are Django's own. (CSRF stays Django's
# own everywhere: the deploy check asks for it by name, and the API views are exempt.)


class SessionOffApiMiddleware(SessionMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_key_api_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationOffApiMiddleware(AuthenticationMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_key_api_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class MessageOffApiMiddleware(MessageMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_key_api_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class ApiPolicyCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy of key-API responses built once per process.

    Those responses never carry a script nonce or a per-view policy, so their header is the same
    string every time; django-csp rebuilds it from settings on every response (a few percent
    of a status poll). Everywhere else (pages with nonces, per-view policies) it is django-csp's
    own. The string is rebuilt when the settings object changes (tests override it)."""

    _built: tuple[Any, Any, str, str] | None = None
    _PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt")
    _PER_RESPONSE_RO = ("_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro")

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> Any:
        path = request.path_info
        if (
            not is_key_api_path(path)
            or getattr(request, "_csp_nonce", None)
            or (settings.DEBUG and response.status_code in (404, 500))
            or any(
                getattr(response, name, None) is not None
                for name in (*self._PER_RESPONSE, *self._PER_RESPONSE_RO)
            )
        ):
            return super().process_response(request, response)
        config = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        config_ro = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        built = ApiPolicyCSPMiddleware._built
        if built is None or built[0] is not config or built[1] is not config_ro:
            built = ApiPolicyCSPMiddleware._built = (
                config,
                config_ro,
                build_policy(**asdict(PolicyParts())),
                build_policy(**asdict(PolicyParts()), report_only=True),
            )
        for header, policy, settings_dict in (
            (HEADER, built[2], config),
            (HEADER_REPORT_ONLY, built[3], config_ro),
        ):
            excluded = tuple((settings_dict or {}).get("EXCLUDE_URL_PREFIXES") or ())
            if policy and header not in response and not path.startswith(excluded):
                response[header] = policy
        return response


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


class RequestContextMiddleware:
    """Gives every request an id and writes one log line (and the HTTP metrics) for it.

    The id is the caller's `X-Request-Id` when well formed, else a new one; it is echoed in the
    response's `X-Request-Id` and carried into Celery tasks and callback attempts
    (veosaas/logcontext.py). The line names the account, API key and job when the request
    touched them, the route pattern, status and latency. Outermost middleware, so that
    redirects and errors of the others are counted too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = logcontext.request_id_accept(request.headers.get("X-Request-Id"))
        logcontext.reset(request_id=request_id)
        started = time.monotonic()
        response = self.get_response(request)
        elapsed = time.monotonic() - started
        response["X-Request-Id"] = request_id
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "<unmatched>"
        # A session user, if the request looked at it (never loads a session just to log).
        user = request.__dict__.get("user")
        if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
            user = None
        if user is not None and getattr(user, "is_authenticated", False):
            logcontext.bind(account_id=user.pk)
        if metrics.enabled() and route != "metrics":
            metrics.http_requests.labels(
                route=route, method=request.method, status=response.status_code
            ).inc()
            metrics.http_latency.labels(route=route, method=request.method).observe(elapsed)
        request_logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            elapsed * 1000,
            extra={
                "event": "request",
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "latency_ms": round(elapsed * 1000, 1),
            },
        )
        logcontext.reset()  # nothing after this request inherits its ids
        return response
