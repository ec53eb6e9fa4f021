"""Batched webhook attempts (outbound/batch.py) and kept-alive guarded connections.

A real HTTP/1.1 receiver on 127.0.0.1 (private networks allowed by the setting) counts the
connections it accepted and the requests it answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbound import batch, netguard
from outbound.batch import deliveries_attempt_batch
from outbound.models import Attempt, Delivery
from outbound.services import SEND_GROUP, delivery_create, webhook_secret_get_or_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@dataclass
class KeepAliveReceiver:
    server: ThreadingHTTPServer
    connections: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    close_after_each: bool = False  # closes without saying so (a stale kept connection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@contextmanager
def keep_alive_receiver() -> Iterator[KeepAliveReceiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = KeepAliveReceiver(server=server)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as any production server (no delayed-ACK stalls)

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            receiver.connections += 1

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append(dict(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            if receiver.close_after_each:
                self.close_connection = True

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[KeepAliveReceiver]:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with keep_alive_receiver() as running:
        yield running


def deliveries(url: str, count: int) -> list[Delivery]:
    user = UserFactory()
    webhook_secret_get_or_create(user=user)  # set once, as after an account's first callback
    return [
        delivery_create(
            topic=Delivery.Topic.JOB_CALLBACK,
            user_id=user.pk,
            reference=f"job{user.pk}-{i}",
            destination=url,
            webhook_id=f"msg_{user.pk}_{i}",
            signing_id=f"veo_task_{i}",
            payload={"n": i},
            body=f'{{"n":{i}}}',
        )[0]
        for i in range(count)
    ]


def statements(run: Any) -> list[str]:
    """The SQL statements `run()` executes, savepoints (the test's transaction) left out."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_one_message_sends_every_due_delivery_once_on_one_connection(receiver) -> None:
    rows = deliveries(receiver.url, 5)
    attempts = deliveries_attempt_batch(delivery_id=rows[0].pk)
    assert [a.delivery_id for a in attempts] == [d.pk for d in rows]
    assert [r["webhook-id"] for r in receiver.requests] == [d.webhook_id for d in rows]
    assert all("X-Webhook-Signature" in r and "webhook-signature" in r for r in receiver.requests)
    assert receiver.connections == 1
    for delivery in Delivery.objects.all():
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            "delivered",
            1,
            None,
        )
    assert set(Attempt.objects.values_list("number", "outcome")) == {(1, "delivered")}
    # The other deliveries' own messages find them claimed: nothing is sent twice.
    for delivery in rows:
        assert deliveries_attempt_batch(delivery_id=delivery.pk) == []
    assert len(receiver.requests) == 5 and Attempt.objects.count() == 5


def test_statements_per_batch_are_fixed_whatever_its_size(receiver) -> None:
    small = deliveries(receiver.url, 2)
    two = statements(lambda: deliveries_attempt_batch(delivery_id=small[0].pk))
    large = deliveries(receiver.url, batch.BATCH_SIZE)
    eight = statements(lambda: deliveries_attempt_batch(delivery_id=large[0].pk))
    # The message's rows; the claim (locked read, UPDATE); the log (locked read, numbers,
    # INSERT, one UPDATE of them all), whatever the batch size.
    assert len(two) == 7, two
    assert len(eight) == 7, eight
    assert Delivery.objects.filter(status="delivered").count() == 2 + batch.BATCH_SIZE


def test_a_message_whose_delivery_is_claimed_costs_one_read(receiver) -> None:
    rows = deliveries(receiver.url, 2)
    deliveries_attempt_batch(delivery_id=rows[0].pk)
    assert len(statements(lambda: deliveries_attempt_batch(delivery_id=rows[1].pk))) == 1


def test_a_delivery_not_yet_due_is_left_alone(receiver) -> None:
    rows = deliveries(receiver.url, 2)
    later = timezone.now() + timezone.timedelta(minutes=5)
    Delivery.objects.filter(pk=rows[1].pk).update(next_attempt_at=later)
    assert len(deliveries_attempt_batch(delivery_id=rows[0].pk)) == 1
    assert deliveries_attempt_batch(delivery_id=rows[1].pk) == []
    assert Delivery.objects.get(pk=rows[1].pk).attempts == 0


