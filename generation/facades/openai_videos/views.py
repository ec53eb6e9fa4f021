"""The `/v1/videos` endpoints (OpenAI's Videos API shape; see the package doc).

Status reads (retrieve, content) come from the job's status snapshot (generation.snapshots);
writes go through generation.services. A key needs `read` for GET and `generate` for the
rest (create, remix, extensions, cancel, delete).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from rest_framework.response import Response

from accounts.typing import AuthenticatedRequest
from generation.delivery import serve_stored_file
from generation.facades.common import FieldError, strict_int
from generation.facades.openai_videos.base import (
    OpenAIError,
    OpenAIView,
    job_uuid,
    not_found,
    request_body,
)
from generation.facades.openai_videos.create import (
    extension_source_id,
    video_create,
    video_extend,
    video_remix,
)
from generation.facades.openai_videos.shapes import (
    STATUS,
    poll_after_ms,
    video_id_parse,
    video_object,
)
from generation.facades.openai_videos.shapes import video_id as format_video_id
from generation.facades.status_read import (
    FAST_METHODS,
    bearer_token,
    json_response,
    status_read,
    status_remember,
)
from generation.models import Job
from generation.selectors import job_get, jobs_page_for_user
from generation.services import CancelOutcome, job_cancel
from generation.services.sprites import SpritesheetUnavailable, job_spritesheet
from generation.services.storage import job_media_delete
from generation.snapshots import STATUS_FIELDS

LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
VARIANTS = ("video", "thumbnail", "spritesheet")
# What the list shows: generated videos and extensions (1080p / 4K upgrades are versions of a
# video; they stay readable by id).
LISTED_KINDS = (Job.Kind.GENERATE, Job.Kind.EXTEND)


def _video_response(job: Job, *, cancel_requested: bool = False) -> Response:
    headers = {}
    wait = poll_after_ms(job)
    if wait is not None:
        headers["openai-poll-after-ms"] = str(wait)
    return Response(video_object(job, cancel_requested=cancel_requested), headers=headers)


def _full_job(request: AuthenticatedRequest, value: str) -> Job:
    job = job_get(user=request.user, job_id=job_uuid(value))
    if job is None:
        raise not_found(value)
    return job


class VideosApi(OpenAIView):
    """POST /v1/videos (create) and GET /v1/videos (the account's videos from every facade,
    cursor pages)."""

    def post(self, request: AuthenticatedRequest) -> Response:
        return _video_response(video_create(request, request_body(request)))

    def get(self, request: AuthenticatedRequest) -> Response:
        params = request.query_params
        limit = LIST_LIMIT_DEFAULT
        if params.get("limit") not in (None, ""):
            limit = strict_int("limit", params.get("limit"))
            if not 1 <= limit <= LIST_LIMIT_MAX:
                raise FieldError("limit", f"must be between 1 and {LIST_LIMIT_MAX}")
        order = (params.get("order") or "desc").lower()
        if order not in ("asc", "desc"):
            raise FieldError("order", "must be asc or desc")
        after = None
        if params.get("after"):
            pk = video_id_parse(params.get("after"))
            after = job_get(user=request.user, job_id=pk) if pk else None
            if after is None:
                raise FieldError("after", "does not name one of your videos")
        jobs = jobs_page_for_user(
            user=request.user,
            after=after,
            ascending=order == "asc",
            limit=limit + 1,
            kinds=LISTED_KINDS,
            fields=STATUS_FIELDS,
        )
        page = jobs[:limit]
        data = [video_object(job) for job in page]
        return Response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(jobs) > limit,
            }
        )


class VideoApi(OpenAIView):
    """GET /v1/videos/{id} (with `openai-poll-after-ms` while it runs) and DELETE (a finished
    video's files; its record and ledger rows stay)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """A poll of a video the key may read answers from its status snapshot without DRF
        (generation.facades.status_read), with the same bytes; refusals, unknown ids and
        other methods take DRF's way (their exact errors)."""
        if request.method in FAST_METHODS:
            video_id = kwargs.get("video_id")
            pk = video_id_parse(video_id)
            read = status_read(request, token=bearer_token(request), job_id=pk, memo_tag="openai")
            if read.answer is not None:
                return read.answer
            if not read.refusal and read.job is not None:
                headers = {"Allow": ", ".join(self.allowed_methods)}
                wait = poll_after_ms(read.job)
                if wait is not None:
                    headers["openai-poll-after-ms"] = str(wait)
                return status_remember(read, json_response(video_object(read.job), 200, headers))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: AuthenticatedRequest, video_id: str) -> Response:
        return _video_response(self.snapshot(video_id))

    def delete(self, request: AuthenticatedRequest, video_id: str) -> Response:
        job = self.snapshot(video_id)
        if not job.is_terminal:
            raise OpenAIError(
                409,
                f"Video {video_id} is {STATUS[job.state]}: cancel it first "
                f"(POST /v1/videos/{video_id}/cancel), then delete it.",
                code="video_not_finished",
            )
        job_media_delete(job_id=job.id)
        return Response({"id": format_video_id(job.id), "object": "video.deleted", "deleted": True})


