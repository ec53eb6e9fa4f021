"""Usage alerts: once per crossing by email and signed webhook, re-armed when the value goes
back, exactly once under concurrency, never in the request, never touching credits; the
hot path stays free for accounts without alerts; the API and the dashboard page.

Webhooks go to a real HTTP receiver on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE_NETWORKS=True) and are
verified with the `standardwebhooks` library and an independent kie HMAC. Tasks run in this
process: captured on-commit callbacks are executed with Celery's eager mode (tests only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import api_key_create
from billing.alerts import (
    alert_create,
    alert_update,
    alerts_evaluate,
)
from billing.models import LedgerAccount, Transfer, UsageAlert
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import credits_capture, credits_grant, credits_hold
from outbound.engine import deliveries_sweep_due, delivery_attempt
from outbound.models import Delivery
from outbound.services import account_callback_url_set
from tests.conftest import run_in_threads
from tests.factories import UserFactory
from veosaas.celery import app as celery_app

ALERTS = "/api/v1/account/alerts"
CALLBACK_URL = "/api/v1/account/callback-url"
PUBLIC_IP = "93.184.216.34"


# ---------------------------------------------------------------------------------------------
# A webhook receiver on 127.0.0.1
# ---------------------------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])  # popped per hit; last repeats

    def url(self, path: str = "/alerts") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Hit]:
        deadline = time.monotonic() + timeout
        while len(self.hits) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.hits


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.hits.append(Hit(self.path, dict(self.headers.items()), body))
                status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(server=server)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks enqueued by executed on-commit callbacks run here (the worker's code path)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def effects(django_capture_on_commit_callbacks: Any, eager_celery: None) -> Callable[..., Any]:
    """Run a write and then its after-commit effects (evaluation task, delivery tasks)."""

    def run(write: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    return run


def secret_of(user: Any) -> str:
    return User.objects.get(pk=user.pk).webhook_secret


def verify(hit: Hit, secret: str) -> Any:
    """Both signatures, checked independently of our signing code; returns the body."""
    headers = {k.lower(): v for k, v in hit.headers.items()}
    timestamp = headers["x-webhook-timestamp"]
    expected = base64.b64encode(
        hmac.new(
            secret.encode(),
            f"{headers['webhook-id']}.{timestamp}".encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected)
    assert headers["webhook-timestamp"] == timestamp
    assert headers["content-type"] == "application/json"
    return standardwebhooks.Webhook(secret).verify(hit.body, headers)


def alert_delivery_send(*, delivery_id: int) -> Delivery | None:
    """One attempt through outbound's engine; the delivery afterwards, None if nothing was sent."""
    attempt = delivery_attempt(delivery_id=delivery_id)
    return attempt.delivery if attempt else None


def key() -> str:
    return f"test:{uuid.uuid4()}"


def spend(user: Any, amount: int) -> Transfer:
    """A job's hold (the spend that moves available credits)."""
    return credits_hold(user=user, amount=amount, idempotency_key=key(), job_id=uuid.uuid4())


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(db: None) -> Iterator[None]:
    yield
    assert ledger_inconsistencies() == []


@pytest.fixture
def customer(db: None, receiver: Receiver) -> Any:
    """100 credits, callbacks to the receiver."""
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=key())
    account_callback_url_set(user=user, url=receiver.url())
    return user


