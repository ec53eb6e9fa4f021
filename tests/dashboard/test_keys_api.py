"""`/api/v1/account/keys`: list / create / get / PATCH / DELETE in our envelope, the raw key
shown once, the `manage` scope required, every change audited, bad input 422 changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, ApiKeyChange
from accounts.services import api_key_create, api_key_limits_set
from billing.services import credits_grant, price_quote
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def owner() -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=10_000, idempotency_key=f"seed:{user.pk}")
    created = api_key_create(user=user, name="admin")
    return user, client_for(created.token), created.api_key


def test_create_shows_the_raw_key_once_with_its_limits_and_audits_them(owner) -> None:  # type: ignore[no-untyped-def]
    user, client, _ = owner
    response = client.post(
        "/api/v1/account/keys",
        {
            "name": "ci",
            "scopes": ["generate", "read"],
            "budget_credits": 500,
            "budget_period": "week",
            "allowed_models": ["fast", "LITE"],
            "max_resolution": "1080p",
            "max_seconds": 6,
            "rate_limit_per_minute": 30,
            "max_concurrent_jobs": 2,
            "allowed_ips": ["10.1.2.3", "192.168.0.0/16"],
        },
        format="json",
    )
    body = response.json()
    assert (response.status_code, body["code"]) == (200, 200), body
    data = body["data"]
    token = data["key"]
    assert data["scopes"] == ["read", "generate"]
    assert data["allowed_models"] == ["fast", "lite"]
    assert data["allowed_ips"] == ["10.1.2.3/32", "192.168.0.0/16"]
    assert (data["budget_credits"], data["budget_used"], data["budget_remaining"]) == (500, 0, 500)
    stored = ApiKey.objects.get(pk=data["id"])
    assert token not in str(stored.__dict__)  # K1: only the digest is stored
    listed = client.get("/api/v1/account/keys").json()["data"]
    assert {k["id"] for k in listed} == {data["id"], owner[2].pk}
    assert all("key" not in k for k in listed)
    assert client.get(f"/api/v1/account/keys/{data['id']}").json()["data"].get("key") is None
    changes = {c.field: c for c in ApiKeyChange.objects.filter(api_key=stored)}
    assert changes["budget_credits"].old is None and changes["budget_credits"].new == 500
    assert changes["budget_credits"].actor == user and changes["budget_credits"].via == "api"
    # The new key works within its scopes, from its allowed addresses only.
    new = client_for(token)
    assert new.get("/api/v1/account/usage", REMOTE_ADDR="10.1.2.3").json()["code"] == 200
    assert new.get("/api/v1/account/usage", REMOTE_ADDR="192.168.7.7").json()["code"] == 200
    assert new.get("/api/v1/account/usage", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert new.get("/api/v1/account/keys", REMOTE_ADDR="10.1.2.3").status_code == 403


def test_patch_changes_only_what_is_sent_and_records_old_and_new(owner) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = owner
    created = client.post("/api/v1/account/keys", {"name": "app", "max_seconds": 4}, "json")
    key_id = created.json()["data"]["id"]
    response = client.patch(
        f"/api/v1/account/keys/{key_id}", {"max_seconds": None, "budget_credits": 80}, "json"
    )
    data = response.json()["data"]
    assert (data["max_seconds"], data["budget_credits"], data["name"]) == (None, 80, "app")
    trail = [
        (c.field, c.old, c.new)
        for c in ApiKeyChange.objects.filter(api_key_id=key_id).order_by("id")
    ]
    assert trail == [
        ("max_seconds", None, 4),
        ("budget_credits", None, 80),
        ("max_seconds", 4, None),
    ]
    # Sending the same values again records nothing.
    client.patch(f"/api/v1/account/keys/{key_id}", {"budget_credits": 80}, "json")
    assert ApiKeyChange.objects.filter(api_key_id=key_id).count() == 3


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"allowed_models": ["sora-2"]}, "allowed_models"),
        ({"allowed_ips": ["not-an-ip"]}, "allowed_ips"),
        ({"scopes": ["admin"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"budget_credits": 0}, "budget_credits"),
        ({"budget_period": "year"}, "budget_period"),
        ({"max_resolution": "8k"}, "max_resolution"),
        ({"max_seconds": 30}, "max_seconds"),
        ({"rate_limit_per_minute": -1}, "rate_limit_per_minute"),
        ({"budget_credits": "lots"}, "budget_credits"),
    ],
)
def test_bad_settings_answer_422_naming_the_field_and_change_nothing(owner, payload, field) -> None:  # type: ignore[no-untyped-def]
    _, client, admin_key = owner
    before = ApiKey.objects.count()
    response = client.post("/api/v1/account/keys", payload, format="json")
    body = response.json()
    assert (response.status_code, body["code"]) == (422, 422), body
    assert body["msg"].startswith(f"{field}:"), body
    assert ApiKey.objects.count() == before
    patched = client.patch(f"/api/v1/account/keys/{admin_key.pk}", payload, format="json")
    assert patched.status_code == 422
    assert not ApiKeyChange.objects.exists()


def test_revoke_stops_the_key_and_another_accounts_key_is_unknown(owner) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = owner
    created = client.post("/api/v1/account/keys", {"name": "temp"}, "json").json()["data"]
    revoked = client.delete(f"/api/v1/account/keys/{created['id']}").json()
    assert revoked["data"]["revoked_at"] is not None
    assert client_for(created["key"]).get("/api/v1/account/usage").status_code == 401
    stranger = api_key_create(user=UserFactory(), name="theirs").api_key
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/account/keys/{stranger.pk}", {}, "json")
        assert (response.status_code, response.json()["msg"]) == (
            404,
            "key: no API key with this id",
        )
    assert client.get("/api/v1/account/keys/abc").status_code == 404


def test_the_list_shows_each_keys_spend_against_its_budget(owner) -> None:  # type: ignore[no-untyped-def]
    user, client, _ = owner
    created = api_key_create(user=user, name="spender")
    api_key_limits_set(
        api_key=created.api_key, changes={"budget_credits": 1000}, actor=None, via="t"
    )
    client_for(created.token).post(
        "/api/v1/veo/generate", {"prompt": "a cat", "model": "veo3_fast"}, format="json"
    )
    price = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    rows = {k["name"]: k for k in client.get("/api/v1/account/keys").json()["data"]}
    assert rows["spender"]["budget_used"] == price.credits
    assert rows["spender"]["budget_remaining"] == 1000 - price.credits
    assert rows["admin"]["budget_remaining"] is None


def test_a_limited_key_cannot_issue_or_loosen_keys(owner) -> None:  # type: ignore[no-untyped-def]
    user, _, _ = owner
    manager = api_key_create(user=user, name="manager")
    api_key_limits_set(api_key=manager.api_key, changes={"budget_credits": 10}, actor=None, via="t")
    client = client_for(manager.token)
    assert client.get("/api/v1/account/keys").json()["code"] == 200  # reading is fine
    created = client.post("/api/v1/account/keys", {"name": "escape"}, format="json")
    assert created.status_code == 403
    assert created.json()["msg"].startswith("key: only a key with every scope")
    loosened = client.patch(
        f"/api/v1/account/keys/{manager.api_key.pk}", {"budget_credits": None}, format="json"
    )
    assert loosened.status_code == 403
    manager.api_key.refresh_from_db()
    assert manager.api_key.budget_credits == 10
    assert ApiKey.objects.filter(user=user).count() == 2


@pytest.mark.parametrize("key_id", ["%C2%B2", "%E2%91%A0", "-1", "0", "+1", "1" * 40])
def test_a_key_id_that_is_not_ascii_digits_is_unknown_not_a_500(owner, key_id) -> None:  # type: ignore[no-untyped-def]
    _, client, api_key = owner
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/v1/account/keys/{key_id}", {}, "json")
        assert (response.status_code, response.json()["code"]) == (404, 404)
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
