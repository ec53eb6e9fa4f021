"""Running a job: load its inputs, call its provider, act on the outcome; poll upstream work.

Outcomes: success -> result stored, hold captured; content block / permanent failure ->
failed, hold released; transient upstream error -> retried with backoff up to
GENERATION_MAX_ATTEMPTS, then moved along GENERATION_FALLBACK_PROVIDERS or failed; a
long-running upstream operation -> polled by `jobs_poll_due` without holding a worker. Every
state change goes through generation/services/transitions.py.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone

from billing.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO
from generation import images
from generation.errors import (
    CODE_CONTENT,
    CODE_GENERATION_FAILED,
    CODE_INTERNAL,
    MSG_IMAGE_FETCH,
    MSG_INTERNAL,
    InputImageError,
)
from generation.models import Job, Upload
from generation.providers import provider_get
from generation.providers.base import (
    Completed,
    ContentBlocked,
    InputImage,
    Pending,
    ProviderError,
    ProviderFailed,
    ProviderTransientError,
    RenderCancelled,
    RenderRequest,
)
from generation.ratelimit import rate_limit_hit
from generation.services.cancel import CancelOutcome, upstream_cancel_try
from generation.services.fallback import job_fall_back
from generation.services.transitions import (
    job_claim,
    job_fail,
    job_poll_defer,
    job_progress_set,
    job_retry,
    job_succeed,
    job_upstream_wait,
)
from generation.services.upgrades import upgrade_1080p_prepare
from generation.services.uploads import upload_create
from outbound import netguard
from veosaas import logcontext, metrics

logger = logging.getLogger(__name__)


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
    if job.aspect_ratio in ASPECT_RATIOS:
        return job.aspect_ratio
    if job.parent_id and job.parent and job.parent.resolved_aspect_ratio:
        return job.parent.resolved_aspect_ratio
    if inputs:
        landscape, portrait = ASPECT_RATIOS
        return landscape if inputs[0].width >= inputs[0].height else portrait
    return DEFAULT_ASPECT_RATIO


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
        if not job_progress_set(
            job_id=job.pk, progress=min(99, max(1, int(fraction * 100))), eta_seconds=eta
        ):
            # Cancelled (or ended, or taken back by the reaper): stop rendering now.
            raise RenderCancelled(f"{fraction:.0%} rendered")

    return report


def job_run(*, job_id: str) -> None:
    """Run one job through its provider. Idempotent: a job already taken is left alone.

    Outcomes: success → stored result, hold captured; content block / permanent failure →
    failed, hold released; transient upstream error → retried with backoff up to
    GENERATION_MAX_ATTEMPTS, then failed; a long-running upstream operation → polled later by
    `jobs_poll_due` without holding this worker.
    """
    job = job_claim(job_id=job_id)
    if job is None:
        return
    # A job re-run by the reaper carries no request id: its submit's is on the row.
    logcontext.bind(job_id=job.id, request_id=logcontext.get("request_id") or job.request_id)
    logger.info("job %s running on %s (attempt %s)", job.id, job.provider, job.attempts)
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
            generate_audio=job.generate_audio,
            person_generation=job.person_generation,
            source_video_path=source_path,
            source_video_uri=source_uri,
        )
        provider = provider_get(job.provider)
        outcome = provider.submit(request, workdir=workdir, progress=_progress_reporter(job))
        _handle_outcome(job, outcome, started)
    except RenderCancelled as exc:
        logger.info(
            "job %s: render stopped, no longer running (%s in %.1fs)", job.id, exc, _since(started)
        )
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


def _since(started: float) -> float:
    return time.monotonic() - started


def _handle_outcome(job: Job, outcome: Completed | Pending, started: float) -> None:
    if isinstance(outcome, Pending):
        job_upstream_wait(
            job_id=job.pk,
            operation=outcome.operation,
            poll_after_seconds=outcome.poll_after_seconds,
        )
        upstream_cancel_try(job_id=job.pk)  # (a no-op unless a cancel came during the submit)
        return
    if job_succeed(job_id=job.id, result=outcome, render_seconds=time.monotonic() - started):
        upgrade_1080p_prepare(job_id=job.id)


def _handle_provider_error(job: Job, exc: ProviderError) -> None:
    if metrics.enabled():
        metrics.provider_errors.labels(provider=job.provider, kind=type(exc).__name__).inc()
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
            if job_fall_back(job=job, exc=exc):
                return
            job_fail(
                job_id=job.id,
                stage=Job.FailureStage.GENERATION,
                code=CODE_INTERNAL,
                message=MSG_INTERNAL,
                details={**job.error_details, "upstream": exc.message},
            )
            return
        delay = exc.retry_after_seconds or min(300, 5 * 2 ** (job.attempts - 1))
        job_retry(job_id=job.id, delay=delay)
    else:
        if job_fall_back(job=job, exc=exc):
            return
        code = CODE_GENERATION_FAILED if isinstance(exc, ProviderFailed) else CODE_INTERNAL
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=code,
            message=exc.message,
            details={**job.error_details, **exc.details},
        )


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
    past_deadline = (now - job.deadline_at).total_seconds() if job.deadline_at else -1.0
    if past_deadline > settings.GENERATION_RECONCILE_SECONDS:
        # Reconciled for the whole window without an answer: upstream gave up on it.
        job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=CODE_INTERNAL,
            message="The generation did not finish in time.",
            details={"reconciled_seconds": str(int(past_deadline))},
        )
        return
    budget = rate_limit_hit(
        key=f"provider-polls:{job.provider}",
        limit=settings.GENERATION_POLL_BUDGET_PER_MINUTE,
        window=60,
    )
    if not budget.allowed:
        # The upstream project's request quota is shared by every worker: wait for a slot.
        job_poll_defer(job_id=job.pk, at=now + timedelta(seconds=budget.retry_after))
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
            aspect_ratio=job.resolved_aspect_ratio or DEFAULT_ASPECT_RATIO,
            resolution=job.resolution,
            duration_seconds=job.duration_seconds,
            seed=job.seed,
        )
        outcome = provider.poll(job.provider_operation, request, workdir=workdir)
        Job.objects.filter(pk=job.pk).update(poll_count=F("poll_count") + 1)
        if isinstance(outcome, Pending):
            if (
                job.cancel_requested_at
                and upstream_cancel_try(job_id=job.pk) != CancelOutcome.REQUESTED
            ):
                return  # cancelled upstream now (or ended meanwhile)
            delay, eta = outcome.poll_after_seconds, None
            if past_deadline > 0:
                # Past the deadline Google may still finish (and bill): keep reconciling, less
                # often as time goes by, and tell the customer when we look next.
                delay = min(
                    float(settings.GENERATION_RECONCILE_MAX_INTERVAL_SECONDS),
                    max(delay, past_deadline / 4),
                )
                eta = int(delay)
            job_poll_defer(
                job_id=job.pk, at=timezone.now() + timedelta(seconds=delay), eta_seconds=eta
            )
            return
        elapsed = (timezone.now() - (job.started_at or now)).total_seconds()
        if job_succeed(
            job_id=job.id, result=outcome, render_seconds=max(elapsed, time.monotonic() - started)
        ):
            upgrade_1080p_prepare(job_id=job.id)
    except ProviderTransientError as exc:
        if exc.details.get("operation_done") == "true":
            # The operation itself ended in a retryable error: polling it again would only
            # repeat that, so the job is submitted anew (counted as an attempt).
            _handle_provider_error(job, exc)
            return
        backoff = exc.retry_after_seconds or min(300, 10 * 2 ** min(job.poll_count, 5))
        job_poll_defer(
            job_id=job.pk, at=timezone.now() + timedelta(seconds=backoff), count_poll=True
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
