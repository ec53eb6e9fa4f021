"""Sending usage-alert notifications: one `AlertDelivery` per channel per firing.

`alert_delivery_send` makes one attempt (claimed by a guarded UPDATE, so duplicated or
redelivered messages send nothing twice), logs it on the delivery and schedules a retry after
BILLING_ALERT_RETRY_SCHEDULE[n] seconds until the schedule is spent. Webhooks are POSTed
through the SSRF guard (`generation.netguard.guarded_post`, BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS)
and signed like job callbacks (`accounts.signing`: kie's X-Webhook-Signature over
"{event id}.{timestamp}" and the Standard Webhooks headers, with `webhook-id` = the event id on
every attempt). `alert_deliveries_sweep_due` (beat) re-enqueues deliveries whose message was
lost. Nothing here touches the ledger: a failed delivery never changes credits.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import webhook_secret_get_or_create
from accounts.signing import signed_webhook_headers
from billing.models import AlertDelivery, UsageAlert
from generation import netguard

logger = logging.getLogger(__name__)

USER_AGENT = "veosaas-webhooks/1.0"
# How long a claimed attempt may take before the sweeper may try again (worker died mid-send).
CLAIM_LEASE_SECONDS = 120
# A message may arrive this early (clock differences between processes) and still count.
EARLY_TOLERANCE_SECONDS = 1
# The sweeper leaves a due delivery this long to its own message first.
SWEEP_GRACE_SECONDS = 30
RESPONSE_EXCERPT_BYTES = 1024
METRIC_TEXT = {
    UsageAlert.Metric.AVAILABLE_BELOW: "available credits below {threshold}",
    UsageAlert.Metric.USED_TODAY_ABOVE: "credits used today above {threshold}",
}


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


def _base_url() -> str:
    return (settings.PUBLIC_BASE_URL or settings.DEFAULT_BASE_URL).rstrip("/")


def alert_email_subject(payload: dict[str, Any]) -> str:
    data = payload["data"]
    return "veosaas usage alert: " + METRIC_TEXT[data["metric"]].format(threshold=data["threshold"])


def alert_email_text(*, user: User, payload: dict[str, Any]) -> str:
    data = payload["data"]
    what = METRIC_TEXT[data["metric"]].format(threshold=data["threshold"])
    return (
        f"Your veosaas account {user.email} crossed a usage alert.\n\n"
        f"Alert: {what}\n"
        f"Value now: {data['value']} credits\n"
        f"Available credits: {data['available']}\n"
        f"Time: {payload['created_at']} (days count in {data['time_zone']})\n\n"
        f"You are notified once per crossing. Manage alerts: {_base_url()}/dashboard/alerts/\n"
    )


def delivery_send_on_commit(delivery_id: int, *, countdown: int | None = None) -> None:
    """Enqueue one attempt after commit. `robust`: a broker error is logged, the other
    callbacks still run, and the sweeper re-enqueues the delivery later."""
    from billing.tasks import alert_delivery_send_task  # billing.tasks imports this module

    def enqueue() -> None:
        alert_delivery_send_task.apply_async(args=[delivery_id], countdown=countdown)

    transaction.on_commit(enqueue, robust=True)


# ---------------------------------------------------------------------------------------------
# Delivering
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    status: str  # AlertDelivery.Status: delivered, failed or blocked
    error: str = ""
    status_code: int | None = None
    latency_ms: int | None = None
    final: bool = False  # a failure not worth retrying (410 Gone)


def _claim(delivery_id: int, now: datetime) -> AlertDelivery | None:
    """Take the next attempt of a due, pending delivery; None if it is not ours to send.

    One conditional UPDATE guarded on what was read (status, attempts, due time): of two
    messages for one attempt exactly one changes the row. The new due time is a lease after
    which the sweeper may try again if this worker dies mid-send.
    """
    delivery = AlertDelivery.objects.filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING
    ).first()
    if delivery is None:
        return None
    due = delivery.next_attempt_at
    if due is not None and due > now + timedelta(seconds=EARLY_TOLERANCE_SECONDS):
        return None  # a duplicate message, or one that another worker has claimed
    lease = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    claimed = AlertDelivery.objects.filter(
        pk=delivery.pk,
        status=AlertDelivery.Status.PENDING,
        attempts=delivery.attempts,
        next_attempt_at=due,
    ).update(attempts=delivery.attempts + 1, next_attempt_at=lease, updated_at=now)
    if not claimed:
        return None
    delivery.attempts += 1
    delivery.next_attempt_at = lease
    return delivery


def _send_email(delivery: AlertDelivery) -> _Outcome:
    message = EmailMessage(
        subject=alert_email_subject(delivery.payload),
        body=delivery.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.destination],
        headers={"X-Veosaas-Event-Id": delivery.event_id},
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        return _Outcome(status=AlertDelivery.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _Outcome(status=AlertDelivery.Status.DELIVERED)


def _send_webhook(delivery: AlertDelivery, now: datetime) -> _Outcome:
    owner = User.objects.get(pk=delivery.user_id)
    secret = owner.webhook_secret or webhook_secret_get_or_create(user=owner)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # The event id is both the Standard Webhooks message id and the kie HMAC's subject.
        **signed_webhook_headers(secret, delivery.event_id, delivery.event_id, now, delivery.body),
    }
    try:
        response = netguard.guarded_post(
            delivery.destination,
            body=delivery.body.encode(),
            headers=headers,
            timeout=settings.BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS,
            excerpt_bytes=RESPONSE_EXCERPT_BYTES,
        )
    except netguard.BlockedDestination as exc:
        return _Outcome(status=AlertDelivery.Status.BLOCKED, error=str(exc))
    except netguard.FetchError as exc:
        return _Outcome(status=AlertDelivery.Status.FAILED, error=str(exc))
    if 200 <= response.status < 300:
        return _Outcome(
            status=AlertDelivery.Status.DELIVERED,
            status_code=response.status,
            latency_ms=response.latency_ms,
        )
    error = f"HTTP {response.status}"
    if 300 <= response.status < 400:
        error += " (redirects are not followed)"
    return _Outcome(
        status=AlertDelivery.Status.FAILED,
        error=error,
        status_code=response.status,
        latency_ms=response.latency_ms,
        final=response.status == 410,
    )


def _record(delivery: AlertDelivery, outcome: _Outcome, *, sent_at: datetime) -> AlertDelivery:
    """Log the attempt on the delivery and move it on (delivered, retry later, or give up)."""
    schedule = settings.BILLING_ALERT_RETRY_SCHEDULE
    now = timezone.now()
    changes: dict[str, Any] = {
        "attempt_log": [
            *delivery.attempt_log,
            {
                "at": sent_at.isoformat(),
                "outcome": outcome.status,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error[:500],
            },
        ],
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:2000],
        "updated_at": now,
    }
    retry_in: int | None = None
    if outcome.status == AlertDelivery.Status.DELIVERED:
        changes.update(
            status=AlertDelivery.Status.DELIVERED, next_attempt_at=None, delivered_at=sent_at
        )
    elif outcome.status == AlertDelivery.Status.BLOCKED:
        changes.update(status=AlertDelivery.Status.BLOCKED, next_attempt_at=None)
    elif outcome.final or delivery.attempts > len(schedule):
        changes.update(status=AlertDelivery.Status.FAILED, next_attempt_at=None)
    else:
        retry_in = int(schedule[delivery.attempts - 1])
        changes.update(next_attempt_at=now + timedelta(seconds=retry_in))
    with transaction.atomic():
        updated = AlertDelivery.objects.filter(
            pk=delivery.pk,
            status=AlertDelivery.Status.PENDING,
            attempts=delivery.attempts,
        ).update(**changes)
        if updated and retry_in is not None:
            delivery_send_on_commit(delivery.pk, countdown=retry_in)
    delivery.refresh_from_db()
    return delivery


def alert_delivery_send(*, delivery_id: int) -> AlertDelivery | None:
    """Make one attempt of a due, pending delivery; returns it afterwards, or None when there
    was nothing to send (not due, already sent, claimed by another worker).

    Idempotent per due time (see `_claim`). Webhooks: signed afresh with the account's current
    secret, same `webhook-id` on every attempt, POSTed through the SSRF guard with
    BILLING_ALERT_WEBHOOK_TIMEOUT_SECONDS; any 2xx is delivered, a blocked destination is never
    retried, 410 stops, anything else is retried per BILLING_ALERT_RETRY_SCHEDULE.
    """
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    if delivery.channel == AlertDelivery.Channel.EMAIL:
        outcome = _send_email(delivery)
    else:
        outcome = _send_webhook(delivery, now)
    if outcome.status != AlertDelivery.Status.DELIVERED:
        logger.warning(
            "alert delivery %s attempt %s: %s", delivery.pk, delivery.attempts, outcome.error
        )
    return _record(delivery, outcome, sent_at=now)


def alert_deliveries_sweep_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-enqueue pending deliveries due for over SWEEP_GRACE_SECONDS (message lost, worker
    died while sending). The claim in `alert_delivery_send` drops duplicates. Returns how many
    were enqueued."""
    from billing.tasks import alert_delivery_send_task

    now = now or timezone.now()
    overdue = list(
        AlertDelivery.objects.filter(
            status=AlertDelivery.Status.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in overdue:
        alert_delivery_send_task.delay(pk)
    return len(overdue)
