"""The move of deliveries into outbound keeps every row: job callbacks with their attempts,
and usage-alert notifications of both channels with their JSON attempt logs; and going back
restores the old tables."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD = [
    ("outbound", "0001_initial"),
    ("generation", "0003_ratelimit_buckets_by_second"),
    ("billing", "0005_usage_alerts"),
]
NEW = [
    ("outbound", "0002_copy_old_deliveries"),
    ("generation", "0004_remove_old_deliveries"),
    ("billing", "0006_remove_old_deliveries"),
]
SENT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def old_rows(apps: Any) -> dict[str, Any]:
    User = apps.get_model("accounts", "User")
    Job = apps.get_model("generation", "Job")
    CallbackDelivery = apps.get_model("generation", "CallbackDelivery")
    CallbackAttempt = apps.get_model("generation", "CallbackAttempt")
    UsageAlert = apps.get_model("billing", "UsageAlert")
    AlertDelivery = apps.get_model("billing", "AlertDelivery")
    user = User.objects.create(email=f"{uuid.uuid4().hex}@example.com", password="x")
    job = Job.objects.create(user=user, facade="veo3api", prompt="p", state="failed")
    callback = CallbackDelivery.objects.create(
        job=job,
        url="https://hooks.example.com/kie",
        webhook_id="msg_old1",
        task_id="veo_task_1",
        payload={"code": 501},
        body='{"code":501}',
        status="pending",
        attempts=1,
        next_attempt_at=SENT,
        last_status_code=503,
        last_error="HTTP 503",
        created_at=SENT,
    )
    CallbackAttempt.objects.create(
        delivery=callback,
        number=1,
        outcome="failed",
        sent_at=SENT,
        status_code=503,
        latency_ms=12,
        response_excerpt="busy",
        error="HTTP 503",
        request_headers={"webhook-id": "msg_old1"},
    )
    alert = UsageAlert.objects.create(user=user, metric="available_below", threshold=50)
    payload = {"id": "msg_evt1", "data": {"metric": "available_below", "threshold": 50}}
    for channel, destination in (("email", user.email), ("webhook", "https://a.example/x")):
        AlertDelivery.objects.create(
            user=user,
            alert=alert,
            channel=channel,
            event_id="msg_evt1",
            destination=destination,
            payload=payload,
            body="text" if channel == "email" else '{"id":"msg_evt1"}',
            status="delivered",
            attempts=1,
            delivered_at=SENT,
            attempt_log=[
                {
                    "at": SENT.isoformat(),
                    "outcome": "delivered",
                    "status_code": 200 if channel == "webhook" else None,
                    "latency_ms": 5,
                    "error": "",
                }
            ],
        )
    return {"user": user, "job": job, "alert": alert}


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_move_and_the_way_back() -> None:
    try:
        made = old_rows(migrate(OLD))
        apps = migrate(NEW)
        Delivery = apps.get_model("outbound", "Delivery")
        callback = Delivery.objects.get(topic="job_callback")
        assert (callback.reference, callback.destination) == (
            made["job"].pk.hex,
            "https://hooks.example.com/kie",
        )
        assert (callback.webhook_id, callback.signing_id, callback.body) == (
            "msg_old1",
            "veo_task_1",
            '{"code":501}',
        )
        assert (callback.status, callback.attempts, callback.next_attempt_at) == (
            "pending",
            1,
            SENT,
        )
        assert callback.user_id == made["user"].pk and callback.created_at == SENT
        (attempt,) = callback.attempt_log.all()
        assert (attempt.number, attempt.outcome, attempt.status_code, attempt.latency_ms) == (
            1,
            "failed",
            503,
            12,
        )
        assert attempt.request_headers == {"webhook-id": "msg_old1"}
        alerts = {d.channel: d for d in Delivery.objects.filter(topic="usage_alert")}
        assert set(alerts) == {"email", "webhook"}
        for delivery in alerts.values():
            assert delivery.webhook_id == delivery.signing_id == "msg_evt1"
            assert delivery.reference == str(made["alert"].pk)
            assert (delivery.status, delivery.delivered_at) == ("delivered", SENT)
            (logged,) = delivery.attempt_log.all()
            assert (logged.outcome, logged.sent_at) == ("delivered", SENT)
        assert alerts["email"].email_subject == ("veosaas usage alert: available credits below 50")
        assert alerts["webhook"].attempt_log.get().status_code == 200

        apps = migrate(OLD)
        CallbackDelivery = apps.get_model("generation", "CallbackDelivery")
        AlertDelivery = apps.get_model("billing", "AlertDelivery")
        back = CallbackDelivery.objects.get()
        assert (back.job_id, back.webhook_id, back.task_id, back.status) == (
            made["job"].pk,
            "msg_old1",
            "veo_task_1",
            "pending",
        )
        assert back.attempt_log.get().response_excerpt == "busy"
        restored = AlertDelivery.objects.order_by("channel")
        assert [(d.channel, d.alert_id, d.event_id) for d in restored] == [
            ("email", made["alert"].pk, "msg_evt1"),
            ("webhook", made["alert"].pk, "msg_evt1"),
        ]
        assert restored[1].attempt_log[0]["status_code"] == 200
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
