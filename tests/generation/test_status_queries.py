"""SQL statements of every facade's status read, pinned (a regression fails here, not in prod).

A poll whose job snapshot and key entry are in the shared cache runs no SQL (veo3o1 status,
kie record-info, codefast status of an ended job, GET /v1/videos/{id}); a snapshot miss reads
the job once. A codefast job still queued or running answers its queue place from the cache
until the queue changes (a publication), then counts it once (one statement). Runs on SQLite
and, with DATABASE_URL, on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.services import credits_grant
from generation.models import Job
from generation.selectors import queue_snapshot_forget
from generation.snapshots import job_snapshot_publish, snapshot_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
START = datetime(2031, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(time_machine: Any) -> dict[str, Any]:
    """A key used once already (its cache entry stored, its first use recorded) and one job
    per facade, each with its status snapshot published."""
    time_machine.move_to(START, tick=False)
    queue_snapshot_forget()
    user = UserFactory()
    token = api_key_create(user=user, name="poll").token
    now = timezone.now()
    running = {"state": "running", "progress": 30, "eta_seconds": 9, "started_at": now}
    done = {"state": "succeeded", "video_file": "v/x.mp4", "started_at": now, "completed_at": now}

    def job(facade: str, **fields: Any) -> Job:
        made = Job.objects.create(user=user, facade=facade, prompt="p", provider="local", **fields)
        job_snapshot_publish(job_id=made.pk)
        return made

    jobs = {
        "veo3o1": job("veo3o1", **running),
        "openai": job("veo3o1", **running),
        "kie": job("veo3api", raw_request={"prompt": "p"}, **running),
        "codefast_done": job("codefast", **done),
        "codefast_running": job("codefast", **running),
        "codefast_queued": job("codefast"),
    }
    # Past the key's creation fence, so its cache entry is trusted (accounts.selectors).
    time_machine.move_to(START + timedelta(seconds=10), tick=False)
    bearer, xkey = APIClient(), APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    xkey.credentials(HTTP_X_API_KEY=token)
    world = {"bearer": bearer, "xkey": xkey, "jobs": jobs, "user": user}
    for name in jobs:  # first polls: the key's entry, its touch, the daily usage
        assert poll(world, name).status_code == 200
    return world


def poll(world: dict[str, Any], name: str) -> Any:
    job = world["jobs"][name]
    if name == "veo3o1":
        return world["bearer"].get(f"/api/video-status/{job.pk}")
    if name == "openai":
        return world["bearer"].get(f"/v1/videos/{job.pk}")
    if name == "kie":
        return world["bearer"].get("/api/v1/veo/record-info", {"taskId": job.task_id})
    return world["xkey"].get(f"/status/{job.pk}")


@pytest.mark.parametrize("name", ["veo3o1", "kie", "codefast_done", "openai"])
def test_a_snapshot_hit_runs_no_sql(world, name, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        response = poll(world, name)
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["veo3o1", "kie", "codefast_done", "openai"])
def test_a_snapshot_miss_reads_the_job_once(world, name, django_assert_num_queries) -> None:
    cache.delete(snapshot_key(world["jobs"][name].pk))
    with django_assert_num_queries(1):
        response = poll(world, name)
    assert response.status_code == 200
    with django_assert_num_queries(0):  # stored by the miss
        assert poll(world, name).status_code == 200


@pytest.mark.parametrize("name", ["codefast_running", "codefast_queued"])
def test_a_codefast_job_in_progress_counts_its_place_once_per_queue_change(
    world, name, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        body = poll(world, name).json()
    assert body["total_in_queue"] == 1
    assert body["queue_position"] == (1 if name == "codefast_queued" else 0)
    job_snapshot_publish(job_id=world["jobs"]["veo3o1"].pk)  # any change to the queue
    with django_assert_num_queries(1):
        assert poll(world, name).json() == body
    with django_assert_num_queries(0):
        assert poll(world, name).json() == body


def test_unknown_jobs_and_bad_keys_run_no_sql(world, django_assert_num_queries) -> None:
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    with django_assert_num_queries(0):
        assert bad.get(f"/api/video-status/{world['jobs']['veo3o1'].pk}").status_code == 401
        assert world["xkey"].get("/status/not-a-job").status_code == 404
        response = world["bearer"].get("/api/v1/veo/record-info", {"taskId": "veo_task_x"})
        assert response.json()["code"] == 422


def test_a_codefast_poll_reads_the_cache_once(world, monkeypatch) -> None:
    """Key, snapshot, queue place and the account's daily usage come in one round trip."""
    calls: list[str] = []
    inside = [0]  # the local-memory cache's get_many calls its own get

    # On Redis the read is `get_many_raw` (remembered answers compare its bytes).
    for name in ("get", "get_many", "get_many_raw"):
        real = getattr(cache, name, None)
        if real is None:
            continue

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if not inside[0]:
                calls.append(_name)
            inside[0] += 1
            try:
                return _real(*args, **kwargs)
            finally:
                inside[0] -= 1

        monkeypatch.setattr(cache, name, spy)
    for name in ("codefast_done", "codefast_running", "codefast_queued"):
        calls.clear()
        assert poll(world, name).status_code == 200
        assert calls in (["get_many"], ["get_many_raw"]), (name, calls)


def test_a_new_job_counts_the_cached_places_again(
    world, django_capture_on_commit_callbacks
) -> None:
    assert poll(world, "codefast_queued").json()["total_in_queue"] == 1
    credits_grant(user=world["user"], amount=10_000, idempotency_key="grant:new-job")
    with django_capture_on_commit_callbacks(execute=True):  # its publication, as committed
        created = world["xkey"].post("/generate", {"prompt": "next"}, format="json")
    assert created.status_code == 200, created.content
    assert poll(world, "codefast_queued").json()["total_in_queue"] == 2
    assert poll(world, "codefast_running").json()["total_in_queue"] == 2
