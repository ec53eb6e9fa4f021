"""Write paths of generation: submit, run, finish and recover jobs.

Invariants (RELIABILITY.md J1-J5, L7):
- `job_submit` creates the job row and its credit hold in one transaction and enqueues the
  task only after commit, with the job id only.
- Every state change is a conditional UPDATE guarded on the current state; the one that wins
  also settles the hold in the same transaction: success captures it, failure releases it, so
  each happens exactly once however often a task is delivered.
- A job whose message was lost or whose worker died is recovered by `jobs_reap`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import ApiKey, User
from billing import services as billing
from billing.errors import PriceNotFound
from billing.selectors import hold_for_job
from generation import images
from generation.delivery import upload_id_from_url
from generation.models import Job, Upload
from generation.providers import provider_get, provider_name_for
from generation.providers.base import (
    Completed,
    ContentBlocked,
    InputImage,
    Pending,
    ProviderError,
    ProviderFailed,
    ProviderTransientError,
    RenderRequest,
)
from generation.ratelimit import RateDecision, generate_rate_limit, rate_limit_hit
from generation.selectors import daily_usage
from generation.snapshots import job_snapshot_publish_on_commit as _publish_status
from generation.veo_rules import VeoConstraintError, veo_validate
from outbound import netguard

logger = logging.getLogger(__name__)

MODEL_TIERS = ("quality", "fast", "lite")
ASPECT_RATIOS = ("auto", "16:9", "9:16")
RESOLUTIONS = ("720p", "1080p", "4k")
DURATIONS = (4, 6, 8)
MAX_SEED = 2**32 - 1

# kie / veo3api error codes, also used for every facade's error text (contracts §3, §6).
CODE_CONTENT = 400
CODE_INTERNAL = 500
CODE_GENERATION_FAILED = 501
MSG_INTERNAL = "Internal Error, Please try again later."
MSG_IMAGE_FETCH = (
    "Failed to fetch the image. Kindly verify any access limits set by you or your service "
    "provider."
)


# ---------------------------------------------------------------------------------------------
# Errors raised to facades
# ---------------------------------------------------------------------------------------------


class JobValidationError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RateLimited(Exception):
    def __init__(self, decision: RateDecision) -> None:
        super().__init__("rate limit exceeded")
        self.decision = decision
        self.retry_after = decision.retry_after


class ConcurrencyLimited(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} jobs may be queued or running at once")
        self.limit = limit
        self.retry_after = 10


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used with a different request body."""


class DailyLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"daily limit of {limit} jobs reached")
        self.limit = limit


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInput:
    """One input image: an upload of ours (by id) or a customer URL fetched by the worker."""

    upload_id: uuid.UUID | None = None
    url: str = ""


@dataclass(frozen=True)
class JobSpec:
    facade: str
    prompt: str
    kind: str = Job.Kind.GENERATE
    mode: str | None = None  # None: inferred from the number of images
    model_tier: str = "fast"
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    duration_seconds: int = 8
    seed: int | None = None
    images: tuple[ImageInput, ...] = ()
    negative_prompt: str = ""
    watermark: str = ""
    callback_url: str = ""
    raw_request: dict[str, Any] = field(default_factory=dict)
    parent_id: uuid.UUID | None = None
    result_index: int = 0
    # Enforce the account's jobs-per-day limit (codefast); checked under the account lock.
    enforce_daily_limit: bool = False


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool


