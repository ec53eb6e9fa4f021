"""Top-up API, checkout creation (S5), success and cancel pages."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.models import CreditPack, TopUp, Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import topup_checkout_create
from tests.billing.stripe_fakes import FakeStripe

pytestmark = pytest.mark.django_db

PACKS_URL = "/api/v1/billing/packs"
CHECKOUT_URL = "/api/v1/billing/checkout-sessions"


@pytest.fixture
def api(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.token}")
    return client


# ---------------------------------------------------------------------------------------------
# Packs
# ---------------------------------------------------------------------------------------------


def test_packs_need_an_api_key() -> None:
    response = APIClient().get(PACKS_URL)
    assert response.status_code == 401
    assert response.json()["code"] == 401
    assert response.json()["msg"].startswith("authorization:")
    assert response["WWW-Authenticate"] == "Bearer"


def test_invalid_api_key_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer vsk_not_a_real_key")
    response = client.post(CHECKOUT_URL, {"pack": 1}, format="json")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "msg": "authorization: Invalid API key.", "data": None}


def test_packs_list_active_packs_cheapest_first(api) -> None:
    big = CreditPack.objects.create(name="Big", credits=1000, price=8000, currency="usd")
    small = CreditPack.objects.create(name="Small", credits=100, price=1000, currency="usd")
    CreditPack.objects.create(name="Old", credits=10, price=100, currency="usd", active=False)
    with CaptureQueriesContext(connection) as queries:
        response = api.get(PACKS_URL)
    # One query for the packs, however many there are (authentication is accounts' business).
    assert sum("billing_creditpack" in q["sql"] for q in queries.captured_queries) == 1
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200
    assert [p["id"] for p in body["data"]] == [small.pk, big.pk]
    assert body["data"][0] == {
        "id": small.pk,
        "name": "Small",
        "credits": 100,
        "price": 1000,
        "currency": "usd",
    }


# ---------------------------------------------------------------------------------------------
# Checkout sessions
# ---------------------------------------------------------------------------------------------


def test_checkout_creates_a_session_with_a_deterministic_idempotency_key(
    api, api_key, fake_stripe: FakeStripe, pack: CreditPack
) -> None:
    response = api.post(CHECKOUT_URL, {"pack": pack.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    topup = TopUp.objects.get()
    assert body["code"] == 200
    assert body["data"] == {
        "id": topup.stripe_session_id,
        "url": f"https://checkout.stripe.com/c/pay/{topup.stripe_session_id}",
        "topup": str(topup.uid),
    }
    (created,) = fake_stripe.checkout_creations()
    assert created.headers["Idempotency-Key"] == f"topup:{topup.uid}:checkout"
    assert fake_stripe.key_mismatches == []
    assert created.params["mode"] == "payment"
    assert created.params["line_items[0][price_data][unit_amount]"] == "1000"
    assert created.params["line_items[0][price_data][currency]"] == "usd"
    assert created.params["client_reference_id"] == str(topup.uid)
    assert created.params["payment_intent_data[metadata][topup_id]"] == str(topup.uid)
    assert created.params["success_url"] == (
        "http://testserver/billing/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert created.params["cancel_url"] == "http://testserver/billing/cancel/"
    assert (topup.user, topup.credits, topup.amount, topup.status) == (
        api_key.api_key.user,
        100,
        1000,
        TopUp.Status.OPEN,
    )
    assert not Transfer.objects.exists()  # nothing is granted before payment


def test_a_retried_stripe_call_reuses_the_same_idempotency_key(
    user, fake_stripe: FakeStripe, pack: CreditPack
) -> None:
    fake_stripe.failures_to_inject = 1  # Stripe answers 500 once; the SDK retries
    start = topup_checkout_create(user=user, pack=pack)
    attempts = fake_stripe.checkout_creations()
    assert len(attempts) == 2
    assert {a.headers["Idempotency-Key"] for a in attempts} == {f"topup:{start.topup.uid}:checkout"}
    assert len(fake_stripe.sessions) == 1


def test_checkout_against_a_local_fake_server_via_stripe_api_base(
    settings, user, pack: CreditPack
) -> None:
    """The SDK's own default HTTP client, pointed at 127.0.0.1 through STRIPE_API_BASE."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            params = dict(parse_qsl(self.rfile.read(length).decode()))
            seen.append(
                {"path": self.path, "key": self.headers["Idempotency-Key"], "params": params}
            )
            ok = self.headers["Idempotency-Key"] == (
                f"topup:{params['client_reference_id']}:checkout"
            )
            body = json.dumps(
                {
                    "id": "cs_test_local",
                    "object": "checkout.session",
                    "url": "https://checkout.stripe.com/c/pay/cs_test_local",
                    "status": "open",
                    "payment_status": "unpaid",
                }
                if ok
                else {"error": {"type": "invalid_request_error", "message": "key"}}
            )
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        settings.STRIPE_SECRET_KEY = "sk_test_local"
        settings.STRIPE_HTTP_CLIENT = None
        settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
        start = topup_checkout_create(user=user, pack=pack, base_url="http://testserver")
    finally:
        server.shutdown()
        server.server_close()
    assert start.session_id == "cs_test_local"
    assert seen == [
        {
            "path": "/v1/checkout/sessions",
            "key": f"topup:{start.topup.uid}:checkout",
            "params": seen[0]["params"],
        }
    ]


