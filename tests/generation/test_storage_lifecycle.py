"""Storage lifecycle on local files and on S3 (moto server): past retention the files are
gone, the rows marked and every media URL answers 410; unused uploads expire, used ones stay;
the orphan sweep removes only old orphans (a file being written is never removed)."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from generation.models import Job, Upload
from generation.services import JobSpec, job_run, job_submit
from generation.services.storage import job_media_delete, storage_sweep
from generation.services.submit import ImageInput
from tests.generation.conftest import image_bytes
from tests.generation.test_s3_storage import s3 as s3_server  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["local", "s3"])
def backend(request, settings, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "s3":
        request.getfixturevalue("s3_server")
        settings.MEDIA_DELIVERY = "stream"
    else:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/files/"},
            },
        }
    settings.STORAGE_RETENTION_RESULTS_DAYS = 30
    settings.STORAGE_RETENTION_POSTERS_DAYS = 30
    settings.STORAGE_RETENTION_UPLOADS_SECONDS = 24 * 3600
    settings.STORAGE_ORPHAN_MIN_AGE_SECONDS = 3600
    return str(request.param)


def save_aged(name: str, age: timedelta) -> str:
    """Store a file that was last written `age` ago (on S3 the clock of the in-process moto
    server is travelled; locally the mtime is set)."""
    with time_machine.travel(timezone.now() - age, tick=True):
        stored = default_storage.save(name, ContentFile(b"x" * 100))
    if default_storage.__class__.__name__ == "FileSystemStorage":
        moment = (timezone.now() - age).timestamp()
        os.utime(default_storage.path(stored), (moment, moment))
    return stored


def upload_image(bearer: Any) -> dict[str, Any]:
    png = SimpleUploadedFile("p.png", image_bytes("PNG", (640, 360)), "image/png")
    body = bearer.post("/api/upload-video-image", {"file": png}, format="multipart").json()
    assert body["code"] == 0, body
    return body["data"]


def upload_pk(data: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(data["imageKey"].removeprefix("img_"))


def finished_job(user: Any, **spec: Any) -> Job:
    job = job_submit(
        user=user, spec=JobSpec(facade="veo3o1", prompt="kept or not", duration_seconds=4, **spec)
    ).job
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    return job


def test_retention_expires_files_marks_rows_and_media_answers_410(backend, bearer) -> None:  # type: ignore[no-untyped-def]
    user = bearer.user
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=True):
        used = upload_image(bearer)
        used_later = upload_image(bearer)
        unused = upload_image(bearer)
        old = finished_job(user, images=(ImageInput(upload_id=upload_pk(used)),))
    recent = finished_job(user, images=(ImageInput(upload_id=upload_pk(used_later)),))
    old_files = [old.video_file, old.poster_file]
    assert all(default_storage.exists(name) for name in old_files)
    old_orphan = save_aged("videos/2026/01/lost.mp4", timedelta(days=2))
    young_orphan = default_storage.save("videos/2026/12/being-written.mp4", ContentFile(b"y"))

    # Before the sweep the permanent URLs work; the veo3api download link is taken now.
    assert bearer.get(f"/media/v/{old.id}.mp4").status_code == 200
    download = bearer.post(
        "/api/v1/common/download-url",
        {"url": f"http://testserver/media/v/{old.id}.mp4"},
        format="json",
    ).json()
    assert download["code"] == 200, download

    report = storage_sweep()

    # Uploads: the unused one, and the input of the result that expired.
    assert (report.videos, report.posters, report.uploads, report.orphans) == (1, 1, 2, 1)
    assert not any(default_storage.exists(name) for name in old_files)
    old.refresh_from_db()
    assert old.video_deleted_at is not None and old.poster_deleted_at is not None
    assert old.media_deleted_reason == Job.MediaDeleted.EXPIRED
    assert old.state == Job.State.SUCCEEDED  # the record stays
    assert default_storage.exists(recent.video_file) and default_storage.exists(recent.poster_file)
    assert not Upload.objects.filter(pk=upload_pk(used)).exists()
    # The input of a result still stored stays (looked at again one upload lifetime later).
    kept = Upload.objects.get(pk=upload_pk(used_later))
    assert kept.expires_at > timezone.now() and default_storage.exists(kept.file)
    assert not Upload.objects.filter(pk=unused["imageKey"].removeprefix("img_")).exists()
    assert not default_storage.exists(old_orphan)
    assert default_storage.exists(young_orphan)

    for path in (f"/media/v/{old.id}.mp4", f"/media/v/{old.id}.jpg"):
        gone = bearer.get(path)
        assert gone.status_code == 410
        assert "expired" in gone.json()["msg"] and "retention" in gone.json()["msg"]
    # veo3o1 and codefast hand out the same URLs; the veo3api download link answers 410 too.
    status = bearer.get(f"/api/video-status/{old.id}").json()["data"]
    assert bearer.get(status["videoUrl"].replace("http://testserver", "")).status_code == 410
    link = download["data"].replace("http://testserver", "")
    assert bearer.get(link).status_code == 410
    # kie's record-info keeps its own 14-day rule for old records.
    record = bearer.get("/api/v1/veo/record-info", {"taskId": old.task_id}).json()
    assert record["code"] in (200, 422)
    assert bearer.get(f"/media/v/{recent.id}.mp4").status_code == 200

    again = storage_sweep()  # idempotent
    assert (again.videos, again.posters, again.uploads, again.orphans) == (0, 0, 0, 0)

    # The input goes once the result that used it has gone.
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=True):
        later = storage_sweep()
    assert (later.videos, later.uploads) == (1, 1)
    assert not Upload.objects.filter(pk=kept.pk).exists()
    assert not default_storage.exists(kept.file)
    assert not default_storage.exists(recent.video_file)


def test_deleted_video_files_go_at_once_and_answer_410(backend, bearer) -> None:  # type: ignore[no-untyped-def]
    job = finished_job(bearer.user)
    assert job_media_delete(job_id=job.id) is True
    assert not default_storage.exists(job.video_file)
    assert not default_storage.exists(job.poster_file)
    gone = bearer.get(f"/media/v/{job.id}.mp4")
    assert gone.status_code == 410 and "deleted" in gone.json()["msg"]
    assert job_media_delete(job_id=job.id) is False


def test_results_are_kept_forever_by_default(settings, bearer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    with time_machine.travel(timezone.now() - timedelta(days=400), tick=True):
        job = finished_job(bearer.user)
    assert settings.STORAGE_RETENTION_RESULTS_DAYS == 0
    storage_sweep()
    assert default_storage.exists(job.video_file)
    assert bearer.get(f"/media/v/{job.id}.mp4").status_code == 200