def _fingerprint(spec: JobSpec) -> str:
    canonical = json.dumps(
        {"facade": spec.facade, "kind": spec.kind, "body": spec.raw_request},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _infer_mode(spec: JobSpec) -> str:
    if spec.mode:
        return spec.mode
    count = len(spec.images)
    return {0: Job.Mode.TEXT, 1: Job.Mode.IMAGE, 2: Job.Mode.FIRST_LAST}.get(
        count, Job.Mode.REFERENCE
    )


def _validate_url(field: str, url: str) -> None:
    try:
        netguard.validate_url(url)
        parsed = urlsplit(url)
        default_port = 443 if parsed.scheme == "https" else 80
        netguard.resolve_public(parsed.hostname or "", parsed.port or default_port)
    except netguard.BlockedDestination as exc:
        raise JobValidationError(field, f"is not an allowed URL ({exc.reason})") from exc
    except netguard.FetchError as exc:
        raise JobValidationError(field, f"cannot be resolved ({exc})") from exc


def job_validate(*, user: User, spec: JobSpec) -> str:
    """Check a spec before anything is held; returns the resolved mode.

    Raises JobValidationError naming the field. Resolves customer URLs now (and the worker
    checks them again before each request, since DNS answers change).
    """
    prompt = spec.prompt.strip() if isinstance(spec.prompt, str) else ""
    if not prompt:
        raise JobValidationError("prompt", "is required")
    if len(prompt) > settings.GENERATION_PROMPT_MAX_CHARS:
        raise JobValidationError(
            "prompt", f"must be at most {settings.GENERATION_PROMPT_MAX_CHARS} characters"
        )
    if spec.model_tier not in MODEL_TIERS:
        raise JobValidationError("model", f"must be one of {', '.join(MODEL_TIERS)}")
    if spec.aspect_ratio not in ASPECT_RATIOS:
        raise JobValidationError("aspectRatio", "must be one of auto, 16:9, 9:16")
    if spec.resolution not in RESOLUTIONS:
        raise JobValidationError("resolution", "must be one of 720p, 1080p, 4k")
    if spec.duration_seconds not in DURATIONS:
        raise JobValidationError("duration", "must be 4, 6 or 8 seconds")
    if spec.seed is not None and not 0 <= spec.seed <= MAX_SEED:
        raise JobValidationError("seeds", f"must be between 0 and {MAX_SEED}")
    mode = _infer_mode(spec)
    counts = {
        Job.Mode.TEXT: (0, 0),
        Job.Mode.IMAGE: (1, 1),
        Job.Mode.FIRST_LAST: (2, 2),
        Job.Mode.REFERENCE: (1, 3),
        Job.Mode.EXTEND: (0, 0),
        Job.Mode.UPSCALE: (0, 0),
    }
    low, high = counts[mode]
    if not low <= len(spec.images) <= high:
        raise JobValidationError(
            "imageUrls", f"{mode} needs {low if low == high else f'{low} to {high}'} image(s)"
        )
    for index, image in enumerate(spec.images):
        if image.upload_id is not None:
            if not Upload.objects.filter(pk=image.upload_id, user=user).exists():
                raise JobValidationError("imageKey", "does not name an image you uploaded")
        elif upload_id_from_url(image.url) is None:
            _validate_url(f"imageUrls[{index}]", image.url)
    if spec.callback_url:
        _validate_url("callBackUrl", spec.callback_url)
    if spec.watermark and len(spec.watermark) > 200:
        raise JobValidationError("watermark", "must be at most 200 characters")
    if mode != Job.Mode.UPSCALE:
        # Veo's coupled constraints (1080p/4k and reference images need 8 s, extension needs
        # 720p, …) hold for every provider, so a local rehearsal fails where production would.
        try:
            veo_validate(
                mode=mode,
                model_tier=spec.model_tier,
                resolution=spec.resolution,
                duration_seconds=spec.duration_seconds,
                aspect_ratio=spec.aspect_ratio if spec.aspect_ratio != "auto" else "16:9",
                image_count=len(spec.images),
                has_source_video=spec.parent_id is not None,
            )
        except VeoConstraintError as exc:
            raise JobValidationError(exc.field, exc.message) from exc
    return mode


def _replay(*, user: User, idempotency_key: str, fingerprint: str) -> Job | None:
    existing = Job.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request."
        )
    return existing


def _image_refs(images_in: tuple[ImageInput, ...]) -> list[dict[str, str]]:
    refs = []
    for image in images_in:
        upload_id = image.upload_id or upload_id_from_url(image.url)
        refs.append({"upload": str(upload_id)} if upload_id else {"url": image.url})
    return refs


