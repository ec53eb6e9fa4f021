"""Remembered status answers (generation/facades/status_read.py, `status_remember`).

A poll whose key entry, fence, job snapshot and extra entries read back as the very same bytes
gets the answer built last time, without decoding or building anything; any change to one of
those entries, and the passing of a time-bound part (the key's expiry and next touch, kie's
record retention, a queued job's estimate), gives a freshly built answer. Runs on a real
Redis (the memo needs the cache's raw read), skipped where none answers.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_limits_set, api_key_revoke
from generation.facades import status_read as status_read_module
from generation.facades.veo3api_base import RECORD_RETENTION
from generation.models import Job
from generation.selectors import daily_usage_forget
from generation.snapshots import job_snapshot_publish
from tests.factories import UserFactory
from veosaas.cache import RedisCache

pytestmark = pytest.mark.django_db
START = datetime(2031, 3, 2, 10, 0, tzinfo=UTC)
REDIS = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/11"


@pytest.fixture(autouse=True)
def redis_cache() -> Any:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"needs a Redis server at {REDIS} (CI runs one)")
    caches = {
        "default": {
            "BACKEND": "veosaas.cache.RedisCache",
            "LOCATION": REDIS,
            "KEY_PREFIX": f"memo-{uuid.uuid4().hex}",
        }
    }
    status_read_module._memo.clear()
    with override_settings(CACHES=caches):
        yield
    status_read_module._memo.clear()


@pytest.fixture
def world(time_machine: Any) -> dict[str, Any]:
    time_machine.move_to(START, tick=False)
    user = UserFactory()
    token = api_key_create(user=user, name="poll").token
    now = timezone.now()
    running = {"state": "running", "progress": 30, "eta_seconds": 9, "started_at": now}

    def job(facade: str, **fields: Any) -> Job:
        made = Job.objects.create(user=user, facade=facade, prompt="p", provider="local", **fields)
        job_snapshot_publish(job_id=made.pk)
        return made

    jobs = {
        "veo3o1": job("veo3o1", **running),
        "openai": job("veo3o1", **running),
        "kie": job("veo3api", raw_request={"prompt": "p"}, **running),
        "codefast": job("codefast", **running),
        "queued": job("veo3o1"),
    }
    time_machine.move_to(START + timedelta(seconds=10), tick=False)  # past the key's fence
    bearer, xkey = APIClient(), APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    xkey.credentials(HTTP_X_API_KEY=token)
    world = {"bearer": bearer, "xkey": xkey, "jobs": jobs, "user": user, "tm": time_machine}
    for name in jobs:  # first polls: the key's entry and touch, the usage, the places
        poll(world, name)
    return world


def poll(world: dict[str, Any], name: str, **extra: Any) -> Any:
    job = world["jobs"][name]
    if name in ("veo3o1", "queued"):
        return world["bearer"].get(f"/api/video-status/{job.pk}", **extra)
    if name == "openai":
        return world["bearer"].get(f"/v1/videos/{job.pk}", **extra)
    if name == "kie":
        return world["bearer"].get("/api/v1/veo/record-info", {"taskId": job.task_id}, **extra)
    return world["xkey"].get(f"/status/{job.pk}", **extra)


def _decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The cache entries decoded from here on (a remembered answer decodes none)."""
    seen: list[bytes] = []
    real = RedisCache.decode

    def decode(self: RedisCache, raw: bytes) -> Any:
        seen.append(raw)
        return real(self, raw)

    monkeypatch.setattr(RedisCache, "decode", decode)
    return seen


@pytest.mark.parametrize("name", ["veo3o1", "openai", "kie", "codefast"])
def test_an_unchanged_poll_is_answered_from_memory_with_the_same_bytes(
    world, name, monkeypatch, django_assert_num_queries
) -> None:
    first = poll(world, name)
    assert first.status_code == 200
    decoded = _decodes(monkeypatch)
    with django_assert_num_queries(0):
        again = poll(world, name)
    assert again.status_code == 200 and decoded == []
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert dict(again.items()).get("openai-poll-after-ms") == first.get("openai-poll-after-ms")


