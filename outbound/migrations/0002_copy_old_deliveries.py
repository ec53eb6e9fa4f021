"""Copy every job callback (generation.CallbackDelivery/CallbackAttempt) and every usage-alert
notification (billing.AlertDelivery, both channels, its JSON attempt log as Attempt rows) into
outbound's tables. Reversible: going back copies outbound's rows into the old tables (which
the reversed removal migrations have recreated by then).

Ids are new (the tables merge); Celery messages naming an old id are lost either way (their
task names are gone), and the sweeper re-enqueues every pending delivery.
"""

import uuid
from datetime import datetime

from django.db import migrations

BATCH = 500
# billing/alert_delivery.py's texts as of this migration (the email subject used to be made
# at send time; outbound stores it with the delivery).
METRIC_TEXT = {
    "available_below": "available credits below {threshold}",
    "used_today_above": "credits used today above {threshold}",
}


def _email_subject(payload):
    data = (payload or {}).get("data") or {}
    text = METRIC_TEXT.get(data.get("metric"), "{threshold}")
    return "veosaas usage alert: " + text.format(threshold=data.get("threshold"))


def _keep_updated_at(model):
    """Historical models still have auto_now: switch it off so copies keep their times."""
    model._meta.get_field("updated_at").auto_now = False


def _copy_callbacks(apps):
    CallbackDelivery = apps.get_model("generation", "CallbackDelivery")
    CallbackAttempt = apps.get_model("generation", "CallbackAttempt")
    Delivery = apps.get_model("outbound", "Delivery")
    Attempt = apps.get_model("outbound", "Attempt")
    old = CallbackDelivery.objects.select_related("job").order_by("pk")
    for start in range(0, old.count(), BATCH):
        rows = list(old[start : start + BATCH])
        for row in rows:
            new = Delivery.objects.create(
                topic="job_callback",
                channel="webhook",
                user_id=row.job.user_id,
                reference=uuid.UUID(str(row.job_id)).hex,
                destination=row.url,
                webhook_id=row.webhook_id,
                signing_id=row.task_id,
                payload=row.payload,
                body=row.body,
                status=row.status,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                last_status_code=row.last_status_code,
                last_error=row.last_error,
                delivered_at=row.delivered_at,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            Attempt.objects.bulk_create(
                Attempt(
                    delivery=new,
                    number=a.number,
                    manual=a.manual,
                    outcome=a.outcome,
                    sent_at=a.sent_at,
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    response_excerpt=a.response_excerpt,
                    error=a.error,
                    blocked_reason=a.blocked_reason,
                    request_headers=a.request_headers,
                )
                for a in CallbackAttempt.objects.filter(delivery_id=row.pk).order_by("number")
            )


def _copy_alerts(apps):
    AlertDelivery = apps.get_model("billing", "AlertDelivery")
    Delivery = apps.get_model("outbound", "Delivery")
    Attempt = apps.get_model("outbound", "Attempt")
    old = AlertDelivery.objects.order_by("pk")
    for start in range(0, old.count(), BATCH):
        for row in list(old[start : start + BATCH]):
            new = Delivery.objects.create(
                topic="usage_alert",
                channel=row.channel,
                user_id=row.user_id,
                reference=str(row.alert_id) if row.alert_id is not None else "",
                destination=row.destination,
                webhook_id=row.event_id,
                signing_id=row.event_id,
                email_subject=_email_subject(row.payload) if row.channel == "email" else "",
                payload=row.payload,
                body=row.body,
                status=row.status,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                last_status_code=row.last_status_code,
                last_error=row.last_error,
                delivered_at=row.delivered_at,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            Attempt.objects.bulk_create(
                Attempt(
                    delivery=new,
                    number=number,
                    outcome=entry.get("outcome") or "failed",
                    sent_at=datetime.fromisoformat(entry["at"]) if entry.get("at") else row.created_at,
                    status_code=entry.get("status_code"),
                    latency_ms=entry.get("latency_ms"),
                    error=entry.get("error") or "",
                )
                for number, entry in enumerate(row.attempt_log or [], start=1)
            )


def forwards(apps, schema_editor):
    _keep_updated_at(apps.get_model("outbound", "Delivery"))
    _copy_callbacks(apps)
    _copy_alerts(apps)


def backwards(apps, schema_editor):
    CallbackDelivery = apps.get_model("generation", "CallbackDelivery")
    CallbackAttempt = apps.get_model("generation", "CallbackAttempt")
    AlertDelivery = apps.get_model("billing", "AlertDelivery")
    UsageAlert = apps.get_model("billing", "UsageAlert")
    Delivery = apps.get_model("outbound", "Delivery")
    _keep_updated_at(CallbackDelivery)
    _keep_updated_at(AlertDelivery)
    common = (
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "updated_at",
        "payload",
        "body",
    )
    rows = Delivery.objects.order_by("pk").prefetch_related("attempt_log")
    for row in rows.iterator(chunk_size=BATCH):
        values = {name: getattr(row, name) for name in common}
        attempts = sorted(row.attempt_log.all(), key=lambda a: a.number)
        if row.topic == "job_callback":
            old = CallbackDelivery.objects.create(
                job_id=uuid.UUID(hex=row.reference),
                url=row.destination,
                webhook_id=row.webhook_id,
                task_id=row.signing_id,
                **values,
            )
            CallbackAttempt.objects.bulk_create(
                CallbackAttempt(
                    delivery=old,
                    number=a.number,
                    manual=a.manual,
                    outcome=a.outcome,
                    sent_at=a.sent_at,
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    response_excerpt=a.response_excerpt,
                    error=a.error,
                    blocked_reason=a.blocked_reason,
                    request_headers=a.request_headers,
                )
                for a in attempts
            )
        else:
            alert_id = int(row.reference) if row.reference.isdigit() else None
            if alert_id is not None and not UsageAlert.objects.filter(pk=alert_id).exists():
                alert_id = None
            AlertDelivery.objects.create(
                user_id=row.user_id,
                alert_id=alert_id,
                channel=row.channel,
                event_id=row.webhook_id,
                destination=row.destination,
                attempt_log=[
                    {
                        "at": a.sent_at.isoformat(),
                        "outcome": a.outcome,
                        "status_code": a.status_code,
                        "latency_ms": a.latency_ms,
                        "error": a.error[:500],
                    }
                    for a in attempts
                ],
                **values,
            )
    # outbound's tables stay (0001 is still applied): the rows now live in the old ones.
    Delivery.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outbound", "0001_initial"),
        # The old tables, as they were last shaped.
        ("generation", "0003_ratelimit_buckets_by_second"),
        ("billing", "0005_usage_alerts"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
