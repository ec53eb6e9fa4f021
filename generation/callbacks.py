"""Customer callbacks: one signed POST per finished job, retried, logged, re-sendable.

Flow (ARCHITECTURE §6; RELIABILITY W1-W4; contracts/veo3api.md §8, README A7-A11):

1. `callback_schedule_for_job` runs after the commit that ended a job (settings
   GENERATION_TERMINAL_HOOKS). A job with a callback URL gets one `CallbackDelivery`: the
   facade's body (kie shape for veo3api jobs, the status envelope for veo3o1 jobs; codefast
   has no callbacks), rendered once and stored, and a `webhook-id` (`msg_<uuid hex>`) that
   every attempt repeats. The delivery task is enqueued on the "callbacks" queue.
2. `callback_deliver` makes one attempt: claims it (a conditional UPDATE that also sets a
   lease, so a redelivered or duplicated message cannot send twice), signs afresh, POSTs it through
   the SSRF guard (`netguard.guarded_post`, GENERATION_CALLBACK_TIMEOUT_SECONDS, redirects
   never followed), and logs a `CallbackAttempt`. Any 2xx is delivered; 410 stops; a blocked
   destination is logged as blocked and never retried; anything else (3xx included) is
   retried after GENERATION_CALLBACK_RETRY_SCHEDULE[n] seconds, or later if the receiver's
   Retry-After asks for more, until the schedule is spent (then failed).
3. `callbacks_sweep_due` (beat) re-enqueues deliveries whose message was lost and schedules
   deliveries that a crash kept from being created, so nothing is lost.
4. `callback_resend` (staff, admin action) makes one more attempt with the same webhook-id.

A delivery never changes its job: the job's outcome is final before the callback exists.

Signatures, both keyed by the account's secret (`accounts.services.webhook_secret_*`):
- kie (https://docs.kie.ai/common-api/webhook-verification): `X-Webhook-Timestamp` (unix
  seconds) and `X-Webhook-Signature` = base64(HMAC-SHA256(key = the secret string as UTF-8,
  message = f"{taskId}.{timestamp}")); veo3o1 jobs sign their uuid as the task id;
- Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature` = "v1,<base64>"
  over f"{id}.{timestamp}.{body}" with the base64-decoded `whsec_` secret, verifiable with
  `standardwebhooks.Webhook(secret).verify(body, headers)`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.services import webhook_secret_get_or_create
from accounts.signing import signed_webhook_headers
from generation import netguard
from generation.models import CallbackAttempt, CallbackDelivery, Job

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
# How far back the sweeper looks for finished jobs whose delivery was never created.
SWEEP_LOOKBACK = timedelta(days=2)
RESPONSE_EXCERPT_BYTES = 2048
USER_AGENT = "veosaas-webhooks/1.0"


# ---------------------------------------------------------------------------------------------
# Bodies and signatures
# ---------------------------------------------------------------------------------------------


def callback_render(job: Job) -> tuple[str, dict[str, Any]] | None:
    """(task id the kie HMAC signs, body) for a finished job, or None if its facade sends no
    callbacks (codefast)."""
    if job.facade == Job.Facade.CODEFAST:
        return None
    if job.facade == Job.Facade.VEO3O1:
        from generation.facades.veo3o1 import status_data

        return str(job.id), {"code": 0, "msg": "Success", "data": status_data(job, None)}
    from generation.facades.veo3api_shapes import callback_body

    return job.task_id, callback_body(job)


def callback_headers(
    *, secret: str, webhook_id: str, task_id: str, body: str, now: datetime
) -> dict[str, str]:
    """Headers of one attempt: a fresh timestamp and both signatures over it
    (accounts.signing: kie's HMAC of the taskId, Standard Webhooks over the body)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_webhook_headers(secret, webhook_id, task_id, now, body),
    }


# ---------------------------------------------------------------------------------------------
# Scheduling
# ---------------------------------------------------------------------------------------------


def _enqueue(delivery_id: int, *, countdown: float | None = None, manual: bool = False) -> None:
    from generation.tasks import callback_deliver_task

    kwargs = {"manual": True} if manual else {}
    callback_deliver_task.apply_async_on_commit(
        args=[delivery_id], kwargs=kwargs, countdown=countdown
    )


