"""codefast end to end over HTTP with real web and worker processes: three jobs of two
accounts wait for a worker (positions 1, 2, 3), then run one at a time on a worker with
concurrency 1 while the positions behind them move up; `/videos` lists each account's finished
jobs newest first and their URLs download as MP4."""

from __future__ import annotations

import base64
import io
import time

import av
import pytest
import requests

from accounts.services import api_key_create
from billing.models import Transfer
from billing.services import credits_grant
from generation.models import Job
from generation.selectors import queue_snapshot_forget
from tests.factories import UserFactory
from tests.generation.conftest import image_bytes
from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def account() -> dict[str, str]:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"e2e:{user.pk}")
    return {"X-API-Key": api_key_create(user=user, name="e2e").token}


def status(base: str, headers: dict[str, str], job_id: str) -> dict:
    response = requests.get(f"{base}/status/{job_id}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_queue_positions_move_as_jobs_run_and_videos_are_listed(tmp_path) -> None:
    alice, bob = account(), account()
    queue_snapshot_forget()
    env = {"GENERATION_PROVIDER": "scripted", "GENERATION_TEST_DELAY_SECONDS": "3"}
    with running_stack(tmp_path, worker=False, **env) as stack:
        base = stack.base_url
        assert requests.get(f"{base}/", headers=alice, timeout=10).json() == {
            "message": "Veo 3 Fast Video Generator API running"
        }
        owners = [alice, bob, alice]
        bodies = [
            {"prompt": "first, a lighthouse", "duration_seconds": 4},
            {"prompt": "second, a forest", "duration_seconds": 4, "aspect_ratio": "9:16"},
            {
                "prompt": "third, slow push in",
                "duration_seconds": 4,
                "image": "data:image/png;base64,"
                + base64.b64encode(image_bytes("PNG", (640, 360))).decode(),
            },
        ]
        created = []
        for headers, body in zip(owners, bodies, strict=True):
            response = requests.post(f"{base}/generate", headers=headers, json=body, timeout=30)
            assert response.status_code == 200, response.text
            created.append(response.json())
        assert [(c["status"], c["queue_position"], c["total_in_queue"]) for c in created] == [
            ("queued", 1, 1),
            ("queued", 2, 2),
            ("queued", 3, 3),
        ]
        ids = [c["job_id"] for c in created]
        assert Job.objects.get(pk=ids[2]).mode == "image"

        def snapshot() -> tuple[tuple[str, int, int], ...]:
            return tuple(
                (s["status"], s["queue_position"], s["total_in_queue"])
                for s in (status(base, h, i) for h, i in zip(owners, ids, strict=True))
            )

        # No worker yet: nothing moves.
        assert snapshot() == (("queued", 1, 3), ("queued", 2, 3), ("queued", 3, 3))
        time.sleep(1)
        assert snapshot() == (("queued", 1, 3), ("queued", 2, 3), ("queued", 3, 3))

        stack.start_worker(concurrency=1)
        seen = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            seen.append(snapshot())
            if all(state in ("completed", "failed") for state, _, _ in seen[-1]):
                break
            time.sleep(0.2)
        final = seen[-1]
        assert final == (("completed", 0, 0),) * 3, (
            final,
            [j.error_message for j in Job.objects.filter(pk__in=ids)],
        )
        # While the first job rendered, the second was next (position 1 of 2) and the third
        # behind it; while the second rendered, the third was next.
        assert (("processing", 0, 2), ("queued", 1, 2), ("queued", 2, 2)) in seen, seen
        assert (("completed", 0, 0), ("processing", 0, 1), ("queued", 1, 1)) in seen, seen
        # Strict FIFO: no job ever started before one created ahead of it.
        for states in seen:
            started = [state != "queued" for state, _, _ in states]
            assert started == sorted(started, reverse=True), states

        mine = requests.get(f"{base}/videos", headers=alice, params={"page": 1}, timeout=10).json()
        assert mine["count"] == 2
        assert [v["job_id"] for v in mine["videos"]] == [ids[2], ids[0]]  # newest first
        assert [v["metadata"]["has_image"] for v in mine["videos"]] == [True, False]
        assert mine["daily_limit"] == 20 and mine["daily_limit_remaining"] == 18
        theirs = requests.get(f"{base}/videos", headers=bob, timeout=10).json()
        assert [v["job_id"] for v in theirs["videos"]] == [ids[1]]
        assert theirs["videos"][0]["metadata"] == {
            "aspect_ratio": "9:16",
            "duration_seconds": 4,
            "resolution": "720p",
            "has_image": False,
        }
        for headers, job_id in ((bob, ids[1]), (alice, ids[2])):
            listed = next(
                v
                for v in requests.get(f"{base}/videos", headers=headers, timeout=10).json()[
                    "videos"
                ]
                if v["job_id"] == job_id
            )
            done = status(base, headers, job_id)
            assert done["video_url"] == listed["video_url"]
            assert done["video_url"].startswith(base) and done["video_url"].endswith(".mp4")
            assert done["error"] == "" and done["completed_at"] and done["started_at"]
            video = requests.get(listed["video_url"], timeout=30)  # no key: a public URL
            assert video.status_code == 200
            assert video.headers["Content-Type"] == "video/mp4"
            assert video.content[4:8] == b"ftyp"
            with av.open(io.BytesIO(video.content)) as container:
                stream = container.streams.video[0]
                size = (stream.width, stream.height)
                duration = float(container.duration / av.time_base)
            assert size == ((720, 1280) if job_id == ids[1] else (1280, 720))
            assert abs(duration - 4) <= 0.1
    assert Transfer.objects.filter(job_id__in=ids, kind="capture").count() == 3
