"""The veo3o1.com API (contracts/veo3o1.md): Bearer auth, `{code, msg, data}` with code 0.

Codes: 0 success; 1000 invalid parameters (HTTP 400; 404 for an unknown uuid); 1001
insufficient credits with `data: {required, current}` (402); 1002 authentication failed (401);
1003 rate limit exceeded (429, with Retry-After); 5000 server error (500). With
VEO3O1_HTTP_ERROR_STATUS off, every answer is HTTP 200 and only `code` tells.
"""

from __future__ import annotations

import json
import logging
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.authentication import BearerApiKeyAuthentication
from accounts.typing import AuthenticatedRequest
from billing.catalog import ASPECT_RATIOS
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from generation import images
from generation.delivery import job_poster_url, job_video_url, upload_url
from generation.facades.base import ErrorRule, FacadeApi, validation_rule
from generation.facades.common import (
    FieldError,
    idempotency_key,
    json_object,
    optional_str,
    optional_str_list,
    required_str,
)
from generation.facades.status_read import bearer_token, status_read, status_remember
from generation.models import Job
from generation.selectors import job_eta_seconds, upload_get_by_key
from generation.services import (
    ConcurrencyLimited,
    IdempotencyKeyReused,
    ImageInput,
    JobSpec,
    JobValidationError,
    LimitsUnavailable,
    RateLimited,
    job_submit,
    upload_create,
)

logger = logging.getLogger(__name__)

STATUS: dict[str, str] = {
    Job.State.QUEUED: "pending",
    Job.State.RUNNING: "processing",
    Job.State.SUCCEEDED: "completed",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "failed",
}
# A client-facing field name for each internal validation field.
FIELD_NAMES = {
    "aspectRatio": "aspectRatio",
    "imageUrls": "imageUrl",
    "imageKey": "imageKey",
    "callBackUrl": "callbackUrl",
    "model": "model",
    "resolution": "resolution",
    "duration": "duration",
}


class Veo3o1Error(Exception):
    def __init__(
        self,
        code: int,
        msg: str,
        http_status: int,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.code, self.msg, self.http_status, self.data = code, msg, http_status, data
        self.headers = headers or {}


def invalid(message: str, http_status: int = 400) -> Veo3o1Error:
    return Veo3o1Error(1000, message, http_status)


def iso(moment: Any) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def wire_status(http_status: int) -> int:
    """The HTTP status sent: the contract's, or 200 for everything (VEO3O1_HTTP_ERROR_STATUS)."""
    return http_status if settings.VEO3O1_HTTP_ERROR_STATUS else 200


def envelope(
    code: int, msg: str, data: Any, http_status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        {"code": code, "msg": msg, "data": data}, status=wire_status(http_status), headers=headers
    )


def _insufficient(view: FacadeApi, exc: InsufficientCredits) -> Exception:
    return Veo3o1Error(
        1001, "Insufficient credits", 402, {"required": exc.required, "current": exc.available}
    )


def _key_budget(view: FacadeApi, exc: KeyBudgetExceeded) -> Exception:
    return Veo3o1Error(1001, str(exc), 402, {"required": exc.required, "current": exc.available})


def _limited(view: FacadeApi, exc: RateLimited | ConcurrencyLimited) -> Exception:
    return Veo3o1Error(
        1003, "Rate limit exceeded", 429, None, {"Retry-After": str(exc.retry_after)}
    )


def _unavailable(view: FacadeApi, exc: LimitsUnavailable) -> Exception:
    return Veo3o1Error(
        5000, "Service temporarily unavailable", 503, None, {"Retry-After": str(exc.retry_after)}
    )


def _key_reused(view: FacadeApi, exc: IdempotencyKeyReused) -> Exception:
    return Veo3o1Error(1000, f"Invalid parameters: {exc}", 409)


# How each refusal of a submit is answered (the facade's base view applies it).
ERROR_TABLE: dict[type[Exception], ErrorRule] = {
    JobValidationError: validation_rule(FIELD_NAMES),
    InsufficientCredits: _insufficient,
    KeyBudgetExceeded: _key_budget,
    RateLimited: _limited,
    LimitsUnavailable: _unavailable,
    ConcurrencyLimited: _limited,
    IdempotencyKeyReused: _key_reused,
}


class Veo3o1View(FacadeApi):
    authentication_classes = [BearerApiKeyAuthentication]
    error_table = ERROR_TABLE

    def render_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Veo3o1Error):
            return envelope(exc.code, exc.msg, exc.data, exc.http_status, exc.headers)
        if isinstance(exc, FieldError):
            return envelope(1000, f"Invalid parameters: {exc.field} {exc.message}", None, 400)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return envelope(
                1002, "Authentication failed", None, 401, {"WWW-Authenticate": "Bearer"}
            )
        if isinstance(exc, exceptions.ParseError):
            return envelope(1000, "Invalid parameters: body is not valid JSON", None, 400)
        if isinstance(exc, exceptions.UnsupportedMediaType):
            return envelope(1000, f"Invalid parameters: {exc.detail}", None, 415)
        if isinstance(exc, exceptions.MethodNotAllowed):
            return envelope(1000, f"Method {self.request.method} not allowed", None, 405)
        if isinstance(exc, exceptions.APIException):
            return envelope(1000, str(exc.detail), None, exc.status_code)
        logger.exception("veo3o1 request failed")
        return envelope(5000, "Server error", None, 500)


