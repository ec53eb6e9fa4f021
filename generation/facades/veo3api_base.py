"""The veo3api.ai / kie.ai facade's plumbing: its messages, error envelope, refusal table,
base view and task-id parsing (contracts/veo3api.md §1, README A1, A28). Endpoints are in
`veo3api`, uploads in `kie_uploads`."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.authentication import BearerApiKeyAuthentication
from accounts.models import User
from billing.catalog import Tier
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from generation.errors import (
    MSG_INTERNAL,
    ConcurrencyLimited,
    IdempotencyKeyReused,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
    UpgradeRefused,
)
from generation.facades.base import ErrorRule, FacadeApi, validation_rule
from generation.facades.common import FieldError
from generation.models import Job
from generation.selectors import job_get
from generation.services.upgrades import RECORD_RETENTION

logger = logging.getLogger(__name__)

MSG_SUCCESS = "success"
MSG_UNAUTHORIZED = (
    "You do not have access permissions. Check your API key (Authorization: Bearer <key>)."
)
MSG_CREDITS = "The current credits are insufficient. Please top up."
MSG_RECORD_NULL = "record is null."
MSG_TOO_OLD = "Temporarily supports records within 14 days."
MSG_NOT_SUCCESS = "record status is not success."
MSG_1080P_PROCESSING = (
    "1080P is processing. It should be ready in 1-2 minutes. Please check back shortly."
)
MSG_4K_PROCESSING = (
    "4k is processing. It should be ready in 5-10 minutes. Please check back shortly."
)
MSG_4K_DONE = "The video has been generated successfully"

# In the order the contract lists them (the error message names them so).
EXTEND_MODELS = (Tier.FAST.value, Tier.QUALITY.value, Tier.LITE.value)
TEXT, FIRST_LAST, REFERENCE = ("TEXT_2_VIDEO", "FIRST_AND_LAST_FRAMES_2_VIDEO", "REFERENCE_2_VIDEO")
SEED_RANGE = (10000, 99999)
TASK_ID_MAX = 64
_TASK_ID_RE = re.compile(r"^(?:veo_extend_task_|veo_task_|video_)?([0-9a-f]{32})$")
# The HTTP status for each body code (VEO3API_HTTP_ERROR_STATUS, on by default; README A1).
_HTTP_STATUS = {455: 503, 501: 500, 505: 503}
# Job field names in service errors → the request field a veo3api client sent.
FIELD_NAMES = {
    "imageKey": "imageUrls",
    "images": "imageUrls",
    "duration_seconds": "duration",
    "aspect_ratio": "aspectRatio",
    "model_tier": "model",
    "mode": "generationType",
    "source_video": "taskId",
    "generate_audio": "generateAudio",
}


class Veo3ApiError(Exception):
    def __init__(
        self, code: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(msg)
        self.code, self.msg, self.data, self.headers = code, msg, data, headers or {}


def http_status(code: int) -> int:
    if not settings.VEO3API_HTTP_ERROR_STATUS:
        return 200
    return _HTTP_STATUS.get(code, code)


def envelope(code: int, msg: str, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        {"code": code, "msg": msg, "data": data}, status=http_status(code), headers=headers
    )


def _insufficient(view: FacadeApi, exc: InsufficientCredits) -> Exception:
    return Veo3ApiError(402, MSG_CREDITS)


def _key_budget(view: FacadeApi, exc: KeyBudgetExceeded) -> Exception:
    return Veo3ApiError(402, str(exc))


def _rate_limited(view: FacadeApi, exc: RateLimited) -> Exception:
    return Veo3ApiError(
        429,
        f"Rate limit exceeded{' for this API key' if exc.per_key else ''}: at most "
        f"{exc.decision.limit} generation requests per {exc.decision.window} seconds.",
        None,
        {"Retry-After": str(exc.retry_after)},
    )


def _unavailable(view: FacadeApi, exc: LimitsUnavailable) -> Exception:
    # 455 is the vendor's "service unavailable" code (HTTP 503 when statuses are real).
    return Veo3ApiError(
        455,
        "Service temporarily unavailable, please retry shortly.",
        None,
        {"Retry-After": str(exc.retry_after)},
    )


def _concurrency_limited(view: FacadeApi, exc: ConcurrencyLimited) -> Exception:
    return Veo3ApiError(
        429,
        f"Too many concurrent tasks{' for this API key' if exc.per_key else ''}: at most "
        f"{exc.limit} may be queued or running.",
        None,
        {"Retry-After": str(exc.retry_after)},
    )


def _key_reused(view: FacadeApi, exc: IdempotencyKeyReused) -> Exception:
    return FieldError("Idempotency-Key", "was already used with a different request")


def _upgrade_refused(view: FacadeApi, exc: UpgradeRefused) -> Exception:
    message = {"not_succeeded": MSG_NOT_SUCCESS, "expired": MSG_TOO_OLD}.get(exc.reason)
    if message:
        return Veo3ApiError(422, message)
    return FieldError(exc.field, exc.message)


# How each refusal of a submit or upgrade is answered (the facade's base view applies it).
ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    JobValidationError: validation_rule(FIELD_NAMES),
    InsufficientCredits: _insufficient,
    KeyBudgetExceeded: _key_budget,
    RateLimited: _rate_limited,
    LimitsUnavailable: _unavailable,
    ConcurrencyLimited: _concurrency_limited,
    IdempotencyKeyReused: _key_reused,
    UpgradeRefused: _upgrade_refused,
}


class Veo3ApiView(FacadeApi):
    authentication_classes = [BearerApiKeyAuthentication]
    error_table = ERROR_TABLE

    def render_error(
        self, code: int, msg: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        return envelope(code, msg, data, headers)

    def render_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Veo3ApiError):
            return self.render_error(exc.code, exc.msg, exc.data, exc.headers)
        if isinstance(exc, FieldError):
            return self.render_error(422, f"{exc.field} {exc.message}")
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return self.render_error(401, MSG_UNAUTHORIZED, None, {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, exceptions.ParseError):
            return self.render_error(422, "body is not valid JSON")
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return self.render_error(422, f"body has an unsupported media type: {exc.detail}")
        if isinstance(exc, exceptions.MethodNotAllowed):
            return self.render_error(405, f"Method {self.request.method} not allowed")
        if isinstance(exc, exceptions.APIException):
            return self.render_error(exc.status_code, str(exc.detail))
        logger.exception("veo3api request failed")
        return self.render_error(500, MSG_INTERNAL)


# ---------------------------------------------------------------------------------------------
# Shared parsing and errors
# ---------------------------------------------------------------------------------------------


def task_uuid(task_id: str) -> uuid.UUID | None:
    """The job id inside a kie task id (`veo_task_<hex>`, `veo_extend_task_<hex>`, or the id
    another facade shows: a UUID, `/v1/videos`' `video_<hex>`), None for anything else."""
    match = _TASK_ID_RE.match(task_id.strip().lower())
    if match:
        return uuid.UUID(match.group(1))
    try:
        return uuid.UUID(task_id.strip())
    except ValueError:
        return None


def job_for_task(user: User, task_id: Any) -> Job:
    """The user's job for a taskId; 422 "record is null." when there is none (README A28)."""
    if task_id is None or task_id == "":
        raise FieldError("taskId", "is required")
    if not isinstance(task_id, str):
        raise FieldError("taskId", "must be a string")
    if len(task_id) > TASK_ID_MAX:
        raise FieldError("taskId", f"must be at most {TASK_ID_MAX} characters")
    pk = task_uuid(task_id)
    job = job_get(user=user, job_id=pk) if pk else None
    if job is None:
        raise Veo3ApiError(422, MSG_RECORD_NULL)
    return job


def check_retention(job: Job) -> None:
    if job.created_at < timezone.now() - RECORD_RETENTION:
        raise Veo3ApiError(422, MSG_TOO_OLD)