def callback_schedule(*, job_id: uuid.UUID) -> CallbackDelivery | None:
    """Create the delivery of a finished job's callback and enqueue its first attempt.

    Idempotent: one delivery per (job, url); a second call returns the first and enqueues
    nothing. Returns None for a job without a callback URL, one not finished, or a facade
    without callbacks.
    """
    job = Job.objects.select_related("user").filter(pk=job_id).first()
    if job is None or not job.is_terminal or not job.callback_url:
        return None
    rendered = callback_render(job)
    if rendered is None:
        return None
    task_id, payload = rendered
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    with transaction.atomic():
        delivery, created = CallbackDelivery.objects.get_or_create(
            job=job,
            url=job.callback_url,
            defaults={
                "webhook_id": f"msg_{uuid.uuid4().hex}",
                "task_id": task_id,
                "payload": payload,
                "body": body,
                "next_attempt_at": timezone.now(),
            },
        )
        if created:
            _enqueue(delivery.pk)
    return delivery


def callback_schedule_for_job(*, job_id: uuid.UUID) -> None:
    """GENERATION_TERMINAL_HOOKS entry, run after the job's final commit.

    Never raises: the job has already ended and must not be affected; a delivery that could
    not be created here is created by `callbacks_sweep_due`.
    """
    try:
        callback_schedule(job_id=job_id)
    except Exception:
        logger.exception("could not schedule the callback of job %s", job_id)


# ---------------------------------------------------------------------------------------------
# Delivering
# ---------------------------------------------------------------------------------------------


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
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int((moment - now).total_seconds()))


def _send(delivery: CallbackDelivery, secret: str) -> _Sent:
    sent_at = timezone.now()
    headers = callback_headers(
        secret=secret,
        webhook_id=delivery.webhook_id,
        task_id=delivery.task_id,
        body=delivery.body,
        now=sent_at,
    )
    logged = {k: v for k, v in headers.items() if k not in ("Content-Type", "User-Agent")}
    try:
        response = netguard.guarded_post(
            delivery.url,
            body=delivery.body.encode(),
            headers=headers,
            timeout=settings.GENERATION_CALLBACK_TIMEOUT_SECONDS,
            excerpt_bytes=RESPONSE_EXCERPT_BYTES,
        )
    except netguard.BlockedDestination as exc:
        return _Sent(
            outcome=CallbackAttempt.Outcome.BLOCKED,
            sent_at=sent_at,
            headers=logged,
            blocked_reason=exc.reason,
            error=str(exc),
        )
    except netguard.FetchError as exc:
        latency = int((timezone.now() - sent_at).total_seconds() * 1000)
        return _Sent(
            outcome=CallbackAttempt.Outcome.FAILED,
            sent_at=sent_at,
            headers=logged,
            latency_ms=latency,
            error=str(exc),
        )
    excerpt = response.body.decode("utf-8", errors="replace")
    status = response.status
    if 200 <= status < 300:
        return _Sent(
            outcome=CallbackAttempt.Outcome.DELIVERED,
            sent_at=sent_at,
            headers=logged,
            status_code=status,
            latency_ms=response.latency_ms,
            excerpt=excerpt,
        )
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += f" (redirect to {response.headers.get('location', '?')!r} not followed)"
    return _Sent(
        outcome=CallbackAttempt.Outcome.FAILED,
        sent_at=sent_at,
        headers=logged,
        status_code=status,
        latency_ms=response.latency_ms,
        excerpt=excerpt,
        error=error,
        retry_after=_retry_after_seconds(response.headers.get("retry-after"), timezone.now()),
    )


