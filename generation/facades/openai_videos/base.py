"""Plumbing of the `/v1/videos` facade: OpenAI's error envelope, the refusal table, the base
view, body parsing (multipart as the SDK sends it, form or JSON) and job lookup.

Errors are `{"error": {"message", "type", "param", "code"}}` with the HTTP status the SDK maps
to its typed exceptions: 400 BadRequestError, 401 AuthenticationError, 402 (APIStatusError),
403 PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 413, 415, 429 RateLimitError
(with Retry-After), 503 (with Retry-After). Another account's video answers like an unknown
one (404).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django.http import Http404, QueryDict
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.authentication import BearerApiKeyAuthentication
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from generation.errors import (
    ConcurrencyLimited,
    IdempotencyKeyReused,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
    UpgradeRefused,
)
from generation.facades.base import ErrorRule, FacadeApi, validation_rule
from generation.facades.common import FieldError
from generation.facades.openai_videos.shapes import video_id_parse
from generation.models import Job
from generation.snapshots import job_snapshot_get
from veosaas.strict import BodyTooLarge, text_problem

logger = logging.getLogger(__name__)

# Internal field names in service refusals -> the request field an OpenAI client sent.
FIELD_NAMES = {
    "duration_seconds": "seconds",
    "resolution": "size",
    "aspect_ratio": "size",
    "aspectRatio": "size",
    "model_tier": "model",
    "model": "model",
    "imageUrls": "input_reference",
    "imageKey": "input_reference",
    "images": "input_reference",
    "mode": "input_reference",
    "seeds": "seed",
    "callBackUrl": "callback_url",
    "generate_audio": "audio",
    "source_video": "video",
}
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_credits",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
_NESTED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[([A-Za-z0-9_]*)\]$")


class OpenAIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    error_type = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return Response(body, status=status, headers=headers)


def not_found(value: object) -> OpenAIError:
    shown = value if isinstance(value, str) and not text_problem(value) else "?"
    return OpenAIError(404, f"No video found with id '{shown[:80]}'.", code="not_found")


def _insufficient(view: FacadeApi, exc: InsufficientCredits) -> Exception:
    return OpenAIError(
        402,
        f"Insufficient credits: this video costs {exc.required} credits and "
        f"{exc.available} are available. Top up in the dashboard.",
        code="insufficient_credits",
    )


def _key_budget(view: FacadeApi, exc: KeyBudgetExceeded) -> Exception:
    return OpenAIError(402, str(exc), code="key_budget_exceeded")


def _limited(view: FacadeApi, exc: RateLimited | ConcurrencyLimited) -> Exception:
    if isinstance(exc, RateLimited):
        message = (
            f"Rate limit exceeded{' for this API key' if exc.per_key else ''}: at most "
            f"{exc.decision.limit} video requests per {exc.decision.window} seconds."
        )
    else:
        message = f"Too many videos in progress: {exc.message}."
    return OpenAIError(
        429, message, code="rate_limit_exceeded", headers={"Retry-After": str(exc.retry_after)}
    )


def _unavailable(view: FacadeApi, exc: LimitsUnavailable) -> Exception:
    return OpenAIError(
        503,
        "Service temporarily unavailable, please retry shortly.",
        code="service_unavailable",
        headers={"Retry-After": str(exc.retry_after)},
    )


def _key_reused(view: FacadeApi, exc: IdempotencyKeyReused) -> Exception:
    return OpenAIError(409, str(exc), code="idempotency_key_reused", param="Idempotency-Key")


def _upgrade_refused(view: FacadeApi, exc: UpgradeRefused) -> Exception:
    if exc.reason == "not_succeeded":
        return OpenAIError(409, "The video is not completed yet.", code="video_not_ready")
    return OpenAIError(400, f"video {exc.message}", param="video", code="invalid_video")


ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    JobValidationError: validation_rule(FIELD_NAMES),
    InsufficientCredits: _insufficient,
    KeyBudgetExceeded: _key_budget,
    RateLimited: _limited,
    LimitsUnavailable: _unavailable,
    ConcurrencyLimited: _limited,
    IdempotencyKeyReused: _key_reused,
    UpgradeRefused: _upgrade_refused,
}


class AnyAccept(BaseContentNegotiation):
    """Every answer is JSON (or the file itself) whatever `Accept` says: the SDK asks for
    `application/binary` when it downloads content, and an error must still be readable."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        for parser in parsers:
            if request.content_type.split(";")[0].strip().lower() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


