"""Login throttling: 200 wrong passwords then the right one is refused with a clear lockout
message (dashboard password login, API-key login, admin login), per account and per address,
and a success resets an account's count."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts import tokens
from accounts.services import api_key_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
_addresses = itertools.count(1)


def _client() -> Client:
    """A client from its own address (the address counters are shared by the whole run)."""
    n = next(_addresses)
    return Client(REMOTE_ADDR=f"10.77.{n // 250}.{n % 250 + 1}")


def _user(**extra: Any) -> Any:
    user = UserFactory(**extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_dashboard_password_login_locks_the_account_after_repeated_failures() -> None:
    user = _user()
    client = _client()
    url = reverse("dashboard:login")
    for _ in range(200):
        client.post(url, {"username": user.email, "password": "wrong"})
    response = client.post(url, {"username": user.email, "password": PASSWORD})
    assert not _logged_in(client)
    assert "Too many failed login attempts for this account" in response.content.decode()
    # Another address is locked out of this account too (per-account lockout).
    other = _client()
    response = other.post(url, {"username": user.email.upper(), "password": PASSWORD})
    assert not _logged_in(other)
    assert "Too many failed login attempts" in response.content.decode()


def test_a_success_before_the_limit_resets_the_account_count(settings) -> None:
    settings.ACCOUNTS_LOGIN_MAX_FAILURES = 3
    user = _user()
    url = reverse("dashboard:login")
    for _ in range(5):
        client = _client()
        client.post(url, {"username": user.email, "password": "wrong"})
        client.post(url, {"username": user.email, "password": "wrong"})
        client.post(url, {"username": user.email, "password": PASSWORD})
        assert _logged_in(client)


def test_one_address_is_locked_out_after_failures_on_many_accounts(settings) -> None:
    settings.ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    client = _client()
    url = reverse("dashboard:login")
    for n in range(5):
        client.post(url, {"username": f"nobody{n}@example.com", "password": "wrong"})
    user = _user()
    response = client.post(url, {"username": user.email, "password": PASSWORD})
    assert not _logged_in(client)
    assert "from your network" in response.content.decode()
    elsewhere = _client()
    elsewhere.post(url, {"username": user.email, "password": PASSWORD})
    assert _logged_in(elsewhere)


def test_api_key_login_is_throttled_per_key_prefix() -> None:
    user = _user()
    token = api_key_create(user=user, name="k").token
    prefix = tokens.display_prefix(token)
    client = _client()
    url = reverse("dashboard:login-key")
    for n in range(200):
        client.post(url, {"api_key": f"{prefix}{'x' * 30}{n}"})
    response = client.post(url, {"api_key": token})
    assert not _logged_in(client)
    assert "Too many failed login attempts" in response.content.decode()


def test_api_key_login_is_throttled_per_address(settings) -> None:
    settings.ACCOUNTS_LOGIN_MAX_FAILURES_PER_ADDRESS = 20
    token = api_key_create(user=_user(), name="k").token
    client = _client()
    url = reverse("dashboard:login-key")
    for _ in range(20):
        client.post(url, {"api_key": tokens.generate()})
    response = client.post(url, {"api_key": token})
    assert not _logged_in(client)
    assert "from your network" in response.content.decode()


def test_admin_login_locks_the_account_after_repeated_failures() -> None:
    staff = _user(is_staff=True, is_superuser=True)
    client = _client()
    url = reverse("admin:login")
    for _ in range(200):
        client.post(url, {"username": staff.email, "password": "wrong"})
    response = client.post(url, {"username": staff.email, "password": PASSWORD})
    assert not _logged_in(client)
    assert "Too many failed login attempts for this account" in response.content.decode()
    assert client.get("/admin/").status_code == 302
