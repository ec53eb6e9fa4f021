"""kie's temporary download links (contracts/veo3api.md §7.2) and the whole video of an
extension (`fullResultUrls`): the two media views of the veo3api facade.

A download link is `/media/d/<token>`: the token is signed and timestamped
(django.core.signing) and names one file; it is valid for 20 minutes and serves the file as
an attachment. Only files of this service that belong to the asking account get one.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_http_methods

from accounts.models import User
from generation.delivery import absolute_url, media_gone, serve_stored_file
from generation.models import Job, Upload
from generation.selectors import job_get
from generation.services.upgrades import media_full_video_name

DOWNLOAD_SALT = "generation.veo3api.download"
DOWNLOAD_SECONDS = 20 * 60
_MEDIA_VIEWS = {
    "media-video": "video",
    "media-poster": "poster",
    "veo3api-full-video": "full",
    "media-upload": "upload",
}


def _our_hosts(request: HttpRequest) -> set[str]:
    hosts = {request.get_host().lower(), urlsplit(settings.DEFAULT_BASE_URL).netloc.lower()}
    if settings.PUBLIC_BASE_URL:
        hosts.add(urlsplit(settings.PUBLIC_BASE_URL).netloc.lower())
    return hosts


def media_target(user: User, url: str, request: HttpRequest) -> tuple[str, str] | None:
    """("video"|"poster"|"full"|"upload", id) for a media URL of this service naming a file of
    `user`, else None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in _our_hosts(request):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    kind = _MEDIA_VIEWS.get(match.url_name or "")
    if kind is None:
        return None
    if kind == "upload":
        upload_id = match.kwargs["upload_id"]
        owned = Upload.objects.filter(pk=upload_id, user=user).exists()
        return (kind, str(upload_id)) if owned else None
    job = job_get(user=user, job_id=match.kwargs["job_id"])
    if job is None or not job.video_file:
        return None
    return kind, str(job.id)


def download_url(user: User, url: str, request: HttpRequest) -> str | None:
    """A 20-minute download link for `url` if it names one of `user`'s files here, else None."""
    target = media_target(user, url, request)
    if target is None:
        return None
    token = signing.dumps(list(target), salt=DOWNLOAD_SALT, compress=True)
    return absolute_url(reverse("veo3api-download", args=[token]), request)


@require_http_methods(["GET", "HEAD"])
def media_download(request: HttpRequest, token: str) -> HttpResponseBase:
    """Serve the file a download-url token names, as an attachment, while it is valid."""
    try:
        kind, object_id = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_SECONDS)
    except signing.SignatureExpired as exc:
        raise Http404("download link expired") from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise Http404("invalid download link") from exc
    if kind == "upload":
        upload = Upload.objects.filter(pk=object_id).first()
        if upload is None:
            raise Http404("file not found")
        name, content_type = upload.file, upload.mime_type
        filename = f"{upload.id}.{upload.extension}"
    else:
        job = Job.objects.filter(pk=object_id).first()
        if job is None:
            raise Http404("file not found")
        gone = media_gone(job, poster=kind == "poster")
        if gone is not None:
            return gone
        if kind == "full":
            name = media_full_video_name(job_id=job.id) or ""
        else:
            name = job.poster_file if kind == "poster" else job.video_file
        content_type = "image/jpeg" if kind == "poster" else "video/mp4"
        filename = f"{job.id}{'-full' if kind == 'full' else ''}." + (
            "jpg" if kind == "poster" else "mp4"
        )
        if not name:
            raise Http404("file not found")
    response = serve_stored_file(request, name, content_type, filename)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def media_full_video(request: HttpRequest, job_id: uuid.UUID) -> HttpResponseBase:
    """`fullResultUrls` of an extension: the original video followed by its extensions."""
    job = Job.objects.filter(pk=job_id).first()
    gone = media_gone(job) if job is not None else None
    if gone is not None:
        return gone
    name = media_full_video_name(job_id=job_id)
    if name is None:
        raise Http404("video not found")
    return serve_stored_file(request, name, "video/mp4", f"{job_id}-full.mp4")
