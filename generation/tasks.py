"""Celery tasks for generation. Thin: each loads by id and calls one service.

Generation tasks use late acks and are re-queued if their worker process dies; the services
are idempotent (guarded state changes), so a redelivered message does no harm.
"""

from __future__ import annotations

from celery import shared_task

from generation import services
from generation.facades import callbacks
from generation.services import storage


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_run_task(job_id: str) -> None:
    services.job_run(job_id=job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_poll_task(job_id: str) -> None:
    services.job_poll(job_id=job_id)


@shared_task
def jobs_poll_due_task() -> int:
    return services.jobs_poll_due()


@shared_task
def storage_sweep_task() -> dict[str, int]:
    report = storage.storage_sweep()
    return {
        "videos": report.videos,
        "posters": report.posters,
        "uploads": report.uploads,
        "orphans": report.orphans,
    }


@shared_task
def jobs_reap_task() -> dict[str, int]:
    report = services.jobs_reap()
    return {"requeued": report.requeued, "failed": report.failed}


# Enqueued after the commit that ended a job (generation/services/transitions.py); routed to the
# "callbacks" queue so a render backlog never delays a callback. Idempotent: one delivery per
# (job, url), so a redelivered message schedules nothing twice.
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=60, time_limit=90)
def job_callback_schedule(job_id: str) -> None:
    callbacks.callback_schedule_for_job(job_id=job_id)


# Beat: callbacks of finished jobs whose scheduling task was lost (outbound's own sweeper
# re-sends deliveries whose message was lost).
@shared_task
def callbacks_sweep_due_task() -> int:
    return callbacks.callbacks_sweep_orphans()
