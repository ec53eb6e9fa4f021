"""Poll-schedule writes of running upstream jobs (no state change: transitions.py has those)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from generation.models import Job
from generation.snapshots import job_snapshot_publish_on_commit

_RUNNING = Q(state=Job.State.RUNNING)


def job_upstream_wait(*, job_id: uuid.UUID, operation: str, poll_after_seconds: float) -> None:
    """An upstream operation was accepted: poll it later. The lease covers the deadline and the
    reconciliation after it (the reaper must never re-run or release a job still billable)."""
    now, deadline = timezone.now(), settings.GENERATION_DEADLINE_SECONDS
    reconcile = deadline + settings.GENERATION_RECONCILE_SECONDS + 300
    Job.objects.filter(_RUNNING, pk=job_id).update(
        provider_operation=operation,
        next_poll_at=now + timedelta(seconds=poll_after_seconds),
        deadline_at=now + timedelta(seconds=deadline),
        lease_expires_at=now + timedelta(seconds=reconcile),
    )


def job_poll_defer(
    *,
    job_id: uuid.UUID,
    at: datetime,
    count_poll: bool = False,
    eta_seconds: int | None = None,
) -> None:
    """Poll a running job's upstream operation again at `at` (counting this poll if asked);
    with `eta_seconds` (reconciling past the deadline) the ETA is updated and published."""
    changes: dict[str, Any] = {"next_poll_at": at}
    if count_poll:
        changes["poll_count"] = F("poll_count") + 1
    if eta_seconds is not None:
        changes["eta_seconds"] = eta_seconds
    updated = Job.objects.filter(_RUNNING, pk=job_id).update(**changes)
    if updated and eta_seconds is not None:
        job_snapshot_publish_on_commit(job_id)
