"""Staff see and edit a key's settings in the admin, through the same service: product
vocabulary checked, every change audited with the staff member as the actor."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import ApiKey, ApiKeyChange
from accounts.services import api_key_create
from billing.catalog import DURATIONS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Any) -> Any:
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    client.staff = admin
    return client


def form_data(key: ApiKey, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": key.name,
        "expires_at_0": "",
        "expires_at_1": "",
        "scopes": ["read", "generate", "manage"],
        "budget_credits": "",
        "budget_period": "month",
        "allowed_models": [],
        "max_resolution": "",
        "max_seconds": "",
        "rate_limit_per_minute": "",
        "max_concurrent_jobs": "",
        "allowed_ips": "",
        "changes-TOTAL_FORMS": "0",
        "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_staff_edit_limits_and_each_change_is_audited(staff) -> None:  # type: ignore[no-untyped-def]
    key = api_key_create(user=UserFactory(), name="partner").api_key
    url = reverse("admin:accounts_apikey_change", args=[key.pk])
    response = staff.post(
        url,
        form_data(
            key,
            budget_credits="250",
            budget_period="week",
            allowed_models=["local-lite"],
            max_resolution="720p",
            allowed_ips="10.0.0.0/8, 192.0.2.7",
            scopes=["read", "generate"],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert (key.budget_credits, key.budget_period, key.allowed_models) == (
        250,
        "week",
        ["local-lite"],
    )
    assert key.allowed_ips == ["10.0.0.0/8", "192.0.2.7/32"]
    assert key.scopes == ["read", "generate"]
    trail = ApiKeyChange.objects.filter(api_key=key)
    assert {c.field for c in trail} == {
        "budget_credits",
        "budget_period",
        "allowed_models",
        "max_resolution",
        "allowed_ips",
        "scopes",
    }
    assert all(c.actor == staff.staff and c.via == "admin" for c in trail)
    page = staff.get(url).content.decode()
    assert "0 of 250 credits (week)" in page and "budget_period" in page  # spend + audit trail


def test_bad_values_are_shown_on_the_form_and_change_nothing(staff) -> None:  # type: ignore[no-untyped-def]
    key = api_key_create(user=UserFactory(), name="partner").api_key
    url = reverse("admin:accounts_apikey_change", args=[key.pk])
    response = staff.post(url, form_data(key, allowed_ips="not-an-address"))
    assert response.status_code == 200
    assert "is not an IP address or CIDR" in response.content.decode()
    response = staff.post(url, form_data(key, max_seconds=str(max(DURATIONS) + 1)))
    assert f"must be between {min(DURATIONS)} and {max(DURATIONS)}" in response.content.decode()
    key.refresh_from_db()
    assert key.allowed_ips == [] and key.max_seconds is None
    assert not ApiKeyChange.objects.exists()
