"""The codefast facade's plumbing: its `{"detail": ...}` errors, refusal table and base view
(X-API-Key, JSON whatever the Accept header), the daily-limit fields, and request parsing
(contracts/codefast.md, README A20-A24). Endpoints are in `codefast`."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable
from math import ceil
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import HeaderApiKeyAuthentication
from accounts.models import User
from billing.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DEFAULT_DURATION, DURATIONS
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from generation.errors import (
    ConcurrencyLimited,
    DailyLimitReached,
    IdempotencyKeyReused,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
)
from generation.facades.base import ErrorRule, FacadeApi, validation_rule
from generation.facades.common import FieldError, StrictJSONParser, int_parse
from generation.selectors import (
    DailyUsage,
    daily_limit_resets_at,
    daily_usage,
    daily_usage_cached,
)

logger = logging.getLogger(__name__)

# job_submit's validation fields, as codefast clients know them.
FIELD_NAMES = {
    "aspectRatio": "aspect_ratio",
    "aspect_ratio": "aspect_ratio",
    "duration": "duration_seconds",
    "duration_seconds": "duration_seconds",
    "imageUrls": "image",
    "imageKey": "image",
    "images": "image",
}


class CodefastError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.extra, self.headers = extra or {}, headers or {}


def detail_response(
    status: int,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response({"detail": detail, **(extra or {})}, status=status, headers=headers)


class JsonAlways(DefaultContentNegotiation):
    """Answer JSON whatever the Accept header says, as FastAPI does (never 406)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _daily_limit(view: FacadeApi, exc: DailyLimitReached) -> Exception:
    return daily_limit_error(view.request.user)


def _insufficient(view: FacadeApi, exc: InsufficientCredits) -> Exception:
    # 402, not 429: waiting does not bring credits back, and clients retry 429s on a timer
    # (contracts/codefast.md §4). Every other facade answers 402 too.
    return CodefastError(
        402,
        "Insufficient credits",
        {
            "required_credits": exc.required,
            "available_credits": exc.available,
            **limits(view.request.user),
        },
    )


def _key_budget(view: FacadeApi, exc: KeyBudgetExceeded) -> Exception:
    return CodefastError(
        402, str(exc), {"required_credits": exc.required, "available_credits": exc.available}
    )


def _rate_limited(view: FacadeApi, exc: RateLimited) -> Exception:
    return CodefastError(
        429,
        "Rate limit exceeded for this API key" if exc.per_key else "Rate limit exceeded",
        limits(view.request.user),
        {"Retry-After": str(exc.retry_after)},
    )


def _unavailable(view: FacadeApi, exc: LimitsUnavailable) -> Exception:
    return CodefastError(
        503, "Service temporarily unavailable", None, {"Retry-After": str(exc.retry_after)}
    )


def _concurrency_limited(view: FacadeApi, exc: ConcurrencyLimited) -> Exception:
    return CodefastError(
        429,
        f"Too many jobs in progress{' for this API key' if exc.per_key else ''}: at most "
        f"{exc.limit} may be queued or running",
        limits(view.request.user),
        {"Retry-After": str(exc.retry_after)},
    )


def _key_reused(view: FacadeApi, exc: IdempotencyKeyReused) -> Exception:
    return CodefastError(409, str(exc))


# How each refusal of a submit is answered (the facade's base view applies it).
ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    JobValidationError: validation_rule(FIELD_NAMES),
    DailyLimitReached: _daily_limit,
    InsufficientCredits: _insufficient,
    KeyBudgetExceeded: _key_budget,
    RateLimited: _rate_limited,
    LimitsUnavailable: _unavailable,
    ConcurrencyLimited: _concurrency_limited,
    IdempotencyKeyReused: _key_reused,
}