def test_a_batch_past_its_budget_hands_the_rest_back(
    receiver, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    monkeypatch.setattr(batch, "BATCH_BUDGET_SECONDS", 0.0)
    rows = deliveries(receiver.url, 3)
    with django_capture_on_commit_callbacks() as enqueued:
        attempts = deliveries_attempt_batch(delivery_id=rows[0].pk)
    assert [a.delivery_id for a in attempts] == [rows[0].pk]
    assert len(receiver.requests) == 1
    for delivery in Delivery.objects.exclude(pk=rows[0].pk):
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery.next_attempt_at <= timezone.now()
    assert len(enqueued) == 2  # the handed-back deliveries are enqueued again
    monkeypatch.setattr(batch, "BATCH_BUDGET_SECONDS", 5.0)
    assert len(deliveries_attempt_batch(delivery_id=rows[1].pk)) == 2


def test_a_kept_connection_the_receiver_closed_is_replaced(receiver) -> None:
    receiver.close_after_each = True
    for _ in range(3):
        answer = netguard.guarded_post(receiver.url, body=b"{}", headers={}, keep_alive=True)
        assert answer.status == 200
    assert len(receiver.requests) == 3 and receiver.connections == 3


def test_without_keep_alive_each_post_has_its_own_connection(receiver) -> None:
    for _ in range(2):
        netguard.guarded_post(receiver.url, body=b"{}", headers={})
    assert receiver.connections == 2
    assert {r["Connection"] for r in receiver.requests} == {"close"}


def test_deliveries_enqueued_by_one_transaction_share_their_messages(
    receiver, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from outbound.tasks import delivery_send_task

    sent: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        delivery_send_task, "apply_async", lambda args, kwargs, **_: sent.append((args, kwargs))
    )
    with django_capture_on_commit_callbacks(execute=True):
        rows = deliveries(receiver.url, 20)
    ids = [d.pk for d in rows]
    group = SEND_GROUP
    assert sent == [
        ([ids[first]], {"others": ids[first + 1 : first + group]}) for first in range(0, 20, group)
    ]
    for args, kwargs in sent:  # what the callbacks worker runs for each message
        deliveries_attempt_batch(delivery_id=args[0], **kwargs)
    assert Delivery.objects.filter(status="delivered", attempts=1).count() == 20
    assert len(receiver.requests) == 20 and receiver.connections == 1


def test_one_batch_records_each_outcome_on_its_own_row(
    receiver, django_capture_on_commit_callbacks
) -> None:
    rows = deliveries(receiver.url, 3)
    refused = "http://127.0.0.1:1/hook"  # nothing listens there: the POST fails
    Delivery.objects.filter(pk=rows[1].pk).update(destination=refused)
    with django_capture_on_commit_callbacks() as enqueued:
        attempts = deliveries_attempt_batch(delivery_id=rows[0].pk)
    assert [(a.delivery_id, a.outcome, a.number) for a in attempts] == [
        (rows[0].pk, "delivered", 1),
        (rows[1].pk, "failed", 1),
        (rows[2].pk, "delivered", 1),
    ]
    ok, failed, ok_too = (Delivery.objects.get(pk=d.pk) for d in rows)
    for row in (ok, ok_too):
        assert (row.status, row.attempts, row.next_attempt_at, row.last_status_code) == (
            "delivered",
            1,
            None,
            200,
        )
        assert row.delivered_at is not None and row.last_error == ""
    assert (failed.status, failed.attempts, failed.delivered_at) == ("pending", 1, None)
    assert failed.last_status_code is None and failed.last_error
    assert failed.next_attempt_at > timezone.now()  # the retry, not the claim's lease
    assert failed.next_attempt_at < ok.updated_at + timezone.timedelta(seconds=100)
    assert len(enqueued) >= 1  # the retry's message
    assert len(receiver.requests) == 2
