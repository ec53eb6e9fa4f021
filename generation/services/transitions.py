"""Every change of a job's state, and the only module that writes `Job.state`.

Rules (RELIABILITY.md J2-J5):
- Each change is one conditional UPDATE guarded on the state (and, for recovery, on the value
  the caller saw), so a redelivered task, a late worker and a concurrent reaper cannot apply a
  change twice; only the call whose UPDATE matched does anything else.
- The winning call, in the same transaction: settles the credit hold (success captures it,
  failure releases it; an ended job gives back its account's job slot), publishes the status
  snapshot and enqueues what follows after commit (the next run, an ended job's callback).
- Guarded progress writes live here too (poll-schedule writes: schedule.py); enqueues are
  robust (on commit).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, JSONField, PositiveSmallIntegerField, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing import services as billing
from billing.selectors import hold_for_job
from generation import media
from generation.errors import CANCEL_MESSAGE
from generation.models import Job
from generation.providers.base import Completed
from generation.selectors.usage import daily_usage_forget
from generation.services.charges import charge_for, upstream_usage
from generation.services.schedule import job_poll_defer, job_upstream_wait
from generation.snapshots import job_snapshot_publish_on_commit
from veosaas import metrics
from veosaas.celery import enqueue_on_commit

logger = logging.getLogger(__name__)

__all__ = ["job_poll_defer", "job_upstream_wait"]  # (re-exported; the others are defined here)

_LIVE = Q(state__in=[Job.State.QUEUED, Job.State.RUNNING])
_RUNNING = Q(state=Job.State.RUNNING)
_CODE = PositiveSmallIntegerField(null=True)


def _json(value: dict[str, str]) -> Value:
    return Value(value, output_field=JSONField())


def job_run_enqueue(*, job_id: uuid.UUID | str, countdown: float | None = None) -> None:
    """Enqueue the run task after commit (J1: id only); a broker failure is logged only."""
    from generation.tasks import job_run_task  # (tasks import services)

    enqueue_on_commit(job_run_task, args=[str(job_id)], countdown=countdown)


def _callback_enqueue(job_id: uuid.UUID | str) -> None:
    """Schedule the ended job's callback after commit; a failing broker never undoes the end."""
    from generation.tasks import job_callback_schedule

    transaction.on_commit(
        lambda: job_callback_schedule.apply_async(args=[str(job_id)]), robust=True
    )


@dataclass(frozen=True)
class _Move:
    """One guarded UPDATE and what the call that wins it does in the same transaction."""

    guard: Q
    changes: dict[str, Any]
    publish: bool = True
    settle: Callable[[], None] | None = None
    run_countdown: float | None = None
    enqueue_run: bool = False
    terminal: bool = False


def _apply(job_id: uuid.UUID | str, move: _Move) -> bool:
    """Apply `move` to the job atomically; False (nothing else done) when the guard missed."""
    with transaction.atomic():
        if not Job.objects.filter(move.guard, pk=job_id).update(**move.changes):
            return False
        if move.publish:
            job_snapshot_publish_on_commit(job_id)
        if move.settle is not None:
            move.settle()
        if move.enqueue_run:
            job_run_enqueue(job_id=job_id, countdown=move.run_countdown)
        if move.terminal:
            owner = Job.objects.filter(pk=job_id).values("user_id")[:1]  # a subquery
            billing.account_active_job_end(user_id=owner)  # the slot the submit counted
            _callback_enqueue(job_id)
            _count_finished(job_id)
    return True