# ---------------------------------------------------------------------------------------------
# Firing once per crossing
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_spending_across_a_threshold_notifies_once_and_again_only_after_re_arming(
    customer: Any, receiver: Receiver, effects: Callable[..., Any]
) -> None:
    alert = effects(lambda: alert_create(user=customer, metric="available_below", threshold=50))
    effects(lambda: spend(customer, 30))  # 70 left: above the threshold
    assert mail.outbox == [] and receiver.hits == []

    effects(lambda: spend(customer, 30))  # 40 left: crossed
    assert len(mail.outbox) == 1
    (hit,) = receiver.wait_for(1)
    body = verify(hit, secret_of(customer))
    assert hit.path == "/alerts"
    assert body["type"] == "usage_alert.fired"
    assert body["id"] == hit.headers["webhook-id"]
    assert body["data"] == {
        **body["data"],
        "alert_id": alert.pk,
        "metric": "available_below",
        "threshold": 50,
        "value": 40,
        "available": 40,
    }
    email = mail.outbox[0]
    assert email.to == [customer.email]
    assert "available credits below 50" in email.subject
    assert "Value now: 40 credits" in email.body

    effects(lambda: spend(customer, 10))  # further down: still the same crossing
    assert len(mail.outbox) == 1 and len(receiver.hits) == 1

    effects(lambda: credits_grant(user=customer, amount=100, idempotency_key=key()))  # 130
    alert.refresh_from_db()
    assert alert.state == UsageAlert.State.ARMED
    assert len(mail.outbox) == 1 and len(receiver.hits) == 1

    effects(lambda: spend(customer, 90))  # 40 again: a new crossing
    assert len(mail.outbox) == 2
    hits = receiver.wait_for(2)
    assert len(hits) == 2
    second = verify(hits[1], secret_of(customer))
    assert second["id"] != body["id"]
    assert Delivery.objects.filter(status="delivered").count() == 4
    assert balance_get(user=customer).available == 40


@pytest.mark.django_db
def test_credits_used_today_fires_once_a_day_and_re_arms_after_local_midnight(
    customer: Any, receiver: Receiver, effects: Callable[..., Any], settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Istanbul"  # UTC+3
    credits_grant(user=customer, amount=900, idempotency_key=key())
    # 20:00 UTC is 23:00 in Istanbul.
    with time_machine.travel(datetime(2025, 5, 1, 20, tzinfo=UTC)):
        alert = effects(
            lambda: alert_create(
                user=customer, metric="used_today_above", threshold=50, webhook=False
            )
        )
        effects(lambda: credits_capture(hold=spend(customer, 30)))
        assert mail.outbox == []
        effects(lambda: credits_capture(hold=spend(customer, 30)))  # 60 used today
        assert len(mail.outbox) == 1
        assert "credits used today above 50" in mail.outbox[0].subject
        effects(lambda: credits_capture(hold=spend(customer, 30)))
        assert len(mail.outbox) == 1
    # 21:30 UTC is 00:30 the next day: nothing used yet today.
    with time_machine.travel(datetime(2025, 5, 1, 21, 30, tzinfo=UTC)):
        effects(lambda: credits_capture(hold=spend(customer, 30)))
        alert.refresh_from_db()
        assert alert.state == UsageAlert.State.ARMED
        assert len(mail.outbox) == 1
        effects(lambda: credits_capture(hold=spend(customer, 30)))
        assert len(mail.outbox) == 2
    assert receiver.hits == []  # webhook channel off


@pytest.mark.django_db
def test_a_new_day_re_arms_even_without_a_ledger_change_in_between(
    customer: Any, effects: Callable[..., Any], settings: Any
) -> None:
    settings.TIME_ZONE = "UTC"
    credits_grant(user=customer, amount=900, idempotency_key=key())
    with time_machine.travel(datetime(2025, 5, 1, 23, 50, tzinfo=UTC)):
        effects(
            lambda: alert_create(
                user=customer, metric="used_today_above", threshold=10, webhook=False
            )
        )
        effects(lambda: credits_capture(hold=spend(customer, 20)))
    with time_machine.travel(datetime(2025, 5, 2, 0, 10, tzinfo=UTC)):
        effects(lambda: credits_capture(hold=spend(customer, 20)))  # first write of the day
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_an_alert_created_past_its_threshold_notifies_once(
    customer: Any, receiver: Receiver, effects: Callable[..., Any]
) -> None:
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=500))
    assert len(mail.outbox) == 1
    assert len(receiver.wait_for(1)) == 1
    effects(lambda: spend(customer, 1))
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_new_threshold_re_arms_the_alert(customer: Any, effects: Callable[..., Any]) -> None:
    alert = effects(
        lambda: alert_create(user=customer, metric="available_below", threshold=50, webhook=False)
    )
    effects(lambda: spend(customer, 60))  # 40: fired
    assert len(mail.outbox) == 1
    effects(lambda: alert_update(user=customer, alert_id=alert.pk, threshold=45))
    assert len(mail.outbox) == 2  # 40 < 45: the re-armed alert fires for the new threshold
    effects(lambda: alert_update(user=customer, alert_id=alert.pk, threshold=10))
    alert.refresh_from_db()
    assert alert.state == UsageAlert.State.ARMED and len(mail.outbox) == 2


