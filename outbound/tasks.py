"""Celery tasks of outbound, all on the "callbacks" queue (settings CELERY_TASK_ROUTES), so
slow receivers never hold a generation worker. Thin: each calls one engine function.
"""

from __future__ import annotations

from celery import shared_task

from outbound import batch, engine


# The engine claims each attempt under a row lock and a guarded UPDATE, so a redelivered
# message sends nothing twice; automatic attempts are claimed in batches (outbound/batch.py).
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=90, time_limit=120)
def delivery_send_task(
    delivery_id: int, manual: bool = False, others: list[int] | None = None
) -> None:
    if manual:
        engine.delivery_attempt(delivery_id=delivery_id, manual=True)
    else:
        batch.deliveries_attempt_batch(delivery_id=delivery_id, others=others or [])


@shared_task
def deliveries_sweep_task() -> int:
    return engine.deliveries_sweep_due()
