from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from billing.services import credits_grant
from tests.billing.conftest import (  # noqa: F401 - fixtures
    fake_stripe,
    pack,
    start_checkout,
    stripe_off,
)
from tests.factories import UserFactory

PASSWORD = "a-Long-passw0rd!"


def make_user(credits: int = 1000, **fields: Any) -> User:
    user = UserFactory(**fields)
    user.set_password(PASSWORD)
    user.save()
    if credits:
        credits_grant(user=user, amount=credits, idempotency_key=f"dash-seed:{user.pk}")
    return user


@pytest.fixture
def member(db: None) -> User:
    """A user with a password and 1000 credits."""
    return make_user()


@pytest.fixture
def stranger(db: None) -> User:
    return make_user(credits=500)


@pytest.fixture
def browser(member: User) -> Client:
    """The Django test client, logged in as `member` (CSRF checks off, as Client does)."""
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture
def csrf_browser(member: User) -> Client:
    """Logged in, with CSRF enforced as a real browser session would be."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    return client
