"""A4 and per-key J5 / K3 under real concurrency (PostgreSQL, threads with their own
connections): a key's budget, concurrency cap and rate limit hold like the account's."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_limits_set
from billing.models import Transfer
from billing.selectors import balance_get, key_budget_used, ledger_inconsistencies
from billing.services import credits_grant, price_quote
from generation.models import Job
from tests.conftest import run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
INITIAL = 100_000


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def fast_price() -> int:
    return price_quote(
        operation="generate", model_tier="fast", resolution="720p", seconds=8
    ).credits


@pytest.fixture
def account(require_postgres: None, settings: Any) -> Any:
    settings.GENERATION_RATE_LIMIT = 1000
    settings.GENERATION_MAX_ACTIVE_JOBS = 1000
    user = UserFactory()
    credits_grant(user=user, amount=INITIAL, idempotency_key=f"seed:{user.pk}")
    return user


def limited_key(user: Any, **limits: Any) -> tuple[Any, str]:
    created = api_key_create(user=user, name="limited")
    key = api_key_limits_set(api_key=created.api_key, changes=limits, actor=None, via="test")
    if django_settings.REDIS_URL and "rate_limit_per_minute" in limits:
        import redis

        redis.Redis.from_url(django_settings.REDIS_URL).delete(f"ratelimit:generate:key:{key.pk}")
    return key, created.token


def submit(token: str, index: int) -> dict[str, Any]:
    return (
        client_for(token)
        .post("/api/v1/veo/generate", {"prompt": f"race {index}", "model": "veo3_fast"}, "json")
        .json()
    )


def test_forty_submits_on_a_key_whose_budget_allows_ten_accept_exactly_ten(account) -> None:  # type: ignore[no-untyped-def]
    price = fast_price()
    key, token = limited_key(account, budget_credits=10 * price, budget_period="month")
    results = run_in_threads(40, lambda i: submit(token, i))
    codes = sorted(r["code"] for r in results)
    assert codes == [200] * 10 + [402] * 30, results
    assert all("API key budget exceeded" in r["msg"] for r in results if r["code"] == 402)
    assert key_budget_used(api_key=key) == 10 * price  # used exactly
    assert Job.objects.filter(api_key=key).count() == 10
    assert Transfer.objects.filter(kind="hold", budget_usage__isnull=False).count() == 10
    # The refusals cost the account nothing; another key of the account still spends.
    assert balance_get(user=account).available == INITIAL - 10 * price
    other = api_key_create(user=account, name="unlimited").token
    assert submit(other, 99)["code"] == 200
    assert balance_get(user=account).available == INITIAL - 11 * price
    assert ledger_inconsistencies() == []


def test_a_key_concurrency_cap_holds_under_a_race(account) -> None:  # type: ignore[no-untyped-def]
    key, token = limited_key(account, max_concurrent_jobs=3)
    results = run_in_threads(20, lambda i: submit(token, i))
    assert sorted(r["code"] for r in results) == [200] * 3 + [429] * 17, results
    assert all("this API key" in r["msg"] for r in results if r["code"] == 429)
    assert Job.objects.filter(api_key=key, state__in=["queued", "running"]).count() == 3


def test_a_key_rate_limit_lets_exactly_its_limit_through(account) -> None:  # type: ignore[no-untyped-def]
    key, token = limited_key(account, rate_limit_per_minute=7)
    results = run_in_threads(25, lambda i: submit(token, i))
    assert sorted(r["code"] for r in results) == [200] * 7 + [429] * 18, results
    assert Job.objects.filter(api_key=key).count() == 7