class VideoContentApi(OpenAIView):
    """GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet: the MP4, its poster
    (JPEG) or a sprite sheet of frames (JPEG, made on first request and stored)."""

    def get(self, request: AuthenticatedRequest, video_id: str) -> HttpResponseBase:
        variant = request.query_params.get("variant") or "video"
        if variant not in VARIANTS:
            raise FieldError("variant", f"must be one of {', '.join(VARIANTS)}")
        job = self.snapshot(video_id)
        if job.state != Job.State.SUCCEEDED:
            raise OpenAIError(
                409,
                f"Video {video_id} is {STATUS[job.state]}: its content exists only once it "
                "is completed.",
                code="video_not_ready",
            )
        if job.video_deleted_at is not None:
            raise OpenAIError(404, f"The content of video {video_id} was deleted.", code="gone")
        name = f"{job.id}"
        if variant == "video":
            return serve_stored_file(request, job.video_file, "video/mp4", f"{name}.mp4")
        if variant == "thumbnail":
            if not job.poster_file:
                raise OpenAIError(404, "This video has no thumbnail.", code="not_found")
            return serve_stored_file(request, job.poster_file, "image/jpeg", f"{name}.jpg")
        try:
            sprites = job_spritesheet(job=job)
        except SpritesheetUnavailable as exc:
            raise OpenAIError(404, f"No sprite sheet: {exc}.", code="not_found") from exc
        return serve_stored_file(request, sprites, "image/jpeg", f"{name}-sprites.jpg")


class VideoRemixApi(OpenAIView):
    """POST /v1/videos/{id}/remix {prompt}: a new video from the same inputs."""

    def post(self, request: AuthenticatedRequest, video_id: str) -> Response:
        body = request_body(request)
        return _video_response(video_remix(request, _full_job(request, video_id), body))


class VideoExtensionsApi(OpenAIView):
    """POST /v1/videos/extensions {prompt, seconds, video: {id}}."""

    def post(self, request: AuthenticatedRequest) -> Response:
        body = request_body(request)
        source = _full_job(request, extension_source_id(request, body))
        return _video_response(video_extend(request, source, body))


class VideoCancelApi(OpenAIView):
    """POST /v1/videos/{id}/cancel: a queued job is cancelled at once (hold released); a
    running one is cancelled where the provider can, else answered `in_progress` with
    `cancel_requested: true`; a finished one is 409."""

    def post(self, request: AuthenticatedRequest, video_id: str) -> Response:
        outcome = job_cancel(job=self.snapshot(video_id))
        # The row as the cancel left it (a write path: read the database, not the snapshot).
        current = _full_job(request, video_id)
        if outcome == CancelOutcome.ENDED:
            raise OpenAIError(
                409,
                f"Video {video_id} has already ended ({STATUS[current.state]}): nothing to cancel.",
                code="video_already_ended",
            )
        return _video_response(current, cancel_requested=outcome == CancelOutcome.REQUESTED)
