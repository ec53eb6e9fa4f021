"""End to end over HTTP with real web and worker processes: submit → poll → completed →
download through the returned URL → PyAV reads H.264 of the right size and duration; credits
charged once. Also image-to-video (one and two uploaded images), a scripted failure, and a
worker killed mid-render that the reaper recovers."""

from __future__ import annotations

import io
import signal
import time

import av
import pytest
import requests

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job
from tests.factories import UserFactory
from tests.generation.conftest import image_bytes
from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture
def account():
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"e2e:{user.pk}")
    token = api_key_create(user=user, name="e2e").token
    return user, {"Authorization": f"Bearer {token}"}


def wait_for_status(
    base: str, headers: dict[str, str], uuid: str, wanted: set[str], timeout: float = 180
) -> dict:
    deadline = time.monotonic() + timeout
    seen_progress = []
    while time.monotonic() < deadline:
        data = requests.get(f"{base}/api/video-status/{uuid}", headers=headers, timeout=10).json()[
            "data"
        ]
        seen_progress.append((data["status"], data["progress"], data["estimatedTime"]))
        if data["status"] in wanted:
            data["_seen"] = seen_progress
            return data
        time.sleep(0.3)
    raise AssertionError(f"job {uuid} did not reach {wanted}: {seen_progress[-5:]}")


def probe(video: bytes) -> tuple[str, int, int, float]:
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        duration = float(container.duration / av.time_base)
        return stream.codec_context.name, stream.width, stream.height, duration


def upload(
    base: str, headers: dict[str, str], size: tuple[int, int], color: tuple[int, int, int]
) -> dict:
    files = {"file": ("frame.png", image_bytes("PNG", size, color), "image/png")}
    body = requests.post(
        f"{base}/api/upload-video-image", headers=headers, files=files, timeout=30
    ).json()
    assert body["code"] == 0, body
    return body["data"]


def test_text_to_video_end_to_end(tmp_path, account) -> None:
    user, headers = account
    with running_stack(tmp_path, VEO3O1_DURATION_SECONDS="4") as stack:
        created = requests.post(
            f"{stack.base_url}/api/generate-video",
            headers=headers,
            timeout=30,
            json={
                "generationType": "text_to_video",
                "prompt": "A lighthouse at dusk",
                "aspectRatio": "9:16",
            },
        ).json()
        assert created["code"] == 0, created
        uuid = created["data"]["uuid"]
        data = wait_for_status(stack.base_url, headers, uuid, {"completed", "failed"})
        assert data["status"] == "completed", data
        assert data["progress"] == 100 and data["successFlag"] == 1
        video = requests.get(data["videoUrl"], timeout=30)
        assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
        codec, width, height, duration = probe(video.content)
        assert (codec, width, height) == ("h264", 720, 1280)
        assert abs(duration - 4) <= 1 / 24 + 0.05
        ranged = requests.get(data["videoUrl"], headers={"Range": "bytes=0-99"}, timeout=30)
        assert ranged.status_code == 206 and len(ranged.content) == 100
        assert ranged.headers["Content-Range"].startswith("bytes 0-99/")
        poster = requests.get(data["posterUrl"], timeout=30)
        assert poster.status_code == 200 and poster.content[:2] == b"\xff\xd8"
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=4
    ).credits
    assert balance_get(user=user).available == 1000 - price
    assert Transfer.objects.filter(job_id=uuid, kind="capture").count() == 1


def test_image_to_video_from_one_and_two_uploaded_images(tmp_path, account) -> None:
    _, headers = account
    with running_stack(tmp_path, VEO3O1_DURATION_SECONDS="4") as stack:
        first = upload(stack.base_url, headers, (640, 360), (220, 40, 40))
        last = upload(stack.base_url, headers, (640, 360), (40, 40, 220))
        one = requests.post(
            f"{stack.base_url}/api/generate-video",
            headers=headers,
            json={
                "generationType": "image_to_video",
                "prompt": "slow push in",
                "imageUrl": first["imageUrl"],
                "imageKey": first["imageKey"],
            },
            timeout=30,
        ).json()
        two = requests.post(
            f"{stack.base_url}/api/generate-video",
            headers=headers,
            json={
                "generationType": "image_to_video",
                "prompt": "red to blue",
                "imageUrls": [first["imageUrl"], last["imageUrl"]],
            },
            timeout=30,
        ).json()
        for created, mode in ((one, "image"), (two, "first_last")):
            uuid = created["data"]["uuid"]
            assert Job.objects.get(pk=uuid).mode == mode
            data = wait_for_status(stack.base_url, headers, uuid, {"completed", "failed"})
            assert data["status"] == "completed", data
            video = requests.get(data["videoUrl"], timeout=30).content
            assert probe(video)[:3] == ("h264", 1280, 720)  # auto → the image's landscape
            with av.open(io.BytesIO(video)) as container:
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
            start, end = frames[0].mean(axis=(0, 1)), frames[-1].mean(axis=(0, 1))
            assert start[0] > start[2] + 80  # the first frame is the red image
            if mode == "first_last":
                assert end[2] > end[0] + 80  # and the last is the blue one
    assert Transfer.objects.filter(kind="capture").count() == 2


def test_scripted_failure_releases_credits(tmp_path, account) -> None:
    user, headers = account
    with running_stack(
        tmp_path, GENERATION_PROVIDER="scripted", GENERATION_TEST_OUTCOME="fail"
    ) as stack:
        created = requests.post(
            f"{stack.base_url}/api/generate-video",
            headers=headers,
            json={"generationType": "text_to_video", "prompt": "doomed"},
            timeout=30,
        ).json()
        data = wait_for_status(
            stack.base_url, headers, created["data"]["uuid"], {"completed", "failed"}
        )
    assert data["status"] == "failed"
    assert data["errorMessage"] and data["videoUrl"] is None
    assert balance_get(user=user).available == 1000
    assert Transfer.objects.filter(kind="release").count() == 1


def test_worker_killed_mid_render_is_recovered_once(tmp_path, account) -> None:
    user, headers = account
    env = {
        "GENERATION_PROVIDER": "scripted",
        "GENERATION_TEST_DELAY_SECONDS": "8",
        "GENERATION_LEASE_SECONDS": "4",
        "GENERATION_REAPER_INTERVAL_SECONDS": "2",
        "VEO3O1_DURATION_SECONDS": "4",
    }
    with running_stack(tmp_path, **env) as stack:
        created = requests.post(
            f"{stack.base_url}/api/generate-video",
            headers=headers,
            json={"generationType": "text_to_video", "prompt": "survive"},
            timeout=30,
        ).json()
        uuid = created["data"]["uuid"]
        wait_for_status(stack.base_url, headers, uuid, {"processing"}, timeout=60)
        stack.kill("worker", signal.SIGKILL)
        stack.start_worker(name="worker2")
        stack.start_beat()
        data = wait_for_status(stack.base_url, headers, uuid, {"completed", "failed"}, timeout=180)
    job = Job.objects.get(pk=uuid)
    assert data["status"] == "completed", (data, job.error_message)
    assert job.attempts == 2 and job.requeues >= 1
    assert Transfer.objects.filter(job_id=uuid, kind="capture").count() == 1
    assert Transfer.objects.filter(job_id=uuid, kind="release").count() == 0
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=4
    ).credits
    assert balance_get(user=user).available == 1000 - price