@pytest.mark.parametrize(
    ("payload", "msg_field"),
    [
        ({}, "pack"),
        ({"pack": "abc"}, "pack"),
        ({"pack": 0}, "pack"),
        ({"pack": None}, "pack"),
        ({"pack": 2**70}, "pack"),
        ([1, 2], "body"),
    ],
)
def test_checkout_rejects_bad_input_with_400_naming_the_field(
    api, fake_stripe: FakeStripe, payload: Any, msg_field: str
) -> None:
    response = api.post(CHECKOUT_URL, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert body["msg"].startswith(f"{msg_field}: ")
    assert body["data"] is None
    assert not TopUp.objects.exists()


def test_checkout_rejects_malformed_json(api, fake_stripe: FakeStripe) -> None:
    response = api.post(CHECKOUT_URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["msg"].startswith("body: ")


def test_checkout_unknown_pack_is_404(api, fake_stripe: FakeStripe) -> None:
    response = api.post(CHECKOUT_URL, {"pack": 987654}, format="json")
    assert response.status_code == 404
    assert response.json()["msg"].startswith("pack: ")


def test_checkout_inactive_pack_is_422(api, fake_stripe: FakeStripe, pack) -> None:
    CreditPack.objects.filter(pk=pack.pk).update(active=False)
    response = api.post(CHECKOUT_URL, {"pack": pack.pk}, format="json")
    assert response.status_code == 422
    assert response.json()["msg"].startswith("pack: ")
    assert fake_stripe.requests == []


def test_checkout_without_stripe_configured_is_503(api, stripe_off, pack) -> None:
    response = api.post(CHECKOUT_URL, {"pack": pack.pk}, format="json")
    assert response.status_code == 503
    assert response.json() == {
        "code": 503,
        "msg": "payments: payments are not configured",
        "data": None,
    }
    assert not TopUp.objects.exists()


def test_checkout_when_stripe_fails_is_503_and_the_topup_failed(
    api, fake_stripe: FakeStripe, pack
) -> None:
    fake_stripe.failures_to_inject = 10
    response = api.post(CHECKOUT_URL, {"pack": pack.pk}, format="json")
    assert response.status_code == 503
    assert response.json()["msg"].startswith("payments: ")
    topup = TopUp.objects.get()
    assert topup.status == TopUp.Status.FAILED
    assert len({r.headers["Idempotency-Key"] for r in fake_stripe.requests}) == 1


def test_wrong_method_is_an_envelope_405(api) -> None:
    response = api.get(CHECKOUT_URL)
    assert response.status_code == 405
    assert response.json()["code"] == 405


# ---------------------------------------------------------------------------------------------
# Success and cancel pages
# ---------------------------------------------------------------------------------------------


def test_success_page_fulfils_a_paid_session_once(
    client, fake_stripe: FakeStripe, start_checkout
) -> None:
    topup = start_checkout()
    fake_stripe.pay(topup.stripe_session_id)
    for _ in range(3):
        response = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")
        assert response.status_code == 200
        assert "100 credits have been added" in response.content.decode()
    assert Transfer.objects.filter(kind=Transfer.Kind.TOPUP).count() == 1
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    assert topup.stripe_payment_intent_id.startswith("pi_")
    assert topup.stripe_charge_id.startswith("ch_")  # learnt from the expanded payment intent
    assert balance_get(user=topup.user).available == 100
    assert ledger_inconsistencies() == []


def test_success_page_for_an_unpaid_session_grants_nothing(
    client, fake_stripe: FakeStripe, start_checkout
) -> None:
    topup = start_checkout()
    fake_stripe.pay(topup.stripe_session_id, payment_status="unpaid")
    response = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")
    assert response.status_code == 200
    assert "Payment processing" in response.content.decode()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PROCESSING
    assert not Transfer.objects.exists()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("?session_id=", 400),
        ("?session_id=cs_../../v1/charges", 400),
        ("?session_id=cs_test_unknown", 404),
    ],
)
def test_success_page_refuses_bad_or_unknown_sessions(
    client, fake_stripe: FakeStripe, query: str, status: int
) -> None:
    assert client.get(f"/billing/success/{query}").status_code == status
    assert not Transfer.objects.exists()


def test_success_page_when_stripe_is_down_says_so(
    client, fake_stripe: FakeStripe, start_checkout
) -> None:
    topup = start_checkout()
    fake_stripe.failures_to_inject = 10
    response = client.get(f"/billing/success/?session_id={topup.stripe_session_id}")
    assert response.status_code == 503
    assert "did not answer" in response.content.decode()


def test_pages_say_payments_are_not_configured(client, stripe_off) -> None:
    success = client.get("/billing/success/?session_id=cs_test_x")
    assert success.status_code == 503
    assert "Payments are not configured" in success.content.decode()
    cancel = client.get("/billing/cancel/")
    assert cancel.status_code == 200
    assert "Payments are not configured" in cancel.content.decode()


def test_cancel_page(client, fake_stripe: FakeStripe) -> None:
    response = client.get("/billing/cancel/")
    assert response.status_code == 200
    assert "Checkout cancelled" in response.content.decode()
