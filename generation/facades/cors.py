"""CORS for the codefast paths (contracts/codefast.md §5, README §8).

The codefast panel is a static page that calls the API from the browser with an `X-API-Key`
header and a JSON body, so every call is preflighted. This middleware answers the preflight
(`OPTIONS` with `Origin` and `Access-Control-Request-Method`) itself, before authentication,
and adds `Access-Control-Allow-Origin` to the actual responses, errors included (a browser
hides the body of a response without it, so a client could not read `detail`).

Only the codefast paths are covered (`/`, `/generate`, `/status/<id>`, `/videos`); the other
facades are called server to server. Allowed origins: CODEFAST_CORS_ALLOWED_ORIGINS, "*" by
default. `Access-Control-Allow-Credentials` is never sent: the key travels in a header that
the calling page sets itself, not in a cookie, so there is no ambient credential a foreign
page could borrow. https://fetch.spec.whatwg.org/#http-cors-protocol
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

ALLOW_METHODS = "GET, POST, OPTIONS"
# Idempotency-Key is accepted by POST /generate, so browser clients may send it too.
ALLOW_HEADERS = "X-API-Key, Content-Type, Idempotency-Key"
# Readable by the page: Retry-After comes with every 429.
EXPOSE_HEADERS = "Retry-After"
# Browsers cap this (Chromium: 2 h); it only saves preflight round trips.
MAX_AGE_SECONDS = 7200

_EXACT_PATHS = frozenset({"/", "/generate", "/videos"})
_PREFIX_PATHS = ("/status/",)


def is_codefast_path(path: str) -> bool:
    return path in _EXACT_PATHS or path.startswith(_PREFIX_PATHS)


def _allowed_origin(origin: str) -> str | None:
    """The value for Access-Control-Allow-Origin, or None when the origin is not allowed."""
    allowed = settings.CODEFAST_CORS_ALLOWED_ORIGINS
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


class CodefastCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_codefast_path(request.path_info):
            return self.get_response(request)
        origin = request.headers.get("Origin", "")
        if (
            request.method == "OPTIONS"
            and origin
            and "Access-Control-Request-Method" in request.headers
        ):
            return self._preflight(origin)
        response = self.get_response(request)
        if origin and self._add_origin(response, origin):
            response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        return response

    def _preflight(self, origin: str) -> HttpResponse:
        # A refused origin gets the same 204 without CORS headers: the browser blocks the call.
        response = HttpResponse(status=204)
        if self._add_origin(response, origin):
            response["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response["Access-Control-Max-Age"] = str(MAX_AGE_SECONDS)
        return response

    @staticmethod
    def _add_origin(response: HttpResponse, origin: str) -> bool:
        allowed = _allowed_origin(origin)
        if allowed != "*":
            # The answer depends on the Origin header: shared caches must keep one per origin.
            patch_vary_headers(response, ("Origin",))
        if allowed is None:
            return False
        response["Access-Control-Allow-Origin"] = allowed
        return True
