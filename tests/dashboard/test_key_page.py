"""The dashboard's key page: each key's spend against its budget this period, and a form to
change a key's scopes and limits through the audited service."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import ApiKeyChange
from accounts.services import api_key_create, api_key_limits_set
from billing.services import credits_hold, key_budget_open

pytestmark = pytest.mark.django_db


def settings_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "ci",
        "scopes": ["read", "generate"],
        "budget_credits": "300",
        "budget_period": "day",
        "allowed_models": ["local-fast"],
        "max_resolution": "1080p",
        "max_seconds": "6",
        "rate_limit_per_minute": "",
        "max_concurrent_jobs": "2",
        "allowed_ips": "198.51.100.0/24",
    }
    data.update(overrides)
    return data


def test_the_keys_page_shows_spend_against_the_budget(browser: Client, member: Any) -> None:
    key = api_key_create(user=member, name="ci").api_key
    key = api_key_limits_set(api_key=key, changes={"budget_credits": 200}, actor=None, via="t")
    credits_hold(user=member, amount=50, idempotency_key="h", budget=key_budget_open(api_key=key))
    page = browser.get("/accounts/keys/").content.decode()
    assert "50 of 200 credits (Month)" in page
    assert 'max="200" value="50"' in page
    assert f"/accounts/keys/{key.pk}/" in page


def test_editing_a_key_saves_its_limits_and_records_the_change(
    browser: Client, member: Any
) -> None:
    key = api_key_create(user=member, name="ci").api_key
    assert browser.get(f"/accounts/keys/{key.pk}/").status_code == 200
    response = browser.post(f"/accounts/keys/{key.pk}/", settings_form())
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.budget_credits, key.budget_period, key.max_seconds) == (300, "day", 6)
    assert key.allowed_models == ["local-fast"] and key.allowed_ips == ["198.51.100.0/24"]
    assert key.scopes == ["read", "generate"]
    changes = ApiKeyChange.objects.filter(api_key=key)
    assert changes.count() == 8
    assert all(c.via == "dashboard" and c.actor == member for c in changes)


def test_a_bad_address_is_shown_next_to_the_field_and_nothing_changes(
    browser: Client, member: Any
) -> None:
    key = api_key_create(user=member, name="ci").api_key
    response = browser.post(f"/accounts/keys/{key.pk}/", settings_form(allowed_ips="nope"))
    assert response.status_code == 400
    assert "is not an IP address or CIDR" in response.content.decode()
    key.refresh_from_db()
    assert key.budget_credits is None
    assert not ApiKeyChange.objects.exists()


def test_another_accounts_key_is_not_found(browser: Client, stranger: Any) -> None:
    key = api_key_create(user=stranger, name="theirs").api_key
    assert browser.get(f"/accounts/keys/{key.pk}/").status_code == 404
    assert browser.post(f"/accounts/keys/{key.pk}/", settings_form()).status_code == 404


def test_a_key_with_scopes_or_limits_cannot_open_a_dashboard_session(member: Any) -> None:
    client = Client()
    limited = api_key_create(user=member, name="ci")
    api_key_limits_set(api_key=limited.api_key, changes={"scopes": ["read"]}, actor=None, via="t")
    response = client.post("/accounts/login/key/", {"api_key": limited.token})
    assert response.status_code == 400
    assert "works with the API only" in response.content.decode()
    assert client.get("/dashboard/").status_code == 302  # still logged out
    full = api_key_create(user=member, name="owner")
    assert client.post("/accounts/login/key/", {"api_key": full.token}).status_code == 302
    assert client.get("/dashboard/").status_code == 200
