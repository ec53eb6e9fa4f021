"""The codefast "Veo3 AI Video Generation Panel" API (contracts/codefast.md, README A20-A24).

Served at the root, as the vendor does: `GET /` (key check), `POST /generate`,
`GET /status/{job_id}`, `GET /videos`. Auth: `X-API-Key`. Bodies are flat snake_case JSON;
times are `DD.MM.YYYY HH:MM:SS` in CODEFAST_TIME_ZONE and `""` when unset (never null).
Errors are FastAPI-style `{"detail": "..."}`: 401 invalid key, 404 unknown job (another
account's job answers the same), 409 an Idempotency-Key reused with another body, 413 a body
longer than any valid request (checked before parsing), 422 bad input naming the field, 429
daily limit / credits / rate / concurrency (with Retry-After where waiting helps), 500
anything unexpected. A generation that fails after acceptance is not an
HTTP error: it shows as `status: "failed"` with `error` text.

Every create, status and list answer carries the account's `daily_limit` and
`daily_limit_remaining` (jobs per day, reset at local midnight, failed jobs not counted; see
`generation.selectors.daily_usage`). `job_submit` enforces the limit under the account lock and
holds the job's credits in the same ledger as every facade.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from math import ceil
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import HeaderApiKeyAuthentication
from accounts.models import User
from billing.errors import InsufficientCredits
from generation import images
from generation.delivery import job_video_url
from generation.facades.common import FieldError, idempotency_key, json_object, required_str
from generation.models import Job, Upload
from generation.selectors import (
    QueuePlace,
    daily_limit_resets_at,
    daily_usage,
    job_get,
    job_get_by_idempotency_key,
    job_queue_place,
    jobs_succeeded_for_user,
)
from generation.services import (
    ConcurrencyLimited,
    DailyLimitReached,
    IdempotencyKeyReused,
    ImageInput,
    JobSpec,
    JobValidationError,
    RateLimited,
    job_submit,
    upload_create,
)

logger = logging.getLogger(__name__)

HEALTH_MESSAGE = "Veo 3 Fast Video Generator API running"  # clients compare it byte for byte
ASPECT_RATIOS = ("16:9", "9:16")  # A22
DURATIONS = (4, 6, 8)
DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_DURATION_SECONDS = 8
# Where a browser that opens `/` without a key is sent (the web dashboard).
DASHBOARD_PATH = "/dashboard/"

STATUS = {
    Job.State.QUEUED: "queued",
    Job.State.RUNNING: "processing",
    Job.State.SUCCEEDED: "completed",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "failed",
}
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
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class CodefastView(APIView):
    authentication_classes = [HeaderApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonAlways

    def handle_exception(self, exc: Exception) -> Response:
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


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def stamp(moment: Any) -> str:
    """`DD.MM.YYYY HH:MM:SS` in CODEFAST_TIME_ZONE; `""` when unset."""
    if moment is None:
        return ""
    return timezone.localtime(moment, ZoneInfo(settings.CODEFAST_TIME_ZONE)).strftime(
        "%d.%m.%Y %H:%M:%S"
    )


def limits(user: User) -> dict[str, int]:
    usage = daily_usage(user=user)
    return {"daily_limit": usage.limit, "daily_limit_remaining": usage.remaining}


def queue_place(job: Job) -> QueuePlace:
    """Position and queue length for a waiting or running job; 0 and 0 once it has ended
    (the contract's completed example)."""
    if job.is_terminal:
        return QueuePlace(position=0, total=0)
    return job_queue_place(
        job=job,
        exact_max=settings.CODEFAST_QUEUE_EXACT_MAX,
        snapshot_seconds=settings.CODEFAST_QUEUE_SNAPSHOT_SECONDS,
    )


def aspect_ratio(job: Job) -> str:
    return job.resolved_aspect_ratio or job.aspect_ratio


def error_text(job: Job) -> str:
    if job.state == Job.State.CANCELLED:
        return job.error_message or "The job was cancelled."
    if job.state == Job.State.FAILED:
        return job.error_message or "The generation failed."
    return ""


def status_body(job: Job, *, user: User, request: HttpRequest | None) -> dict[str, Any]:
    """Every key of both documented status shapes, for every status (A21)."""
    place = queue_place(job)
    return {
        "job_id": str(job.id),
        "status": STATUS[job.state],
        "queue_position": place.position,
        "total_in_queue": place.total,
        "aspect_ratio": aspect_ratio(job),
        "duration_seconds": job.duration_seconds,
        "has_image": bool(job.image_refs),
        "video_url": job_video_url(job, request) or "",
        "error": error_text(job),
        "created_at": stamp(job.created_at),
        "started_at": stamp(job.started_at),
        "completed_at": stamp(job.completed_at),
        **limits(user),
    }


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def parse_aspect_ratio(body: dict[str, Any]) -> str:
    value = body.get("aspect_ratio")
    if value is None:
        return DEFAULT_ASPECT_RATIO
    if not isinstance(value, str) or value.strip() not in ASPECT_RATIOS:
        raise FieldError("aspect_ratio", 'must be "16:9" or "9:16"')
    return value.strip()


def parse_duration(body: dict[str, Any]) -> int:
    """An integer 4, 6 or 8; like FastAPI's lax ints, "6" and 6.0 count as 6."""
    value = body.get("duration_seconds")
    if value is None:
        return DEFAULT_DURATION_SECONDS
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number not in DURATIONS:
        raise FieldError("duration_seconds", "must be 4, 6 or 8")
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


def _daily_limit_reached(user: User) -> CodefastError:
    usage = daily_usage(user=user)
    wait = max(1, ceil((daily_limit_resets_at() - timezone.now()).total_seconds()))
    return CodefastError(
        429,
        "Daily limit reached",
        {"daily_limit": usage.limit, "daily_limit_remaining": 0},
        {"Retry-After": str(wait)},
    )


# ---------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------


class RootApi(CodefastView):
    def get(self, request: Request) -> Response:
        return Response({"message": HEALTH_MESSAGE})


_root_api = RootApi.as_view()


@csrf_exempt
def root(request: HttpRequest) -> HttpResponse:
    """`GET /` is codefast's key check when an X-API-Key header is sent. Without one, a
    browser (Accept names text/html explicitly; `*/*` does not count) is sent to the
    dashboard, and anything else gets codefast's 401."""
    accept = request.headers.get("Accept", "")
    if (
        "HTTP_X_API_KEY" not in request.META
        and request.method in ("GET", "HEAD")
        and "text/html" in accept.lower()
    ):
        response: HttpResponse = HttpResponseRedirect(DASHBOARD_PATH)
    else:
        response = _root_api(request)
    patch_vary_headers(response, ("Accept", "X-API-Key"))
    return response


def body_limit() -> int:
    """The largest /generate body read: the base64 of the largest image, plus room for the
    other fields. Anything longer is refused by its Content-Length before it is parsed."""
    return 4 * ceil(settings.CODEFAST_IMAGE_MAX_BYTES / 3) + 2**20


class GenerateApi(CodefastView):
    def post(self, request: Request) -> Response:
        user = request.user
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > body_limit():
            limit = settings.CODEFAST_IMAGE_MAX_BYTES
            raise CodefastError(
                413,
                f"body is too large: at most {body_limit():,} bytes (the "
                f"image may be at most {limit / 2**20:g} MB decoded)",
            )
        body = json_object(request)
        prompt = required_str(body, "prompt", max_length=settings.GENERATION_PROMPT_MAX_CHARS)
        ratio = parse_aspect_ratio(body)
        duration = parse_duration(body)
        image = parse_image(body)
        key = idempotency_key(request)
        # What identifies the request for Idempotency-Key replays: the effective values, the
        # image by digest (the base64 itself is never stored on the job).
        raw: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": ratio,
            "duration_seconds": duration,
        }
        inputs: tuple[ImageInput, ...] = ()
        if image is not None:
            raw["image"] = {"sha256": hashlib.sha256(image).hexdigest(), "bytes": len(image)}
            # A retry of a request already accepted needs no second copy of its image:
            # job_submit answers it (or refuses a different body) before looking at images.
            if not (key and job_get_by_idempotency_key(user=user, key=key)):
                try:
                    upload = upload_create(
                        user=user,
                        source=image,
                        max_bytes=settings.CODEFAST_IMAGE_MAX_BYTES,
                        origin=Upload.Source.BASE64,
                    )
                except images.ImageRejected as exc:
                    raise FieldError("image", f"is not an acceptable image: {exc}") from exc
                inputs = (ImageInput(upload_id=upload.id),)
        spec = JobSpec(
            facade=Job.Facade.CODEFAST,
            prompt=prompt,
            model_tier=settings.CODEFAST_MODEL_TIER,
            aspect_ratio=ratio,
            resolution=settings.CODEFAST_RESOLUTION,
            duration_seconds=duration,
            images=inputs,
            raw_request=raw,
            enforce_daily_limit=True,
        )
        try:
            job = job_submit(user=user, spec=spec, api_key=request.auth, idempotency_key=key).job
        except JobValidationError as exc:
            raise FieldError(FIELD_NAMES.get(exc.field, exc.field), exc.message) from exc
        except DailyLimitReached as exc:
            raise _daily_limit_reached(user) from exc
        except InsufficientCredits as exc:
            raise CodefastError(
                429,
                "Insufficient credits",
                {
                    "required_credits": exc.required,
                    "available_credits": exc.available,
                    **limits(user),
                },
            ) from exc
        except RateLimited as exc:
            raise CodefastError(
                429, "Rate limit exceeded", limits(user), {"Retry-After": str(exc.retry_after)}
            ) from exc
        except ConcurrencyLimited as exc:
            raise CodefastError(
                429,
                f"Too many jobs in progress: at most {exc.limit} may be queued or running",
                limits(user),
                {"Retry-After": str(exc.retry_after)},
            ) from exc
        except IdempotencyKeyReused as exc:
            raise CodefastError(409, str(exc)) from exc
        place = queue_place(job)
        return Response(
            {
                "job_id": str(job.id),
                "status": STATUS[job.state],
                "queue_position": place.position,
                "total_in_queue": place.total,
                "aspect_ratio": aspect_ratio(job),
                "duration_seconds": job.duration_seconds,
                "has_image": bool(job.image_refs),
                **limits(user),
            }
        )


class StatusApi(CodefastView):
    def get(self, request: Request, job_id: str) -> Response:
        job = job_get(user=request.user, job_id=job_id)
        if job is None:
            raise CodefastError(404, "Job not found")
        return Response(status_body(job, user=request.user, request=request))


class VideosApi(CodefastView):
    """Completed jobs of the account, newest first, no paging (A24); query params ignored."""

    def get(self, request: Request) -> Response:
        videos = [
            {
                "job_id": str(job.id),
                "video_url": job_video_url(job, request) or "",
                "created_at": stamp(job.created_at),
                "metadata": {
                    "aspect_ratio": aspect_ratio(job),
                    "duration_seconds": job.duration_seconds,
                    "resolution": job.resolution,
                    "has_image": bool(job.image_refs),
                },
            }
            for job in jobs_succeeded_for_user(user=request.user)
        ]
        return Response({"count": len(videos), "videos": videos, **limits(request.user)})