def _claim(delivery_id: int) -> CallbackDelivery | None:
    """Take the next automatic attempt of a due, pending delivery; None if not ours to send.

    One conditional UPDATE guarded on the state that was read (status, attempt count, due
    time): of two messages for the same attempt, exactly one changes the row. The new due
    time is a lease, after which the sweeper may try again if this worker dies mid-send.
    """
    now = timezone.now()
    delivery = (
        CallbackDelivery.objects.select_related("job__user")
        .filter(pk=delivery_id, status=CallbackDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    due = delivery.next_attempt_at
    if due is not None and due > now + timedelta(seconds=EARLY_TOLERANCE_SECONDS):
        return None  # a duplicate message, or one that another worker has claimed
    lease = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    claimed = CallbackDelivery.objects.filter(
        pk=delivery.pk,
        status=CallbackDelivery.Status.PENDING,
        attempts=delivery.attempts,
        next_attempt_at=due,
    ).update(attempts=delivery.attempts + 1, next_attempt_at=lease)
    if not claimed:
        return None
    delivery.attempts += 1
    delivery.next_attempt_at = lease
    return delivery


def _next_delay(attempt: int, sent: _Sent) -> int | None:
    """Seconds until the retry after automatic attempt `attempt`, None when there is none."""
    schedule = settings.GENERATION_CALLBACK_RETRY_SCHEDULE
    if sent.status_code == 410 or attempt > len(schedule):
        return None
    delay = int(schedule[attempt - 1])
    if sent.retry_after is not None:
        delay = max(delay, min(sent.retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def _record(
    delivery: CallbackDelivery, sent: _Sent, *, manual: bool, attempt: int | None
) -> CallbackAttempt:
    """Log the attempt and move the delivery on, in one transaction."""
    with transaction.atomic():
        locked = CallbackDelivery.objects.select_for_update().get(pk=delivery.pk)
        number = (locked.attempt_log.aggregate(n=Max("number"))["n"] or 0) + 1
        logged = CallbackAttempt.objects.create(
            delivery=locked,
            number=number,
            manual=manual,
            outcome=sent.outcome,
            sent_at=sent.sent_at,
            status_code=sent.status_code,
            latency_ms=sent.latency_ms,
            response_excerpt=sent.excerpt[:RESPONSE_EXCERPT_BYTES],
            error=sent.error[:2000],
            blocked_reason=sent.blocked_reason[:2000],
            request_headers=sent.headers,
        )
        changes: dict[str, Any] = {
            "last_status_code": sent.status_code,
            "last_error": sent.error[:2000],
        }
        if sent.outcome == CallbackAttempt.Outcome.DELIVERED:
            changes.update(
                status=CallbackDelivery.Status.DELIVERED,
                next_attempt_at=None,
                delivered_at=sent.sent_at,
            )
        elif manual:
            pass  # a staff re-send that failed leaves the delivery's own schedule alone
        elif locked.status != CallbackDelivery.Status.PENDING or locked.attempts != attempt:
            pass  # a staff re-send got through meanwhile, or a newer attempt owns it
        elif sent.outcome == CallbackAttempt.Outcome.BLOCKED:
            changes.update(status=CallbackDelivery.Status.BLOCKED, next_attempt_at=None)
        else:
            delay = _next_delay(attempt or 0, sent)
            if delay is None:
                changes.update(status=CallbackDelivery.Status.FAILED, next_attempt_at=None)
            else:
                changes.update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
                _enqueue(locked.pk, countdown=delay)
        CallbackDelivery.objects.filter(pk=locked.pk).update(**changes)
    return logged


def callback_deliver(*, delivery_id: int, manual: bool = False) -> CallbackAttempt | None:
    """Make one attempt to deliver a callback; returns the logged attempt, or None when
    there was nothing to do.

    Automatic attempts (manual=False) are idempotent per due time: only a pending delivery
    whose next attempt is due is sent, and it is claimed first by a guarded UPDATE, so
    duplicate or redelivered messages send nothing. A manual attempt (staff re-send) is always made,
    whatever the status, with the same webhook-id; if it gets a 2xx the delivery becomes
    delivered, otherwise the delivery's status and schedule are unchanged.
    """
    if manual:
        delivery = (
            CallbackDelivery.objects.select_related("job__user").filter(pk=delivery_id).first()
        )
        attempt = None
    else:
        delivery = _claim(delivery_id)
        attempt = delivery.attempts if delivery else None
    if delivery is None:
        return None
    owner = delivery.job.user
    # `owner` was just read from the database, so a set secret is current.
    secret = owner.webhook_secret or webhook_secret_get_or_create(user=owner)
    sent = _send(delivery, secret)
    return _record(delivery, sent, manual=manual, attempt=attempt)


def callback_resend(*, delivery_id: int) -> None:
    """Queue one more attempt of a delivery, by staff (same webhook-id, fresh signature)."""
    _enqueue(delivery_id, manual=True)


def callbacks_sweep_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Recover callbacks whose message or delivery was lost. Returns how many were queued.

    - pending deliveries due for over SWEEP_GRACE_SECONDS (message lost, worker died while
      sending): enqueued again; the claim in `callback_deliver` drops duplicates;
    - finished jobs of the last two days with a callback URL but no delivery (the process
      died between the job's commit and `callback_schedule`): scheduled.
    """
    now = now or timezone.now()
    overdue = list(
        CallbackDelivery.objects.filter(
            status=CallbackDelivery.Status.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in overdue:
        _enqueue(pk)
    orphans = list(
        Job.objects.filter(
            state__in=Job.TERMINAL_STATES,
            created_at__gte=now - SWEEP_LOOKBACK,
            completed_at__lte=now - timedelta(seconds=SWEEP_GRACE_SECONDS),
            callback_deliveries__isnull=True,
        )
        .exclude(callback_url="")
        .exclude(facade=Job.Facade.CODEFAST)
        .values_list("pk", flat=True)[:limit]
    )
    scheduled = sum(1 for pk in orphans if callback_schedule(job_id=pk) is not None)
    return len(overdue) + scheduled
