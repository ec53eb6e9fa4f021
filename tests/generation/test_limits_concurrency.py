"""K3 and J5 under real concurrency, through the veo3api facade.

- K3: 50 simultaneous generate requests against the real HTTP API of a running web process
  (gunicorn, several processes and threads) with the default limit of 20 per 10 s → exactly 20
  accepted, the rest code 429 with Retry-After. The limiter is Redis's Lua script when
  REDIS_URL is set (CI), else a locked database row.
- J5: N concurrent submits with a cap of K jobs queued or running → exactly K accepted, never
  more than K unfinished jobs (the account's `active_jobs`, guarded in the hold's statement).
- One live upgrade per source and one job per Idempotency-Key, under the same races.

Threads each use their own database connection (transactional tests); PostgreSQL only: SQLite
serialises every write transaction, which would prove nothing.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job
from tests.conftest import run_in_threads
from tests.factories import UserFactory
from tests.generation.veo3api_helpers import run_job
from tests.processes import running_stack

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def account(require_postgres: None) -> tuple[Any, str]:
    user = UserFactory()
    credits_grant(user=user, amount=100_000, idempotency_key=f"seed:{user.pk}")
    if django_settings.REDIS_URL:  # a leftover window from an earlier run with the same id
        import redis

        redis.Redis.from_url(django_settings.REDIS_URL).delete(f"ratelimit:generate:{user.pk}")
    return user, api_key_create(user=user, name="race").token


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.e2e
def test_fifty_simultaneous_requests_over_http_let_exactly_twenty_through(
    tmp_path, account
) -> None:
    user, token = account
    with running_stack(
        tmp_path,
        worker=False,
        GENERATION_RATE_LIMIT="20",
        GENERATION_RATE_WINDOW_SECONDS="10",
        GENERATION_MAX_ACTIVE_JOBS="1000",
    ) as stack:
        barrier = threading.Barrier(50)
        session_headers = {"Authorization": f"Bearer {token}"}

        def fire(index: int) -> tuple[int, int, str | None]:
            barrier.wait()
            response = requests.post(
                f"{stack.base_url}/api/v1/veo/generate",
                headers=session_headers,
                timeout=60,
                json={"prompt": f"race {index}", "model": "veo3_fast"},
            )
            return (
                response.status_code,
                response.json()["code"],
                response.headers.get("Retry-After"),
            )

        results: list[Any] = [None] * 50

        def run(index: int) -> None:
            results[index] = fire(index)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    # veo3api answers with real HTTP statuses: the status mirrors the envelope's code.
    assert all(r is not None and r[0] == r[1] for r in results), results
    accepted = [r for r in results if r[1] == 200]
    limited = [r for r in results if r[1] == 429]
    assert (len(accepted), len(limited)) == (20, 30), results
    assert all(r[2] and 1 <= int(r[2]) <= 10 for r in limited)
    assert Job.objects.filter(user=user).count() == 20
    assert Transfer.objects.filter(kind="hold", job_id__isnull=False).count() == 20
    price = price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=8
    ).credits
    assert balance_get(user=user).held == 20 * price


def test_concurrent_submits_never_exceed_the_active_job_cap(account, settings) -> None:
    user, token = account
    settings.GENERATION_MAX_ACTIVE_JOBS = 5
    settings.GENERATION_RATE_LIMIT = 1000
    results = run_in_threads(
        30,
        lambda i: (
            client_for(token)
            .post(
                "/api/v1/veo/generate", {"prompt": f"cap {i}", "model": "veo3_fast"}, format="json"
            )
            .json()
        ),
    )
    codes = sorted(r["code"] for r in results)
    assert codes == [200] * 5 + [429] * 25, results
    assert Job.objects.filter(user=user, state__in=["queued", "running"]).count() == 5
    assert Transfer.objects.filter(kind="hold", job_id__isnull=False).count() == 5
    assert all("at most 5" in r["msg"] for r in results if r["code"] == 429)


def test_one_idempotency_key_from_twenty_threads_is_one_task(account, settings) -> None:
    user, token = account
    settings.GENERATION_RATE_LIMIT = 1000
    settings.GENERATION_MAX_ACTIVE_JOBS = 1000
    results = run_in_threads(
        20,
        lambda i: (
            client_for(token)
            .post(
                "/api/v1/veo/generate",
                {"prompt": "once", "model": "veo3_fast"},
                format="json",
                HTTP_IDEMPOTENCY_KEY="same-key",
            )
            .json()
        ),
    )
    assert all(r["code"] == 200 for r in results), results
    assert len({r["data"]["taskId"] for r in results}) == 1
    assert Job.objects.filter(user=user).count() == 1
    assert Transfer.objects.filter(kind="hold", job_id__isnull=False).count() == 1


def test_concurrent_first_upgrade_requests_make_one_upgrade(account, settings) -> None:
    _, token = account
    settings.GENERATION_RATE_LIMIT = 1000
    created = (
        client_for(token)
        .post(
            "/api/v1/veo/generate",
            {"prompt": "source", "model": "veo3_fast", "duration": 4},
            format="json",
        )
        .json()
    )
    source = run_job(created["data"]["taskId"].removeprefix("veo_task_"))
    assert source.state == "succeeded"
    results = run_in_threads(
        16,
        lambda i: (
            client_for(token).get("/api/v1/veo/get-1080p-video", {"taskId": source.task_id}).json()
            if i % 2
            else client_for(token)
            .post("/api/v1/veo/get-4k-video", {"taskId": source.task_id}, format="json")
            .json()
        ),
    )
    assert all(r["code"] in (200, 400, 422) for r in results), results
    assert Job.objects.filter(kind="upgrade_1080p").count() == 1
    assert Job.objects.filter(kind="upgrade_4k").count() == 1
    four_k = [r for r in results if "taskId" in (r.get("data") or {})]
    assert sum(r["code"] == 200 for r in four_k) == 1  # only the creating call is "first"
    # The source and the 4K upgrade hold credits; the 1080p version is free by default (kie
    # bundles it with the task), so it holds nothing.
    assert Transfer.objects.filter(kind="hold", job_id__isnull=False).count() == 2


def test_duplicate_delivery_messages_send_one_attempt(account, settings) -> None:
    """A redelivered or duplicated task message: 12 workers try the same due attempt at once."""
    from generation.facades.callbacks import callback_schedule
    from generation.services import JobSpec, job_fail, job_submit
    from outbound.engine import delivery_attempt
    from tests.generation.veo3api_helpers import receiver_running

    user, _ = account
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    with receiver_running() as receiver:
        receiver.delay = 0.3
        job = job_submit(
            user=user, spec=JobSpec(facade="veo3api", prompt="x", callback_url=receiver.url())
        ).job
        job_fail(job_id=job.pk, stage="generation", code=501, message="failed")
        delivery = callback_schedule(job_id=job.pk)
        results = run_in_threads(12, lambda i: delivery_attempt(delivery_id=delivery.pk))
    sent = [r for r in results if r is not None]
    assert len(sent) == 1, results
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.attempt_log.count()) == ("delivered", 1, 1)
