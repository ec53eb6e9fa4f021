"""Batched webhook attempts: what a callbacks worker runs for each delivery message.

A burst of finished jobs enqueues a burst of deliveries. Sending each on its own costs two
durable commits (the claim, then the attempt log) and half a dozen statements per delivery,
several times what the POST itself costs. Deliveries that one transaction enqueues share their
messages (`services.delivery_send_on_commit`, SEND_GROUP per message), and
`deliveries_attempt_batch` claims a message's deliveries, topped up to BATCH_SIZE with other due
webhook deliveries, in one transaction (`SELECT ... FOR UPDATE SKIP LOCKED`, then one guarded
UPDATE setting the lease), sends them one after the other through the SSRF guard on this
thread's kept-alive connections (one per host, `netguard.guarded_post(keep_alive=True)`), and
logs every attempt and moves every delivery on in one more transaction (one INSERT of the
attempts, one UPDATE of all the deliveries), with one log line per batch (and one per failed
attempt). The other deliveries' own messages then find them claimed and do nothing (one read).

Exactly once per attempt, as `engine.delivery_attempt`: a delivery is sent only by the
transaction that claimed it (its row lock, then the lease it set), and its attempt is logged
by the same worker. A batch stops taking on new sends after BATCH_BUDGET_SECONDS (a slow
receiver must not hold the others past their lease); the deliveries it did not send are handed
back (due again, their attempt count restored) and re-enqueued.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Case, F, Field, IntegerField, Max, Q, Value, When
from django.utils import timezone

from outbound.engine import (
    CLAIM_LEASE_SECONDS,
    EARLY_TOLERANCE_SECONDS,
    _next_delay,
    _send_webhook,
    _Sent,
    delivery_attempt,
)
from outbound.models import Attempt, Delivery
from outbound.services import delivery_send_on_commit, webhook_secret_get_or_create
from outbound.topics import policy_for
from veosaas import logcontext, metrics

logger = logging.getLogger(__name__)

BATCH_SIZE = 32
BATCH_BUDGET_SECONDS = 5.0
_UPDATED_FIELDS = [
    "status",
    "next_attempt_at",
    "delivered_at",
    "last_status_code",
    "last_error",
    "updated_at",
]


# What a batch reads of a claimed delivery and its owner (not the payload's JSON, not the
# owner's other columns: building them costs more than the rest of the claim).
_CLAIMED_FIELDS = [
    "topic",
    "reference",
    "user",
    "destination",
    "webhook_id",
    "signing_id",
    "request_id",
    "body",
    "attempts",
    *_UPDATED_FIELDS,
    "user__webhook_secret",
]


def _due() -> Q:
    due_by = timezone.now() + timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=due_by)


def _claim_batch(ids: list[int], limit: int) -> list[Delivery]:
    """The message's deliveries (`ids`) and other due webhook deliveries, at most `limit`
    (or all of `ids`), claimed (attempts + 1, lease set) in one transaction; [] when none of
    the message's own is due, pending and free (another worker holds it): nothing is claimed
    then."""
    pending = Delivery.objects.filter(_due(), status=Delivery.Status.PENDING)
    now = timezone.now()
    lease = now + timedelta(seconds=CLAIM_LEASE_SECONDS)
    with transaction.atomic():
        first = Case(When(pk__in=ids, then=Value(0)), default=Value(1), output_field=IntegerField())
        rows = list(
            pending.filter(channel=Delivery.Channel.WEBHOOK)
            .select_related("user")
            .only(*_CLAIMED_FIELDS)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by(first, "next_attempt_at", "pk")[: max(limit, len(ids))]
        )
        if not rows or rows[0].pk not in ids:
            return []
        Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
            attempts=F("attempts") + 1, next_attempt_at=lease, updated_at=now
        )
    for delivery in rows:
        delivery.attempts += 1
        delivery.next_attempt_at = lease
    return rows


def _release(deliveries: list[Delivery]) -> None:
    """Hand back claimed deliveries that were not sent: due now, attempt count restored (each
    only if still as this worker claimed it), and enqueued again."""
    with transaction.atomic():
        for delivery in deliveries:
            handed = Delivery.objects.filter(
                pk=delivery.pk,
                status=Delivery.Status.PENDING,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
            ).update(attempts=F("attempts") - 1, next_attempt_at=timezone.now())
            if handed:
                delivery_send_on_commit(delivery.pk)


def _changes(locked: Delivery, sent: _Sent, attempt: int) -> dict[str, Any]:
    """What an automatic attempt's outcome does to its delivery (as `engine._record`)."""
    changes: dict[str, Any] = {
        "last_status_code": sent.status_code,
        "last_error": sent.error[:2000],
        "updated_at": timezone.now(),
    }
    if sent.outcome == Attempt.Outcome.DELIVERED:
        changes.update(
            status=Delivery.Status.DELIVERED, next_attempt_at=None, delivered_at=sent.sent_at
        )
    elif locked.status != Delivery.Status.PENDING or locked.attempts != attempt:
        pass  # a staff re-send got through meanwhile, or a newer attempt owns it
    elif sent.outcome == Attempt.Outcome.BLOCKED:
        changes.update(status=Delivery.Status.BLOCKED, next_attempt_at=None)
    else:
        delay = _next_delay(policy_for(locked.topic), attempt, sent)
        if delay is None:
            changes.update(status=Delivery.Status.FAILED, next_attempt_at=None)
        else:
            changes.update(next_attempt_at=timezone.now() + timedelta(seconds=delay))
            delivery_send_on_commit(locked.pk, countdown=delay)
    return changes


