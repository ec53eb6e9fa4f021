"""veosaas_stripe_events_total counts verified Stripe events by type, duplicates once."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.billing.stripe_fakes import FakeStripe, event, post_webhook

pytestmark = pytest.mark.django_db


def counted(event_type: str) -> float:
    return REGISTRY.get_sample_value("veosaas_stripe_events_total", {"type": event_type}) or 0.0


def test_verified_events_are_counted_by_type_once(
    client, fake_stripe: FakeStripe, start_checkout: Any, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_ENABLED = True
    topup = start_checkout()
    before = counted("checkout.session.completed")
    payload = event("checkout.session.completed", fake_stripe.pay(topup.stripe_session_id))
    assert post_webhook(client, payload).status_code == 200
    assert post_webhook(client, payload).status_code == 200  # a redelivery: not counted again
    assert post_webhook(client, payload, header="t=1,v1=bad").status_code == 400
    assert counted("checkout.session.completed") == before + 1
