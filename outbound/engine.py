"""The one delivery engine: claim -> sign -> send -> record -> retry, the sweeper.

Flow (ARCHITECTURE §6; RELIABILITY W1-W4; contracts/veo3api.md §8, README A7-A11):

1. `delivery_attempt` makes one attempt: it claims it (a conditional UPDATE that also sets a
   lease, so a redelivered or duplicated message cannot send twice), signs afresh, POSTs
   through the SSRF guard (`netguard.guarded_post`, the topic's timeout setting, redirects
   never followed) or sends the email, and logs an `Attempt`. Any 2xx is delivered; 410
   stops; a blocked destination is logged as blocked and never retried; anything else (3xx
   included) is retried after the topic's schedule[n] seconds (job callbacks: later if the
   receiver's Retry-After asks for more), until the schedule is spent (then failed).
2. `deliveries_sweep_due` (beat) re-enqueues deliveries whose message was lost.
3. A staff re-send (`manual=True`) makes one more attempt with the same webhook-id.

A delivery never changes what it reports on (a job, the ledger).

Signatures, both keyed by the account's secret (`outbound.services.webhook_secret_*`,
`outbound.signing`): kie's `X-Webhook-Timestamp` / `X-Webhook-Signature` over
f"{signing_id}.{timestamp}", and the Standard Webhooks headers over the body.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from outbound import netguard
from outbound.models import Attempt, Delivery
from outbound.services import delivery_send_on_commit, webhook_secret_get_or_create
from outbound.signing import signed_webhook_headers
from outbound.topics import TopicPolicy, policy_for
from veosaas import logcontext, metrics

logger = logging.getLogger(__name__)

# How long a claimed attempt may take before the sweeper may try again (worker died mid-send).
CLAIM_LEASE_SECONDS = 120
# A message may arrive this early (clock differences between processes) and still count.
EARLY_TOLERANCE_SECONDS = 1
# Retry-After is honoured up to this many seconds (longer waits fall under the broker's
# visibility timeout of one hour).
MAX_RETRY_AFTER_SECONDS = 3600
# The sweeper leaves a due delivery this long to its own message first.
SWEEP_GRACE_SECONDS = 30
USER_AGENT = "veosaas-webhooks/1.0"


def webhook_headers(
    *, secret: str, webhook_id: str, signing_id: str, body: str, now: datetime
) -> dict[str, str]:
    """Headers of one attempt: a fresh timestamp and both signatures over it."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_webhook_headers(secret, webhook_id, signing_id, now, body),
    }


@dataclass(frozen=True)
class _Sent:
    outcome: str
    sent_at: datetime
    headers: dict[str, str]
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""
    blocked_reason: str = ""
    retry_after: int | None = None


def _retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:  # not "²"
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int((moment - now).total_seconds()))


def _send_webhook(
    delivery: Delivery, policy: TopicPolicy, secret: str, *, keep_alive: bool = False
) -> _Sent:
    sent_at = timezone.now()
    headers = webhook_headers(
        secret=secret,
        webhook_id=delivery.webhook_id,
        signing_id=delivery.signing_id,
        body=delivery.body,
        now=sent_at,
    )
    logged = {k: v for k, v in headers.items() if k not in ("Content-Type", "User-Agent")}
    try:
        response = netguard.guarded_post(
            delivery.destination,
            body=delivery.body.encode(),
            headers=headers,
            timeout=policy.timeout(),
            excerpt_bytes=policy.excerpt_bytes,
            keep_alive=keep_alive,
        )
    except netguard.BlockedDestination as exc:
        return _Sent(
            outcome=Attempt.Outcome.BLOCKED,
            sent_at=sent_at,
            headers=logged,
            blocked_reason=exc.reason,
            error=str(exc),
        )
    except netguard.FetchError as exc:
        latency = int((timezone.now() - sent_at).total_seconds() * 1000)
        return _Sent(
            outcome=Attempt.Outcome.FAILED,
            sent_at=sent_at,
            headers=logged,
            latency_ms=latency,
            error=str(exc),
        )
    excerpt = response.body.decode("utf-8", errors="replace")
    status = response.status
    if 200 <= status < 300:
        return _Sent(
            outcome=Attempt.Outcome.DELIVERED,
            sent_at=sent_at,
            headers=logged,
            status_code=status,
            latency_ms=response.latency_ms,
            excerpt=excerpt,
        )
    error = f"HTTP {status}"
    if 300 <= status < 400:
        if policy.redirect_target_in_error:
            error += f" (redirect to {response.headers.get('location', '?')!r} not followed)"
        else:
            error += " (redirects are not followed)"
    retry_after = None
    if policy.honour_retry_after:
        retry_after = _retry_after_seconds(response.headers.get("retry-after"), timezone.now())
    return _Sent(
        outcome=Attempt.Outcome.FAILED,
        sent_at=sent_at,
        headers=logged,
        status_code=status,
        latency_ms=response.latency_ms,
        excerpt=excerpt,
        error=error,
        retry_after=retry_after,
    )


def _send_email(delivery: Delivery) -> _Sent:
    sent_at = timezone.now()
    message = EmailMessage(
        subject=delivery.email_subject,
        body=delivery.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.destination],
        headers={"X-Veosaas-Event-Id": delivery.webhook_id},
    )
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        return _Sent(
            outcome=Attempt.Outcome.FAILED,
            sent_at=sent_at,
            headers={},
            error=f"{type(exc).__name__}: {exc}",
        )
    return _Sent(outcome=Attempt.Outcome.DELIVERED, sent_at=sent_at, headers={})


