"""Spend per key: the usage API and its CSV filter by `key`; `/api/v1/account/usage/keys`
totals jobs and charged credits per key, with each key's budget use this period."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_limits_set
from billing.models import Transfer
from billing.services import credits_capture, credits_grant, price_quote
from generation.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def spent() -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=10_000, idempotency_key=f"seed:{user.pk}")
    first = api_key_create(user=user, name="first")
    api_key_limits_set(api_key=first.api_key, changes={"budget_credits": 1000}, actor=None, via="t")
    second = api_key_create(user=user, name="second")
    jobs = {}
    for created in (first, second):
        answer = client_for(created.token).post(
            "/api/v1/veo/generate", {"prompt": "x", "model": "veo3_fast"}, format="json"
        )
        jobs[created.api_key.name] = Job.objects.get(api_key=created.api_key)
        assert answer.json()["code"] == 200
    hold = Transfer.objects.get(pk=jobs["first"].hold_transfer_id)
    credits_capture(hold=hold)
    price = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    return user, first, second, jobs, price.credits


def test_usage_records_and_csv_filter_by_key(spent) -> None:  # type: ignore[no-untyped-def]
    _, first, second, jobs, _ = spent
    client = client_for(second.token)
    rows = client.get("/api/v1/account/usage", {"key": first.api_key.pk}).json()["data"]
    assert {r["job_id"] for r in rows["records"]} == {str(jobs["first"].pk)}
    assert sorted(r["kind"] for r in rows["records"]) == ["capture", "hold"]
    assert {r["api_key_name"] for r in rows["records"]} == {"first"}
    response = client.get("/api/v1/account/usage", {"key": second.api_key.pk, "format": "csv"})
    body = b"".join(response.streaming_content).decode()
    records = list(csv.DictReader(io.StringIO(body)))
    assert [r["job_id"] for r in records] == [str(jobs["second"].pk)]
    unfiltered = client.get("/api/v1/account/usage").json()["data"]["records"]
    assert len(unfiltered) == 4  # the grant, two holds, one capture


def test_an_unknown_or_foreign_key_filter_is_422(spent) -> None:  # type: ignore[no-untyped-def]
    _, first, _, _, _ = spent
    theirs = api_key_create(user=UserFactory(), name="x").api_key
    for value in (theirs.pk, "abc"):
        response = client_for(first.token).get("/api/v1/account/usage", {"key": value})
        assert response.status_code == 422
        assert response.json()["msg"].startswith("key:")


def test_per_key_totals_with_budget_use(spent) -> None:  # type: ignore[no-untyped-def]
    _, first, _, _, price = spent
    data = client_for(first.token).get("/api/v1/account/usage/keys").json()["data"]
    rows = {r["name"]: r for r in data["keys"]}
    assert rows["first"]["jobs"] == 1 and rows["first"]["credits_charged"] == price
    assert rows["first"]["budget_credits"] == 1000 and rows["first"]["budget_used"] == price
    assert rows["second"]["jobs"] == 1 and rows["second"]["credits_charged"] == 0
    assert rows["second"]["budget_used"] is None
    empty = (
        client_for(first.token)
        .get("/api/v1/account/usage/keys", {"from": "2020-01-01", "to": "2020-01-31"})
        .json()["data"]
    )
    assert all(r["jobs"] == 0 and r["credits_charged"] == 0 for r in empty["keys"])
    bad = client_for(first.token).get(
        "/api/v1/account/usage/keys", {"from": "2020-02-01", "to": "2020-01-01"}
    )
    assert bad.status_code == 422
