"""End to end with real processes: gunicorn + Celery worker + beat polling each Google fake
(Vertex AI with Cloud Storage delivery, and the Interactions API) to completion, through the
kie (veo3api) and veo3o1 facades, the customer downloading the exact bytes the fake served."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from billing.models import Transfer
from generation.models import Job
from tests.factories import UserFactory
from tests.fake_interactions import running_fake_interactions
from tests.fake_vertex import running_fake_vertex, tiny_mp4
from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def _headers() -> dict[str, str]:
    from accounts.services import api_key_create
    from billing.services import credits_grant

    user = UserFactory()
    credits_grant(user=user, amount=5000, idempotency_key=f"google-e2e:{user.pk}")
    return {"Authorization": f"Bearer {api_key_create(user=user).token}"}


def _through_both_facades(stack: Any, headers: dict[str, str], kie_body: dict[str, Any]) -> list:
    """Submit one job through veo3o1 and one through kie; wait for both; return their files."""
    base = stack.base_url
    o1 = requests.post(
        f"{base}/api/generate-video",
        headers=headers,
        json={"generationType": "text_to_video", "prompt": "a fox in snow"},
        timeout=30,
    ).json()["data"]["uuid"]
    kie = requests.post(
        f"{base}/api/v1/veo/generate", headers=headers, json=kie_body, timeout=30
    ).json()
    assert kie["code"] == 200, kie
    task_id = kie["data"]["taskId"]

    def o1_status() -> dict[str, Any]:
        return requests.get(f"{base}/api/video-status/{o1}", headers=headers, timeout=10).json()[
            "data"
        ]

    def kie_status() -> dict[str, Any]:
        return requests.get(
            f"{base}/api/v1/veo/record-info",
            headers=headers,
            params={"taskId": task_id},
            timeout=10,
        ).json()["data"]

    done: Callable[[], bool] = lambda: (  # noqa: E731
        o1_status()["status"] in ("completed", "failed") and kie_status()["successFlag"] != 0
    )
    stack.wait_for(done, "both jobs", timeout=150)
    first, second = o1_status(), kie_status()
    assert first["status"] == "completed", first
    assert second["successFlag"] == 1, second
    urls = [first["videoUrl"], second["response"]["resultUrls"][0]]
    return [o1, task_id, [requests.get(url, timeout=30).content for url in urls]]


@contextlib.contextmanager
def _stack(tmp_path: Path, **env: str) -> Iterator[Any]:
    with running_stack(tmp_path, GENERATION_POLL_TICK_SECONDS="1", **env) as stack:
        stack.start_beat()
        yield stack


def test_vertex_through_kie_and_veo3o1(tmp_path: Path) -> None:
    headers = _headers()
    with running_fake_vertex(mp4=tiny_mp4()) as fake:
        fake.script.polls_until_done = 2
        env = {
            "GENERATION_PROVIDER": "vertex",
            "VERTEX_BASE_URL": fake.base_url,
            "VERTEX_STORAGE_BASE_URL": fake.base_url,
            "VERTEX_API_KEY": "test-key",
            "VERTEX_OUTPUT_GCS_URI": "gs://veo-e2e/out/",
            "VERTEX_POLL_INTERVAL_SECONDS": "1",
        }
        with _stack(tmp_path, **env) as stack:
            kie_body = {"prompt": "a fox", "model": "veo3_fast", "duration": 6}
            o1, task_id, files = _through_both_facades(stack, headers, kie_body)
        assert files == [fake.mp4, fake.mp4]
        assert len(fake.objects) == 2  # both went through Cloud Storage
    for job_id in (o1, task_id.removeprefix("veo_task_")):
        job = Job.objects.get(pk=job_id)
        assert job.provider == "vertex" and job.poll_count >= 2
        assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_omni_through_kie_and_veo3o1(tmp_path: Path) -> None:
    headers = _headers()
    with running_fake_interactions(mp4=tiny_mp4()) as fake:
        fake.script.polls_until_done = 2
        env = {
            "GENERATION_PROVIDER": "omni",
            "GEMINI_BASE_URL": fake.base_url,
            "GEMINI_API_KEY": "test-key",
            "OMNI_POLL_INTERVAL_SECONDS": "1",
        }
        with _stack(tmp_path, **env) as stack:
            kie_body = {
                "prompt": "a fox",
                "model": "veo3_fast",
                "duration": 12,
                "resolution": "360p",
            }
            _o1, _task_id, files = _through_both_facades(stack, headers, kie_body)
        assert files == [fake.mp4, fake.mp4]
        # Both jobs are in flight at once, so the worker may create them in either order.
        durations = {c.body["response_format"]["duration"] for c in fake.creates()}
        assert durations == {"8s", "12s"} and len(fake.creates()) == 2
    for job in Job.objects.filter(provider="omni"):
        assert job.credits_charged < job.credits_quoted  # 1 s delivered of 8 or 12 held
        assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1