def _images(user: Any, body: dict[str, Any]) -> tuple[ImageInput, ...]:
    """imageKey(s) win over imageUrl(s); a singular field wins over its array (A16)."""
    key = optional_str(body, "imageKey", max_length=200)
    keys = [key] if key else optional_str_list(body, "imageKeys", max_items=2)
    if keys:
        found = []
        for index, value in enumerate(keys):
            upload = upload_get_by_key(user=user, key=value)
            if upload is None:
                name = "imageKey" if key else f"imageKeys[{index}]"
                raise FieldError(name, "does not name an image you uploaded")
            found.append(ImageInput(upload_id=upload.id))
        return tuple(found)
    url = optional_str(body, "imageUrl", max_length=2048)
    urls = [url] if url else optional_str_list(body, "imageUrls", max_items=2)
    return tuple(ImageInput(url=u) for u in urls)


class GenerateVideoApi(Veo3o1View):
    def post(self, request: AuthenticatedRequest) -> Response:
        body = json_object(request)
        generation_type = required_str(body, "generationType", max_length=40)
        if generation_type not in ("text_to_video", "image_to_video"):
            raise FieldError("generationType", "must be text_to_video or image_to_video")
        prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
        aspect = optional_str(body, "aspectRatio", max_length=10).lower() or "auto"
        if aspect not in ("auto", *ASPECT_RATIOS):
            raise FieldError("aspectRatio", "must be auto, 16:9 or 9:16")
        inputs = _images(request.user, body)
        if generation_type == "image_to_video" and not inputs:
            raise FieldError(
                "imageUrl",
                "(or imageKey, from POST /api/upload-video-image) is required for image_to_video",
            )
        if generation_type == "text_to_video" and inputs:
            raise FieldError("imageUrl", "is only used with image_to_video")
        callback = optional_str(body, "callbackUrl", max_length=2048) or optional_str(
            body, "callBackUrl", max_length=2048
        )
        spec = JobSpec(
            facade=Job.Facade.VEO3O1,
            prompt=prompt,
            model_tier=settings.VEO3O1_MODEL_TIER,
            aspect_ratio=aspect,
            resolution=settings.VEO3O1_RESOLUTION,
            duration_seconds=settings.VEO3O1_DURATION_SECONDS,
            images=inputs,
            callback_url=callback,
            raw_request=body,
        )
        submitted = job_submit(
            user=request.user,
            spec=spec,
            api_key=request.auth,
            idempotency_key=idempotency_key(request),
        )
        job = submitted.job
        return envelope(
            0,
            "Success",
            {
                "uuid": str(job.id),
                "status": "pending",
                "generationType": generation_type,
                "prompt": job.prompt,
                "aspectRatio": job.aspect_ratio,
                "createdAt": iso(job.created_at),
            },
        )


