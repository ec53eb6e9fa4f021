"""Storage lifecycle: retention per kind, deleted results, orphaned files.

Rules:
- Results (videos of generate/extend jobs), posters and upgrade videos are kept
  STORAGE_RETENTION_*_DAYS after their job ended (0 = forever, the default for results).
  Uploads no job uses are removed when their `expires_at` passes.
- A job's files are removed by first marking the row (`video_deleted_at`,
  `poster_deleted_at`, `media_deleted_reason`) and then deleting the files: from the mark on,
  every media URL answers 410. If the process dies between the two, the files have no live
  row any more and the orphan pass removes them.
- Orphans are stored files that no live row names. Only files older than
  STORAGE_ORPHAN_MIN_AGE_SECONDS are candidates, so a file being written (a render stored just
  before its job's row commits, an upload being saved) is never removed.
- Everything works through Django's storage API, so local files and S3 behave alike; each
  pass removes at most STORAGE_SWEEP_BATCH files per run (the beat task runs again).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from generation.models import Job, Upload
from generation.snapshots import job_snapshot_publish_on_commit
from veosaas import metrics

logger = logging.getLogger(__name__)

# Top-level folders this app stores into (generation/media.py, services/uploads.py, upgrades).
STORAGE_ROOTS = ("videos", "uploads")
_RESULT_KINDS = (Job.Kind.GENERATE, Job.Kind.EXTEND)
_UPGRADE_KINDS = (Job.Kind.UPGRADE_1080P, Job.Kind.UPGRADE_4K)


@dataclass
class SweepReport:
    videos: int = 0
    posters: int = 0
    uploads: int = 0
    orphans: int = 0
    failed: list[str] = field(default_factory=list)


def _delete(names: Iterable[str], reason: str, report: SweepReport) -> int:
    """Delete stored files; returns how many went. Failures are logged and left to the
    orphan pass (their rows are already marked)."""
    deleted = 0
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError as exc:
            logger.warning("storage sweep could not delete %s: %s", name, exc)
            report.failed.append(name)
            continue
        deleted += 1
        if metrics.enabled():
            metrics.storage_deleted.labels(reason=reason).inc()
    return deleted


def _full_video_name(job_id: uuid.UUID) -> str:
    """The whole video of an extension, built on first use (services/upgrades.py)."""
    return f"videos/full/{job_id}.mp4"


def _sprites_name(job_id: uuid.UUID) -> str:
    """The sprite sheet of a video, made on first request (services/sprites.py)."""
    return f"videos/sprites/{job_id}.jpg"


def _video_names(job: Job) -> list[str]:
    names = [job.video_file]
    if default_storage.exists(_sprites_name(job.pk)):
        names.append(_sprites_name(job.pk))
    if job.kind == Job.Kind.EXTEND:
        names.append(_full_video_name(job.pk))
    return names


def job_media_delete(
    *, job_id: uuid.UUID, reason: str = Job.MediaDeleted.DELETED, now: datetime | None = None
) -> bool:
    """Remove a job's video and poster now (staff deletion). Idempotent: False when there was
    nothing left to remove. The row is marked first, so its media URLs answer 410 at once."""
    now = now or timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return False
        names: list[str] = []
        changes: dict[str, object] = {}
        if job.video_file and job.video_deleted_at is None:
            names += _video_names(job)
            changes["video_deleted_at"] = now
        if job.poster_file and job.poster_deleted_at is None:
            names.append(job.poster_file)
            changes["poster_deleted_at"] = now
        if not changes:
            return False
        Job.objects.filter(pk=job_id).update(media_deleted_reason=reason, **changes)
        job_snapshot_publish_on_commit(job_id)
    _delete(names, reason, SweepReport())
    return True


def _expire_videos(kinds: tuple[str, ...], days: int, now: datetime, report: SweepReport) -> None:
    if days <= 0:
        return
    cutoff = now - timedelta(days=days)
    jobs = list(
        Job.objects.filter(
            state=Job.State.SUCCEEDED,
            kind__in=kinds,
            completed_at__lt=cutoff,
            video_deleted_at__isnull=True,
        )
        .exclude(video_file="")
        .only("pk", "kind", "video_file")
        .order_by("completed_at")[: settings.STORAGE_SWEEP_BATCH]
    )
    if not jobs:
        return
    # Guarded on the mark still being unset: two sweeps never both claim a row.
    marked = set()
    for job in jobs:
        if Job.objects.filter(pk=job.pk, video_deleted_at__isnull=True).update(
            video_deleted_at=now, media_deleted_reason=Job.MediaDeleted.EXPIRED
        ):
            marked.add(job.pk)
            job_snapshot_publish_on_commit(job.pk)
    names = [name for job in jobs if job.pk in marked for name in _video_names(job)]
    _delete(names, "expired", report)
    report.videos += len(marked)


def _expire_posters(days: int, now: datetime, report: SweepReport) -> None:
    if days <= 0:
        return
    cutoff = now - timedelta(days=days)
    jobs = list(
        Job.objects.filter(completed_at__lt=cutoff, poster_deleted_at__isnull=True)
        .exclude(poster_file="")
        .only("pk", "poster_file")
        .order_by("completed_at")[: settings.STORAGE_SWEEP_BATCH]
    )
    names = []
    for job in jobs:
        if Job.objects.filter(pk=job.pk, poster_deleted_at__isnull=True).update(
            poster_deleted_at=now, media_deleted_reason=Job.MediaDeleted.EXPIRED
        ):
            names.append(job.poster_file)
    _delete(names, "expired", report)
    report.posters += len(names)


def _uploads_in_use(uploads: list[Upload]) -> set[str]:
    """Ids (str) of `uploads` that a job still needs: one that is queued or running, or has
    succeeded and still has its video (its record shows the inputs). Jobs come after their
    uploads, so only jobs of the same accounts since the oldest candidate are read."""
    if not uploads:
        return set()
    wanted = {str(upload.pk) for upload in uploads}
    since = min(upload.created_at for upload in uploads)
    used: set[str] = set()
    refs = (
        Job.objects.filter(
            user_id__in={upload.user_id for upload in uploads}, created_at__gte=since
        )
        .filter(
            Q(state__in=[Job.State.QUEUED, Job.State.RUNNING])
            | Q(state=Job.State.SUCCEEDED, video_deleted_at__isnull=True)
        )
        .values_list("image_refs", flat=True)
    )
    for image_refs in refs.iterator(chunk_size=1000):
        for ref in image_refs or []:
            if isinstance(ref, dict) and ref.get("upload") in wanted:
                used.add(ref["upload"])
    return used


def _expire_uploads(now: datetime, report: SweepReport) -> None:
    uploads = list(
        Upload.objects.filter(expires_at__lt=now).order_by("expires_at")[
            : settings.STORAGE_SWEEP_BATCH
        ]
    )
    used = _uploads_in_use(uploads)
    expired = [upload for upload in uploads if str(upload.pk) not in used]
    # An input of a job still needed is looked at again one upload lifetime later: it goes
    # once its jobs' results have gone.
    Upload.objects.filter(pk__in=[u.pk for u in uploads if str(u.pk) in used]).update(
        expires_at=now + timedelta(seconds=settings.STORAGE_RETENTION_UPLOADS_SECONDS)
    )
    Upload.objects.filter(pk__in=[upload.pk for upload in expired]).delete()
    report.uploads += _delete([upload.file for upload in expired], "upload_expired", report)


def _walk(root: str) -> Iterator[str]:
    """Every stored file name under `root` (depth first), through the storage API."""
    try:
        dirs, files = default_storage.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        yield f"{root}/{name}"
    for sub in dirs:
        yield from _walk(f"{root}/{sub}")


def _referenced(names: list[str]) -> set[str]:
    """Which of `names` a live row still names."""
    live: set[str] = set()
    live.update(
        Job.objects.filter(video_file__in=names, video_deleted_at__isnull=True).values_list(
            "video_file", flat=True
        )
    )
    live.update(
        Job.objects.filter(poster_file__in=names, poster_deleted_at__isnull=True).values_list(
            "poster_file", flat=True
        )
    )
    live.update(Upload.objects.filter(file__in=names).values_list("file", flat=True))
    # Files named after their job: the whole video of an extension, a video's sprite sheet.
    for prefix, suffix, kinds in (
        ("videos/full/", ".mp4", [Job.Kind.EXTEND]),
        ("videos/sprites/", ".jpg", list(Job.Kind.values)),
    ):
        derived = {}
        for name in names:
            if name.startswith(prefix) and name.endswith(suffix):
                try:
                    derived[uuid.UUID(name.removeprefix(prefix).removesuffix(suffix))] = name
                except ValueError:
                    continue
        if derived:
            kept = Job.objects.filter(
                pk__in=list(derived), kind__in=kinds, video_deleted_at__isnull=True
            ).values_list("pk", flat=True)
            live.update(derived[pk] for pk in kept)
    return live


def _old_enough(name: str, cutoff: datetime) -> bool:
    try:
        return default_storage.get_modified_time(name) < cutoff
    except (FileNotFoundError, OSError):
        return False  # gone meanwhile, or unreadable: never delete what we cannot date


def _sweep_orphans(now: datetime, report: SweepReport) -> None:
    cutoff = now - timedelta(seconds=settings.STORAGE_ORPHAN_MIN_AGE_SECONDS)
    budget = settings.STORAGE_SWEEP_BATCH
    chunk: list[str] = []

    def flush() -> None:
        nonlocal budget
        live = _referenced(chunk)
        orphans = [n for n in chunk if n not in live and _old_enough(n, cutoff)][:budget]
        deleted = _delete(orphans, "orphan", report)
        report.orphans += deleted
        budget -= deleted
        chunk.clear()

    for root in STORAGE_ROOTS:
        for name in _walk(root):
            chunk.append(name)
            if len(chunk) >= 500:
                flush()
                if budget <= 0:
                    return
    if chunk and budget > 0:
        flush()


def storage_sweep(*, now: datetime | None = None) -> SweepReport:
    """One run of the lifecycle (the beat task's body): expire results, posters, upgrades
    and unused uploads per their retention, then remove orphaned files. Idempotent; each
    pass removes at most STORAGE_SWEEP_BATCH files."""
    now = now or timezone.now()
    report = SweepReport()
    _expire_videos(_RESULT_KINDS, settings.STORAGE_RETENTION_RESULTS_DAYS, now, report)
    _expire_videos(_UPGRADE_KINDS, settings.STORAGE_RETENTION_UPGRADES_DAYS, now, report)
    _expire_posters(settings.STORAGE_RETENTION_POSTERS_DAYS, now, report)
    _expire_uploads(now, report)
    _sweep_orphans(now, report)
    if report.videos or report.posters or report.uploads or report.orphans:
        logger.info(
            "storage sweep removed %s videos, %s posters, %s uploads, %s orphans",
            report.videos,
            report.posters,
            report.uploads,
            report.orphans,
        )
    return report
