"""Permanent media URLs of this service, and serving them.

Every URL handed to a customer is ours and unguessable (`/media/v/<job uuid>.mp4`,
`/media/v/<job uuid>.jpg`, `/media/u/<upload uuid>.<ext>`), never a provider's. It streams the
stored file with HTTP Range support (browsers seek with it) or, with MEDIA_DELIVERY=redirect
(S3), answers 302 to a freshly signed storage URL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from generation.models import Job, Upload
from veosaas.http import public_url

CHUNK = 256 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """PUBLIC_BASE_URL + path; else the request's own host; else the local default."""
    return public_url(path, request)


def job_video_url(job: Job, request: HttpRequest | None = None) -> str | None:
    if not job.video_file:
        return None
    return absolute_url(reverse("media-video", args=[job.id]), request)


def job_poster_url(job: Job, request: HttpRequest | None = None) -> str | None:
    if not job.poster_file:
        return None
    return absolute_url(reverse("media-poster", args=[job.id]), request)


def upload_url(upload: Upload, request: HttpRequest | None = None) -> str:
    return absolute_url(reverse("media-upload", args=[upload.id, upload.extension]), request)


def upload_id_from_url(url: str) -> uuid.UUID | None:
    """The upload id if `url` is one of our upload URLs (any host), else None."""
    match = re.search(r"/media/u/([0-9a-f-]{32,36})\.(?:jpg|png|webp)(?:$|\?)", url)
    if not match:
        return None
    try:
        return uuid.UUID(match.group(1))
    except ValueError:
        return None


def _iter_file(name: str, start: int, length: int) -> Iterator[bytes]:
    with default_storage.open(name, "rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def serve_stored_file(
    request: HttpRequest, name: str, content_type: str, download_name: str
) -> HttpResponseBase:
    """Stream a stored file with single-range support, or redirect to a signed URL."""
    if settings.MEDIA_DELIVERY == "redirect":
        response: HttpResponseBase = HttpResponseRedirect(default_storage.url(name))
        response["Cache-Control"] = "no-store"
        return response
    try:
        size = default_storage.size(name)
    except (FileNotFoundError, OSError) as exc:
        raise Http404("file not found") from exc
    start, end, status = 0, size - 1, 200
    header = request.headers.get("Range", "")
    match = _RANGE_RE.match(header.strip()) if header else None
    if header and match:
        first, last = match.groups()
        if first == "" and last == "":
            match = None
        elif first == "":  # suffix range: the last N bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        if match and (start >= size or start > end):
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        if match:
            status = 206
    length = end - start + 1
    body = b"" if request.method == "HEAD" else _iter_file(name, start, length)
    response = StreamingHttpResponse(body, status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{download_name}"'
    response["Cache-Control"] = "public, max-age=86400"
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


_MEDIA_FIELDS = (
    "id",
    "video_file",
    "poster_file",
    "video_deleted_at",
    "poster_deleted_at",
    "media_deleted_reason",
)


def media_gone(job: Job, *, poster: bool = False) -> HttpResponse | None:
    """410 with a sentence saying why, when the job's video (or poster) was removed
    (generation/services/storage.py); None while it is stored. Every facade hands out these
    URLs, so every facade's expired result answers this."""
    deleted_at = job.poster_deleted_at if poster else job.video_deleted_at
    if deleted_at is None:
        return None
    what = "poster" if poster else "video"
    if job.media_deleted_reason == Job.MediaDeleted.DELETED:
        message = f"This {what} was deleted on {deleted_at:%Y-%m-%d}."
    else:
        message = (
            f"This {what} expired on {deleted_at:%Y-%m-%d}: its file was removed under the "
            "storage retention policy."
        )
    response = JsonResponse({"code": 410, "msg": message, "expired": True}, status=410)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def media_video(request: HttpRequest, job_id: uuid.UUID) -> HttpResponseBase:
    job = Job.objects.filter(pk=job_id).exclude(video_file="").only(*_MEDIA_FIELDS).first()
    if job is None:
        raise Http404("video not found")
    gone = media_gone(job)
    if gone is not None:
        return gone
    return serve_stored_file(request, job.video_file, "video/mp4", f"{job.id}.mp4")


@require_http_methods(["GET", "HEAD"])
def media_poster(request: HttpRequest, job_id: uuid.UUID) -> HttpResponseBase:
    job = Job.objects.filter(pk=job_id).exclude(poster_file="").only(*_MEDIA_FIELDS).first()
    if job is None:
        raise Http404("poster not found")
    gone = media_gone(job, poster=True)
    if gone is not None:
        return gone
    return serve_stored_file(request, job.poster_file, "image/jpeg", f"{job.id}.jpg")


@require_http_methods(["GET", "HEAD"])
def media_upload(request: HttpRequest, upload_id: uuid.UUID, ext: str) -> HttpResponseBase:
    upload = Upload.objects.filter(pk=upload_id).first()
    if upload is None or upload.extension != ext:
        raise Http404("image not found")
    return serve_stored_file(
        request, upload.file, upload.mime_type, f"{upload.id}.{upload.extension}"
    )
