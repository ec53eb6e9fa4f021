"""The admin operations page, the "delete result files" action, and /metrics access rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from billing.services import credits_grant
from generation.models import Job
from generation.services import JobSpec, job_run, job_submit
from outbound.models import Attempt, Delivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_job(user: Any, **fields: Any) -> Job:
    return Job.objects.create(user=user, facade="veo3api", prompt="p", provider="local", **fields)


def test_operations_page_shows_queue_stuck_jobs_rates_failures_and_storage(admin_client) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(email="customer@example.com")
    now = timezone.now()
    make_job(user, created_at=now - timedelta(minutes=7))
    stuck = make_job(user, state=Job.State.RUNNING, lease_expires_at=now - timedelta(minutes=3))
    failed = make_job(
        user,
        state=Job.State.FAILED,
        error_code=500,
        error_message="upstream broke",
        completed_at=now - timedelta(minutes=5),
        request_id="ticket-req-0001",
    )
    make_job(
        user,
        state=Job.State.SUCCEEDED,
        video_file="videos/x.mp4",
        media_bytes=3 * 1024 * 1024,
        completed_at=now - timedelta(minutes=5),
    )
    delivery = Delivery.objects.create(
        topic="job_callback",
        user=user,
        destination="https://h.example/cb",
        webhook_id="w1",
        signing_id="s",
        payload={},
        body="{}",
    )
    Attempt.objects.create(delivery=delivery, number=1, outcome="failed", sent_at=now)
    Attempt.objects.create(delivery=delivery, number=2, outcome="delivered", sent_at=now)

    page = admin_client.get("/admin/operations/")

    assert page.status_code == 200
    html = page.content.decode()
    assert page.context["health"].queued == 1 and page.context["health"].stuck == 1
    assert 420 <= page.context["oldest_age"] < 480
    assert reverse("admin:generation_job_change", args=[stuck.pk]) in html
    (local,) = page.context["providers"]
    assert (local.provider, local.ended, local.failed) == ("local", 2, 1)
    (callbacks,) = page.context["deliveries"]
    assert (callbacks.attempts, callbacks.failed) == (2, 1)
    assert reverse("admin:generation_job_change", args=[failed.pk]) in html
    assert "ticket-req-0001" in html and "upstream broke" in html
    (storage,) = page.context["storage"]
    assert (storage.email, storage.total_bytes) == ("customer@example.com", 3 * 1024 * 1024)
    assert "3.0\xa0MB" in html
    assert set(page.context["broker_queues"]) == {"generation", "callbacks", "default"}


def test_admin_index_links_the_operations_page(admin_client) -> None:
    index = admin_client.get("/admin/")
    assert index.status_code == 200
    html = index.content.decode()
    assert 'href="/admin/operations/"' in html and "Site administration" in html


def test_operations_page_is_staff_only(client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(UserFactory())
    answer = client.get("/admin/operations/")
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_staff_deletes_result_files_and_media_answers_410(admin_client, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    user = UserFactory()
    credits_grant(user=user, amount=500, idempotency_key=f"ops:{user.pk}")
    job = job_submit(
        user=user, spec=JobSpec(facade="veo3o1", prompt="to delete", duration_seconds=4)
    ).job
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.media_bytes > 0
    answer = admin_client.post(
        reverse("admin:generation_job_changelist"),
        {"action": "delete_result_files", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    assert "Removed the files of 1 job(s)." in answer.content.decode()
    assert not default_storage.exists(job.video_file)
    gone = admin_client.get(f"/media/v/{job.pk}.mp4")
    assert gone.status_code == 410 and "deleted" in gone.json()["msg"]


def test_metrics_are_off_unless_enabled_and_need_the_token(client, settings) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/metrics").status_code == 404
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    # Without a token only direct loopback requests (not through the proxy) are answered.
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.8").status_code == 401
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert answer.status_code == 200
    body = answer.content.decode()
    assert "veosaas_jobs_in_state" in body and "veosaas_ledger_inconsistencies" in body


def test_request_id_is_accepted_or_generated_and_echoed(client) -> None:  # type: ignore[no-untyped-def]
    sent = client.get("/healthz/live", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert sent["X-Request-Id"] == "abc-123-def-456"
    bad = client.get("/healthz/live", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-Id"] != "<script>" and len(bad["X-Request-Id"]) == 32
