"""Billing tasks. Thin: each loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from billing import alerts
from billing.services import holds_expire_stale


@shared_task
def holds_expire_stale_task() -> int:
    """Release holds past their TTL (a backstop; job failures release their own holds)."""
    return holds_expire_stale()


# Enqueued after commit by ledger writes of accounts with usage alerts (billing.services).
# Idempotent: firing is a guarded UPDATE, so duplicates and redeliveries fire nothing twice.
@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=60, time_limit=90)
def alerts_evaluate_task(user_id: int) -> list[int]:
    return alerts.alerts_evaluate(user_id=user_id).fired
