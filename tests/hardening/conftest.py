from __future__ import annotations

from typing import Any

import pytest

from accounts.services import api_key_create
from billing.services import credits_grant
from tests.factories import UserFactory


@pytest.fixture
def account(db: None) -> tuple[Any, str]:
    """A user with 1000 credits and the raw token of one API key."""
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"hardening:{user.pk}")
    return user, api_key_create(user=user, name="hardening").token