def _record_batch(results: list[tuple[Delivery, _Sent]]) -> list[Attempt]:
    """Log every attempt and move every delivery on, in one transaction of four statements
    whatever the batch's size: the deliveries' locked state, their attempt numbers, one
    INSERT of the attempts and one UPDATE of the deliveries (`_update_deliveries`)."""
    ids = [delivery.pk for delivery, _ in results]
    with transaction.atomic():
        locked = {
            pk: (status, attempts)
            for pk, status, attempts in Delivery.objects.select_for_update()
            .filter(pk__in=ids)
            .values_list("pk", "status", "attempts")
        }
        numbers = dict(
            Attempt.objects.filter(delivery_id__in=ids)
            .values("delivery_id")
            .annotate(n=Max("number"))
            .values_list("delivery_id", "n")
        )
        attempts = []
        for delivery, sent in results:
            status, attempt = locked[delivery.pk]
            policy = policy_for(delivery.topic)
            attempts.append(
                Attempt(
                    delivery=delivery,
                    number=(numbers.get(delivery.pk) or 0) + 1,
                    manual=False,
                    outcome=sent.outcome,
                    sent_at=sent.sent_at,
                    status_code=sent.status_code,
                    latency_ms=sent.latency_ms,
                    response_excerpt=sent.excerpt[: policy.excerpt_bytes],
                    error=sent.error[:2000],
                    blocked_reason=sent.blocked_reason[:2000],
                    request_headers=sent.headers,
                    request_id=delivery.request_id or logcontext.get("request_id"),
                )
            )
            claimed = delivery.attempts
            # As the row is now (a staff re-send may have moved it on since the claim).
            delivery.status, delivery.attempts = status, attempt
            for name, value in _changes(delivery, sent, claimed).items():
                setattr(delivery, name, value)
        Attempt.objects.bulk_create(attempts)
        _update_deliveries([delivery for delivery, _ in results])
        _count_attempts([(delivery.topic, sent) for delivery, sent in results])
    return attempts


