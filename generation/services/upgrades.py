"""1080p / 4K upgrades and extensions of finished videos (kie's get-1080p-video, get-4k-video
and extend; contracts/veo3api.md §4-§6, README A12).

Each is a real job through the one submit path (`job_submit`): priced from the price table
(operations `upgrade_1080p`, `upgrade_4k`, `extend`), holding credits until it ends, with its
own callback. An upgrade re-encodes the source at the new size (mode "upscale"); an extension
continues the source (mode "extend", 8 s at 720p, Veo's rule).

Upgrades are idempotent per (source, kind, result index): the first request creates the job,
later ones return it. A database constraint (`job_one_live_upgrade_per_source`) makes that
hold under concurrent first requests; a failed upgrade (credits released) does not count, so
asking again starts a new one.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import ApiKey, User
from billing.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, UPGRADE_RESOLUTIONS, Resolution
from billing.errors import BillingError
from generation import media
from generation.errors import SubmitRefused, UpgradeRefused
from generation.models import Job
from generation.providers import provider_name_for
from generation.providers.catalog import EXTEND_SECONDS, CapabilityError, model_spec
from generation.services.submit import JobSpec, Submitted, job_submit

logger = logging.getLogger(__name__)

# kie keeps records (and answers upgrade requests) for 14 days.
RECORD_RETENTION = timedelta(days=14)
# Kinds whose video can be upgraded or extended (an upgrade's output is not a Veo video).
SOURCE_KINDS = (Job.Kind.GENERATE, Job.Kind.EXTEND)
EXTEND_RESOLUTION = Resolution.P720.value
# A result this much longer than the clip asked for already contains its source (Veo's
# extension returns source + continuation in one file; the local renderer returns only the
# continuation).
_CONTAINS_SOURCE_MARGIN = 0.5


@dataclass(frozen=True)
class UpgradeResult:
    """`job` is the upgrade job (or the source itself when it already has that resolution);
    `created` is True only for the request that created it."""

    job: Job
    created: bool


def _check_source(parent: Job, *, now: Any = None) -> None:
    if parent.state != Job.State.SUCCEEDED:
        raise UpgradeRefused("not_succeeded", "taskId", "the task has not succeeded")
    if parent.created_at < (now or timezone.now()) - RECORD_RETENTION:
        raise UpgradeRefused("expired", "taskId", "the task is older than 14 days")
    if parent.video_deleted_at is not None:
        raise UpgradeRefused("expired", "taskId", "the task's video was removed")
    if parent.kind not in SOURCE_KINDS:
        raise UpgradeRefused(
            "not_eligible", "taskId", "must be a generate or extend task, not an upgrade"
        )


def _aspect_of(parent: Job) -> str:
    if parent.resolved_aspect_ratio in ASPECT_RATIOS:
        return parent.resolved_aspect_ratio
    return parent.aspect_ratio if parent.aspect_ratio in ASPECT_RATIOS else DEFAULT_ASPECT_RATIO


def upgrade_live_get(*, parent: Job, kind: str, result_index: int) -> Job | None:
    """The queued, running or succeeded upgrade of this kind for `parent`'s video, if any."""
    return (
        Job.objects.filter(
            parent=parent,
            kind=kind,
            result_index=result_index,
            state__in=[Job.State.QUEUED, Job.State.RUNNING, Job.State.SUCCEEDED],
        )
        .order_by("-created_at")
        .first()
    )


