from __future__ import annotations

from typing import Any

import pytest

from billing.models import CreditPack
from tests.billing.stripe_fakes import WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def fake_stripe(settings: Any) -> FakeStripe:
    """Stripe switched on, with the SDK's HTTP transport answered by an in-memory fake.

    Uses the documented hook `STRIPE_HTTP_CLIENT` (billing/stripe_client.py); the API base
    points at a closed loopback port, so a request that bypassed the fake would fail loudly.
    """
    fake = FakeStripe()
    settings.STRIPE_SECRET_KEY = "sk_test_veosaas_local"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    settings.STRIPE_HTTP_CLIENT = fake
    settings.PUBLIC_BASE_URL = "http://testserver"
    return fake


@pytest.fixture
def stripe_off(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.STRIPE_HTTP_CLIENT = None


@pytest.fixture
def pack(db: None) -> CreditPack:
    return CreditPack.objects.create(name="Starter", credits=100, price=1000, currency="usd")


@pytest.fixture
def start_checkout(fake_stripe: FakeStripe, pack: CreditPack) -> Any:
    """Start a real checkout (service → SDK → fake Stripe); returns the TopUp."""
    from billing.services import topup_checkout_create
    from tests.factories import UserFactory

    def start(user: Any = None, credit_pack: CreditPack | None = None) -> Any:
        return topup_checkout_create(user=user or UserFactory(), pack=credit_pack or pack).topup

    return start