class CodefastView(FacadeApi):
    authentication_classes = [HeaderApiKeyAuthentication]
    error_table = ERROR_TABLE
    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAlways

    def render_exception(self, exc: Exception) -> Response:
        if isinstance(exc, CodefastError):
            return detail_response(exc.status, exc.detail, exc.extra, exc.headers)
        if isinstance(exc, FieldError):
            return detail_response(422, f"{exc.field} {exc.message}")
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return detail_response(
                401, "Invalid API key", headers={"WWW-Authenticate": "X-API-Key"}
            )
        if isinstance(exc, RequestDataTooBig):
            return detail_response(413, "body is too large")
        if isinstance(exc, exceptions.ParseError):
            return detail_response(422, "body is not valid JSON")
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return detail_response(422, "body must be JSON (Content-Type: application/json)")
        if isinstance(exc, exceptions.MethodNotAllowed):
            return detail_response(405, "Method Not Allowed")
        if isinstance(exc, exceptions.APIException):
            return detail_response(exc.status_code, str(exc.detail))
        logger.exception("codefast request failed")
        return detail_response(500, "Internal server error")


def limits(
    user: User, usage: DailyUsage | None = None, *, prefetched: dict[str, Any] | None = None
) -> dict[str, int]:
    """The account's daily limit and what is left of it (`usage`: counted already;
    `prefetched`: a cache read that may hold the cached usage)."""
    usage = usage or daily_usage_cached(user=user, prefetched=prefetched)
    return {"daily_limit": usage.limit, "daily_limit_remaining": usage.remaining}


def parse_aspect_ratio(body: dict[str, Any]) -> str:
    value = body.get("aspect_ratio")
    if value is None:
        return DEFAULT_ASPECT_RATIO
    if not isinstance(value, str) or value.strip() not in ASPECT_RATIOS:
        raise FieldError("aspect_ratio", 'must be "16:9" or "9:16"')
    return value.strip()


def parse_duration(body: dict[str, Any]) -> int:
    """An integer duration of our vocabulary (the model's catalog narrows it in job_validate);
    like FastAPI's lax ints, "6" and 6.0 count as 6."""
    value = body.get("duration_seconds")
    if value is None:
        return DEFAULT_DURATION
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        number = int_parse(value)
    if number is None or number not in DURATIONS:
        raise FieldError("duration_seconds", f"must be between {DURATIONS[0]} and {DURATIONS[-1]}")
    return number


def parse_image(body: dict[str, Any]) -> bytes | None:
    """The decoded `image`: raw base64 or a `data:image/...;base64,` URI, standard or URL-safe
    alphabet, line breaks allowed, padding optional. Absent, null or "" means no image.
    The type is not decided here: upload_create sniffs it from the bytes."""
    value = body.get("image")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FieldError("image", "must be a base64-encoded string")
    payload = value
    if value[:5].lower() == "data:":
        header, comma, payload = value.partition(",")
        params = [part.strip().lower() for part in header[5:].split(";")]
        if not comma or "base64" not in params[1:]:
            raise FieldError("image", "must be a base64 data URI (data:image/...;base64,...)")
        if params[0] and not params[0].startswith("image/"):
            raise FieldError("image", f"is a data URI of type {params[0]}, not an image")
    compact = "".join(payload.split())
    if not compact:
        raise FieldError("image", "is empty")
    limit = settings.CODEFAST_IMAGE_MAX_BYTES
    too_large = f"is too large: the limit is {limit:,} bytes ({limit / 2**20:g} MB) decoded"
    if len(compact) > 4 * ceil(limit / 3):  # decided before decoding anything
        raise FieldError("image", too_large)
    compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FieldError("image", "is not valid base64") from exc
    if not data:
        raise FieldError("image", "is empty")
    if len(data) > limit:
        raise FieldError("image", too_large)
    return data


def daily_limit_error(user: User) -> CodefastError:
    """429 "Daily limit reached", with the limit and the seconds until it resets."""
    usage = daily_usage(user=user)
    wait = max(1, ceil((daily_limit_resets_at() - timezone.now()).total_seconds()))
    return CodefastError(
        429,
        "Daily limit reached",
        {"daily_limit": usage.limit, "daily_limit_remaining": 0},
        {"Retry-After": str(wait)},
    )


def body_limit() -> int:
    """The largest /generate body read: the base64 of the largest image, plus room for the
    other fields. Anything longer is refused by its Content-Length before it is parsed."""
    return 4 * ceil(settings.CODEFAST_IMAGE_MAX_BYTES / 3) + 2**20
