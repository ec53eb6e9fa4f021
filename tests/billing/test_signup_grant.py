"""The signup grant: free credits given once per user."""

from __future__ import annotations

import pytest

from billing.selectors import balance_get
from billing.services import signup_grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_signup_grant_gives_the_configured_credits_once(settings) -> None:
    settings.BILLING_SIGNUP_GRANT_CREDITS = 50
    user = UserFactory()
    first = signup_grant(user=user)
    settings.BILLING_SIGNUP_GRANT_CREDITS = 70  # a later change does not grant again
    again = signup_grant(user=user)
    assert first is not None
    assert again is not None
    assert first.pk == again.pk
    assert (first.kind, first.amount, first.idempotency_key) == ("grant", 50, f"signup:{user.pk}")
    assert balance_get(user=user).available == 50


def test_signup_grant_can_be_switched_off(settings) -> None:
    settings.BILLING_SIGNUP_GRANT_CREDITS = 0
    user = UserFactory()
    assert signup_grant(user=user) is None
    assert balance_get(user=user).available == 0
