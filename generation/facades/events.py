"""`GET /api/v1/jobs/{id}/events` (our envelope) and `GET /v1/videos/{id}/events` (OpenAI
shape): a job's live status as Server-Sent Events (generation/streams.py).

Async views: served by the ASGI side of the web process (veosaas/asgi.py sends these paths to
Django's ASGI handler), so an open stream holds no worker thread. Authentication and the first
snapshot read run in Django's sync thread; errors answer JSON in each facade's own shape, and a
job of another account answers exactly like an unknown id (404). Reached through the WSGI
handler instead (a server started on veosaas.wsgi), they answer 503 rather than hold a thread.

Payloads: each event's `data` is what that facade's status answer says about the job, built from
the status snapshot: `job_data` (generation/facades/jobs.py, as `GET /api/v1/jobs/{id}` answers)
and `video_object` (generation/facades/openai_videos/shapes.py, as `GET /v1/videos/{id}`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from accounts.authentication import BearerApiKeyAuthentication, KeyScopePermission
from generation.facades.jobs import job_data
from generation.facades.openai_videos.base import error_response
from generation.facades.openai_videos.base import not_found as not_found_error
from generation.facades.openai_videos.shapes import video_id_parse, video_object
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


def openai_error(status: int, message: str, *, code: str | None = None) -> JsonResponse:
    """The `/v1/videos` facade's error body (generation/facades/openai_videos/base.py)."""
    answer = error_response(status, message, code=code)
    response = JsonResponse(answer.data, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def _openai_auth_error(exc: exceptions.APIException) -> HttpResponse:
    if isinstance(exc, exceptions.PermissionDenied):
        return openai_error(403, str(exc.detail), code="insufficient_scope")
    return openai_error(401, str(exc.detail), code="invalid_api_key")


def video_data(job: Job) -> dict[str, Any]:
    """The video object as `GET /v1/videos/{id}` answers it, from the status snapshot."""
    return video_object(job, cancel_requested=job.cancel_requested_at is not None)


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
        return openai_error(503, NEEDS_ASGI)
    if request.method not in ("GET", "HEAD"):
        return openai_error(405, f"Method {request.method} not allowed.")
    try:
        user_id = await sync_to_async(_authenticate)(request, session=False)
    except exceptions.APIException as exc:
        return _openai_auth_error(exc)

    def not_found() -> HttpResponse:
        error = not_found_error(video)
        return openai_error(error.status, error.message, code=error.code)

    return await _stream(
        request,
        job_id=video_id_parse(video),
        user_id=user_id,
        payload=video_data,
        event="video",
        not_found=not_found,
    )