def _count_finished(job_id: uuid.UUID | str) -> None:
    """Count an ended job (veosaas_jobs_finished_total) after commit; forget its daily usage."""
    row = Job.objects.values("user_id", "facade", "provider", "model_tier", "state").get(pk=job_id)
    daily_usage_forget(user_id=row["user_id"])
    if not metrics.enabled():
        return
    labels = {
        "facade": row["facade"],
        "provider": row["provider"],
        "model": row["model_tier"],
        "outcome": row["state"],
    }
    metrics.count_on_commit(lambda: metrics.jobs_finished.labels(**labels).inc())


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def job_claim(*, job_id: str) -> Job | None:
    """Move a queued job (or a running one whose lease expired) to running; None if taken.
    The winner gets a fresh lease and one more attempt; `started_at` is set on the first claim."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.GENERATION_LEASE_SECONDS)
    claimable = Q(state=Job.State.QUEUED) | Q(state=Job.State.RUNNING, lease_expires_at__lt=now)
    claimed = Job.objects.filter(claimable, pk=job_id, cancel_requested_at__isnull=True).update(
        state=Job.State.RUNNING,
        lease_expires_at=lease,
        attempts=F("attempts") + 1,
        progress=1,
        eta_seconds=None,
    )
    if not claimed:
        # Asked to cancel while running, then queued again (retry, fallback, reaper): it ends.
        asked = claimable & Q(cancel_requested_at__isnull=False)
        job_cancel_confirmed(job_id=job_id, message=CANCEL_MESSAGE, guard=asked)
        return None
    first_start = Job.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    job_snapshot_publish_on_commit(job_id)
    job = Job.objects.select_related("user").get(pk=job_id)
    if first_start and metrics.enabled():
        waited = max(0.0, (now - job.created_at).total_seconds())
        metrics.count_on_commit(
            lambda: metrics.job_queue_wait_seconds.labels(facade=job.facade).observe(waited)
        )
    return job


def job_progress_set(*, job_id: uuid.UUID, progress: int, eta_seconds: int | None) -> bool:
    """Record a running job's progress and renew its lease; False once it is not running."""
    updated = Job.objects.filter(_RUNNING, pk=job_id).update(
        progress=progress,
        eta_seconds=eta_seconds,
        lease_expires_at=timezone.now() + timedelta(seconds=settings.GENERATION_LEASE_SECONDS),
    )
    if updated:
        job_snapshot_publish_on_commit(job_id)
    return bool(updated)


def job_retry(*, job_id: uuid.UUID, delay: float) -> bool:
    """Put a running job back in the queue to run again in `delay` seconds (transient error).

    The hold stays; the run task is enqueued with that countdown.
    """
    return _apply(
        job_id,
        _Move(
            guard=_RUNNING,
            changes={
                "state": Job.State.QUEUED,
                "lease_expires_at": None,
                "progress": 0,
                "enqueued_at": timezone.now() + timedelta(seconds=delay),
            },
            enqueue_run=True,
            run_countdown=delay,
        ),
    )


def job_provider_switch(*, job: Job, provider: str, details: dict[str, Any], reason: str) -> bool:
    """Move a running job to `provider` and queue it again, keeping its hold (fallback).

    `details` replace the job's error details; `reason` is logged.
    """
    moved = _apply(
        job.pk,
        _Move(
            guard=_RUNNING,
            changes={
                "state": Job.State.QUEUED,
                "provider": provider,
                "provider_operation": "",
                "lease_expires_at": None,
                "next_poll_at": None,
                "deadline_at": None,
                "progress": 0,
                "enqueued_at": timezone.now(),
                "error_details": details,
            },
            enqueue_run=True,
        ),
    )
    if moved:
        logger.warning(
            "job %s falls back from %s to %s: %s",
            job.pk,
            job.provider,
            provider,
            reason,
        )
    return moved


# ---------------------------------------------------------------------------------------------
# Ending
# ---------------------------------------------------------------------------------------------


def job_succeed(*, job_id: uuid.UUID, result: Completed, render_seconds: float) -> bool:
    """Store the result and complete the job, capturing its hold, exactly once.

    Returns False (and discards the stored files) when the job is no longer running, e.g.
    the reaper failed it after its lease ran out. On success the callback is enqueued after
    commit.
    """
    video_name, poster_name = media.result_store(
        job_id=job_id, result=result, workdir=result.video_path.parent
    )
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.state != Job.State.RUNNING:
            transaction.on_commit(lambda: media.files_delete(video_name, poster_name))
            return False
        now = timezone.now()
        charged = charge_for(job=job, result=result)

        def capture() -> None:
            hold = hold_for_job(job_id=job_id)
            if hold is not None:
                billing.credits_capture(hold=hold, amount=charged, reason="job succeeded")

        _apply(
            job_id,
            _Move(
                guard=_RUNNING,
                changes={
                    "state": Job.State.SUCCEEDED,
                    "video_file": video_name,
                    "poster_file": poster_name,
                    "media_bytes": media.stored_bytes(video_name, poster_name),
                    "output_width": result.width,
                    "output_height": result.height,
                    "output_duration": result.duration_seconds,
                    "provider_video_uri": result.provider_video_uri,
                    "progress": 100,
                    "eta_seconds": 0,
                    "completed_at": now,
                    "lease_expires_at": None,
                    "next_poll_at": None,
                    "render_seconds": render_seconds,
                    "credits_charged": charged,
                    **upstream_usage(job=job, result=result),
                },
                settle=capture,
                terminal=True,
            ),
        )
        logger.info("job %s succeeded in %.1fs", job_id, render_seconds)
        labels = {"provider": job.provider, "model": job.model_tier}
        metrics.count_on_commit(
            lambda: metrics.job_render_seconds.labels(**labels).observe(render_seconds)
        )
    return True


