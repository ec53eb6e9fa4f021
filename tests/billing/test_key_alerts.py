"""Usage alerts that target an API key: "key X used 80 % of its budget"."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_limits_set
from billing.alerts import alerts_evaluate
from billing.models import UsageAlert
from billing.services import credits_grant, credits_hold, credits_release, key_budget_open
from outbound.engine import delivery_attempt
from outbound.models import Delivery
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup() -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=10_000, idempotency_key=f"seed:{user.pk}")
    admin = api_key_create(user=user, name="admin")
    ci = api_key_create(user=user, name="ci").api_key
    ci = api_key_limits_set(api_key=ci, changes={"budget_credits": 100}, actor=None, via="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin.token}")
    return user, client, ci


def test_a_key_alert_fires_once_past_the_percentage_and_names_the_key(setup) -> None:  # type: ignore[no-untyped-def]
    user, client, ci = setup
    created = client.post(
        "/api/v1/account/alerts",
        {"metric": "key_budget_used_above", "threshold": 80, "key": ci.pk, "webhook": False},
        format="json",
    ).json()
    assert created["code"] == 200, created
    assert created["data"]["api_key_id"] == ci.pk
    first = credits_hold(
        user=user, amount=80, idempotency_key="a", budget=key_budget_open(api_key=ci)
    )
    assert alerts_evaluate(user_id=user.pk).fired == []  # 80 % is not above 80 %
    credits_hold(user=user, amount=5, idempotency_key="b", budget=key_budget_open(api_key=ci))
    fired = alerts_evaluate(user_id=user.pk)
    assert len(fired.fired) == 1
    assert alerts_evaluate(user_id=user.pk).fired == []  # once per crossing
    delivery = Delivery.objects.get(pk=fired.deliveries[0])
    assert delivery.payload["data"]["api_key_id"] == ci.pk
    assert delivery.payload["data"]["value"] == 85
    delivery_attempt(delivery_id=delivery.pk)
    assert "API key ci used above 80 % of its budget" in mail.outbox[-1].subject
    # Giving budget back re-arms it.
    credits_release(hold=first)
    assert alerts_evaluate(user_id=user.pk).rearmed == [created["data"]["id"]]


@pytest.mark.parametrize(
    ("payload", "msg"),
    [
        ({"metric": "key_budget_used_above", "threshold": 80}, "key: is required"),
        ({"metric": "key_budget_used_above", "threshold": 180, "key": 0}, "key:"),
        ({"metric": "available_below", "threshold": 10, "key": 1}, "key: only"),
    ],
)
def test_bad_key_alerts_are_refused_naming_the_field(setup, payload, msg) -> None:  # type: ignore[no-untyped-def]
    _, client, ci = setup
    if payload.get("key") == 1:
        payload = {**payload, "key": ci.pk}
    response = client.post("/api/v1/account/alerts", payload, format="json")
    assert response.status_code == 422
    assert response.json()["msg"].startswith(msg)
    assert not UsageAlert.objects.exists()


def test_a_key_alert_over_100_percent_or_on_another_accounts_key_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    _, client, ci = setup
    over = {"metric": "key_budget_used_above", "threshold": 101, "key": ci.pk}
    assert (
        client.post("/api/v1/account/alerts", over, format="json")
        .json()["msg"]
        .startswith("threshold:")
    )
    theirs = api_key_create(user=UserFactory(), name="x").api_key
    other = {"metric": "key_budget_used_above", "threshold": 50, "key": theirs.pk}
    assert client.post("/api/v1/account/alerts", other, format="json").json()["msg"] == (
        "key: no API key with this id"
    )


def test_the_alerts_page_lists_a_key_alert_by_the_keys_name(setup) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    user, client, ci = setup
    client.post(
        "/api/v1/account/alerts",
        {"metric": "key_budget_used_above", "threshold": 75, "key": ci.pk},
        format="json",
    )
    browser = Client()
    browser.force_login(user)
    page = browser.get("/dashboard/alerts/").content.decode()
    assert "Key ci has used more of its budget than (%)" in page