@pytest.mark.parametrize("name", ["veo3o1", "openai", "kie", "codefast"])
def test_a_published_change_is_answered_at_once(world, name) -> None:
    before = poll(world, name).content
    job = world["jobs"][name]
    Job.objects.filter(pk=job.pk).update(
        state="failed", error_message="boom 77", completed_at=timezone.now()
    )
    job_snapshot_publish(job_id=job.pk)
    after = poll(world, name)
    assert after.status_code == 200 and after.content != before
    assert b"boom 77" in after.content


def test_a_revoked_key_is_refused_at_once(world) -> None:
    assert poll(world, "veo3o1").status_code == 200
    assert poll(world, "veo3o1").status_code == 200  # remembered
    api_key_revoke(api_key=world["user"].api_keys.get())
    world["tm"].shift(timedelta(seconds=5))  # the fence's margin: a poll a moment later
    assert poll(world, "veo3o1").status_code == 401


def test_an_address_the_key_may_not_use_is_refused_although_another_was_remembered(world) -> None:
    api_key = world["user"].api_keys.get()
    api_key_limits_set(
        api_key=api_key, changes={"allowed_ips": ["10.0.0.1"]}, actor=None, via="test"
    )
    world["tm"].shift(timedelta(seconds=5))
    assert poll(world, "veo3o1", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert poll(world, "veo3o1", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert poll(world, "veo3o1", REMOTE_ADDR="10.0.0.2").status_code == 401


def test_a_key_expiring_meanwhile_is_refused_with_the_same_bytes_in_the_cache(world) -> None:
    user = world["user"]
    expires = timezone.now() + timedelta(seconds=30)
    created = api_key_create(user=user, name="short", expires_at=expires)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}")
    world["tm"].shift(timedelta(seconds=5))
    url = f"/api/video-status/{world['jobs']['veo3o1'].pk}"
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    world["tm"].shift(timedelta(seconds=30))
    assert client.get(url).status_code == 401


def test_the_key_is_touched_again_when_its_touch_is_due(world, settings) -> None:
    api_key = world["user"].api_keys.get()
    first_use = api_key.last_used_at
    assert poll(world, "veo3o1").status_code == 200
    world["tm"].shift(timedelta(seconds=settings.ACCOUNTS_API_KEY_LAST_USED_RESOLUTION + 1))
    assert poll(world, "veo3o1").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at > first_use


def test_a_kie_record_past_its_retention_is_too_old_with_the_same_bytes(world) -> None:
    assert poll(world, "kie").json()["code"] == 200
    assert poll(world, "kie").json()["code"] == 200
    world["tm"].shift(RECORD_RETENTION)
    body = poll(world, "kie").json()
    assert body["code"] == 422


def test_codefast_usage_counted_anew_is_not_hidden_by_a_remembered_answer(world) -> None:
    user = world["user"]
    before = poll(world, "codefast").json()["daily_limit_remaining"]
    assert poll(world, "codefast").json()["daily_limit_remaining"] == before
    Job.objects.create(user=user, facade="codefast", prompt="p", provider="local")
    daily_usage_forget(user_id=user.pk)  # what job_submit does after its commit
    assert poll(world, "codefast").json()["daily_limit_remaining"] == before - 1


def test_a_queued_jobs_answer_is_rebuilt_after_a_second(world, monkeypatch) -> None:
    assert poll(world, "queued").status_code == 200
    assert poll(world, "queued").status_code == 200
    decoded = _decodes(monkeypatch)
    assert poll(world, "queued").status_code == 200
    assert decoded == []
    world["tm"].shift(timedelta(seconds=1.5))
    assert poll(world, "queued").status_code == 200
    assert decoded != []


def test_refusals_and_misses_are_not_remembered(world) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")
    assert client.get(f"/api/video-status/{world['jobs']['veo3o1'].pk}").status_code == 401
    assert poll(world, "veo3o1").status_code == 200
    unknown = world["bearer"].get(f"/api/video-status/{uuid.uuid4()}")
    assert unknown.status_code == 404
    answers = [a.content for a in status_read_module._memo.values()]
    assert answers
    assert not [a for a in answers if b"Authentication failed" in a or b"not found" in a]
