"""Validly signed but odd Stripe events answer 400 or 200, never a 500 that Stripe would
retry forever, and move no credits."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from billing.models import Transfer
from tests.billing.stripe_fakes import WEBHOOK_SECRET, post_webhook

pytestmark = pytest.mark.django_db

ODD = [
    "[]",
    '[{"id": "evt_1", "type": "checkout.session.completed"}]',
    '"evt"',
    "null",
    '{"id": "evt_float", "type": "checkout.session.completed", "created": 1e20}',
    '{"id": "evt_huge", "type": "charge.refunded", "created": 100000000000000000000}',
    '{"id": "evt_neg", "type": "charge.refunded", "created": -99999999999999}',
    '{"id": "evt_\\u0000", "type": "charge.refunded"}',
    '{"id": "evt_sur", "type": "charge.\\ud800"}',
    '{"id": 5, "type": "charge.refunded"}',
    '{"id": "evt_list", "type": ["charge.refunded"]}',
    '{"id": "evt_nan", "type": "charge.refunded", "created": NaN}',
    '{"id": "evt_data", "type": "checkout.session.completed", "data": "x"}',
    '{"id": "evt_obj", "type": "checkout.session.completed", "data": {"object": []}}',
    '{"id": "evt_obj2", "type": "charge.refunded", "data": {"object": {"amount": "1e9"}}}',
    '{"id": "evt_obj3", "type": "charge.dispute.closed", "data": {"object": {"amount": [1]}}}',
    '{"id": "evt_meta", "type": "checkout.session.completed", "data": {"object": '
    '{"id": "cs_1", "metadata": {"topup_id": {"x": 1}}, "client_reference_id": 7}}}',
    '{"id": "' + "e" * 5000 + '", "type": "charge.refunded"}',
    '{"id": "evt_deep", "type": "x", "data": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"id": "evt_nul_deep", "type": "charge.refunded", "data": {"object": {"id": "ch_\\u0000"}}}',
]


@pytest.mark.parametrize("payload", ODD, ids=range(len(ODD)))
def test_signed_odd_events_answer_400_or_200_and_move_no_credits(settings, payload) -> None:
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    before = Transfer.objects.count()
    response = post_webhook(Client(raise_request_exception=False), payload)
    assert response.status_code in (200, 400), response.content[:300]
    assert isinstance(json.loads(response.content), dict)
    assert Transfer.objects.count() == before