def job_submit(
    *,
    user: User,
    spec: JobSpec,
    api_key: ApiKey | None = None,
    idempotency_key: str | None = None,
) -> Submitted:
    """Validate, price, hold credits and create the job; enqueue it after commit.

    Raises JobValidationError, RateLimited, ConcurrencyLimited, IdempotencyKeyReused and
    billing's InsufficientCredits; nothing is written when any is raised. With an
    idempotency key, a repeat of the same request returns the first job (`replayed=True`,
    no second hold).
    """
    fingerprint = _fingerprint(spec)
    if idempotency_key:
        existing = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if existing is not None:
            return Submitted(job=existing, replayed=True)
    decision = generate_rate_limit(user_id=user.pk)
    if not decision.allowed:
        raise RateLimited(decision)
    mode = job_validate(user=user, spec=spec)
    operation = spec.kind
    try:
        quote = billing.price_quote(
            operation=operation,
            model_tier=spec.model_tier,
            resolution=spec.resolution,
            seconds=spec.duration_seconds,
        )
    except PriceNotFound as exc:
        raise JobValidationError("resolution", str(exc)) from exc
    # Upgrades re-encode an existing video, which Veo cannot do (see settings).
    provider = (
        settings.GENERATION_UPSCALE_PROVIDER
        if mode == Job.Mode.UPSCALE
        else provider_name_for(model_tier=spec.model_tier)
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            billing.account_lock(user=user)
            if idempotency_key:
                existing = _replay(
                    user=user, idempotency_key=idempotency_key, fingerprint=fingerprint
                )
                if existing is not None:
                    return Submitted(job=existing, replayed=True)
            active = Job.objects.filter(
                user=user, state__in=[Job.State.QUEUED, Job.State.RUNNING]
            ).count()
            if active >= settings.GENERATION_MAX_ACTIVE_JOBS:
                raise ConcurrencyLimited(settings.GENERATION_MAX_ACTIVE_JOBS)
            if spec.enforce_daily_limit:
                usage = daily_usage(user=user)
                if usage.remaining <= 0:
                    raise DailyLimitReached(usage.limit)
            job = Job.objects.create(
                user=user,
                api_key=api_key,
                facade=spec.facade,
                kind=spec.kind,
                parent_id=spec.parent_id,
                result_index=spec.result_index,
                prompt=spec.prompt.strip(),
                negative_prompt=spec.negative_prompt,
                mode=mode,
                model_tier=spec.model_tier,
                aspect_ratio=spec.aspect_ratio,
                resolution=spec.resolution,
                duration_seconds=spec.duration_seconds,
                seed=spec.seed if spec.seed is not None else secrets.randbelow(90000) + 10000,
                watermark=spec.watermark,
                image_refs=_image_refs(spec.images),
                callback_url=spec.callback_url,
                raw_request=spec.raw_request,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
                provider=provider,
                credits_quoted=quote.credits,
                enqueued_at=now,
                created_at=now,
            )
            _publish_status(job.id)  # before the enqueue: the worker's first change comes after
            hold = billing.credits_hold(
                user=user, amount=quote.credits, idempotency_key=f"job:{job.id}:hold", job_id=job.id
            )
            Job.objects.filter(pk=job.pk).update(hold_transfer_id=hold.pk)
            job.hold_transfer_id = hold.pk
            _enqueue_run(job.id)
    except IntegrityError:
        # A concurrent request with the same idempotency key committed first.
        if idempotency_key:
            existing = _replay(user=user, idempotency_key=idempotency_key, fingerprint=fingerprint)
            if existing is not None:
                return Submitted(job=existing, replayed=True)
        raise
    return Submitted(job=job, replayed=False)


def _enqueue_run(job_id: uuid.UUID, countdown: float | None = None) -> None:
    from generation.tasks import job_run_task

    job_run_task.apply_async_on_commit(args=[str(job_id)], countdown=countdown)


# ---------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------


def upload_create(
    *,
    user: User,
    source: BinaryIO | bytes | Path,
    file_name: str = "",
    max_bytes: int,
    origin: str = Upload.Source.UPLOAD,
    source_url: str = "",
) -> Upload:
    """Validate an image (format sniffed from bytes, size and pixel caps) and store it.

    Raises images.ImageRejected with a message for the user; nothing is stored then.
    """
    info = images.image_inspect(source, max_bytes=max_bytes)
    upload_id = uuid.uuid4()
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[info.format]
    name = f"uploads/{user.pk}/{upload_id}.{ext}"
    if isinstance(source, bytes):
        from django.core.files.base import ContentFile

        stored = default_storage.save(name, ContentFile(source))
    elif isinstance(source, Path):
        with source.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
    else:
        source.seek(0)
        stored = default_storage.save(name, File(source))
    return Upload.objects.create(
        id=upload_id,
        user=user,
        source=origin,
        source_url=source_url,
        file=stored,
        file_name=(file_name or "")[:255],
        mime_type=info.mime_type,
        width=info.width,
        height=info.height,
        size=info.size,
        expires_at=timezone.now() + timedelta(days=3),
    )


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


class InputImageError(Exception):
    pass


def _claim(job_id: str) -> Job | None:
    """Move a queued job (or a running one whose lease expired) to running; None if taken."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
    claimed = (
        Job.objects.filter(pk=job_id)
        .filter(Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING, lease_expires_at__lt=now))
        .update(
            state=Job.State.RUNNING,
            lease_expires_at=lease,
            attempts=F("attempts") + 1,
            progress=1,
            eta_seconds=None,
        )
    )
    if not claimed:
        return None
    Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    _publish_status(job_id)
    return Job.objects.select_related("user").get(pk=job_id)


def _load_images(job: Job) -> tuple[InputImage, ...]:
    loaded = []
    for ref in job.image_refs:
        if "upload" in ref:
            upload = Upload.objects.filter(pk=ref["upload"]).first()
            if upload is None:
                raise InputImageError("The input image no longer exists.")
        else:
            try:
                response = netguard.guarded_get(
                    ref["url"], max_bytes=settings.GENERATION_URL_IMAGE_MAX_BYTES
                )
                upload = upload_create(
                    user=job.user,
                    source=response.body,
                    max_bytes=len(response.body) or 1,
                    origin=Upload.Source.URL,
                    source_url=ref["url"],
                )
            except (netguard.BlockedDestination, netguard.FetchError) as exc:
                raise InputImageError(MSG_IMAGE_FETCH) from exc
            except images.ImageRejected as exc:
                raise InputImageError(f"The image at the URL is not usable: {exc}") from exc
        with default_storage.open(upload.file, "rb") as handle:
            data = handle.read()
        loaded.append(
            InputImage(
                data=data, mime_type=upload.mime_type, width=upload.width, height=upload.height
            )
        )
    return tuple(loaded)


def _resolve_aspect(job: Job, inputs: tuple[InputImage, ...]) -> str:
    if job.aspect_ratio in ("16:9", "9:16"):
        return job.aspect_ratio
    if job.parent_id and job.parent and job.parent.resolved_aspect_ratio:
        return job.parent.resolved_aspect_ratio
    if inputs:
        return "16:9" if inputs[0].width >= inputs[0].height else "9:16"
    return "16:9"


def _source_video(job: Job, workdir: Path) -> tuple[str | None, str | None]:
    parent = job.parent
    if parent is None or not parent.video_file:
        return None, None
    path = workdir / "source.mp4"
    with default_storage.open(parent.video_file, "rb") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return str(path), parent.provider_video_uri or None


def _progress_reporter(job: Job) -> Callable[[float], None]:
    started = time.monotonic()
    last_write = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last_write[0] < 0.5 and fraction < 1.0:
            return
        last_write[0] = now
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = now - started
        eta = round(elapsed * (1 - fraction) / fraction) if fraction >= 0.02 else None
        if Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            progress=min(99, max(1, int(fraction * 100))),
            eta_seconds=eta,
            lease_expires_at=timezone.now() + timedelta(seconds=settings.GENERATION_LEASE_SECONDS),
        ):
            _publish_status(job.pk)

    return report


def job_run(*, job_id: str) -> None:
    """Run one job through its provider. Idempotent: a job already taken is left alone.

    Outcomes: success → stored result, hold captured; content block / permanent failure →
    failed, hold released; transient upstream error → retried with backoff up to
    GENERATION_MAX_ATTEMPTS, then failed; a long-running upstream operation → polled later by
    `jobs_poll_due` without holding this worker.
    """
    job = _claim(job_id)
    if job is None:
        return
    work_root = Path(settings.VAR_DIR) / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.id}-", dir=work_root))
    started = time.monotonic()
    try:
        try:
            inputs = _load_images(job)
        except InputImageError as exc:
            job_fail(
                job_id=job.id, stage=Job.FailureStage.PRE_START, code=CODE_CONTENT, message=str(exc)
            )
            return
        aspect = _resolve_aspect(job, inputs)
        Job.objects.filter(pk=job.pk).update(resolved_aspect_ratio=aspect)
        source_path, source_uri = _source_video(job, workdir)
        request = RenderRequest(
            job_id=str(job.id),
            prompt=job.prompt,
            mode=job.mode,
            model_tier=job.model_tier,
            aspect_ratio=aspect,
            resolution=job.resolution,
            duration_seconds=job.duration_seconds,
            seed=job.seed,
            images=inputs,
            negative_prompt=job.negative_prompt,
            watermark=job.watermark,
            source_video_path=source_path,
            source_video_uri=source_uri,
        )
        provider = provider_get(job.provider)
        outcome = provider.submit(request, workdir=workdir, progress=_progress_reporter(job))
        _handle_outcome(job, outcome, started)
    except ProviderError as exc:
        _handle_provider_error(job, exc)
    except Exception:
        logger.exception("job %s crashed", job.id)
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=CODE_INTERNAL,
            message=MSG_INTERNAL,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _handle_outcome(job: Job, outcome: Completed | Pending, started: float) -> None:
    if isinstance(outcome, Pending):
        now = timezone.now()
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            provider_operation=outcome.operation,
            next_poll_at=now + timedelta(seconds=outcome.poll_after_seconds),
            deadline_at=now + timedelta(seconds=settings.GEMINI_DEADLINE_SECONDS),
            lease_expires_at=now + timedelta(seconds=settings.GEMINI_DEADLINE_SECONDS + 300),
        )
        return
    job_succeed(job_id=job.id, result=outcome, render_seconds=time.monotonic() - started)


def _fall_back(job: Job, exc: ProviderError) -> bool:
    """Move a job that failed upstream to GENERATION_FALLBACK_PROVIDER, once.

    Not for content blocks (another provider would be asked to make what was refused). The job
    keeps its hold and records which provider ran and why it moved. Returns True if moved.
    """
    fallback = settings.GENERATION_FALLBACK_PROVIDER
    if not fallback or fallback == job.provider or job.error_details.get("fallback_from"):
        return False
    details = {"fallback_from": job.provider, "fallback_reason": exc.message[:500]}
    with transaction.atomic():
        moved = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            state=Job.State.QUEUED,
            provider=fallback,
            provider_operation="",
            lease_expires_at=None,
            next_poll_at=None,
            deadline_at=None,
            progress=0,
            enqueued_at=timezone.now(),
            error_details=details,
        )
        if moved:
            _publish_status(job.pk)
            logger.warning(
                "job %s falls back from %s to %s: %s", job.pk, job.provider, fallback, exc.message
            )
            _enqueue_run(job.pk)
    return bool(moved)


def _handle_provider_error(job: Job, exc: ProviderError) -> None:
    if isinstance(exc, ContentBlocked):
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=CODE_CONTENT,
            message=exc.message,
            details=exc.details,
        )
    elif isinstance(exc, ProviderTransientError):
        if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
            if _fall_back(job, exc):
                return
            job_fail(
                job_id=job.id,
                stage=Job.FailureStage.GENERATION,
                code=CODE_INTERNAL,
                message=MSG_INTERNAL,
                details={"upstream": exc.message},
            )
            return
        delay = exc.retry_after_seconds or min(300, 5 * 2 ** (job.attempts - 1))
        with transaction.atomic():
            requeued = Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
                state=Job.State.QUEUED,
                lease_expires_at=None,
                progress=0,
                enqueued_at=timezone.now() + timedelta(seconds=delay),
            )
            if requeued:
                _publish_status(job.id)
                _enqueue_run(job.id, countdown=delay)
    else:
        if _fall_back(job, exc):
            return
        code = CODE_GENERATION_FAILED if isinstance(exc, ProviderFailed) else CODE_INTERNAL
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=code,
            message=exc.message,
            details={**job.error_details, **exc.details},
        )


def _store_result(job_id: uuid.UUID, result: Completed, workdir: Path) -> tuple[str, str]:
    from generation.providers.local import make_poster

    prefix = f"videos/{timezone.now():%Y/%m}/{job_id}"
    with result.video_path.open("rb") as handle:
        video_name = default_storage.save(f"{prefix}.mp4", File(handle))
    poster = result.poster_path
    if poster is None or not poster.exists():
        poster = make_poster(result.video_path, workdir / "poster.jpg")
    with poster.open("rb") as handle:
        poster_name = default_storage.save(f"{prefix}.jpg", File(handle))
    return video_name, poster_name


def job_succeed(*, job_id: uuid.UUID, result: Completed, render_seconds: float) -> bool:
    """Store the result and complete the job, capturing its hold, exactly once.

    Returns False (and discards the stored files) when the job is no longer running, e.g.
    the reaper failed it after its lease ran out.
    """
    video_name, poster_name = _store_result(job_id, result, result.video_path.parent)
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state != Job.State.RUNNING:
            transaction.on_commit(lambda: _delete_files(video_name, poster_name))
            return False
        now = timezone.now()
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING).update(
            state=Job.State.SUCCEEDED,
            video_file=video_name,
            poster_file=poster_name,
            output_width=result.width,
            output_height=result.height,
            output_duration=result.duration_seconds,
            provider_video_uri=result.provider_video_uri,
            progress=100,
            eta_seconds=0,
            completed_at=now,
            lease_expires_at=None,
            next_poll_at=None,
            render_seconds=render_seconds,
            credits_charged=job.credits_quoted,
        )
        _publish_status(job_id)
        hold = hold_for_job(job_id=job_id)
        if hold is not None:
            billing.credits_capture(hold=hold, reason="job succeeded")
        _after_terminal(job_id)
    return True


def _delete_files(*names: str) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete %s", name)


def job_fail(
    *,
    job_id: uuid.UUID,
    stage: str,
    code: int,
    message: str,
    details: dict[str, str] | None = None,
) -> bool:
    """Fail a queued or running job and release its hold, exactly once.

    Returns False when the job had already ended (nothing changes then).
    """
    with transaction.atomic():
        failed = Job.objects.filter(
            pk=job_id, state__in=[Job.State.QUEUED, Job.State.RUNNING]
        ).update(
            state=Job.State.FAILED,
            failure_stage=stage,
            error_code=code,
            error_message=message[:2000],
            error_details=details or {},
            completed_at=timezone.now(),
            lease_expires_at=None,
            next_poll_at=None,
            eta_seconds=None,
        )
        if not failed:
            return False
        _publish_status(job_id)
        hold = hold_for_job(job_id=job_id)
        if hold is not None:
            billing.credits_release(hold=hold, reason=f"job failed: {message[:200]}")
        _after_terminal(job_id)
    return True


def _after_terminal(job_id: uuid.UUID) -> None:
    """Side effects of a job ending (its callback), enqueued only once the job's end is
    committed. `robust`: a broker error is logged and never undoes or fails the job; the
    callback sweeper (`callbacks_sweep_orphans`) schedules what was lost."""
    from generation.tasks import job_callback_schedule  # generation.tasks imports this module

    transaction.on_commit(lambda: job_callback_schedule.delay(str(job_id)), robust=True)


# ---------------------------------------------------------------------------------------------
# Long-running upstream operations
# ---------------------------------------------------------------------------------------------


def job_poll(*, job_id: str) -> None:
    """Poll a job's upstream operation once (called by `jobs_poll_due`); idempotent."""
    job = (
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING)
        .exclude(provider_operation="")
        .select_related("user", "parent")
        .first()
    )
    if job is None:
        return
    now = timezone.now()
    if job.deadline_at and job.deadline_at < now:
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=CODE_INTERNAL,
            message="The generation did not finish in time.",
        )
        return
    budget = rate_limit_hit(
        key=f"provider-polls:{job.provider}",
        limit=settings.GENERATION_POLL_BUDGET_PER_MINUTE,
        window=60,
    )
    if not budget.allowed:
        # The upstream project's request quota is shared by every worker: wait for a slot.
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            next_poll_at=now + timedelta(seconds=budget.retry_after)
        )
        return
    work_root = Path(settings.VAR_DIR) / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.id}-poll-", dir=work_root))
    started = time.monotonic()
    try:
        provider = provider_get(job.provider)
        request = RenderRequest(
            job_id=str(job.id),
            prompt=job.prompt,
            mode=job.mode,
            model_tier=job.model_tier,
            aspect_ratio=job.resolved_aspect_ratio or "16:9",
            resolution=job.resolution,
            duration_seconds=job.duration_seconds,
            seed=job.seed,
        )
        outcome = provider.poll(job.provider_operation, request, workdir=workdir)
        Job.objects.filter(pk=job.pk).update(poll_count=F("poll_count") + 1)
        if isinstance(outcome, Pending):
            Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
                next_poll_at=timezone.now() + timedelta(seconds=outcome.poll_after_seconds)
            )
            return
        elapsed = (timezone.now() - (job.started_at or now)).total_seconds()
        job_succeed(
            job_id=job.id, result=outcome, render_seconds=max(elapsed, time.monotonic() - started)
        )
    except ProviderTransientError as exc:
        if exc.details.get("operation_done") == "true":
            # The operation itself ended in a retryable error: polling it again would only
            # repeat that, so the job is submitted anew (counted as an attempt).
            _handle_provider_error(job, exc)
            return
        backoff = exc.retry_after_seconds or min(300, 10 * 2 ** min(job.poll_count, 5))
        Job.objects.filter(pk=job.pk, state=Job.State.RUNNING).update(
            next_poll_at=timezone.now() + timedelta(seconds=backoff), poll_count=F("poll_count") + 1
        )
    except ProviderError as exc:
        _handle_provider_error(job, exc)
    except Exception:
        logger.exception("polling job %s crashed", job.id)
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=CODE_INTERNAL,
            message=MSG_INTERNAL,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def jobs_poll_due(*, now: Any = None, limit: int = 200) -> int:
    """Enqueue a poll for each running upstream operation that is due. Returns how many.

    Each due job's next_poll_at is pushed forward by a conditional UPDATE first, so two beat
    ticks never enqueue the same poll twice.
    """
    from generation.tasks import job_poll_task

    now = now or timezone.now()
    due = list(
        Job.objects.filter(state=Job.State.RUNNING, next_poll_at__lte=now)
        .exclude(provider_operation="")
        .order_by("next_poll_at")
        .values_list("pk", "next_poll_at")[:limit]
    )
    enqueued = 0
    for pk, next_poll_at in due:
        if Job.objects.filter(pk=pk, next_poll_at=next_poll_at).update(
            next_poll_at=now + timedelta(seconds=60)
        ):
            job_poll_task.apply_async(args=[str(pk)])
            enqueued += 1
    return enqueued


