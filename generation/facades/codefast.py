"""The codefast "Veo3 AI Video Generation Panel" API (contracts/codefast.md, README A20-A24).

Served at the root, as the vendor does: `GET /` (key check), `POST /generate`,
`GET /status/{job_id}`, `GET /videos`. Auth: `X-API-Key`. Bodies are flat snake_case JSON;
times are `DD.MM.YYYY HH:MM:SS` in CODEFAST_TIME_ZONE and `""` when unset (never null).
Errors are FastAPI-style `{"detail": "..."}`: 401 invalid key, 404 unknown job (another
account's job answers the same), 409 an Idempotency-Key reused with another body, 413 a body
longer than any valid request (checked before parsing), 422 bad input naming the field, 402
not enough credits, 429 daily limit / rate / concurrency (with Retry-After where waiting
helps), 500
anything unexpected. A generation that fails after acceptance is not an
HTTP error: it shows as `status: "failed"` with `error` text.

Every create, status and list answer carries the account's `daily_limit` and
`daily_limit_remaining` (jobs per day, reset at local midnight, failed jobs not counted; see
`generation.selectors.daily_usage`). `job_submit` enforces the limit under the account lock and
holds the job's credits in the same ledger as every facade.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase, HttpResponseRedirect
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response

from accounts.models import User
from accounts.typing import AuthenticatedRequest
from generation import images
from generation.delivery import job_video_url
from generation.errors import CANCEL_MESSAGE
from generation.facades.codefast_base import (
    CodefastError,
    CodefastView,
    body_limit,
    limits,
    parse_aspect_ratio,
    parse_duration,
    parse_image,
)
from generation.facades.common import FieldError, idempotency_key, json_object, required_str
from generation.facades.status_read import (
    ALLOW_GET,
    FAST_METHODS,
    json_response,
    status_read,
    status_remember,
)
from generation.models import Job, Upload
from generation.selectors import (
    QueuePlace,
    daily_usage_cache_key,
    job_get,
    job_get_by_idempotency_key,
    job_queue_place,
    jobs_succeeded_for_user,
)
from generation.selectors.queue_cache import (
    job_queue_place_cached,
    queue_place_cache_keys,
    queue_place_entry_key,
)
from generation.services import (
    ImageInput,
    JobSpec,
    job_submit,
    upload_create,
)

logger = logging.getLogger(__name__)

HEALTH_MESSAGE = "Veo 3 Fast Video Generator API running"  # clients compare it byte for byte
# Where a browser that opens `/` without a key is sent (the web dashboard).
DASHBOARD_PATH = "/dashboard/"

STATUS: dict[str, str] = {
    Job.State.QUEUED: "queued",
    Job.State.RUNNING: "processing",
    Job.State.SUCCEEDED: "completed",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "failed",
}


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
    if job.state == Job.State.CANCELLED:  # codefast knows no cancelled status: failed + why
        return job.error_message or CANCEL_MESSAGE
    if job.state == Job.State.FAILED:
        return job.error_message or "The generation failed."
    return ""


def status_body(
    job: Job,
    *,
    user: User,
    request: HttpRequest | None,
    place: QueuePlace | None = None,
    prefetched: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every key of both documented status shapes, for every status (A21)."""
    if place is None:
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
        **limits(user, prefetched=prefetched),
    }


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------


class RootApi(CodefastView):
    def get(self, request: AuthenticatedRequest) -> Response:
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


class GenerateApi(CodefastView):
    def post(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isascii() and length.isdigit() and int(length) > body_limit():
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
        submitted = job_submit(user=user, spec=spec, api_key=request.auth, idempotency_key=key)
        job = submitted.job
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
                **limits(user, submitted.daily_usage),
            }
        )


def _status_cache_keys(job_id: uuid.UUID | None, account_id: int | None) -> list[str]:
    """What a status poll reads with the key and the snapshot: the queue place entries and
    the account's daily usage."""
    usage = [daily_usage_cache_key(user_id=account_id)] if account_id is not None else []
    return [*queue_place_cache_keys(job_id), *usage]


class StatusApi(CodefastView):
    """GET /status/{job_id}. GET and HEAD answer from the job's status snapshot without DRF
    (generation.facades.status_read), with the same bytes; other methods take DRF's way."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method not in FAST_METHODS:
            return super().dispatch(request, *args, **kwargs)
        try:
            return self.fast_get(request, kwargs["job_id"])
        except Exception:
            logger.exception("codefast request failed")
            return self.plain(500, {"detail": "Internal server error"})

    def plain(
        self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> HttpResponse:
        return json_response(data, status, {"Allow": ALLOW_GET, **(headers or {})})

    def fast_get(self, request: HttpRequest, job_id: str) -> HttpResponse:
        token = request.META.get("HTTP_X_API_KEY", "")
        read = status_read(
            request, token=token, job_id=job_id, extra=_status_cache_keys, memo_tag="codefast"
        )
        if read.answer is not None:
            return read.answer
        if read.refusal == "auth" or read.api_key is None:
            return self.plain(401, {"detail": "Invalid API key"}, {"WWW-Authenticate": "X-API-Key"})
        if read.refusal == "scope":
            return self.plain(403, {"detail": read.message})
        user, job = read.api_key.user, read.job
        if job is None:
            return self.plain(404, {"detail": "Job not found"})
        place = None
        if not job.is_terminal:
            # Counted under the queue epoch read with the snapshot (generation.selectors.
            # queue_cache): no SQL until the queue changes.
            place = job_queue_place_cached(
                job=job,
                exact_max=settings.CODEFAST_QUEUE_EXACT_MAX,
                snapshot_seconds=settings.CODEFAST_QUEUE_SNAPSHOT_SECONDS,
                prefetched=read.cached,
            )
        body = status_body(job, user=user, request=request, place=place, prefetched=read.cached)
        # Remembered only when the daily usage (and the queue place while the job waits) came
        # from the cache: a figure counted in the database now may be newer than its bytes.
        needs = [daily_usage_cache_key(user_id=user.pk)]
        if not job.is_terminal:
            needs.append(queue_place_entry_key(job))
        return status_remember(read, self.plain(200, body), needs=needs)

    def get(self, request: AuthenticatedRequest, job_id: str) -> Response:
        job = job_get(user=request.user, job_id=job_id)
        if job is None:
            raise CodefastError(404, "Job not found")
        return Response(status_body(job, user=request.user, request=request))


class VideosApi(CodefastView):
    """Completed jobs of the account, newest first, no paging (A24); query params ignored."""

    def get(self, request: AuthenticatedRequest) -> Response:
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
