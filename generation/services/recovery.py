"""Recovering jobs whose message was lost or whose worker died (RELIABILITY.md J3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.utils import timezone

from generation.errors import CODE_INTERNAL
from generation.models import Job
from generation.services.transitions import job_fail, job_lease_recover, job_redeliver


@dataclass(frozen=True)
class ReapReport:
    requeued: int
    failed: int


def jobs_reap(*, now: Any = None, limit: int = 200) -> ReapReport:
    """Recover jobs whose message was lost or whose worker died (J3), exactly once each.

    - queued and not started for GENERATION_REQUEUE_AFTER_SECONDS: enqueued again;
    - running with an expired lease (its worker stopped renewing it): back to queued and
      enqueued again, or failed (hold released) once GENERATION_MAX_ATTEMPTS is reached.
    Every change is a conditional UPDATE guarded on what was read here (transitions.py), so
    concurrent reapers and late workers cannot both act on one job.
    """
    now = now or timezone.now()
    requeued = failed = 0
    stale_queued = now - timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_SECONDS)
    for pk, enqueued_at in Job.objects.filter(
        state=Job.State.QUEUED, enqueued_at__lt=stale_queued
    ).values_list("pk", "enqueued_at")[:limit]:
        # enqueued_at__lt excludes NULL, and so does lease_expires_at__lt below.
        if job_redeliver(job_id=pk, enqueued_at=cast(datetime, enqueued_at), now=now):
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
        lease_expires_at = cast(datetime, job.lease_expires_at)
        if job_lease_recover(job_id=job.pk, lease_expires_at=lease_expires_at, now=now):
            requeued += 1
    return ReapReport(requeued=requeued, failed=failed)
