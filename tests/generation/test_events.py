"""Live status streams (generation/streams.py, generation/facades/events.py) in process, through
Django's ASGI request path (AsyncClient builds ASGI requests like the web server's handler):

- a stream read while the real pipeline renders a job (local provider, PyAV) shows monotonic
  progress and exactly one terminal event, then ends;
- `Last-Event-ID` resumes without replaying; a client that saw the end gets 204;
- heartbeat comments, the `retry:` hint, the bounded lifetime;
- 401/403/404 in each facade's shape; a dashboard session may read our envelope's stream;
- reached through the WSGI handler the endpoints refuse (503) instead of holding a thread.

Without REDIS_URL the streams poll the snapshot (set fast here); with it the same tests run on
the Redis subscription (CI's Redis run).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import AsyncClient, Client

from accounts.services import api_key_create, api_key_limits_set
from billing.services import credits_grant
from generation.models import Job
from generation.services import JobSpec, job_run, job_submit
from generation.services.transitions import job_claim, job_fail, job_progress_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Guards a read against a hang (a broken stream), not a timing assertion.
READ_GUARD = 60.0


@pytest.fixture(autouse=True)
def _fast_streams(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000
    # With Redis the events must come from the subscription: polling is made too slow to help.
    settings.GENERATION_EVENTS_POLL_SECONDS = 60 if settings.REDIS_URL else 0.02
    settings.GENERATION_EVENTS_HEARTBEAT_SECONDS = 30
    settings.GENERATION_EVENTS_MAX_SECONDS = 120


@pytest.fixture
def account() -> tuple[Any, str]:
    user = UserFactory()
    credits_grant(user=user, amount=5000, idempotency_key=f"seed:{user.pk}")
    return user, api_key_create(user=user, name="events").token


def submit(user: Any, **fields: Any) -> Job:
    spec = JobSpec(facade="veo3o1", prompt="a paper boat on a pond", duration_seconds=4, **fields)
    return job_submit(user=user, spec=spec).job


class Frames:
    """Reads SSE frames (one `\\n\\n`-terminated block each) from a streaming response."""

    def __init__(self, response: Any) -> None:
        self.chunks: AsyncIterator[bytes] = aiter(response.streaming_content)
        self.buffer = b""

    async def next(self) -> dict[str, Any] | None:
        """The next frame as {field: value} (comments under ":"), or None at the end."""
        while b"\n\n" not in self.buffer:
            try:
                chunk = await asyncio.wait_for(anext(self.chunks), READ_GUARD)
            except StopAsyncIteration:
                return None
            self.buffer += chunk
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        frame: dict[str, Any] = {}
        for line in block.decode().split("\n"):
            name, _, value = line.partition(":")
            frame[name or ":"] = value.removeprefix(" ")
        if "data" in frame:
            frame["json"] = json.loads(frame["data"])
        return frame

    async def next_event(self) -> dict[str, Any] | None:
        while True:
            frame = await self.next()
            if frame is None or "event" in frame:
                return frame

    async def rest(self) -> list[dict[str, Any]]:
        frames = []
        while (frame := await self.next()) is not None:
            frames.append(frame)
        return frames


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def _run_job(job_id: str) -> None:
    try:
        job_run(job_id=job_id)
    finally:
        connection.close()


@pytest.mark.slow
def test_a_stream_follows_a_render_from_submit_to_completed(account) -> None:
    user, token = account
    job = submit(user)

    async def scenario() -> list[dict[str, Any]]:
        response = await AsyncClient().get(f"/api/v1/jobs/{job.id}/events", headers=bearer(token))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        frames = Frames(response)
        assert await frames.next() == {"retry": "3000"}
        first = await frames.next_event()
        assert first is not None and first["json"]["state"] == "queued"
        render = asyncio.ensure_future(sync_to_async(_run_job, thread_sensitive=False)(str(job.id)))
        events = [first, *[f for f in await frames.rest() if "event" in f]]
        await render
        return events

    events = run(scenario())
    states = [e["json"]["state"] for e in events]
    progress = [e["json"]["progress"] for e in events]
    assert states[0] == "queued" and states[-1] == "succeeded", states
    assert sum(state in ("succeeded", "failed", "cancelled") for state in states) == 1
    assert "running" in states
    assert progress == sorted(progress) and progress[-1] == 100, progress
    assert len({e["id"] for e in events}) == len(events)  # every event a new state
    assert {e["event"] for e in events} == {"job"}
    last = events[-1]["json"]
    assert last["video_url"].endswith(f"/media/v/{job.id}.mp4")
    assert last["error"] is None and last["completed_at"].endswith("Z")


def test_last_event_id_resumes_without_replaying(account) -> None:
    user, token = account
    job = submit(user)
    job_claim(job_id=str(job.id))
    job_progress_set(job_id=job.id, progress=30, eta_seconds=20)

    async def scenario() -> None:
        client = AsyncClient()
        response = await client.get(f"/api/v1/jobs/{job.id}/events", headers=bearer(token))
        seen = await Frames(response).next_event()
        assert seen is not None and seen["json"]["progress"] == 30
        # Reconnect with the id of the last event seen: no replay; the next change comes.
        response = await client.get(
            f"/api/v1/jobs/{job.id}/events", headers={**bearer(token), "Last-Event-ID": seen["id"]}
        )
        frames = Frames(response)
        assert await frames.next() == {"retry": "3000"}
        await sync_to_async(job_progress_set)(job_id=job.id, progress=55, eta_seconds=9)
        after = await frames.next_event()
        assert after is not None and after["json"]["progress"] == 55
        await sync_to_async(job_fail)(
            job_id=job.id, stage=Job.FailureStage.GENERATION, code=500, message="Renderer gave up."
        )
        end = await frames.next_event()
        assert end is not None and end["json"]["state"] == "failed"
        assert end["json"]["error"]["message"] == "Renderer gave up."
        assert await frames.next() is None  # closed after the terminal event
        # A client that saw the end is told to stop (EventSource stops on 204).
        response = await client.get(
            f"/api/v1/jobs/{job.id}/events", headers={**bearer(token), "Last-Event-ID": end["id"]}
        )
        assert response.status_code == 204
        # One that did not sees the end once, then the stream closes.
        response = await client.get(
            f"/api/v1/jobs/{job.id}/events", headers={**bearer(token), "Last-Event-ID": seen["id"]}
        )
        rest = await Frames(response).rest()
        assert [f["json"]["state"] for f in rest if "event" in f] == ["failed"]

    run(scenario())


def test_heartbeats_keep_an_idle_stream_open_until_its_lifetime_ends(account, settings) -> None:
    settings.GENERATION_EVENTS_HEARTBEAT_SECONDS = 0.05
    settings.GENERATION_EVENTS_MAX_SECONDS = 0.5
    user, token = account
    job = submit(user)

    async def scenario() -> list[dict[str, Any]]:
        response = await AsyncClient().get(f"/api/v1/jobs/{job.id}/events", headers=bearer(token))
        return await Frames(response).rest()

    frames = run(scenario())
    events = [f for f in frames if "event" in f]
    assert [e["json"]["state"] for e in events] == ["queued"]  # nothing changed
    assert sum(f == {":": "heartbeat"} for f in frames) >= 2
    # It ended without a terminal event: a client reconnects and resumes.


def test_the_openai_stream_sends_video_objects(account) -> None:
    user, token = account
    job = submit(user)

    async def scenario() -> None:
        response = await AsyncClient().get(
            f"/v1/videos/video_{job.id.hex}/events", headers=bearer(token)
        )
        assert response.status_code == 200
        frames = Frames(response)
        first = await frames.next_event()
        assert first is not None and first["event"] == "video"
        video = first["json"]
        assert video["id"] == f"video_{job.id.hex}" and video["object"] == "video"
        assert (video["status"], video["progress"], video["seconds"]) == ("queued", 0, "4")
        assert video["prompt"] == "a paper boat on a pond"
        await sync_to_async(job_claim)(job_id=str(job.id))
        running = await frames.next_event()
        assert running is not None and running["json"]["status"] == "in_progress"

    run(scenario())


def test_a_dashboard_session_reads_our_stream(account) -> None:
    user, _ = account
    job = submit(user)

    async def scenario() -> None:
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(f"/api/v1/jobs/{job.id}/events")
        assert response.status_code == 200
        first = await Frames(response).next_event()
        assert first is not None and first["json"]["id"] == str(job.id)

    run(scenario())


def test_errors_answer_in_each_facades_shape(account) -> None:
    user, token = account
    job = submit(user)
    other_token = api_key_create(user=UserFactory(), name="other").token
    no_read = api_key_create(user=user, name="generate only")
    api_key_limits_set(
        api_key=no_read.api_key, changes={"scopes": ["generate"]}, actor=None, via="t"
    )

    async def scenario() -> None:
        client = AsyncClient()
        ours = f"/api/v1/jobs/{job.id}/events"
        theirs = f"/v1/videos/video_{job.id.hex}/events"
        # No key / a wrong key: 401.
        for headers in ({}, bearer("vs_wrong")):
            response = await client.get(ours, headers=headers)
            assert response.status_code == 401
            assert response.json()["code"] == 401 and response.json()["data"] is None
            assert response.json()["msg"].startswith("authorization: ")
            response = await client.get(theirs, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "invalid_request_error"
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        # A key without the read scope: 403.
        assert (await client.get(ours, headers=bearer(no_read.token))).status_code == 403
        response = await client.get(theirs, headers=bearer(no_read.token))
        assert response.status_code == 403 and "error" in response.json()
        # Another account's job, an unknown id, a malformed id: 404, the same answer.
        for path in (
            ours,
            "/api/v1/jobs/6f1c2a52-0f1e-4d4b-8f6e-3a7f9f8f1d2c/events",
            "/api/v1/jobs/not-a-job/events",
        ):
            response = await client.get(path, headers=bearer(other_token))
            assert response.status_code == 404
            assert response.json() == {"code": 404, "msg": "job: no job with this id", "data": None}
        for path in (theirs, "/v1/videos/video_nope/events"):
            response = await client.get(path, headers=bearer(other_token))
            assert response.status_code == 404
            error = response.json()["error"]
            assert error["type"] == "invalid_request_error" and error["code"] == "not_found"
        # The owner's key streams.
        response = await client.get(ours, headers=bearer(token))
        assert response.status_code == 200
        assert (await Frames(response).next_event()) is not None

    run(scenario())


def test_the_wsgi_handler_refuses_streams_rather_than_hold_a_thread(account) -> None:
    user, token = account
    job = submit(user)
    response = Client().get(f"/api/v1/jobs/{job.id}/events", headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["msg"].startswith("stream: ")
    response = Client().get(f"/v1/videos/video_{job.id.hex}/events", headers=bearer(token))
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


def test_the_schema_documents_both_streams() -> None:
    paths = Client().get("/docs/openapi.json").json()["paths"]
    for path in ("/api/v1/jobs/{job_id}/events", "/v1/videos/{video_id}/events"):
        responses = paths[path]["get"]["responses"]
        assert "text/event-stream" in responses["200"]["content"], path
        assert {"204", "401", "403", "404"} <= set(responses), path
