"""veo3api end to end with real web (gunicorn) and worker (celery) processes: generate with a
callback to a receiver on 127.0.0.1 (kie HMAC recomputed here, Standard Webhooks verified
with the `standardwebhooks` library, record-info agreeing), 1080p upgrade and extend (real
renders, charged once each per the price table), and callback retries: a receiver that is
down and comes back gets its callback, a redirect is never followed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import time
import uuid
from typing import Any

import av
import numpy as np
import pytest
import requests
import standardwebhooks

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job
from outbound.models import Delivery
from outbound.services import webhook_secret_get_or_create
from tests.factories import UserFactory
from tests.generation.veo3api_helpers import receiver_running
from tests.processes import free_port, running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# Callback and result URLs carry PUBLIC_BASE_URL; the test maps them onto the stack's port.
PUBLIC = "https://api.veo.test"
STACK_ENV = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1", "PUBLIC_BASE_URL": PUBLIC}


@pytest.fixture
def account() -> tuple[Any, dict[str, str], str]:
    user = UserFactory()
    credits_grant(user=user, amount=2000, idempotency_key=f"e2e:{user.pk}")
    token = api_key_create(user=user, name="e2e").token
    return user, {"Authorization": f"Bearer {token}"}, webhook_secret_get_or_create(user=user)


def price(operation: str, tier: str, resolution: str, seconds: int) -> int:
    return price_quote(
        operation=operation, model_tier=tier, resolution=resolution, seconds=seconds
    ).credits


def post(stack: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    answer = requests.post(f"{stack.base_url}{path}", headers=headers, json=body, timeout=30)
    assert answer.status_code == _status(answer.json()["code"])
    return answer.json()


def get(stack: Any, headers: dict[str, str], path: str, **params: Any) -> Any:
    answer = requests.get(f"{stack.base_url}{path}", headers=headers, params=params, timeout=30)
    assert answer.status_code == _status(answer.json()["code"])
    return answer.json()


def _status(code: int) -> int:
    """The HTTP status of a body code (VEO3API_HTTP_ERROR_STATUS is on by default)."""
    return {455: 503, 501: 500, 505: 503}.get(code, code)


def wait_record(
    stack: Any, headers: dict[str, str], task_id: str, timeout: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = get(stack, headers, "/api/v1/veo/record-info", taskId=task_id)
        assert body["code"] == 200, body
        if body["data"]["successFlag"] != 0:
            return body["data"]
        time.sleep(0.3)
    raise AssertionError(f"{task_id} did not finish")


def download(stack: Any, url: str) -> bytes:
    assert url.startswith(PUBLIC), url
    answer = requests.get(stack.base_url + url.removeprefix(PUBLIC), timeout=60)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "video/mp4"
    return answer.content


def probe(video: bytes) -> tuple[int, int, float, list[np.ndarray]]:
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return stream.width, stream.height, float(container.duration / av.time_base), frames


def verify(received: Any, secret: str, task_id: str) -> Any:
    timestamp = received.headers["X-Webhook-Timestamp"]
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    ).decode()
    assert hmac.compare_digest(received.headers["X-Webhook-Signature"], expected)
    return standardwebhooks.Webhook(secret).verify(received.body, received.headers)


def test_generate_with_a_signed_callback_that_agrees_with_record_info(tmp_path, account) -> None:
    user, headers, secret = account
    with receiver_running() as receiver, running_stack(tmp_path, **STACK_ENV) as stack:
        created = post(
            stack,
            headers,
            "/api/v1/veo/generate",
            {
                "prompt": "A lighthouse at dusk",
                "model": "veo3_fast",
                "aspectRatio": "16:9",
                "duration": 4,
                "callBackUrl": receiver.url("/kie"),
            },
        )
        assert created["code"] == 200, created
        task_id = created["data"]["taskId"]
        (received,) = receiver.wait_for(1, timeout=240)
        body = verify(received, secret, task_id)
        data = wait_record(stack, headers, task_id)
        assert received.path == "/kie"
        assert body["code"] == 200 and body["msg"] == "Veo3.1 video generated successfully."
        assert body["data"]["taskId"] == task_id and body["data"]["fallbackFlag"] is False
        info = body["data"]["info"]
        assert data["successFlag"] == 1
        assert data["response"]["resultUrls"] == info["resultUrls"]
        assert data["response"]["resolution"] == info["resolution"] == "720p"
        width, height, duration, _ = probe(download(stack, info["resultUrls"][0]))
        assert (width, height) == (1280, 720) and abs(duration - 4) < 0.1
        time.sleep(0.5)
        assert len(receiver.received) == 1  # delivered once
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert received.headers["webhook-id"] == delivery.webhook_id
    job = Job.objects.get(kind=Job.Kind.GENERATE)  # its 1080p version is prepared too
    assert Transfer.objects.filter(job_id=job.id, kind="capture").count() == 1
    assert balance_get(user=user).available == 2000 - price("generate", "fast", "720p", 4)


def test_1080p_upgrade_and_extend_end_to_end(tmp_path, account) -> None:
    user, headers, secret = account
    with receiver_running() as receiver, running_stack(tmp_path, **STACK_ENV) as stack:
        source_id = post(
            stack,
            headers,
            "/api/v1/veo/generate",
            {"prompt": "A red ball rolls", "model": "veo3_fast", "duration": 4},
        )["data"]["taskId"]
        source = wait_record(stack, headers, source_id)
        assert source["successFlag"] == 1, source
        # As on kie, the first call right after success answers with the URL: the worker
        # prepared the 1080p version when the task succeeded (GENERATION_AUTO_1080P).
        upgraded = get(stack, headers, "/api/v1/veo/get-1080p-video", taskId=source_id)
        assert upgraded["code"] == 200, upgraded
        extended = post(
            stack,
            headers,
            "/api/v1/veo/extend",
            {
                "taskId": source_id,
                "prompt": "and keeps rolling",
                "model": "fast",
                "callBackUrl": receiver.url("/extend"),
            },
        )
        assert extended["code"] == 200, extended
        extend_id = extended["data"]["taskId"]
        assert extend_id.startswith("veo_extend_task_")

        width, height, duration, _ = probe(download(stack, upgraded["data"]["resultUrl"]))
        assert (width, height) == (1920, 1080) and abs(duration - 4) < 0.1

        (callback,) = receiver.wait_for(1, timeout=240)
        body = verify(callback, secret, extend_id)
        assert body["code"] == 200 and body["msg"] == "Veo3.1 video extension successful."
        record = wait_record(stack, headers, extend_id)
        assert record["successFlag"] == 1
        assert record["response"]["resultUrls"] == body["data"]["info"]["resultUrls"]
        assert record["response"]["fullResultUrls"] == body["data"]["info"]["fullResultUrls"]
        _, _, _, source_frames = probe(download(stack, source["response"]["resultUrls"][0]))
        width, height, duration, extension = probe(
            download(stack, record["response"]["resultUrls"][0])
        )
        assert (width, height) == (1280, 720) and abs(duration - 8) < 0.1
        # The extension continues the source: it opens on the source's last frame.
        gap = np.abs(extension[0].astype(int) - source_frames[-1].astype(int)).mean()
        assert gap < 6, gap
        _, _, full_duration, full = probe(download(stack, record["response"]["fullResultUrls"][0]))
        assert abs(full_duration - 12) < 0.15 and len(full) == len(source_frames) + len(extension)
        again = get(stack, headers, "/api/v1/veo/get-1080p-video", taskId=source_id)
        assert again == upgraded
    jobs = {job.kind: job for job in Job.objects.filter(user=user)}
    assert set(jobs) == {"generate", "upgrade_1080p", "extend"}
    for job in jobs.values():
        assert job.state == "succeeded"
        # The 1080p version is free by default (kie bundles it): nothing held or captured.
        charged = 0 if job.kind == "upgrade_1080p" else 1
        assert Transfer.objects.filter(job_id=job.id, kind="capture").count() == charged
    spent = (
        price("generate", "fast", "720p", 4)
        + price("upgrade_1080p", "fast", "1080p", 4)
        + price("extend", "fast", "720p", 8)
    )
    assert {job.kind: job.credits_charged for job in jobs.values()} == {
        "generate": price("generate", "fast", "720p", 4),
        "upgrade_1080p": price("upgrade_1080p", "fast", "1080p", 4),
        "extend": price("extend", "fast", "720p", 8),
    }
    assert balance_get(user=user).available == 2000 - spent


def wait_delivery(job_id: str, done: set[str], timeout: float = 120) -> Delivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = Delivery.objects.filter(reference=uuid.UUID(job_id).hex).first()
        if delivery is not None and delivery.status in done:
            return delivery
        time.sleep(0.2)
    raise AssertionError(f"delivery of {job_id} did not reach {done}")


def test_callback_retries_reach_a_receiver_that_comes_back_and_never_follow_redirects(
    tmp_path, account
) -> None:
    _, headers, secret = account
    down_port = free_port()
    env = {**STACK_ENV, "GENERATION_CALLBACK_RETRY_SCHEDULE": "1,2,3"}
    with receiver_running() as redirector, running_stack(tmp_path, **env) as stack:
        redirector.script = [(302, {"Location": redirector.url("/target")})]
        down_task = post(
            stack,
            headers,
            "/api/v1/veo/generate",
            {
                "prompt": "down",
                "model": "veo3_fast",
                "duration": 4,
                "callBackUrl": f"http://127.0.0.1:{down_port}/kie",
            },
        )["data"]["taskId"]
        moved_task = post(
            stack,
            headers,
            "/api/v1/veo/generate",
            {
                "prompt": "moved",
                "model": "veo3_fast",
                "duration": 4,
                "callBackUrl": redirector.url("/kie"),
            },
        )["data"]["taskId"]
        down_job = down_task.removeprefix("veo_task_")
        deadline = time.monotonic() + 240
        while not Delivery.objects.filter(
            reference=uuid.UUID(down_job).hex, attempts__gte=1, attempt_log__outcome="failed"
        ).exists():
            assert time.monotonic() < deadline, "no failed first attempt"
            time.sleep(0.1)
        with receiver_running(down_port) as back:
            (received,) = back.wait_for(1, timeout=60)
            verify(received, secret, down_task)
            delivery = wait_delivery(down_job, {"delivered", "failed"})
            time.sleep(0.5)
            assert len(back.received) == 1
        moved = wait_delivery(moved_task.removeprefix("veo_task_"), {"failed"})
    assert delivery.status == "delivered"
    attempts = list(delivery.attempt_log.order_by("number"))
    assert attempts[0].outcome == "failed" and attempts[0].status_code is None
    assert attempts[0].error and attempts[-1].outcome == "delivered"
    assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    assert received.headers["webhook-id"] == delivery.webhook_id
    # The redirect: 1 attempt + 3 retries, all 302, the target never requested.
    assert moved.attempts == 4
    assert [a.status_code for a in moved.attempt_log.order_by("number")] == [302] * 4
    assert redirector.target_hits == 0
    assert {r.headers["webhook-id"] for r in redirector.received} == {moved.webhook_id}
    assert len(redirector.received) == 4