def upgrade_request(
    *,
    user: User,
    parent: Job,
    kind: str,
    result_index: int = 0,
    callback_url: str = "",
    raw_request: dict[str, Any] | None = None,
    api_key: ApiKey | None = None,
    facade: str = Job.Facade.VEO3API,
) -> UpgradeResult:
    """Return the live upgrade of `parent`'s video to `kind`, creating it on first request.

    `parent` must be the user's succeeded generate/extend job, at most 14 days old, and
    `result_index` 0 (a task has one video). A 1080p request for a video that already is 1080p
    returns the source itself, free. Creating goes through `job_submit` (price
    `upgrade_1080p` / `upgrade_4k`, rate limit, concurrency cap), so it raises what that
    raises; two concurrent first requests create one job (the loser gets the winner's).
    Raises UpgradeRefused for an unsuitable source.
    """
    if kind not in UPGRADE_RESOLUTIONS:
        raise ValueError(f"not an upgrade kind: {kind!r}")
    _check_source(parent)
    if result_index != 0:
        raise UpgradeRefused("not_eligible", "index", "is out of range: the task has 1 video")
    resolution = UPGRADE_RESOLUTIONS[kind]
    if kind == Job.Kind.UPGRADE_1080P and parent.resolution == resolution:
        return UpgradeResult(job=parent, created=False)
    existing = upgrade_live_get(parent=parent, kind=kind, result_index=result_index)
    if existing is not None:
        return UpgradeResult(job=existing, created=False)
    spec = JobSpec(
        facade=facade,
        kind=kind,
        mode=Job.Mode.UPSCALE,
        prompt=parent.prompt,
        model_tier=parent.model_tier,
        aspect_ratio=_aspect_of(parent),
        resolution=resolution,
        duration_seconds=parent.duration_seconds,
        seed=parent.seed,
        callback_url=callback_url,
        raw_request=raw_request or {},
        parent_id=parent.id,
        result_index=result_index,
    )
    try:
        submitted = job_submit(user=user, spec=spec, api_key=api_key)
    except IntegrityError:
        # A concurrent first request created it (job_one_live_upgrade_per_source).
        existing = upgrade_live_get(parent=parent, kind=kind, result_index=result_index)
        if existing is None:
            raise
        return UpgradeResult(job=existing, created=False)
    return UpgradeResult(job=submitted.job, created=True)


# raw_request of an upgrade prepared on the source's success, not asked for by a client.
PREPARED_MARK = "preparedOnSuccess"


def upgrade_1080p_prepare(*, job_id: uuid.UUID | str) -> Job | None:
    """Start the 1080p version of a just-succeeded kie task, as kie has it ready on the first
    get-1080p-video call (GENERATION_AUTO_1080P).

    Only veo3api/kie generate or extend tasks at 720p in 16:9 qualify (kie's 1080p is for
    16:9). Goes through `upgrade_request`, so it is priced `upgrade_1080p` (free by default),
    idempotent with a client's own request, and skipped, not failed, when submit refuses
    (rate limit, concurrency cap, credits): the client's call creates it later then. Returns
    the upgrade job, or None.
    """
    if not settings.GENERATION_AUTO_1080P:
        return None
    job = Job.objects.select_related("user", "api_key").filter(pk=job_id).first()
    if (
        job is None
        or job.state != Job.State.SUCCEEDED
        or job.facade != Job.Facade.VEO3API
        or job.kind not in SOURCE_KINDS
        or job.resolution != Resolution.P720.value
        or _aspect_of(job) != DEFAULT_ASPECT_RATIO
    ):
        return None
    try:
        result = upgrade_request(
            user=job.user,
            parent=job,
            kind=Job.Kind.UPGRADE_1080P,
            raw_request={"taskId": job.task_id, "index": 0, PREPARED_MARK: True},
            api_key=job.api_key,
        )
    except (SubmitRefused, BillingError) as exc:
        logger.info("1080p of %s not prepared on success: %s", job.id, exc)
        return None
    return result.job


def upgrade_was_prepared(job: Job) -> bool:
    """True for an upgrade started by `upgrade_1080p_prepare`, not by a client."""
    return bool((job.raw_request or {}).get(PREPARED_MARK))


def upgrade_await(*, job: Job, seconds: float) -> Job:
    """`job` re-read until it ends or `seconds` pass (a quarter-second poll of its row).

    For a call that arrives while a prepared 1080p version is still rendering: kie answers
    such a call with the URL, so it is worth a short wait in the request."""
    deadline = time.monotonic() + max(seconds, 0.0)
    while job.state in (Job.State.QUEUED, Job.State.RUNNING) and time.monotonic() < deadline:
        time.sleep(0.25)
        job = Job.objects.get(pk=job.pk)
    return job


