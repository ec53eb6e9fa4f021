"""Status polling from the job's snapshot in the shared cache (generation/snapshots.py).

A poll runs no SQL once the key and the job are cached; every change of the job made by the
services republishes the snapshot after commit, so a poll never shows an older state than the
last committed change (except for a process dying between its commit and its publication, for
at most GENERATION_STATUS_CACHE_SECONDS).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_revoke
from generation.models import Job
from generation.services import (
    JobSpec,
    _progress_reporter,
    job_fail,
    job_run,
    job_submit,
    jobs_reap,
)
from generation.snapshots import job_snapshot_get, job_snapshot_publish, snapshot_key
from tests.conftest import run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.GENERATION_RATE_LIMIT = 1000


def submit(user) -> Job:
    spec = JobSpec(facade="veo3o1", prompt="a paper boat", duration_seconds=4)
    return job_submit(user=user, spec=spec).job


def status(client, job_id) -> dict:
    response = client.get(f"/api/video-status/{job_id}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_a_poll_runs_no_sql_once_cached(bearer, django_assert_num_queries) -> None:
    job = submit(bearer.user)
    status(bearer, job.id)  # first poll: key and job read from the database, then cached
    with django_assert_num_queries(0):
        data = status(bearer, job.id)
    assert data["uuid"] == str(job.id) and data["status"] == "pending"


def test_every_change_is_published(bearer, django_capture_on_commit_callbacks) -> None:
    job = submit(bearer.user)
    assert status(bearer, job.id)["status"] == "pending"
    # Claimed and rendering: progress is published as it is written.
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, attempts=1)
    job_snapshot_publish(job_id=job.id)
    with django_capture_on_commit_callbacks(execute=True):
        _progress_reporter(job)(0.5)
    data = status(bearer, job.id)
    assert (data["status"], data["progress"]) == ("processing", 50)
    # The worker dies; the reaper puts the job back in the queue.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap().requeued == 1
    data = status(bearer, job.id)
    assert (data["status"], data["progress"]) == ("pending", 0)
    # Another worker claims and completes it.
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=str(job.id))
    data = status(bearer, job.id)
    assert (data["status"], data["progress"], data["successFlag"]) == ("completed", 100, 1)
    assert data["videoUrl"].endswith(f"/media/v/{job.id}.mp4")
    assert data["completedAt"].endswith("Z")


def test_a_failure_is_published(bearer, django_capture_on_commit_callbacks) -> None:
    job = submit(bearer.user)
    assert status(bearer, job.id)["status"] == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        assert job_fail(
            job_id=job.id,
            stage=Job.FailureStage.GENERATION,
            code=500,
            message="The renderer gave up.",
        )
    data = status(bearer, job.id)
    assert (data["status"], data["successFlag"]) == ("failed", 3)
    assert data["errorMessage"] == "The renderer gave up."


def test_a_change_without_publication_shows_once_the_snapshot_expires(bearer, settings) -> None:
    """The bound for a worker that died between its commit and its publication."""
    settings.GENERATION_STATUS_CACHE_SECONDS = 1
    job = submit(bearer.user)
    assert status(bearer, job.id)["status"] == "pending"
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, progress=30)
    assert status(bearer, job.id)["status"] == "pending"  # still the snapshot
    time.sleep(1.2)
    data = status(bearer, job.id)
    assert (data["status"], data["progress"]) == ("processing", 30)


def test_an_ended_job_is_kept_longer(bearer, settings, django_capture_on_commit_callbacks) -> None:
    settings.GENERATION_STATUS_CACHE_SECONDS = 1
    settings.GENERATION_STATUS_CACHE_FINAL_SECONDS = 60
    job = submit(bearer.user)
    with django_capture_on_commit_callbacks(execute=True):
        job_fail(job_id=job.id, stage=Job.FailureStage.GENERATION, code=500, message="x")
    status(bearer, job.id)
    time.sleep(1.2)
    assert cache.get(snapshot_key(job.id)).state == Job.State.FAILED


def test_another_accounts_cached_job_is_not_found(bearer) -> None:
    job = submit(bearer.user)
    status(bearer, job.id)  # cached now
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=UserFactory()).token}")
    response = other.get(f"/api/video-status/{job.id}")
    assert response.status_code == 404
    assert response.json() == {"code": 1000, "msg": "Video not found", "data": None}
    assert job_snapshot_get(user_id=UserFactory().pk, job_id=job.id) is None


def test_a_revoked_key_is_refused_at_once(bearer, django_capture_on_commit_callbacks) -> None:
    from accounts.models import ApiKey

    job = submit(bearer.user)
    status(bearer, job.id)  # the key is cached too
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=ApiKey.objects.get(user=bearer.user))
    response = bearer.get(f"/api/video-status/{job.id}")
    assert response.status_code == 401
    assert response.json() == {"code": 1002, "msg": "Authentication failed", "data": None}
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer vsk_nope", "Bearer a b"])
def test_bad_authorization_is_1002(client, header: str) -> None:
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/video-status/00000000-0000-0000-0000-000000000000", **headers)
    assert response.status_code == 401
    assert response.json()["code"] == 1002


def test_other_methods_are_1000_405(bearer) -> None:
    job = submit(bearer.user)
    response = bearer.post(f"/api/video-status/{job.id}", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"code": 1000, "msg": "Method POST not allowed", "data": None}
    assert bearer.head(f"/api/video-status/{job.id}").status_code == 200


def test_the_answer_is_compact_utf8_json(bearer) -> None:
    job = submit(bearer.user)
    response = bearer.get(f"/api/video-status/{job.id}")
    assert response["Content-Type"] == "application/json"
    assert response.content.startswith(b'{"code":0,"msg":"Success","data":{"uuid":')


def test_an_unreachable_cache_falls_back_to_the_database(bearer, settings) -> None:
    job = submit(bearer.user)
    settings.CACHES = {
        "default": {
            "BACKEND": "veosaas.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    response = bearer.get(f"/api/video-status/{job.id}")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["uuid"] == str(job.id)


@pytest.mark.django_db(transaction=True)
def test_publications_land_in_commit_order(require_postgres) -> None:
    """Seven writers move one job's progress up and publish; a poller never sees it go down,
    and the snapshot ends equal to the row (a publication re-reads the row under its lock)."""
    user = UserFactory()
    job = Job.objects.create(user=user, facade="veo3o1", prompt="x", state=Job.State.RUNNING)
    writers, rounds = 7, 14
    done = threading.Semaphore(0)
    seen: list[int] = []

    def act(index: int) -> None:
        if index == 0:  # the poller
            finished = 0
            while finished < writers:
                cached = cache.get(snapshot_key(job.id))
                if cached is not None:
                    seen.append(cached.progress)
                if done.acquire(blocking=False):
                    finished += 1
            return
        for _ in range(rounds):
            with transaction.atomic():
                Job.objects.filter(pk=job.pk).update(progress=F("progress") + 1)
            job_snapshot_publish(job_id=job.id)
        done.release()

    results = run_in_threads(writers + 1, act)
    assert [r for r in results if r is not None] == []
    assert Job.objects.get(pk=job.pk).progress == writers * rounds
    assert cache.get(snapshot_key(job.id)).progress == writers * rounds
    assert len(seen) > 10
    assert seen == sorted(seen)


def finished(user, render_seconds: float) -> Job:
    return Job.objects.create(
        user=user,
        facade="veo3o1",
        prompt="x",
        provider="local",
        duration_seconds=4,
        state=Job.State.SUCCEEDED,
        video_file="videos/x.mp4",
        render_seconds=render_seconds,
        completed_at=timezone.now(),
    )


def test_a_queued_jobs_eta_comes_from_recorded_render_times(bearer, settings) -> None:
    from generation.selectors import render_seconds_estimate_forget

    settings.GENERATION_PROVIDERS_BY_TIER = {}
    for seconds in (10.0, 20.0, 30.0):
        finished(bearer.user, seconds)
    render_seconds_estimate_forget()
    job = submit(bearer.user)
    assert job.provider == "local"
    assert status(bearer, job.id)["estimatedTime"] == 20
    finished(bearer.user, 100.0)
    assert status(bearer, submit(bearer.user).id)["estimatedTime"] == 20  # kept a while
    render_seconds_estimate_forget()
    assert status(bearer, submit(bearer.user).id)["estimatedTime"] == 40


@pytest.mark.parametrize(
    "data", [{"errorMessage": "line\u2028sep\u2029ünï"}, None, {"progress": 40, "videoUrl": None}]
)
def test_the_plain_envelope_is_byte_for_byte_drfs(data) -> None:
    from rest_framework.renderers import JSONRenderer

    from generation.facades.veo3o1 import plain_envelope

    body = {"code": 0, "msg": "Success", "data": data}
    assert plain_envelope(0, "Success", data).content == JSONRenderer().render(body)
