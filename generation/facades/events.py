"""`GET /api/v1/jobs/{id}/events` (our envelope) and `GET /v1/videos/{id}/events` (OpenAI
shape): a job's live status as Server-Sent Events (generation/streams.py).

Async views: served by the ASGI side of the web process (veosaas/asgi.py sends these paths to
Django's ASGI handler), so an open stream holds no worker thread. Authentication and the first
snapshot read run in Django's sync thread; errors answer JSON in each facade's own shape, and a
job of another account answers exactly like an unknown id (404). Reached through the WSGI
handler instead (a server started on veosaas.wsgi), they answer 503 rather than hold a thread.

Payloads: each event's `data` is what that facade's status answer says about the job, built from
the status snapshot: `job_data` (generation/facades/jobs.py, as `GET /api/v1/jobs/{id}` answers)
and `video_data` here (the OpenAI facade's video object).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from accounts.authentication import BearerApiKeyAuthentication, KeyScopePermission
from generation.facades.jobs import job_data
from generation.models import Job
from generation.snapshots import snapshot_id
from generation.streams import STREAM_HEADERS, JobStream, Payload
from veosaas.api import envelope_exception_handler

JOB_NOT_FOUND = "job: no job with this id"
NEEDS_ASGI = "stream: event streams are served by the ASGI web server (Procfile web)"
_ENDED = (Job.State.FAILED, Job.State.CANCELLED)


class _NeedsAsgi(exceptions.APIException):
    status_code = 503
    default_detail = NEEDS_ASGI


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


VIDEO_STATUS = {
    Job.State.QUEUED: "queued",
    Job.State.RUNNING: "in_progress",
    Job.State.SUCCEEDED: "completed",
    Job.State.FAILED: "failed",
    Job.State.CANCELLED: "cancelled",
}
_VIDEO_ID = re.compile(r"^video_([0-9a-f]{32})$")


def video_id(job_id: uuid.UUID) -> str:
    return f"video_{job_id.hex}"


def video_job_id(text: str) -> uuid.UUID | None:
    """The job id of `video_<hex>` (or of a bare job id), else None."""
    match = _VIDEO_ID.match(text)
    return snapshot_id(match.group(1) if match else text)


def video_data(job: Job) -> dict[str, Any]:
    """OpenAI's video object for a job's status (the snapshot's columns only; `prompt` and
    `remixed_from_video_id` are added by the stream, which reads them once)."""
    size = f"{job.output_width}x{job.output_height}" if job.output_width else None
    return {
        "id": video_id(job.id),
        "object": "video",
        "status": VIDEO_STATUS.get(Job.State(job.state), job.state),
        "progress": 100 if job.state == Job.State.SUCCEEDED else job.progress,
        "created_at": _epoch(job.created_at),
        "completed_at": _epoch(job.completed_at),
        "expires_at": None,
        "error": (
            {"code": job.error_code or "failed", "message": job.error_message}
            if job.state in _ENDED
            else None
        ),
        "model": job.model_tier,
        "seconds": str(job.duration_seconds),
        "size": size,
    }


# ---------------------------------------------------------------------------------------------
# Authentication and error shapes
# ---------------------------------------------------------------------------------------------


def _authenticate(request: HttpRequest, *, session: bool) -> int:
    """The user id of an API key with the `read` scope (or, if `session`, a dashboard login);
    raises DRF's NotAuthenticated / AuthenticationFailed / PermissionDenied."""
    authenticators: list[Any] = [BearerApiKeyAuthentication()]
    if session:
        authenticators.append(SessionAuthentication())
    drf_request = Request(request, authenticators=authenticators)
    user = drf_request.user
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    KeyScopePermission().has_permission(drf_request, None)
    return int(user.pk)


def _envelope_error(exc: exceptions.APIException) -> HttpResponse:
    answer = envelope_exception_handler(exc, {})
    if answer is None:  # only for exceptions DRF does not know; these are all APIExceptions
        raise exc
    response = JsonResponse(answer.data, status=answer.status_code)
    if answer.status_code == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def openai_error(
    message: str, *, status: int, kind: str = "invalid_request_error", code: str | None = None
) -> JsonResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def _openai_auth_error(exc: exceptions.APIException) -> HttpResponse:
    if isinstance(exc, exceptions.PermissionDenied):
        return openai_error(str(exc.detail), status=403, code="insufficient_scope")
    return openai_error(str(exc.detail), status=401, code="invalid_api_key")


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------


async def _stream(
    request: HttpRequest,
    *,
    job_id: uuid.UUID | None,
    user_id: int,
    payload: Payload,
    event: str,
    not_found: Callable[[], HttpResponse],
) -> HttpResponse | StreamingHttpResponse:
    if job_id is None:
        return not_found()
    stream = JobStream(
        user_id=user_id,
        job_id=job_id,
        payload=payload,
        event=event,
        last_event_id=request.headers.get("Last-Event-ID", "")[:64],
    )
    if await stream.open() is None:
        return not_found()
    if stream.already_ended:
        stream.close()
        return HttpResponse(status=204, headers=STREAM_HEADERS)
    return StreamingHttpResponse(
        stream.events(), content_type="text/event-stream", headers=STREAM_HEADERS
    )


async def job_events(request: HttpRequest, job_id: str) -> HttpResponse | StreamingHttpResponse:
    """`GET /api/v1/jobs/{id}/events`: API key (read scope) or dashboard session."""
    if not isinstance(request, ASGIRequest):
        return _envelope_error(_NeedsAsgi())
    if request.method not in ("GET", "HEAD"):
        return _envelope_error(exceptions.MethodNotAllowed(request.method or ""))
    try:
        user_id = await sync_to_async(_authenticate)(request, session=True)
    except exceptions.APIException as exc:
        return _envelope_error(exc)
    return await _stream(
        request,
        job_id=snapshot_id(job_id),
        user_id=user_id,
        payload=lambda job: job_data(job, request),
        event="job",
        not_found=lambda: JsonResponse(
            {"code": 404, "msg": JOB_NOT_FOUND, "data": None}, status=404
        ),
    )


def _video_extras(user_id: int, job_id: uuid.UUID) -> dict[str, Any]:
    row = Job.objects.filter(pk=job_id, user_id=user_id).values("prompt").first()
    return {"prompt": row["prompt"] if row else None, "remixed_from_video_id": None}


async def video_events(request: HttpRequest, video: str) -> HttpResponse | StreamingHttpResponse:
    """`GET /v1/videos/{id}/events`: `Authorization: Bearer <key>` (read scope)."""
    if not isinstance(request, ASGIRequest):
        return openai_error(NEEDS_ASGI, status=503, kind="server_error")
    if request.method not in ("GET", "HEAD"):
        return openai_error(f"Method {request.method} not allowed.", status=405)
    try:
        user_id = await sync_to_async(_authenticate)(request, session=False)
    except exceptions.APIException as exc:
        return _openai_auth_error(exc)
    job_id = video_job_id(video)

    def not_found() -> HttpResponse:
        return openai_error(f"Video with id '{video[:100]}' not found.", status=404)

    extras = await sync_to_async(_video_extras)(user_id, job_id) if job_id is not None else {}

    def payload(job: Job) -> dict[str, Any]:
        return {**video_data(job), **extras}

    return await _stream(
        request,
        job_id=job_id,
        user_id=user_id,
        payload=payload,
        event="video",
        not_found=not_found,
    )
