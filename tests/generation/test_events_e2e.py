"""Live status streams end to end: the web server started as the Procfile's `web` (gunicorn,
uvicorn workers, veosaas/asgi.py) and a real Celery worker rendering with the local provider.

A client submits over HTTP, opens the job's event stream on the same base URL and reads it to
the end: monotonic progress, exactly one terminal event, then the server closes the stream. The
same base URL keeps answering the sync APIs while streams are open (they hold no thread).
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from accounts.services import api_key_create
from billing.services import credits_grant
from tests.factories import UserFactory
from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def read_events(response: requests.Response) -> list[dict[str, Any]]:
    """Every event of an SSE response until the server closes it ({field: value}, data parsed)."""
    events, fields = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "event" in fields:
                fields["json"] = json.loads(fields["data"])
                events.append(fields)
            fields = {}
            continue
        name, _, value = line.partition(":")
        fields[name or ":"] = value.removeprefix(" ")
    return events


def test_a_stream_through_the_real_server_follows_a_job_to_completed(tmp_path) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=5000, idempotency_key=f"e2e:{user.pk}")
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='e2e').token}"}
    with running_stack(tmp_path, GENERATION_AUTO_1080P="0") as stack:
        answer = requests.post(
            f"{stack.base_url}/api/v1/veo/generate",
            headers=headers,
            json={"prompt": "A lighthouse at dusk", "model": "veo3_fast", "duration": 4},
            timeout=30,
        )
        assert answer.json()["code"] == 200, answer.text
        job_id = str(uuid.UUID(answer.json()["data"]["taskId"].removeprefix("veo_task_")))
        url = f"{stack.base_url}/api/v1/jobs/{job_id}/events"
        # Many open streams on 2 processes x 4 threads: sync requests are still answered.
        idle = [
            requests.get(url, headers=headers, stream=True, timeout=(5, 300)) for _ in range(12)
        ]
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(
                pool.map(
                    lambda _: (
                        requests.get(f"{stack.base_url}/healthz/live", timeout=30).status_code
                    ),
                    range(8),
                )
            )
        assert statuses == [200] * 8
        with requests.get(url, headers=headers, stream=True, timeout=(5, 300)) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            assert response.headers["X-Accel-Buffering"] == "no"
            assert len(response.headers["X-Request-Id"]) == 32
            events = read_events(response)
        for stream in idle:
            stream.close()
        # The OpenAI-shaped stream of the ended job: its terminal state once, then the end.
        with requests.get(
            f"{stack.base_url}/v1/videos/video_{job_id.replace('-', '')}/events",
            headers=headers,
            stream=True,
            timeout=(5, 60),
        ) as response:
            videos = read_events(response)
        # A client that saw the end is told to stop.
        done = requests.get(url, headers={**headers, "Last-Event-ID": events[-1]["id"]}, timeout=30)
        web_log = stack.log("web")
    states = [event["json"]["state"] for event in events]
    progress = [event["json"]["progress"] for event in events]
    assert states[-1] == "succeeded", (states, web_log[-3000:])
    assert sum(state in ("succeeded", "failed", "cancelled") for state in states) == 1
    assert progress == sorted(progress) and progress[-1] == 100, progress
    assert events[-1]["json"]["video_url"] == f"{stack.base_url}/media/v/{job_id}.mp4"
    assert [(v["event"], v["json"]["status"]) for v in videos] == [("video", "completed")]
    assert done.status_code == 204
