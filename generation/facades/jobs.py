"""Our own job payload (`/api/v1/jobs`, and every stream of a job's status in our envelope).

`job_data` renders a job from its status snapshot (generation/snapshots.py: the instance
`job_snapshot_get` returns, or any Job loaded with STATUS_FIELDS): it reads those columns only,
so it never touches the database. `JOB_SCHEMA` is its OpenAPI schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest

from generation.delivery import job_poster_url, job_video_url
from generation.models import Job
from generation.services import CancelOutcome

# What a cancel answer says, by outcome (the dashboard words the same in its own language).
CANCEL_MESSAGES = {
    CancelOutcome.CANCELLED: "Cancelled; the held credits were returned.",
    CancelOutcome.REQUESTED: (
        "Cancel requested: the provider is asked to stop. If it still finishes the video, the "
        "video is delivered and charged (the provider billed it); otherwise the held credits "
        "are returned."
    ),
}


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_data(job: Job, request: HttpRequest | None = None) -> dict[str, Any]:
    """The job as our API shows it, from its status snapshot (STATUS_FIELDS only).

    `cancel_requested_at` is set once a cancel was asked; a job that still `succeeded` after it
    was charged because upstream finished (and billed) it first.
    """
    ended = job.state in Job.TERMINAL_STATES
    error = None
    if job.state in (Job.State.FAILED, Job.State.CANCELLED):
        error = {"code": job.error_code, "message": job.error_message}
    return {
        "id": str(job.id),
        "state": job.state,
        "progress": 100 if job.state == Job.State.SUCCEEDED else job.progress,
        "eta_seconds": None if ended else job.eta_seconds,
        "facade": job.facade,
        "kind": job.kind,
        "mode": job.mode,
        "model": job.model_tier,
        "provider": job.provider,
        "aspect_ratio": job.resolved_aspect_ratio or job.aspect_ratio,
        "resolution": job.resolution,
        "duration_seconds": job.duration_seconds,
        "credits_quoted": job.credits_quoted,
        "credits_charged": job.credits_charged,
        "video_url": job_video_url(job, request),
        "poster_url": job_poster_url(job, request),
        "error": error,
        "cancel_requested_at": _instant(job.cancel_requested_at),
        "created_at": _instant(job.created_at),
        "started_at": _instant(job.started_at),
        "completed_at": _instant(job.completed_at),
    }


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "state": {"type": "string", "enum": Job.State.values},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "eta_seconds": _nullable("integer"),
        "facade": {"type": "string", "enum": Job.Facade.values},
        "kind": {"type": "string", "enum": Job.Kind.values},
        "mode": {"type": "string", "enum": Job.Mode.values},
        "model": {"type": "string"},
        "provider": {"type": "string"},
        "aspect_ratio": {"type": "string"},
        "resolution": {"type": "string"},
        "duration_seconds": {"type": "integer"},
        "credits_quoted": {"type": "integer"},
        "credits_charged": {"type": "integer"},
        "video_url": _nullable("string", format="uri"),
        "poster_url": _nullable("string", format="uri"),
        "error": {
            "type": "object",
            "nullable": True,
            "properties": {"code": _nullable("integer"), "message": {"type": "string"}},
        },
        "cancel_requested_at": _nullable(
            "string",
            format="date-time",
            description="When a cancel was asked. A job that still succeeded after it was "
            "charged: upstream finished (and billed) it first.",
        ),
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": _nullable("string", format="date-time"),
        "completed_at": _nullable("string", format="date-time"),
    },
}
