"""A cancelled job as each facade reports it, in its callback and its status answer:
veo3o1 `failed` (its vocabulary; clients stop polling) with `cancelled: true` and the reason;
kie has no cancelled status: its failure fields (code 400, successFlag 2) with "Cancelled by
the customer."; codefast (no callbacks) `failed` with the reason in `error`."""

from __future__ import annotations

from typing import Any

import pytest

from generation.errors import CANCEL_MESSAGE
from generation.facades.callbacks import callback_schedule
from generation.models import Job
from generation.services import CancelOutcome, JobSpec, job_cancel, job_submit
from outbound.engine import delivery_attempt
from outbound.services import webhook_secret_get_or_create
from tests.generation.test_callbacks import verify
from tests.generation.veo3api_helpers import receiver_running

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings) -> Any:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with receiver_running() as running:
        yield running


def cancelled(user: Any, facade: str, url: str = "") -> Job:
    spec = JobSpec(facade=facade, prompt="A lighthouse", callback_url=url, duration_seconds=4)
    job = job_submit(user=user, spec=spec).job
    assert job_cancel(job=job) == CancelOutcome.CANCELLED
    return Job.objects.get(pk=job.pk)


def delivered_body(user: Any, job: Job, signing_id: str, receiver: Any) -> dict[str, Any]:
    delivery = callback_schedule(job_id=job.pk)
    assert delivery is not None
    delivery_attempt(delivery_id=delivery.pk)
    secret = webhook_secret_get_or_create(user=user)
    return verify(receiver.received[0], secret, signing_id)


def test_veo3o1_callback_says_failed_cancelled_with_the_reason(funded_user, receiver) -> None:
    job = cancelled(funded_user, "veo3o1", receiver.url())
    body = delivered_body(funded_user, job, str(job.id), receiver)
    assert body["code"] == 0 and body["msg"] == "Success"
    data = body["data"]
    assert data["uuid"] == str(job.id) and data["status"] == "failed"
    assert data["cancelled"] is True and data["errorMessage"] == CANCEL_MESSAGE
    assert data["successFlag"] == 2 and data["videoUrl"] is None


def test_kie_callback_uses_its_failure_flag_with_a_clear_message(funded_user, receiver) -> None:
    job = cancelled(funded_user, "veo3api", receiver.url())
    body = delivered_body(funded_user, job, job.task_id, receiver)
    assert body == {
        "code": 400,
        "msg": CANCEL_MESSAGE,
        "data": {"taskId": job.task_id, "fallbackFlag": False},
    }


def test_kie_record_info_shows_the_cancel_as_a_failure(funded_user, bearer) -> None:
    job = cancelled(funded_user, "veo3api")
    data = bearer.get("/api/v1/veo/record-info", {"taskId": job.task_id}).json()["data"]
    assert (data["successFlag"], data["errorCode"], data["errorMessage"]) == (
        2,
        400,
        CANCEL_MESSAGE,
    )
    assert data["response"] is None and data["completeTime"]


def test_veo3o1_status_of_a_cancelled_job(funded_user, bearer) -> None:
    job = cancelled(funded_user, "veo3o1")
    data = bearer.get(f"/api/video-status/{job.id}").json()["data"]
    assert (data["status"], data["cancelled"], data["errorMessage"]) == (
        "failed",
        True,
        CANCEL_MESSAGE,
    )


def test_codefast_status_of_a_cancelled_job(funded_user) -> None:
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    job = cancelled(funded_user, "codefast")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api_key_create(user=funded_user, name="c").token)
    body = client.get(f"/status/{job.id}").json()
    assert (body["status"], body["error"]) == ("failed", CANCEL_MESSAGE)
    assert body["completed_at"] and body["video_url"] == ""
