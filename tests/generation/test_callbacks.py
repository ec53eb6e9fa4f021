"""Callbacks (RELIABILITY W1-W4): shape per facade, both signatures, the retry schedule,
410 / 3xx / Retry-After, the SSRF guard on every attempt, staff re-send, the sweeper.

Deliveries go to a real HTTP server on 127.0.0.1 (private networks allowed by the setting);
time is moved with time-machine; DNS is stubbed at socket.getaddrinfo.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from datetime import timedelta
from typing import Any

import pytest
import standardwebhooks
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from generation.facades.callbacks import callback_schedule, callbacks_sweep_orphans
from generation.models import Job
from generation.services import JobSpec, job_fail, job_submit
from outbound.engine import deliveries_sweep_due, delivery_attempt
from outbound.models import Attempt, Delivery
from outbound.services import webhook_secret_get_or_create, webhook_secret_rotate
from tests.generation.veo3api_helpers import (
    PUBLIC_IP,
    Receiver,
    fake_getaddrinfo,
    receiver_running,
    run_job,
)
from tests.outbound.test_netguard import BAD_ADDRESSES
from veosaas.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings) -> Any:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.GENERATION_CALLBACK_RETRY_SCHEDULE = (60, 300, 900)
    with receiver_running() as running:
        yield running


@pytest.fixture
def eager_celery() -> Any:
    """Run enqueued tasks in this process (the worker's code path, without a worker)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def submit(user: Any, url: str, *, facade: str = "veo3api", **spec: Any) -> Job:
    return job_submit(
        user=user,
        spec=JobSpec(
            facade=facade, prompt="A lighthouse", callback_url=url, duration_seconds=4, **spec
        ),
    ).job


def failed_job(user: Any, url: str, **spec: Any) -> Job:
    job = submit(user, url, **spec)
    job_fail(job_id=job.pk, stage="generation", code=501, message="the generation failed")
    return Job.objects.get(pk=job.pk)


def kie_signature(secret: str, task_id: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify(received: Any, secret: str, task_id: str) -> Any:
    """Both signatures, recomputed independently; returns the verified JSON body."""
    headers = received.headers
    timestamp = headers["X-Webhook-Timestamp"]
    assert hmac.compare_digest(
        headers["X-Webhook-Signature"], kie_signature(secret, task_id, timestamp)
    )
    assert headers["webhook-timestamp"] == timestamp
    assert headers["Content-Type"] == "application/json"
    return standardwebhooks.Webhook(secret).verify(received.body, headers)


def deliver(delivery: Delivery, **kwargs: Any) -> Attempt | None:
    return delivery_attempt(delivery_id=delivery.pk, **kwargs)


def callbacks_sweep_due() -> int:
    """What one beat tick recovers for job callbacks: outbound's sweeper (lost messages) and
    generation's (lost deliveries)."""
    return deliveries_sweep_due() + callbacks_sweep_orphans()


# ---------------------------------------------------------------------------------------------
# Shapes and signatures
# ---------------------------------------------------------------------------------------------


def test_a_finished_job_with_a_callback_is_delivered_through_the_hook(
    funded_user,
    receiver: Receiver,
    eager_celery,
    django_capture_on_commit_callbacks,
    finish_with_tiny_video,
) -> None:
    job = submit(funded_user, receiver.url(), model_tier="fast")
    with django_capture_on_commit_callbacks(execute=True):
        job = finish_with_tiny_video(job)
    assert job.state == "succeeded"
    (received,) = receiver.wait_for(1)
    secret = get_user_model().objects.get(pk=funded_user.pk).webhook_secret
    assert secret.startswith("whsec_") and 24 <= len(base64.b64decode(secret[6:])) <= 32
    body = verify(received, secret, job.task_id)
    assert body == {
        "code": 200,
        "msg": "Veo3.1 video generated successfully.",
        "data": {
            "taskId": job.task_id,
            "info": {
                "resultUrls": [f"http://127.0.0.1:8000/media/v/{job.id}.mp4"],
                "originUrls": None,
                "resolution": "720p",
            },
            "fallbackFlag": False,
            "promptJson": body["data"]["promptJson"],
        },
    }
    assert json.loads(body["data"]["promptJson"])["prompt"] == "A lighthouse"
    delivery = Delivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert received.headers["webhook-id"] == delivery.webhook_id
    assert delivery.webhook_id.startswith("msg_")
    attempt = delivery.attempt_log.get()
    assert (attempt.number, attempt.outcome, attempt.status_code) == (1, "delivered", 200)
    assert attempt.latency_ms is not None and attempt.response_excerpt == '{"ok":true}'
    assert attempt.request_headers["webhook-id"] == delivery.webhook_id


def test_failure_callback_has_the_code_and_message_and_no_info(funded_user, receiver) -> None:
    job = failed_job(funded_user, receiver.url())
    delivery = callback_schedule(job_id=job.pk)
    deliver(delivery)
    assert receiver.received[0].json == {
        "code": 501,
        "msg": "the generation failed",
        "data": {"taskId": job.task_id, "fallbackFlag": False},
    }


def test_public_base_url_is_used_in_callback_urls(
    funded_user,
    receiver,
    settings,
    finish_with_tiny_video,
) -> None:
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    job = finish_with_tiny_video(submit(funded_user, receiver.url(), model_tier="fast"))
    delivery = callback_schedule(job_id=job.pk)
    assert delivery.payload["data"]["info"]["resultUrls"] == [
        f"https://api.example.com/media/v/{job.id}.mp4"
    ]


def test_veo3o1_jobs_get_the_status_envelope_signed_with_their_uuid(funded_user, receiver) -> None:
    job = failed_job(funded_user, receiver.url(), facade="veo3o1")
    deliver(callback_schedule(job_id=job.pk))
    secret = webhook_secret_get_or_create(user=funded_user)
    body = verify(receiver.received[0], secret, str(job.id))
    assert body["code"] == 0 and body["msg"] == "Success"
    assert body["data"]["uuid"] == str(job.id) and body["data"]["status"] == "failed"
    assert body["data"]["errorMessage"] == "the generation failed"


@pytest.mark.parametrize("facade", ["codefast"])
def test_facades_without_callbacks_and_jobs_without_url_get_none(
    funded_user,
    receiver,
    facade: str,
) -> None:
    assert (
        callback_schedule(job_id=failed_job(funded_user, receiver.url(), facade=facade).pk) is None
    )
    assert callback_schedule(job_id=failed_job(funded_user, "").pk) is None
    running = submit(funded_user, receiver.url())
    assert callback_schedule(job_id=running.pk) is None  # not finished
    assert not Delivery.objects.exists()


def test_scheduling_twice_makes_one_delivery(
    funded_user,
    receiver,
    django_capture_on_commit_callbacks,
) -> None:
    job = failed_job(funded_user, receiver.url())
    with django_capture_on_commit_callbacks() as enqueued:
        first = callback_schedule(job_id=job.pk)
        second = callback_schedule(job_id=job.pk)
    assert first.pk == second.pk and len(enqueued) == 1


def test_4k_callback_has_credits_and_the_snake_mirror(
    funded_user, receiver, tmp_path, finish_with_tiny_video
) -> None:
    from generation.services.upgrades import upgrade_request
    from tests.generation.veo3api_helpers import succeed_with_copy

    source = finish_with_tiny_video(submit(funded_user, "", model_tier="fast"))
    upgrade = upgrade_request(
        user=funded_user, parent=source, kind="upgrade_4k", callback_url=receiver.url()
    ).job
    upgrade = succeed_with_copy(upgrade, source, tmp_path, width=3840, height=2160)
    deliver(callback_schedule(job_id=upgrade.pk))
    body = receiver.received[0].json
    video = f"http://127.0.0.1:8000/media/v/{upgrade.id}.mp4"
    poster = f"http://127.0.0.1:8000/media/v/{upgrade.id}.jpg"
    assert body == {
        "code": 200,
        "msg": "4K Video generated successfully.",
        "data": {
            "taskId": upgrade.task_id,
            "info": {"resultUrls": [video], "imageUrls": [poster]},
            "creditsConsumed": 120,
            "task_id": upgrade.task_id,
            "result_urls": [video],
            "media_ids": [upgrade.id.hex],
            "image_urls": [poster],
        },
    }


def test_failed_4k_callback(funded_user, receiver, finish_with_tiny_video) -> None:
    from generation.services.upgrades import upgrade_request

    source = finish_with_tiny_video(submit(funded_user, "", model_tier="fast"))
    upgrade = upgrade_request(
        user=funded_user, parent=source, kind="upgrade_4k", callback_url=receiver.url()
    ).job
    job_fail(job_id=upgrade.pk, stage="generation", code=500, message="x")
    deliver(callback_schedule(job_id=upgrade.pk))
    assert receiver.received[0].json == {
        "code": 500,
        "msg": "The 4K version of this video is unavailable. Please try a different video.",
        "data": {"taskId": upgrade.task_id, "task_id": upgrade.task_id},
    }


def test_rotating_the_secret_changes_the_signatures(funded_user, receiver) -> None:
    receiver.script = [(500, {}), (200, {})]
    job = failed_job(funded_user, receiver.url())
    delivery = callback_schedule(job_id=job.pk)
    old = webhook_secret_get_or_create(user=funded_user)
    deliver(delivery)
    new = webhook_secret_rotate(user=funded_user)
    assert new != old and new.startswith("whsec_")
    deliver(delivery, manual=True)
    first, second = receiver.received
    verify(first, old, job.task_id)
    verify(second, new, job.task_id)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(second.body, second.headers)


# ---------------------------------------------------------------------------------------------
# Retries (W3)
# ---------------------------------------------------------------------------------------------


def test_retries_follow_the_schedule_with_a_stable_id_then_fail(funded_user, receiver) -> None:
    receiver.script = [(500, {})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    start = timezone.now()
    assert deliver(delivery).outcome == "failed"
    previous = start
    for delay in (60, 300, 900):
        delivery.refresh_from_db()
        assert delivery.status == "pending"
        due = delivery.next_attempt_at
        assert timedelta(seconds=delay) <= due - previous < timedelta(seconds=delay + 5)
        with time_machine.travel(due - timedelta(seconds=5)):
            assert deliver(delivery) is None  # not due yet: nothing is sent
        previous = due + timedelta(seconds=1)
        with time_machine.travel(previous):
            assert deliver(delivery).outcome == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    assert [a.number for a in delivery.attempt_log.all()] == [1, 2, 3, 4]
    ids = {r.headers["webhook-id"] for r in receiver.received}
    stamps = [r.headers["webhook-timestamp"] for r in receiver.received]
    assert ids == {delivery.webhook_id} and len(set(stamps)) == 4
    assert len({r.headers["X-Webhook-Signature"] for r in receiver.received}) == 4
    with time_machine.travel(previous + timedelta(days=1)):
        assert deliver(delivery) is None  # a failed delivery is not retried any more


def test_a_retry_that_succeeds_stops_the_schedule(funded_user, receiver) -> None:
    receiver.script = [(503, {}), (204, {})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    deliver(delivery)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert deliver(delivery).outcome == "delivered"
        assert deliver(delivery) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 204)


def test_410_stops_retrying(funded_user, receiver) -> None:
    receiver.script = [(410, {})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    deliver(delivery)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)


@pytest.mark.parametrize("retry_after", ["600", "{http_date}"])
def test_retry_after_is_honoured(funded_user, receiver, retry_after: str) -> None:
    from email.utils import format_datetime

    now = timezone.now()
    value = retry_after.format(http_date=format_datetime(now + timedelta(seconds=600), usegmt=True))
    receiver.script = [(429, {"Retry-After": value})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    deliver(delivery)
    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - now).total_seconds()
    assert 590 <= wait <= 610, wait  # the schedule alone would say 60


def test_a_redirect_is_a_failure_and_is_not_followed(funded_user, receiver) -> None:
    receiver.script = [(302, {"Location": receiver.url("/target")})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    attempt = deliver(delivery)
    assert (attempt.outcome, attempt.status_code) == ("failed", 302)
    assert "not followed" in attempt.error
    assert receiver.target_hits == 0
    delivery.refresh_from_db()
    assert delivery.status == "pending"  # retried later like any failure


def test_an_unreachable_receiver_is_a_failed_attempt(funded_user, settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with receiver_running() as gone:
        url = gone.url()
    delivery = callback_schedule(job_id=failed_job(funded_user, url).pk)
    attempt = deliver(delivery)
    assert attempt.outcome == "failed" and attempt.status_code is None and attempt.error
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_a_slow_receiver_times_out(funded_user, receiver, settings) -> None:
    settings.GENERATION_CALLBACK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    attempt = deliver(delivery)
    assert attempt.outcome == "failed" and "within 1 s" in attempt.error
    assert attempt.latency_ms < 2500


def test_a_failed_delivery_never_changes_the_job(
    funded_user, receiver, finish_with_tiny_video
) -> None:
    receiver.script = [(500, {})]
    job = finish_with_tiny_video(submit(funded_user, receiver.url(), model_tier="fast"))
    deliver(callback_schedule(job_id=job.pk))
    job.refresh_from_db()
    assert job.state == "succeeded" and job.credits_charged == job.credits_quoted


# ---------------------------------------------------------------------------------------------
# SSRF (W2): every attempt passes the guard
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_callback_to_a_host_resolving_to_a_bad_address_is_blocked_and_not_retried(
    funded_user, settings, monkeypatch, address: str
) -> None:
    """DNS said public at submit time, then answers a bad address (rebinding)."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"hooks.customer.test": PUBLIC_IP}))
    job = failed_job(funded_user, "https://hooks.customer.test/kie")
    delivery = callback_schedule(job_id=job.pk)
    connects: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"hooks.customer.test": address}))
    monkeypatch.setattr(socket.socket, "connect", lambda sock, addr: connects.append(addr))
    attempt = deliver(delivery)
    assert attempt.outcome == "blocked" and attempt.blocked_reason
    assert address in attempt.blocked_reason or "hooks.customer.test" in attempt.blocked_reason
    assert connects == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("blocked", None)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_callback_url_resolving_to_a_bad_address_is_refused_at_submit(
    bearer, monkeypatch, address: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"hooks.customer.test": address}))
    body = bearer.post(
        "/api/v1/veo/generate",
        {"prompt": "x", "callBackUrl": "https://hooks.customer.test/kie"},
        format="json",
    ).json()
    assert body["code"] == 422 and body["msg"].startswith("callBackUrl")
    assert not Job.objects.exists()


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_image_url_resolving_to_a_bad_address_is_refused_at_submit(
    bearer, monkeypatch, address: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"images.customer.test": address}))
    body = bearer.post(
        "/api/v1/veo/generate",
        {"prompt": "x", "imageUrls": ["https://images.customer.test/a.png"]},
        format="json",
    ).json()
    assert body["code"] == 422 and body["msg"].startswith("imageUrls[0]")
    assert not Job.objects.exists()


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_image_url_that_rebinds_to_a_bad_address_fails_the_job_before_start(
    bearer, monkeypatch, address: str
) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", fake_getaddrinfo({"images.customer.test": PUBLIC_IP})
    )
    task_id = bearer.post(
        "/api/v1/veo/generate",
        {"prompt": "x", "imageUrls": ["https://images.customer.test/a.png"]},
        format="json",
    ).json()["data"]["taskId"]
    connects: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"images.customer.test": address}))
    monkeypatch.setattr(socket.socket, "connect", lambda sock, addr: connects.append(addr))
    job = run_job(Job.objects.get().pk)
    assert connects == []
    assert (job.state, job.failure_stage, job.error_code) == ("failed", "pre_start", 400)
    data = bearer.get("/api/v1/veo/record-info", {"taskId": task_id}).json()["data"]
    assert data["successFlag"] == 2 and data["errorMessage"].startswith("Failed to fetch")


# ---------------------------------------------------------------------------------------------
# Re-send by staff (W4), sweeper
# ---------------------------------------------------------------------------------------------


def test_staff_resend_logs_a_new_attempt_with_the_same_webhook_id(
    funded_user, receiver, eager_celery, client, django_capture_on_commit_callbacks
) -> None:
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    deliver(delivery)
    staff = get_user_model().objects.create_superuser(
        email="staff@example.com", password="pw-123456"
    )
    client.force_login(staff)
    changelist = reverse("admin:outbound_delivery_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist, {"action": "resend", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "Queued 1 callback" in response.content.decode()
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.manual) for a in attempts] == [(1, False), (2, True)]
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.webhook_id
    secret = webhook_secret_get_or_create(user=funded_user)
    verify(second, secret, delivery.signing_id)
    detail = client.get(reverse("admin:outbound_delivery_change", args=[delivery.pk]))
    assert detail.status_code == 200 and delivery.webhook_id in detail.content.decode()


def test_staff_without_the_permission_cannot_resend(funded_user, receiver, client) -> None:
    from django.contrib.auth.models import Permission

    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    staff = get_user_model().objects.create_user(
        email="viewer@example.com", password="pw-1", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(staff)
    changelist = reverse("admin:outbound_delivery_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "resend", "_selected_action": [delivery.pk]})
    assert not delivery.attempt_log.exists()


def test_a_manual_resend_of_a_failed_delivery_that_gets_through_marks_it_delivered(
    funded_user, receiver
) -> None:
    receiver.script = [(410, {}), (200, {})]
    delivery = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    deliver(delivery)
    deliver(delivery, manual=True)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.attempt_log.count() == 2


def test_sweeper_requeues_lost_messages_and_schedules_lost_deliveries(
    funded_user, receiver, django_capture_on_commit_callbacks
) -> None:
    lost_message = callback_schedule(job_id=failed_job(funded_user, receiver.url()).pk)
    lost_delivery = failed_job(funded_user, receiver.url())
    failed_job(funded_user, "")  # no callback URL: nothing to do
    assert callbacks_sweep_due() == 0  # everything is recent: left to its own message
    later = timezone.now() + timedelta(minutes=2)
    with time_machine.travel(later), django_capture_on_commit_callbacks() as enqueued:
        assert callbacks_sweep_due() == 2
    assert len(enqueued) == 2
    assert Delivery.objects.filter(reference=lost_delivery.pk.hex).exists()
    with time_machine.travel(later):
        assert deliver(lost_message).outcome == "delivered"