def _claim(delivery_id: int) -> Delivery | None:
    """Take the next automatic attempt of a due, pending delivery; None if not ours to send.

    One conditional UPDATE guarded on the state that was read (status, attempt count, due
    time): of two messages for the same attempt, exactly one changes the row. The new due
    time is a lease, after which the sweeper may try again if this worker dies mid-send.
    """
    now = timezone.now()
    delivery = (
        Delivery.objects.select_related("user")
        .filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    due = delivery.next_attempt_at
    if due is not None and due > now + timedelta(seconds=EARLY_TOLERANCE_SECONDS):
        return None  # a duplicate message, or one that another worker has claimed
    lease = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    claimed = Delivery.objects.filter(
        pk=delivery.pk,
        status=Delivery.Status.PENDING,
        attempts=delivery.attempts,
        next_attempt_at=due,
    ).update(attempts=delivery.attempts + 1, next_attempt_at=lease, updated_at=now)
    if not claimed:
        return None
    delivery.attempts += 1
    delivery.next_attempt_at = lease
    return delivery


def _next_delay(policy: TopicPolicy, attempt: int, sent: _Sent) -> int | None:
    """Seconds until the retry after automatic attempt `attempt`, None when there is none."""
    schedule = policy.retry_schedule()
    if sent.status_code == 410 or attempt > len(schedule):
        return None
    delay = int(schedule[attempt - 1])
    if sent.retry_after is not None:
        delay = max(delay, min(sent.retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _record(delivery: Delivery, sent: _Sent, *, manual: bool, attempt: int | None) -> Attempt:
    """Log the attempt and move the delivery on, in one transaction."""
    policy = policy_for(delivery.topic)
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        number = (locked.attempt_log.aggregate(n=Max("number"))["n"] or 0) + 1
        logged = Attempt.objects.create(
            delivery=locked,
            number=number,
            manual=manual,
            outcome=sent.outcome,
            sent_at=sent.sent_at,
            status_code=sent.status_code,
            latency_ms=sent.latency_ms,
            response_excerpt=sent.excerpt[: policy.excerpt_bytes],
            error=sent.error[:2000],
            blocked_reason=sent.blocked_reason[:2000],
            request_headers=sent.headers,
            request_id=locked.request_id or logcontext.get("request_id"),
        )
        changes: dict[str, Any] = {
            "last_status_code": sent.status_code,
            "last_error": sent.error[:2000],
            "updated_at": timezone.now(),
        }
        if sent.outcome == Attempt.Outcome.DELIVERED:
            changes.update(
                status=Delivery.Status.DELIVERED, next_attempt_at=None, delivered_at=sent.sent_at
            )
        elif manual:
            pass  # a staff re-send that failed leaves the delivery's own schedule alone
        elif locked.status != Delivery.Status.PENDING or locked.attempts != attempt:
            pass  # a staff re-send got through meanwhile, or a newer attempt owns it
        elif sent.outcome == Attempt.Outcome.BLOCKED:
            changes.update(status=Delivery.Status.BLOCKED, next_attempt_at=None)
        else:
            delay = _next_delay(policy, attempt or 0, sent)
            if delay is None:
                changes.update(status=Delivery.Status.FAILED, next_attempt_at=None)
            else:
                changes.update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
                delivery_send_on_commit(locked.pk, countdown=delay)
        Delivery.objects.filter(pk=locked.pk).update(**changes)
        _count_attempt(locked.topic, sent)
    locked.refresh_from_db()
    logged.delivery = locked
    return logged


def _count_attempt(topic: str, sent: _Sent) -> None:
    def count() -> None:
        metrics.deliveries.labels(topic=topic, outcome=sent.outcome).inc()
        if sent.latency_ms is not None:
            metrics.delivery_latency.labels(topic=topic).observe(sent.latency_ms / 1000)

    metrics.count_on_commit(count)


def delivery_attempt(*, delivery_id: int, manual: bool = False) -> Attempt | None:
    """Make one attempt of a delivery; returns the logged attempt (its `delivery` as it is
    afterwards), or None when there was nothing to do.

    Automatic attempts (manual=False) are idempotent per due time: only a pending delivery
    whose next attempt is due is sent, and it is claimed first by a guarded UPDATE, so
    duplicate or redelivered messages send nothing. A manual attempt (staff re-send) is always
    made, whatever the status, with the same webhook-id; if it gets through the delivery
    becomes delivered, otherwise the delivery's status and schedule are unchanged.
    """
    if manual:
        delivery = Delivery.objects.select_related("user").filter(pk=delivery_id).first()
        attempt = None
    else:
        delivery = _claim(delivery_id)
        attempt = delivery.attempts if delivery else None
    if delivery is None:
        return None
    logcontext.bind(request_id=delivery.request_id)
    if delivery.channel == Delivery.Channel.EMAIL:
        sent = _send_email(delivery)
    else:
        owner = delivery.user
        # `owner` was just read from the database, so a set secret is current.
        secret = owner.webhook_secret or webhook_secret_get_or_create(user=owner)
        sent = _send_webhook(delivery, policy_for(delivery.topic), secret)
    if sent.outcome != Attempt.Outcome.DELIVERED:
        logger.warning("delivery %s (%s): %s", delivery.pk, delivery.topic, sent.error)
    else:
        logger.info("delivery %s (%s) delivered", delivery.pk, delivery.topic)
    return _record(delivery, sent, manual=manual, attempt=attempt)


def deliveries_sweep_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Re-enqueue pending deliveries due for over SWEEP_GRACE_SECONDS (message lost, worker
    died while sending); the claim in `delivery_attempt` drops duplicates. Returns how many
    were enqueued."""
    now = now or timezone.now()
    overdue = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in overdue:
        delivery_send_on_commit(pk)
    return len(overdue)