def extend_submit(
    *,
    user: User,
    parent: Job,
    prompt: str,
    model_tier: str,
    seed: int | None = None,
    watermark: str = "",
    callback_url: str = "",
    raw_request: dict[str, Any] | None = None,
    api_key: ApiKey | None = None,
    idempotency_key: str | None = None,
    facade: str = Job.Facade.VEO3API,
) -> Submitted:
    """Submit an extension of `parent`'s video: 8 more seconds at 720p, continuing it.

    `parent` must be the user's succeeded 720p generate/extend job, at most 14 days old
    (UpgradeRefused otherwise). Priced as operation `extend` for `model_tier`; everything else
    is `job_submit`'s (errors, idempotency key replay, enqueue after commit). The extension
    keeps the source's person generation, and its silence where the extending model can be
    silent (else it has sound, priced so).
    """
    _check_source(parent)
    if parent.resolution != EXTEND_RESOLUTION:
        raise UpgradeRefused("not_eligible", "taskId", "only 720p videos can be extended")
    spec = JobSpec(
        facade=facade,
        kind=Job.Kind.EXTEND,
        mode=Job.Mode.EXTEND,
        prompt=prompt,
        model_tier=model_tier,
        aspect_ratio=_aspect_of(parent),
        resolution=EXTEND_RESOLUTION,
        duration_seconds=EXTEND_SECONDS,
        seed=seed,
        watermark=watermark,
        generate_audio=parent.generate_audio or not _audio_optional(model_tier),
        person_generation=parent.person_generation,
        callback_url=callback_url,
        raw_request=raw_request or {},
        parent_id=parent.id,
    )
    return job_submit(user=user, spec=spec, api_key=api_key, idempotency_key=idempotency_key)


def _audio_optional(model_tier: str) -> bool:
    try:
        provider = provider_name_for(model_tier=model_tier)
        return model_spec(provider=provider, tier=model_tier).audio_optional
    except (CapabilityError, LookupError):
        return False  # job_submit refuses the tier or provider with its own message


# ---------------------------------------------------------------------------------------------
# The whole video of an extension (kie R3 `fullResultUrls`)
# ---------------------------------------------------------------------------------------------


class FullVideoUnavailable(Exception):
    pass


def _contains_source(job: Job) -> bool:
    return bool(
        job.output_duration and job.output_duration > job.duration_seconds + _CONTAINS_SOURCE_MARGIN
    )


def extend_segments(*, job: Job) -> list[Job]:
    """The jobs whose videos, played in order, make the whole video of extension `job`."""
    segments = [job]
    current = job
    while current.kind == Job.Kind.EXTEND and not _contains_source(current):
        parent = current.parent
        if parent is None or parent.state != Job.State.SUCCEEDED or not parent.video_file:
            raise FullVideoUnavailable("a source video of the extension is missing")
        segments.insert(0, parent)
        current = parent
    return segments


def extend_full_video(*, job: Job) -> str:
    """Storage name of the whole video of a succeeded extension, built on first use.

    The whole video is the original generation followed by every extension up to `job`
    (when a provider already returned source + continuation, that file is it). Built by
    copying the encoded packets one after another (no re-encoding; every segment must have
    the same codec parameters) and stored once as `videos/full/<job id>.mp4`; concurrent
    first calls may both build it, and one copy is kept. Raises FullVideoUnavailable when
    a segment is missing or the segments cannot be joined without re-encoding.
    """
    if job.kind != Job.Kind.EXTEND or job.state != Job.State.SUCCEEDED:
        raise FullVideoUnavailable("not a succeeded extension")
    segments = extend_segments(job=job)
    if len(segments) == 1:
        return job.video_file
    name = f"videos/full/{job.id}.mp4"
    if default_storage.exists(name):
        return name
    work_root = Path(settings.VAR_DIR) / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{job.id}-full-", dir=work_root) as scratch:
        local_paths = []
        for index, segment in enumerate(segments):
            path = Path(scratch) / f"{index}.mp4"
            with default_storage.open(segment.video_file, "rb") as src, path.open("wb") as dst:
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
            local_paths.append(path)
        out = Path(scratch) / "full.mp4"
        try:
            media.concatenate(local_paths, out)
        except media.MediaIncompatible as exc:
            raise FullVideoUnavailable(str(exc)) from exc
        with out.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
    if stored != name:  # a concurrent call stored it first; keep that one
        default_storage.delete(stored)
    return name


def media_full_video_name(*, job_id: uuid.UUID) -> str | None:
    """Storage name of the whole video of extension `job_id` (any account: the id is the
    secret, like every media URL), or None when there is none."""
    job = (
        Job.objects.select_related("parent")
        .filter(pk=job_id, kind=Job.Kind.EXTEND, state=Job.State.SUCCEEDED)
        .first()
    )
    if job is None:
        return None
    try:
        return extend_full_video(job=job)
    except FullVideoUnavailable as exc:
        logger.warning("no full video for %s: %s", job_id, exc)
        return None
