"""What one submit costs the database, pinned per facade, and the job slot it counts.

A submit is one transaction (one commit) of at most 5 statements on PostgreSQL: the hold's
id reserved, the job row inserted, then the hold's single statement (the account's job slot
and the credits, the account row locked for that statement and the commit only). The price
table, the API key and the key's budget slot come from caches; the status snapshot is
published from the inserted row (no read). codefast's daily limit is counted under the
account's row lock (2 more statements). Without Redis the rate limit is a locked database row
in a transaction of its own (one more commit), and on SQLite the hold takes several statements.

Transactional tests: inside a test transaction the submit's COMMIT would be a savepoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.selectors import auth_fence_key
from accounts.services import api_key_create
from accounts.tokens import digest
from billing.models import LedgerAccount, Price, Transfer
from billing.services import credits_grant, price_quote
from generation.models import Job
from generation.services import CancelOutcome, job_cancel, job_fail
from tests.conftest import run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# (path, body, header) per facade; kie's path is veo3api's.
FACADES: dict[str, tuple[str, dict[str, Any], str]] = {
    "veo3api": ("/api/v1/veo/generate", {"prompt": "x", "model": "veo3_fast"}, "bearer"),
    "veo3o1": ("/api/generate-video", {"generationType": "text_to_video", "prompt": "x"}, "bearer"),
    "codefast": ("/generate", {"prompt": "x"}, "x-api-key"),
}
# Statements of one submit, request included (authentication reads the cache).
# PostgreSQL: the job INSERT (which takes the hold's id from the sequence) and the hold; codefast
# locks the account first (its daily limit) and counts the day's jobs under that lock.
POSTGRES_STATEMENTS = {"veo3api": 2, "veo3o1": 2, "codefast": 5}
SQLITE_STATEMENTS = {"veo3api": 7, "veo3o1": 7, "codefast": 10}
SQLITE_RATE_LIMIT_STATEMENTS = 3  # BEGIN IMMEDIATE, read and write the bucket row


SEEN: list[str] = []  # the statements of the last counted block (failure messages)


@contextmanager
def counted() -> Iterator[dict[str, int]]:
    """Statements and commits on the default connection while the block runs."""
    counts = {"statements": 0, "commits": 0}
    SEEN.clear()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        counts["statements"] += 1
        SEEN.append(" ".join(sql.split())[:90])
        verb = sql.lstrip()[:9].upper()
        if not connection.in_atomic_block and not verb.startswith(("SELECT", "BEGIN")):
            counts["commits"] += 1  # a write outside a transaction commits on its own
        return execute(sql, params, many, context)

    real_commit = connection.commit

    def commit() -> None:
        counts["commits"] += 1
        real_commit()

    connection.commit = commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(count):
            yield counts
    finally:
        del connection.commit


def _client(facade: str) -> tuple[Any, Callable[[], Any], APIClient]:
    user = UserFactory()
    credits_grant(user=user, amount=100_000, idempotency_key=f"seed:{user.pk}")
    token = api_key_create(user=user, name="q").token
    client = APIClient()
    if FACADES[facade][2] == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    else:
        client.credentials(HTTP_X_API_KEY=token)
    path, body, _ = FACADES[facade]

    def submit() -> Any:
        response = client.post(path, body, format="json")
        assert response.status_code == 200, response.content
        return response

    # The first submit fills the caches a busy server has warm (the key, the price table, the
    # key's budget slot); the key's fence is dropped so its snapshot is trusted at once.
    submit()
    cache.delete(auth_fence_key(digest(token)))
    return user, submit, client


@pytest.mark.parametrize("facade", sorted(FACADES))
def test_one_submit_is_one_commit_and_pinned_statements(facade: str, settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000
    user, submit, _ = _client(facade)
    with counted() as counts:
        submit()
    postgres = connection.vendor == "postgresql"
    expected = (POSTGRES_STATEMENTS if postgres else SQLITE_STATEMENTS)[facade]
    commits = 1
    if not django_settings.REDIS_URL:  # the rate limit's own locked row and transaction
        expected += SQLITE_RATE_LIMIT_STATEMENTS
        commits += 1
    assert counts == {"statements": expected, "commits": commits}, "\n".join(SEEN)
    if postgres:
        assert counts["statements"] <= 5 + (0 if django_settings.REDIS_URL else 3)
    job = Job.objects.filter(user=user).order_by("-created_at").first()
    assert job is not None and job.hold_transfer_id is not None
    hold = Transfer.objects.get(job_id=job.pk, kind=Transfer.Kind.HOLD)
    assert job.hold_transfer_id == hold.pk  # the row names the very hold taken after it
    assert LedgerAccount.objects.get(user=user).active_jobs == 2


def test_a_price_edit_is_charged_from_the_next_submit(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000
    user, submit, _ = _client("veo3api")
    default = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    Price.objects.create(
        operation="generate",
        model_tier="fast",
        resolution="720p",
        flat_credits=7,
        credits_per_second=1,
    )
    submit()
    latest = Job.objects.filter(user=user).order_by("-created_at").first()
    assert latest is not None and latest.credits_quoted == 7 + 8 != default.credits
    Price.objects.filter(model_tier="fast").delete()
    submit()
    latest = Job.objects.filter(user=user).order_by("-created_at").first()
    assert latest is not None and latest.credits_quoted == default.credits


def test_an_ended_job_gives_its_slot_back(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000
    settings.GENERATION_MAX_ACTIVE_JOBS = 2
    user, submit, client = _client("veo3api")  # one job
    submit()
    assert LedgerAccount.objects.get(user=user).active_jobs == 2
    path, body, _ = FACADES["veo3api"]
    refused = client.post(path, body, format="json").json()
    assert refused["code"] == 429 and "at most 2" in refused["msg"]
    first = Job.objects.filter(user=user).order_by("created_at").first()
    assert first is not None
    assert job_fail(job_id=first.id, stage="pre_start", code=500, message="upstream refused")
    assert job_fail(job_id=first.id, stage="pre_start", code=500, message="again") is False
    assert LedgerAccount.objects.get(user=user).active_jobs == 1
    submit()
    assert LedgerAccount.objects.get(user=user).active_jobs == 2
    assert Job.objects.filter(user=user, state__in=["queued", "running"]).count() == 2


def test_slots_stay_exact_when_submits_race_ends(require_postgres: None, settings) -> None:
    """Submits and terminal transitions of one account in 16 threads: the slot count ends equal
    to the live jobs, and no submit was accepted beyond the cap at any moment."""
    settings.GENERATION_RATE_LIMIT = 1000
    settings.GENERATION_MAX_ACTIVE_JOBS = 3
    user, _, client = _client("veo3api")
    path, body, _ = FACADES["veo3api"]
    token = client._credentials["HTTP_AUTHORIZATION"]

    def one(index: int) -> int:
        own = APIClient()
        own.credentials(HTTP_AUTHORIZATION=token)
        answer = own.post(path, {**body, "prompt": f"race {index}"}, format="json").json()
        if answer["code"] == 200:
            live = Job.objects.filter(user=user, state__in=["queued", "running"]).count()
            assert live <= 3
            job_id = answer["data"]["taskId"].removeprefix("veo_task_")
            job_fail(job_id=job_id, stage="pre_start", code=500, message="ended in the race")
        return int(answer["code"])

    codes = run_in_threads(16, one)
    assert all(code in (200, 429) for code in codes), codes
    assert codes.count(200) >= 2
    live = Job.objects.filter(user=user, state__in=["queued", "running"]).count()
    assert LedgerAccount.objects.get(user=user).active_jobs == live == 1  # the warm-up's job


def test_a_cancelled_queued_job_gives_its_slot_back(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000
    user, submit, _ = _client("veo3api")
    job = Job.objects.get(user=user)
    assert LedgerAccount.objects.get(user=user).active_jobs == 1
    assert job_cancel(job=job) == CancelOutcome.CANCELLED
    assert LedgerAccount.objects.get(user=user).active_jobs == 0
    submit()
    assert LedgerAccount.objects.get(user=user).active_jobs == 1