# ---------------------------------------------------------------------------------------------
# Recovery
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReapReport:
    requeued: int
    failed: int


def jobs_reap(*, now: Any = None, limit: int = 200) -> ReapReport:
    """Recover jobs whose message was lost or whose worker died (J3), exactly once each.

    - queued and not started for GENERATION_REQUEUE_AFTER_SECONDS: enqueued again;
    - running with an expired lease (its worker stopped renewing it): back to queued and
      enqueued again, or failed (hold released) once GENERATION_MAX_ATTEMPTS is reached.
    Every change is a conditional UPDATE, so concurrent reapers and late workers cannot both
    act on one job.
    """
    now = now or timezone.now()
    requeued = failed = 0
    stale_queued = now - timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_SECONDS)
    for pk, enqueued_at in Job.objects.filter(
        state=Job.State.QUEUED, enqueued_at__lt=stale_queued
    ).values_list("pk", "enqueued_at")[:limit]:
        with transaction.atomic():
            if Job.objects.filter(pk=pk, state=Job.State.QUEUED, enqueued_at=enqueued_at).update(
                enqueued_at=now, requeues=F("requeues") + 1
            ):
                _enqueue_run(pk)
                requeued += 1
    for job in Job.objects.filter(state=Job.State.RUNNING, lease_expires_at__lt=now).only(
        "pk", "attempts", "lease_expires_at"
    )[:limit]:
        if job.attempts >= settings.GENERATION_MAX_ATTEMPTS:
            if job_fail(
                job_id=job.pk,
                stage=Job.FailureStage.GENERATION,
                code=CODE_INTERNAL,
                message="The job was interrupted too many times.",
            ):
                failed += 1
            continue
        with transaction.atomic():
            if Job.objects.filter(
                pk=job.pk, state=Job.State.RUNNING, lease_expires_at=job.lease_expires_at
            ).update(
                state=Job.State.QUEUED,
                lease_expires_at=None,
                progress=0,
                enqueued_at=now,
                requeues=F("requeues") + 1,
                provider_operation="",
            ):
                _publish_status(job.pk)
                _enqueue_run(job.pk)
                requeued += 1
    return ReapReport(requeued=requeued, failed=failed)