def status_data(job: Job, request: HttpRequest | None) -> dict[str, Any]:
    """The status `data` object (also the veo3o1 callback body)."""
    success_flags: dict[str, int] = {
        Job.State.SUCCEEDED: 1,
        Job.State.FAILED: 3 if job.failure_stage == Job.FailureStage.GENERATION else 2,
        Job.State.CANCELLED: 2,
    }
    success_flag = success_flags.get(job.state, 0)
    data: dict[str, Any] = {
        "uuid": str(job.id),
        "status": STATUS[job.state],
        "videoUrl": job_video_url(job, request),
        "posterUrl": job_poster_url(job, request),
        "progress": 100
        if job.state == Job.State.SUCCEEDED
        else (0 if job.state == Job.State.QUEUED else job.progress),
        "estimatedTime": job_eta_seconds(job=job),
        "successFlag": success_flag,
        "createdAt": iso(job.created_at),
        "completedAt": iso(job.completed_at),
    }
    if job.state in (Job.State.FAILED, Job.State.CANCELLED):
        data["errorMessage"] = job.error_message
    if job.state == Job.State.CANCELLED:
        # veo3o1 knows no cancelled status: `failed` (clients stop polling), and this says why.
        data["cancelled"] = True
    return data


def plain_envelope(
    code: int, msg: str, data: Any, http_status: int = 200, headers: dict[str, str] | None = None
) -> HttpResponse:
    """`envelope` without DRF: the same bytes as its JSONRenderer (compact, UTF-8, U+2028 and
    U+2029 escaped)."""
    body = json.dumps(
        {"code": code, "msg": msg, "data": data}, ensure_ascii=False, separators=(",", ":")
    )
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(
        body, content_type="application/json", status=wire_status(http_status), headers=headers
    )


class VideoStatusApi(Veo3o1View):
    """GET /api/video-status/{uuid}: the hottest path (clients poll every few seconds).

    It answers from the job's status snapshot (generation.snapshots) and the shared-cache key
    lookup, so a poll normally runs no SQL. It also bypasses DRF's request handling (request
    wrapping, content negotiation, authenticator and permission objects), which cost more than
    the rest of the work; the class stays an APIView so the OpenAPI schema describes it.
    Errors are the same envelopes as every other veo3o1 endpoint.
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return plain_envelope(
                1000, f"Method {request.method} not allowed", None, 405, {"Allow": "GET, HEAD"}
            )
        try:
            return self.get(request, **kwargs)
        except Exception:
            logger.exception("veo3o1 status request failed")
            return plain_envelope(5000, "Server error", None, 500)

    def get(self, request: HttpRequest, uuid: str) -> HttpResponse:
        read = status_read(request, token=bearer_token(request), job_id=uuid, memo_tag="veo3o1")
        if read.answer is not None:
            return read.answer
        if read.refusal == "auth":
            return _auth_failed()
        if read.refusal == "scope":
            return plain_envelope(1000, read.message, None, 403)
        if read.job is None:
            return plain_envelope(1000, "Video not found", None, 404)
        return status_remember(read, plain_envelope(0, "Success", status_data(read.job, request)))


def _auth_failed() -> HttpResponse:
    return plain_envelope(1002, "Authentication failed", None, 401, {"WWW-Authenticate": "Bearer"})


class UploadVideoImageApi(Veo3o1View):
    def post(self, request: AuthenticatedRequest) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise FieldError("file", "is required (multipart/form-data field 'file')")
        limit = settings.GENERATION_UPLOAD_MAX_BYTES
        if (upload.size or 0) > limit:  # an unknown size is bounded while it is read
            raise FieldError("file", f"is larger than {limit // (1024 * 1024)} MB")
        source = cast(BinaryIO | None, upload.file)  # an uploaded file's data is bytes
        if source is None:
            raise FieldError("file", "is required (multipart/form-data field 'file')")
        try:
            stored = upload_create(
                user=request.user, source=source, file_name=upload.name or "", max_bytes=limit
            )
        except images.ImageRejected as exc:
            raise FieldError("file", str(exc)) from exc
        return envelope(
            0,
            "Upload successful",
            {
                "imageUrl": upload_url(stored, request),
                "imageKey": stored.key,
            },
        )