@pytest.mark.django_db
def test_the_evaluation_never_runs_in_the_request_that_spends(
    customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alert_create(user=customer, metric="available_below", threshold=50)
    with django_capture_on_commit_callbacks() as callbacks:
        spend(customer, 60)
    # Crossed, but nothing was evaluated or sent yet: one task waits for the commit.
    assert len(callbacks) == 1
    assert Delivery.objects.count() == 0 and mail.outbox == []
    assert UsageAlert.objects.get().state == UsageAlert.State.ARMED
    # Evaluating (what the task does) fires it; once.
    assert alerts_evaluate(user_id=customer.pk).fired == [UsageAlert.objects.get().pk]
    assert alerts_evaluate(user_id=customer.pk).fired == []
    assert Delivery.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# Concurrency (PostgreSQL, real threads with their own connections)
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_spends_across_the_threshold_notify_once(
    require_postgres: None, receiver: Receiver, eager_celery: None
) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=key())
    account_callback_url_set(user=user, url=receiver.url())
    alert = alert_create(user=user, metric="available_below", threshold=50)  # autocommit
    results = run_in_threads(
        20, lambda i: credits_hold(user=user, amount=5, idempotency_key=f"race:{i}")
    )
    assert all(isinstance(r, Transfer) for r in results), results
    assert balance_get(user=user).available == 0
    receiver.wait_for(1)
    time.sleep(0.5)  # room for a duplicate to show up
    assert len(receiver.hits) == 1
    verify(receiver.hits[0], secret_of(user))
    assert len(mail.outbox) == 1
    assert Delivery.objects.filter(reference=str(alert.pk)).count() == 2
    alert.refresh_from_db()
    assert alert.state == UsageAlert.State.FIRED and alert.fired_value is not None


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_evaluations_fire_once(
    require_postgres: None, receiver: Receiver, eager_celery: None
) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=key())
    spend(user, 80)
    account_callback_url_set(user=user, url=receiver.url())
    # Written directly (the flag stays off), so only the threads below evaluate it.
    alert = UsageAlert.objects.create(user=user, metric="available_below", threshold=50)
    results = run_in_threads(20, lambda i: alerts_evaluate(user_id=user.pk))
    assert sorted(len(r.fired) for r in results) == [0] * 19 + [1], results
    receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.hits) == 1 and len(mail.outbox) == 1
    assert Delivery.objects.filter(reference=str(alert.pk)).count() == 2


# ---------------------------------------------------------------------------------------------
# Deliveries: retries, blocked destinations, lost messages; credits untouched
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_webhook_is_retried_with_the_same_id_and_never_touches_credits(
    customer: Any, receiver: Receiver, effects: Callable[..., Any], settings: Any
) -> None:
    settings.BILLING_ALERT_RETRY_SCHEDULE = (60,)
    receiver.statuses = [500, 200]
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=50))
    before = list(Transfer.objects.values_list("pk", flat=True))
    effects(lambda: spend(customer, 60))
    webhook = Delivery.objects.get(channel="webhook")
    assert (webhook.status, webhook.attempts, webhook.last_status_code) == ("pending", 1, 500)
    assert webhook.attempt_log.get().outcome == "failed"
    assert balance_get(user=customer).available == 40
    assert Transfer.objects.exclude(pk__in=before).count() == 1  # only the spend itself
    assert alert_delivery_send(delivery_id=webhook.pk) is None  # not due yet
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(seconds=61)):
        webhook = alert_delivery_send(delivery_id=webhook.pk)
    assert webhook is not None
    assert (webhook.status, webhook.attempts) == ("delivered", 2)
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == webhook.webhook_id
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    assert first.body == second.body
    verify(second, secret_of(customer))
    assert balance_get(user=customer).available == 40