class OpenAIView(FacadeApi):
    authentication_classes = [BearerApiKeyAuthentication]
    content_negotiation_class = AnyAccept
    error_table = ERROR_TABLE

    def render_exception(self, exc: Exception) -> Response:
        if isinstance(exc, OpenAIError):
            return error_response(
                exc.status, exc.message, code=exc.code, param=exc.param, headers=exc.headers
            )
        if isinstance(exc, FieldError):
            return error_response(
                400, f"{exc.field} {exc.message}", param=exc.field, code="invalid_value"
            )
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            message = str(exc.detail)
            if isinstance(exc, exceptions.NotAuthenticated):
                message = "Missing API key: send Authorization: Bearer <API key>."
            return error_response(
                401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
            )
        if isinstance(exc, exceptions.PermissionDenied):
            return error_response(403, str(exc.detail), code="insufficient_scope")
        if isinstance(exc, BodyTooLarge):
            return error_response(413, "The request body is too large.", code="body_too_large")
        if isinstance(exc, exceptions.ParseError):
            return error_response(400, f"Malformed request body: {exc.detail}", code="bad_body")
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return error_response(
                415,
                f"{exc.detail} Send multipart/form-data or application/json.",
                code="unsupported_media_type",
            )
        if isinstance(exc, exceptions.MethodNotAllowed):
            return error_response(
                405, f"Method {self.request.method} is not allowed here.", code="bad_method"
            )
        if isinstance(exc, Http404 | exceptions.NotFound):
            return error_response(404, "Not found.", code="not_found")
        if isinstance(exc, exceptions.APIException):
            return error_response(exc.status_code, str(exc.detail), code=str(exc.default_code))
        logger.exception("/v1/videos request failed")
        return error_response(500, "The server had an error processing your request.")

    def snapshot(self, value: str) -> Job:
        """The account's job (its status snapshot) named by any facade's id; 404 otherwise."""
        job = job_snapshot_get(user_id=self.request.user.pk, job_id=video_id_parse(value))
        if job is None:
            raise not_found(value)
        return job


def _text(field: str, value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise FieldError(field, problem)
    return value


def request_body(request: Request) -> dict[str, Any]:
    """The body as one dict: JSON as sent; multipart or form fields with the SDK's nesting
    (`video[id]` -> {"video": {"id": ...}}, `reference_images[]` -> a list; a repeated field
    becomes a list). Every text is checked (no NUL or unpaired surrogate anywhere). Files stay
    in request.FILES."""
    data = request.data
    if not isinstance(data, QueryDict):
        if not isinstance(data, dict):
            raise FieldError("body", "must be a JSON object")
        return dict(data)
    body: dict[str, Any] = {}
    for key, values in data.lists():
        _text("body", key)
        for value in values:
            if isinstance(value, str):
                _text(key, value)
        strings = [v for v in values if isinstance(v, str)]
        match = _NESTED.match(key)
        if match and match.group(2):
            name, sub = match.groups()
            nested = body.setdefault(name, {})
            if not isinstance(nested, dict):
                raise FieldError(name, "is given twice in different forms")
            nested[sub] = strings[-1] if strings else ""
        elif match:
            body.setdefault(match.group(1), []).extend(strings)
        elif len(strings) == 1:
            body[key] = strings[0]
        elif strings:
            body[key] = strings
    for name in request.FILES:
        _text("body", name)
    return body


def job_uuid(value: object) -> uuid.UUID:
    """The job id inside a video id the client sent; 404 when it cannot be one."""
    pk = video_id_parse(value)
    if pk is None:
        raise not_found(value)
    return pk
