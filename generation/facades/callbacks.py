"""Job callbacks: the facade's body for a finished job, handed to `outbound` to deliver.

1. `callback_schedule_for_job` runs in the `job_callback_schedule` task, enqueued after the
   commit that ended a job (generation.services._after_terminal). A job with a callback URL
   gets one outbound `Delivery` (topic job_callback, reference = the job's uuid hex): the
   facade's body (kie shape for veo3api jobs, the status envelope for veo3o1 jobs, an
   OpenAI-style `video.completed` / `video.failed` / `video.cancelled` event for /v1/videos
   jobs; codefast has no callbacks), rendered once and stored, and a `webhook-id`
   (`msg_<uuid hex>`) that every attempt repeats. Sending, signing, retries and re-sends are
   `outbound.engine`'s.
2. `callbacks_sweep_orphans` (beat) schedules the callbacks of finished jobs that a crash
   kept from being created, so nothing is lost (outbound's sweeper re-sends lost messages).

A delivery never changes its job: the job's outcome is final before the callback exists.
kie's X-Webhook-Signature signs the job's taskId (veo3o1 jobs: their uuid).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Replace
from django.utils import timezone

from generation.models import Job
from outbound.models import Delivery
from outbound.services import delivery_create

logger = logging.getLogger(__name__)

# The sweeper leaves a finished job this long to its own scheduling task first.
SWEEP_GRACE_SECONDS = 30
# How far back the sweeper looks for finished jobs whose delivery was never created.
SWEEP_LOOKBACK = timedelta(days=2)


def callback_render(job: Job) -> tuple[str, dict[str, Any]] | None:
    """(task id the kie HMAC signs, body) for a finished job, or None if its facade sends no
    callbacks (codefast)."""
    if job.facade == Job.Facade.CODEFAST:
        return None
    if job.facade == Job.Facade.VEO3O1:
        from generation.facades.veo3o1 import status_data

        return str(job.id), {"code": 0, "msg": "Success", "data": status_data(job, None)}
    if job.facade == Job.Facade.OPENAI:
        from generation.facades.openai_videos.shapes import video_event, video_id

        return video_id(job.id), video_event(job)
    from generation.facades.veo3api_shapes import callback_body

    return job.task_id, callback_body(job)


def callback_reference(job_id: uuid.UUID | str) -> str:
    """How outbound names a job's deliveries (Delivery.reference)."""
    return uuid.UUID(str(job_id)).hex


def callback_schedule(*, job_id: uuid.UUID | str) -> Delivery | None:
    """Create the delivery of a finished job's callback and enqueue its first attempt.

    Idempotent: one delivery per (job, url); a second call returns the first and enqueues
    nothing. Returns None for a job without a callback URL, one not finished, or a facade
    without callbacks.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not job.is_terminal or not job.callback_url:
        return None
    rendered = callback_render(job)
    if rendered is None:
        return None
    task_id, payload = rendered
    delivery, _ = delivery_create(
        topic=Delivery.Topic.JOB_CALLBACK,
        user_id=job.user_id,
        reference=callback_reference(job.pk),
        destination=job.callback_url,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        signing_id=task_id,
        payload=payload,
        body=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        request_id=job.request_id,
    )
    return delivery


def callback_schedule_for_job(*, job_id: uuid.UUID | str) -> None:
    """Schedule a finished job's callback (the `job_callback_schedule` task's body).

    Never raises: the job has already ended and must not be affected; a delivery that could
    not be created here is created by `callbacks_sweep_orphans`.
    """
    try:
        callback_schedule(job_id=job_id)
    except Exception:
        logger.exception("could not schedule the callback of job %s", job_id)


def callbacks_sweep_orphans(*, now: datetime | None = None, limit: int = 500) -> int:
    """Schedule the callbacks of finished jobs of the last two days that have a callback URL
    but no delivery (the process died between the job's commit and `callback_schedule`).
    Returns how many were scheduled."""
    now = now or timezone.now()
    # Delivery.reference is the uuid's hex; a uuid cast to text has dashes on PostgreSQL.
    job_hex = Replace(Cast(OuterRef("pk"), output_field=CharField()), Value("-"), Value(""))
    has_delivery = Exists(
        Delivery.objects.filter(topic=Delivery.Topic.JOB_CALLBACK, reference=job_hex)
    )
    orphans = list(
        Job.objects.filter(
            state__in=Job.TERMINAL_STATES,
            created_at__gte=now - SWEEP_LOOKBACK,
            completed_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .exclude(callback_url="")
        .exclude(facade=Job.Facade.CODEFAST)
        .filter(~has_delivery)
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in orphans if callback_schedule(job_id=pk) is not None)