@pytest.mark.django_db
def test_a_webhook_fails_for_good_once_the_schedule_is_spent(
    customer: Any, receiver: Receiver, effects: Callable[..., Any], settings: Any
) -> None:
    settings.BILLING_ALERT_RETRY_SCHEDULE = (60,)
    receiver.statuses = [503]
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=50))
    effects(lambda: spend(customer, 60))
    webhook = Delivery.objects.get(channel="webhook")
    with time_machine.travel(datetime.now(tz=UTC) + timedelta(seconds=61)):
        webhook = alert_delivery_send(delivery_id=webhook.pk)
    assert webhook is not None
    assert (webhook.status, webhook.attempts, webhook.attempt_log.count()) == ("failed", 2, 2)
    assert webhook.next_attempt_at is None
    assert Delivery.objects.get(channel="email").status == "delivered"


@pytest.mark.django_db
def test_410_stops_retries(customer: Any, receiver: Receiver, effects: Callable[..., Any]) -> None:
    receiver.statuses = [410]
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=50))
    effects(lambda: spend(customer, 60))
    webhook = Delivery.objects.get(channel="webhook")
    assert (webhook.status, webhook.attempts, webhook.last_status_code) == ("failed", 1, 410)


@pytest.mark.django_db
def test_a_private_destination_is_blocked_at_send_time_and_not_retried(
    customer: Any, receiver: Receiver, effects: Callable[..., Any], settings: Any
) -> None:
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=50))
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # the saved 127.0.0.1 URL is now refused
    effects(lambda: spend(customer, 60))
    webhook = Delivery.objects.get(channel="webhook")
    assert webhook.status == "blocked" and webhook.next_attempt_at is None
    assert "loopback" in webhook.last_error
    assert receiver.hits == []
    assert len(mail.outbox) == 1  # email still goes out


