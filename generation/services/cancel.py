"""Cancelling a job: upstream first, then the job, so credits are never released while an
upstream operation may still finish and bill."""

from __future__ import annotations

import enum
import logging

from generation.models import Job
from generation.providers import provider_get
from generation.providers.base import ProviderError
from generation.services.transitions import job_cancel_confirmed

logger = logging.getLogger(__name__)


class CancelOutcome(enum.StrEnum):
    """What a cancel request did; every facade words its answer from this."""

    CANCELLED = "cancelled"  # the job is cancelled now and its hold released (exactly once)
    REQUESTED = "cancel_requested"  # still running upstream; settled by what the provider reports
    ENDED = "ended"  # it had already ended: nothing changed


def job_cancel(*, job: Job, reason: str = "Cancelled by the customer.") -> CancelOutcome:
    """Cancel `job` if it can be.

    A queued job, or a running one not yet submitted upstream, is cancelled at once (the worker
    that claims it later finds it ended). A running upstream operation is cancelled at the
    provider first (Omni's cancel endpoint); the job is cancelled only when the provider
    confirms it. Providers without a cancel endpoint (Veo) keep running: REQUESTED, and the job
    ends as its operation does.
    """
    if job.state not in (Job.State.QUEUED, Job.State.RUNNING):
        return CancelOutcome.ENDED
    if job.state == Job.State.RUNNING and job.provider_operation:
        try:
            confirmed = provider_get(job.provider).cancel(job.provider_operation)
        except ProviderError as exc:
            logger.warning("cancel of job %s upstream failed: %s", job.pk, exc.message)
            return CancelOutcome.REQUESTED
        if not confirmed:
            return CancelOutcome.REQUESTED
    if job_cancel_confirmed(job_id=job.pk, message=reason):
        return CancelOutcome.CANCELLED
    return CancelOutcome.ENDED