def _update_deliveries(rows: list[Delivery]) -> None:
    """Write `_UPDATED_FIELDS` of every row in one statement: an UPDATE ... FROM (VALUES ...)
    on PostgreSQL, one executemany elsewhere (building an ORM UPDATE per row, or a CASE per
    column, costs more than the statements themselves)."""
    quote = connection.ops.quote_name
    table = quote(Delivery._meta.db_table)
    fields = [cast("Field[Any, Any]", Delivery._meta.get_field(name)) for name in _UPDATED_FIELDS]
    columns = [quote(cast(str, f.column)) for f in fields]
    values = [
        [*(f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields), row.pk]
        for row in rows
    ]
    if connection.vendor == "postgresql":
        types = [f.db_type(connection) for f in fields] + ["bigint"]
        row_sql = "(" + ", ".join(f"%s::{db_type}" for db_type in types) + ")"
        sql = (
            f"UPDATE {table} SET {', '.join(f'{c} = v.{c}' for c in columns)} "  # noqa: S608 - names are the model's
            f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({', '.join(columns)}, id) "
            f"WHERE {table}.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [param for row in values for param in row])
        return
    assignments = ", ".join(f"{c} = %s" for c in columns)
    sql = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608 - names are the model's
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _count_attempts(outcomes: list[tuple[str, _Sent]]) -> None:
    """The batch's attempts in the metrics, once its transaction commits (one callback)."""

    def count() -> None:
        for topic, sent in outcomes:
            metrics.deliveries.labels(topic=topic, outcome=sent.outcome).inc()
            if sent.latency_ms is not None:
                metrics.delivery_latency.labels(topic=topic).observe(sent.latency_ms / 1000)

    metrics.count_on_commit(count)


def deliveries_attempt_batch(
    *, delivery_id: int, others: list[int] | tuple[int, ...] = (), limit: int = BATCH_SIZE
) -> list[Attempt]:
    """Make the automatic attempts of the message's deliveries (`delivery_id` and `others`,
    enqueued together by one transaction), and of other due webhook deliveries (see the
    module doc); returns the logged attempts ([] when there was nothing to do)."""
    ids = [delivery_id, *others]
    heads = Delivery.objects.filter(pk__in=ids).values_list(
        "pk", "channel", "status", "next_attempt_at"
    )
    early = timezone.now() + timedelta(seconds=EARLY_TOLERANCE_SECONDS)
    due = []
    for pk, channel, status, due_at in heads:
        if channel != Delivery.Channel.WEBHOOK:
            delivery_attempt(delivery_id=pk)  # an email: on its own, as always
        elif status == Delivery.Status.PENDING and (due_at is None or due_at <= early):
            due.append(pk)
    if not due:
        return []  # duplicate messages, or deliveries that a batch has already claimed
    claimed = _claim_batch(due, limit)
    results: list[tuple[Delivery, _Sent]] = []
    started = time.monotonic()
    outer = logcontext.snapshot()  # the message's own ids, for the batch's summary line
    for index, delivery in enumerate(claimed):
        if index and time.monotonic() - started > BATCH_BUDGET_SECONDS:
            _release(claimed[index:])
            break
        _delivery_context(delivery)
        owner = delivery.user
        secret = owner.webhook_secret or webhook_secret_get_or_create(user=owner)
        sent = _send_webhook(delivery, policy_for(delivery.topic), secret, keep_alive=True)
        if sent.outcome == Attempt.Outcome.DELIVERED:
            # One line per delivery, under its own ids: one request id finds its whole job.
            logger.info(
                "delivery %s (%s) delivered: HTTP %s", delivery.pk, delivery.topic, sent.status_code
            )
        else:
            logger.warning("delivery %s (%s): %s", delivery.pk, delivery.topic, sent.error)
        results.append((delivery, sent))
    logcontext.reset(**outer)
    if not results:
        return []
    attempts = _record_batch(results)
    # Each delivery has its own line above (under its own ids); this one sums up the message.
    delivered = sum(1 for a in attempts if a.outcome == Attempt.Outcome.DELIVERED)
    logger.info("deliveries batch: %d sent, %d delivered", len(attempts), delivered)
    return attempts


def _delivery_context(delivery: Delivery) -> None:
    """Log a delivery under its own ids: a batch carries other jobs' deliveries than the one
    whose message started it, and one request id must find only its own job's lines."""
    job_id = ""
    if delivery.topic == Delivery.Topic.JOB_CALLBACK:
        try:
            job_id = str(uuid.UUID(delivery.reference))
        except ValueError:
            job_id = ""
    logcontext.reset(request_id=delivery.request_id, account_id=delivery.user_id, job_id=job_id)