@pytest.mark.django_db
def test_the_sweeper_sends_deliveries_whose_message_was_lost(
    customer: Any,
    receiver: Receiver,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alert_create(user=customer, metric="available_below", threshold=50)
    spend(customer, 60)
    # The evaluation ran but its on-commit enqueues never happened (not captured: dropped).
    assert alerts_evaluate(user_id=customer.pk).fired
    assert Delivery.objects.filter(status="pending").count() == 2
    assert deliveries_sweep_due() == 0  # within the grace period
    # The sweeper enqueues on commit (as it does outside a test's transaction, at once).
    with (
        time_machine.travel(datetime.now(tz=UTC) + timedelta(seconds=31)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert deliveries_sweep_due() == 2
    assert Delivery.objects.filter(status="delivered").count() == 2
    assert len(mail.outbox) == 1 and len(receiver.wait_for(1)) == 1


@pytest.mark.django_db
def test_a_duplicate_send_message_sends_nothing_twice(customer: Any, receiver: Receiver) -> None:
    alert_create(user=customer, metric="available_below", threshold=50)
    spend(customer, 60)
    ids = alerts_evaluate(user_id=customer.pk).deliveries
    for delivery_id in ids:
        assert alert_delivery_send(delivery_id=delivery_id) is not None
        assert alert_delivery_send(delivery_id=delivery_id) is None
    assert len(mail.outbox) == 1 and len(receiver.wait_for(1)) == 1


def test_delivery_tasks_run_on_the_callbacks_queue() -> None:
    route = celery_app.amqp.router.route({}, "outbound.tasks.delivery_send_task", (), {})
    assert route["queue"].name == "callbacks"
    route = celery_app.amqp.router.route({}, "billing.tasks.alerts_evaluate_task", (), {})
    assert route["queue"].name == "default"


# ---------------------------------------------------------------------------------------------
# The hot path: accounts without alerts pay nothing
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ledger_writes_of_accounts_without_alerts_enqueue_nothing_and_cost_no_query(
    django_capture_on_commit_callbacks: Any,
) -> None:
    plain, alerted = UserFactory(), UserFactory()
    for user in (plain, alerted):
        credits_grant(user=user, amount=100, idempotency_key=key())
        spend(user, 1)  # the revenue account exists: later holds are the steady state
    alert_create(user=alerted, metric="available_below", threshold=5)
    counts = {}
    for name, user in (("plain", plain), ("alerted", alerted)):
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks() as callbacks,
        ):
            spend(user, 1)
        counts[name] = (len(queries), len(callbacks))
    assert counts["plain"][1] == 0  # nothing enqueued
    assert counts["alerted"][1] == 1  # one evaluation, after commit
    assert counts["plain"][0] == counts["alerted"][0]  # the flag rides on the same statement
    with django_capture_on_commit_callbacks() as callbacks:
        hold = spend(plain, 1)
        credits_capture(hold=hold)
        credits_grant(user=plain, amount=5, idempotency_key=key())
    assert callbacks == []


@pytest.mark.django_db
def test_the_alerts_flag_follows_active_alerts(django_capture_on_commit_callbacks: Any) -> None:
    user = UserFactory()
    client = bearer_client(user)

    def flag() -> bool:
        return LedgerAccount.objects.get(user=user).alerts_enabled

    first = client.post(
        ALERTS, {"metric": "available_below", "threshold": 5}, format="json"
    ).json()["data"]
    second = client.post(
        ALERTS, {"metric": "used_today_above", "threshold": 9}, format="json"
    ).json()["data"]
    assert flag()
    client.patch(f"{ALERTS}/{first['id']}", {"active": False}, format="json")
    assert flag()
    client.patch(f"{ALERTS}/{second['id']}", {"active": False}, format="json")
    assert not flag()
    client.patch(f"{ALERTS}/{second['id']}", {"active": True}, format="json")
    assert flag()
    client.delete(f"{ALERTS}/{second['id']}")
    assert not flag()  # the remaining alert is paused
    client.delete(f"{ALERTS}/{first['id']}")
    assert not flag() and UsageAlert.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------


def bearer_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user).token}")
    return client