def _release(job_id: uuid.UUID | str, reason: str) -> Callable[[], None]:
    def release() -> None:
        hold = hold_for_job(job_id=job_id)
        if hold is not None:
            billing.credits_release(hold=hold, reason=reason[:250])

    return release


def job_cancel_confirmed(*, job_id: uuid.UUID | str, message: str, guard: Q = _LIVE) -> bool:
    """Cancel the job if it still matches `guard` (default: queued or running) and release its
    hold, exactly once. Callers narrow the guard to what makes the cancel safe (cancel.py)."""
    now = timezone.now()
    return _apply(
        job_id,
        _Move(
            guard=guard & _LIVE,
            changes={
                "state": Job.State.CANCELLED,
                "error_message": message[:2000],
                "cancel_requested_at": Coalesce(F("cancel_requested_at"), Value(now)),
                "completed_at": now,
                "lease_expires_at": None,
                "next_poll_at": None,
                "eta_seconds": None,
            },
            settle=_release(job_id, f"job cancelled: {message[:200]}"),
            terminal=True,
        ),
    )


def job_cancel_request(*, job_id: uuid.UUID | str) -> bool:
    """Record a cancel request on a running job (kept if already set); False if not running."""
    updated = Job.objects.filter(_RUNNING, pk=job_id).update(
        cancel_requested_at=Coalesce(F("cancel_requested_at"), Value(timezone.now()))
    )
    if updated:
        job_snapshot_publish_on_commit(job_id)
    return bool(updated)


def job_fail(
    *,
    job_id: uuid.UUID,
    stage: str,
    code: int,
    message: str,
    details: dict[str, str] | None = None,
) -> bool:
    """Fail a queued or running job and release its hold, exactly once.

    A job whose cancel was requested ends `cancelled` instead (the customer asked to stop it;
    the failure is kept in `error_details`). Returns False when the job had already ended
    (nothing changes then). On success the callback is enqueued after commit.
    """
    asked = Q(cancel_requested_at__isnull=False)
    return _apply(
        job_id,
        _Move(
            guard=_LIVE,
            changes={
                "state": Case(
                    When(asked, then=Value(Job.State.CANCELLED)), default=Value(Job.State.FAILED)
                ),
                "failure_stage": stage,
                "error_code": Case(
                    When(asked, then=Value(None)), default=Value(code), output_field=_CODE
                ),
                "error_message": Case(
                    When(asked, then=Value(CANCEL_MESSAGE)), default=Value(message[:2000])
                ),
                "error_details": Case(
                    When(asked, then=_json({**(details or {}), "failure": message[:500]})),
                    default=_json(details or {}),
                ),
                "completed_at": timezone.now(),
                "lease_expires_at": None,
                "next_poll_at": None,
                "eta_seconds": None,
            },
            settle=_release(job_id, f"job failed: {message[:200]}"),
            terminal=True,
        ),
    )


# --- Recovery (the reaper's moves, guarded on what the reaper saw) ---------------------------


def job_redeliver(*, job_id: uuid.UUID, enqueued_at: datetime, now: datetime) -> bool:
    """Enqueue a queued job whose message was lost again, unless it moved since it was seen."""
    return _apply(
        job_id,
        _Move(
            guard=Q(state=Job.State.QUEUED, enqueued_at=enqueued_at),
            changes={"enqueued_at": now, "requeues": F("requeues") + 1},
            publish=False,
            enqueue_run=True,
        ),
    )


def job_lease_recover(*, job_id: uuid.UUID, lease_expires_at: datetime, now: datetime) -> bool:
    """Queue a running job whose worker died (lease expired) again, unless it moved since."""
    return _apply(
        job_id,
        _Move(
            guard=Q(state=Job.State.RUNNING, lease_expires_at=lease_expires_at),
            changes={
                "state": Job.State.QUEUED,
                "lease_expires_at": None,
                "progress": 0,
                "enqueued_at": now,
                "requeues": F("requeues") + 1,
                "provider_operation": "",
            },
            enqueue_run=True,
        ),
    )
