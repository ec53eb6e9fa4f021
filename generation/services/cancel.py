"""Cancelling a job, exactly once, without ever releasing credits upstream may still bill.

What a cancel does, by where the job is (RELIABILITY.md A3):
- queued: cancelled at once, hold released (the worker that claims it later finds it ended);
- running on an in-process renderer (`local`, the test provider): cancelled at once, hold
  released. This is safe because nothing upstream bills it; the worker's next progress write
  (every frame batch, at most every 0.5 s) is guarded on `running`, fails, and the render stops
  (`RenderCancelled`), its work files removed; a render that finished in the meantime finds
  the job ended under its row lock and deletes its stored files (`job_succeed`).
- running upstream: `cancel_requested_at` is recorded first (persisted: the worker, the poller,
  the reaper and a restart all see it), then the provider is asked to stop where it can
  (Omni's cancel endpoint): a confirmed upstream cancel ends the job cancelled, released.
  Otherwise (Veo has no cancel) the job keeps being polled and is settled by what the provider
  finally reports: a completed video is charged (upstream billed it), a failure or upstream
  cancel ends it cancelled and released (`job_fail` turns any failure of a job asked to
  cancel into `cancelled`).
- a job asked to cancel that is put back in the queue (transient retry, fallback, reaper) is
  cancelled by the claim instead of running again (`job_claim`).
Every end is one guarded UPDATE in transitions.py, so whatever races (completion, a worker kill
and the reaper, many cancels) exactly one of them settles the hold.
"""

from __future__ import annotations

import enum
import logging
import uuid

from django.db.models import Q

from generation.errors import CANCEL_MESSAGE
from generation.models import Job
from generation.providers import provider_get
from generation.providers.base import ProviderError
from generation.services.transitions import job_cancel_confirmed, job_cancel_request

logger = logging.getLogger(__name__)


class CancelOutcome(enum.StrEnum):
    """What a cancel request did; every facade words its answer from this."""

    CANCELLED = "cancelled"  # the job is cancelled now and its hold released (exactly once)
    REQUESTED = "cancel_requested"  # still running upstream; settled by what the provider reports
    ENDED = "ended"  # it had already ended: nothing changed


def job_cancel(*, job: Job, reason: str = CANCEL_MESSAGE) -> CancelOutcome:
    """Cancel `job` if it can be (see the module doc); `job` may be a stale or partial row.

    CANCELLED: cancelled now, hold released. REQUESTED: running upstream and asked to stop;
    it ends cancelled (released) unless the provider completes it first (then charged).
    ENDED: it had already ended (also when a completion won the race), nothing changed.
    """
    for _ in range(5):  # the job may move between queued and running while we look
        if job_cancel_confirmed(job_id=job.pk, message=reason, guard=Q(state=Job.State.QUEUED)):
            return CancelOutcome.CANCELLED
        row = Job.objects.filter(pk=job.pk).values("state", "provider").first()
        if row is None or row["state"] not in (Job.State.QUEUED, Job.State.RUNNING):
            return CancelOutcome.ENDED
        if row["state"] == Job.State.QUEUED:
            continue
        if _in_process(row["provider"]):
            in_process = Q(state=Job.State.RUNNING, provider=row["provider"])
            if job_cancel_confirmed(job_id=job.pk, message=reason, guard=in_process):
                return CancelOutcome.CANCELLED
            continue
        if job_cancel_request(job_id=job.pk):
            return upstream_cancel_try(job_id=job.pk, reason=reason)
    return _outcome_now(job.pk)


def upstream_cancel_try(*, job_id: uuid.UUID, reason: str = CANCEL_MESSAGE) -> CancelOutcome:
    """For a running job asked to cancel: ask its provider to stop its operation, and end the
    job cancelled if upstream confirms (never otherwise: it may still bill). Called by
    `job_cancel`, by the worker once a submit returns its operation, and by each poll."""
    row = (
        Job.objects.filter(pk=job_id, state=Job.State.RUNNING, cancel_requested_at__isnull=False)
        .values("provider", "provider_operation")
        .first()
    )
    if row is None:
        return _outcome_now(job_id)
    operation = row["provider_operation"]
    if not operation:  # its submit is still in flight: the worker asks once it returns
        return CancelOutcome.REQUESTED
    try:
        confirmed = provider_get(row["provider"]).cancel(operation)
    except ProviderError as exc:
        logger.warning("cancel of job %s upstream failed: %s", job_id, exc.message)
        return CancelOutcome.REQUESTED
    if not confirmed:
        return CancelOutcome.REQUESTED
    same_operation = Q(state=Job.State.RUNNING, provider_operation=operation)
    if job_cancel_confirmed(job_id=job_id, message=reason, guard=same_operation):
        logger.info("job %s cancelled upstream (%s)", job_id, operation)
        return CancelOutcome.CANCELLED
    return _outcome_now(job_id)


def _in_process(provider: str) -> bool:
    try:
        return provider_get(provider).in_process
    except LookupError:
        return False


def _outcome_now(job_id: uuid.UUID) -> CancelOutcome:
    state = Job.objects.filter(pk=job_id).values_list("state", flat=True).first()
    if state == Job.State.CANCELLED:
        # Another request (or the worker) cancelled it concurrently: the hold was released.
        return CancelOutcome.CANCELLED
    if state in (Job.State.QUEUED, Job.State.RUNNING):
        return CancelOutcome.REQUESTED
    return CancelOutcome.ENDED