@pytest.mark.django_db
def test_alerts_api_creates_lists_reads_changes_and_deletes() -> None:
    user = UserFactory()
    client = bearer_client(user)
    response = client.post(
        ALERTS, {"metric": "available_below", "threshold": 100, "webhook": False}, format="json"
    )
    assert response.status_code == 200
    created = response.json()
    assert created["code"] == 200 and created["msg"] == "success"
    alert = created["data"]
    assert {
        k: alert[k] for k in ("metric", "threshold", "email", "webhook", "active", "state")
    } == {
        "metric": "available_below",
        "threshold": 100,
        "email": True,
        "webhook": False,
        "active": True,
        "state": "armed",
    }
    assert [a["id"] for a in client.get(ALERTS).json()["data"]] == [alert["id"]]
    assert client.get(f"{ALERTS}/{alert['id']}").json()["data"]["threshold"] == 100
    changed = client.patch(
        f"{ALERTS}/{alert['id']}", {"threshold": 20, "webhook": True}, format="json"
    ).json()["data"]
    assert (changed["threshold"], changed["webhook"]) == (20, True)
    deleted = client.delete(f"{ALERTS}/{alert['id']}")
    assert deleted.status_code == 200 and deleted.json()["data"] == {"id": alert["id"]}
    assert client.get(f"{ALERTS}/{alert['id']}").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threshold": 5}, "metric"),
        ({"metric": "balance_below", "threshold": 5}, "metric"),
        ({"metric": "available_below"}, "threshold"),
        ({"metric": "available_below", "threshold": -1}, "threshold"),
        ({"metric": "available_below", "threshold": "lots"}, "threshold"),
        ({"metric": "available_below", "threshold": 10**16}, "threshold"),
        ({"metric": "available_below", "threshold": 5, "email": "maybe"}, "email"),
        ({"metric": "available_below", "threshold": 5, "email": False, "webhook": False}, "email"),
    ],
)
def test_bad_alert_input_answers_422_naming_the_field_and_writes_nothing(
    body: dict[str, Any], field: str
) -> None:
    user = UserFactory()
    response = bearer_client(user).post(ALERTS, body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == 422
    assert response.json()["msg"].startswith(f"{field}: "), response.json()
    assert UsageAlert.objects.count() == 0
    assert not LedgerAccount.objects.filter(user=user, alerts_enabled=True).exists()


@pytest.mark.django_db
def test_duplicate_alerts_and_bad_changes_are_refused() -> None:
    user = UserFactory()
    client = bearer_client(user)
    body = {"metric": "available_below", "threshold": 5}
    alert = client.post(ALERTS, body, format="json").json()["data"]
    duplicate = client.post(ALERTS, body, format="json")
    assert duplicate.status_code == 422 and duplicate.json()["msg"].startswith("threshold: ")
    for change, name in (
        ({"threshold": -5}, "threshold"),
        ({"active": "perhaps"}, "active"),
        ({"email": False, "webhook": False}, "email"),
    ):
        response = client.patch(f"{ALERTS}/{alert['id']}", change, format="json")
        assert response.status_code == 422 and response.json()["msg"].startswith(f"{name}: ")
    stored = UsageAlert.objects.get()
    assert (stored.threshold, stored.email, stored.webhook) == (5, True, True)


@pytest.mark.django_db
def test_another_accounts_alert_answers_like_an_unknown_id() -> None:
    owner, intruder = UserFactory(), UserFactory()
    alert = alert_create(user=owner, metric="available_below", threshold=5)
    client = bearer_client(intruder)
    unknown = client.get(f"{ALERTS}/999999").json()
    for response in (
        client.get(f"{ALERTS}/{alert.pk}"),
        client.patch(f"{ALERTS}/{alert.pk}", {"threshold": 1}, format="json"),
        client.delete(f"{ALERTS}/{alert.pk}"),
    ):
        assert response.status_code == 404
        assert (
            response.json()
            == unknown
            == {"code": 404, "msg": "alert: no alert with this id", "data": None}
        )
    assert client.get(ALERTS).json()["data"] == []
    assert client.get(f"{ALERTS}/abc").status_code == 404
    alert.refresh_from_db()
    assert alert.threshold == 5


@pytest.mark.django_db
def test_alerts_api_needs_a_bearer_key() -> None:
    response = APIClient().get(ALERTS)
    assert response.status_code == 401 and response.json()["code"] == 401


@pytest.mark.django_db
def test_callback_url_is_validated_and_resolved_when_saved(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    answers = {"hooks.example.com": PUBLIC_IP, "internal.example.com": "10.1.2.3"}

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # DNS, a process boundary
    user = UserFactory()
    client = bearer_client(user)
    assert client.get(CALLBACK_URL).json()["data"] == {"url": ""}
    ok = client.put(CALLBACK_URL, {"url": "https://hooks.example.com/veo"}, format="json")
    assert ok.status_code == 200 and ok.json()["data"] == {"url": "https://hooks.example.com/veo"}
    for bad in (
        "https://internal.example.com/x",
        "http://127.0.0.1:8000/",
        "ftp://x.example",
        "https://nowhere.example.com/",
        "http://169.254.169.254/latest",
    ):
        response = client.put(CALLBACK_URL, {"url": bad}, format="json")
        assert response.status_code == 422, bad
        assert response.json()["msg"].startswith("url: "), response.json()
    missing = client.put(CALLBACK_URL, {}, format="json")
    assert missing.status_code == 422 and missing.json()["msg"].startswith("url: ")
    assert client.get(CALLBACK_URL).json()["data"] == {"url": "https://hooks.example.com/veo"}
    assert client.put(CALLBACK_URL, {"url": ""}, format="json").json()["data"] == {"url": ""}
    assert User.objects.get(pk=user.pk).account_callback_url == ""


# ---------------------------------------------------------------------------------------------
# Dashboard page
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dashboard_alerts_page_lists_creates_and_deletes(client: Any) -> None:
    user = UserFactory()
    client.force_login(user)
    page = client.get("/dashboard/alerts/")
    assert page.status_code == 200
    assert b'href="/dashboard/alerts/" aria-current="page"' in page.content  # nav link
    created = client.post(
        "/dashboard/alerts/", {"metric": "available_below", "threshold": "25", "email": "on"}
    )
    assert created.status_code == 302
    alert = UsageAlert.objects.get(user=user)
    assert (alert.threshold, alert.email, alert.webhook) == (25, True, False)
    assert b"alert-%d" % alert.pk in client.get("/dashboard/alerts/").content
    bad = client.post("/dashboard/alerts/", {"metric": "available_below", "threshold": "-3"})
    assert bad.status_code == 400 and UsageAlert.objects.count() == 1
    other = alert_create(user=UserFactory(), metric="available_below", threshold=1)
    assert client.post(f"/dashboard/alerts/{other.pk}/delete/").status_code == 404
    assert client.post(f"/dashboard/alerts/{alert.pk}/delete/").status_code == 302
    assert UsageAlert.objects.filter(user=user).count() == 0
    assert UsageAlert.objects.filter(pk=other.pk).exists()


@pytest.mark.django_db
def test_dashboard_callback_url_form_refuses_private_addresses(client: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    user = UserFactory()
    client.force_login(user)
    refused = client.post("/dashboard/alerts/callback-url/", {"url": "http://10.0.0.5/hook"})
    assert refused.status_code == 400 and b"private network" in refused.content
    saved = client.post("/dashboard/alerts/callback-url/", {"url": f"http://{PUBLIC_IP}/h"})
    assert saved.status_code == 302
    assert User.objects.get(pk=user.pk).account_callback_url == f"http://{PUBLIC_IP}/h"


@pytest.mark.django_db
def test_the_webhook_channel_starts_ticked_only_with_a_callback_url(
    client: Any, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    user = UserFactory()
    client.force_login(user)
    webhook_box = re.compile(r'<input type="checkbox" name="webhook"[^>]*>')
    assert "checked" not in webhook_box.search(client.get("/dashboard/alerts/").text).group(0)
    client.post("/dashboard/alerts/callback-url/", {"url": f"http://{PUBLIC_IP}/h"})
    assert "checked" in webhook_box.search(client.get("/dashboard/alerts/").text).group(0)


@pytest.mark.django_db
def test_dashboard_alerts_page_needs_a_login(client: Any) -> None:
    response = client.get("/dashboard/alerts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_staff_see_alerts_and_every_delivery_attempt_in_the_admin(
    client: Any, customer: Any, receiver: Receiver, effects: Callable[..., Any]
) -> None:
    effects(lambda: alert_create(user=customer, metric="available_below", threshold=500))
    delivery = Delivery.objects.get(channel="webhook")
    client.force_login(User.objects.create_superuser(email="ops@example.com", password="x"))
    for url in (
        "/admin/billing/usagealert/",
        "/admin/outbound/delivery/",
        f"/admin/outbound/delivery/{delivery.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    assert delivery.webhook_id.encode() in client.get("/admin/outbound/delivery/").content
