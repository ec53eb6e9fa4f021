"""Celery tasks for generation. Thin: each loads by id and calls one service.

Generation tasks use late acks and are re-queued if their worker process dies; the services
are idempotent (guarded state changes), so a redelivered message does no harm.
"""

from __future__ import annotations

import uuid

from celery import shared_task

from generation import callbacks, services


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
def jobs_reap_task() -> dict[str, int]:
    report = services.jobs_reap()
    return {"requeued": report.requeued, "failed": report.failed}


# Enqueued on commit by every terminal transition (services/transitions.py): creates the
# job's callback delivery, if it has a callback URL. Never raises (the job has ended already).
@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_callback_schedule(job_id: str) -> None:
    callbacks.callback_schedule_for_job(job_id=uuid.UUID(job_id))


# Callbacks run on their own queue ("callbacks", settings CELERY_TASK_ROUTES), so slow
# receivers never hold a generation worker. The service claims each attempt under a row lock,
# so a redelivered message sends nothing twice.
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=90, time_limit=120)
def callback_deliver_task(delivery_id: int, manual: bool = False) -> None:
    callbacks.callback_deliver(delivery_id=delivery_id, manual=manual)


@shared_task
def callbacks_sweep_due_task() -> int:
    return callbacks.callbacks_sweep_due()
