"""Stripe at its process boundary: a fake HTTP transport for the official SDK, local webhook
signing with Stripe's scheme, and event payload builders.

Nothing of ours is replaced: the SDK builds real requests and parses real JSON responses; the
fake answers them the way Stripe's API does for the few endpoints we use, and checks that every
Checkout Session creation carries the deterministic Idempotency-Key `topup:<uid>:checkout`.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

WEBHOOK_SECRET = "whsec_test_veosaas_local"

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{next(_ids):06d}{int(time.time() * 1000) % 100000}"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class FakeStripe(stripe.HTTPClient):
    """In-memory Stripe for /v1/checkout/sessions (create, retrieve). Thread-safe."""

    name = "fake-stripe"
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_idempotency_key: dict[str, str] = field(default_factory=dict)
    key_mismatches: list[str] = field(default_factory=list)
    failures_to_inject: int = 0  # answer this many requests with a 500 first

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    # -- the stripe.HTTPClient interface ------------------------------------------------------

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None
    ) -> tuple[str, int, dict[str, str]]:
        parts = urlsplit(url)
        params = dict(parse_qsl(post_data or parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Recorded(method.upper(), parts.path, dict(headers or {}), params))
            if self.failures_to_inject > 0:
                self.failures_to_inject -= 1
                return _error(500, "api_error", "injected failure")
            if method.lower() == "post" and parts.path == "/v1/checkout/sessions":
                return self._create_session(dict(headers or {}), params)
            if method.lower() == "get" and parts.path.startswith("/v1/checkout/sessions/"):
                session = self.sessions.get(parts.path.rsplit("/", 1)[1])
                if session is None:
                    return _error(
                        404,
                        "invalid_request_error",
                        "No such checkout.session",
                        code="resource_missing",
                    )
                return json.dumps(self._expanded(session, params)), 200, {}
        return _error(404, "invalid_request_error", f"Unrecognized request URL {parts.path}")

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- behaviour ----------------------------------------------------------------------------

    def _create_session(
        self, headers: dict[str, str], params: dict[str, str]
    ) -> tuple[str, int, dict[str, str]]:
        key = headers.get("Idempotency-Key", "")
        expected = f"topup:{params.get('client_reference_id')}:checkout"
        if key != expected:
            self.key_mismatches.append(f"{key!r} != {expected!r}")
            return _error(400, "invalid_request_error", "unexpected Idempotency-Key")
        if key in self.by_idempotency_key:  # Stripe replays the first response for a key
            return json.dumps(self.sessions[self.by_idempotency_key[key]]), 200, {}
        session_id = new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "metadata": {"topup_id": params.get("metadata[topup_id]")},
            "amount_total": int(params["line_items[0][price_data][unit_amount]"]),
            "currency": params["line_items[0][price_data][currency]"],
            "payment_intent": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
        }
        self.sessions[session_id] = session
        self.by_idempotency_key[key] = session_id
        return json.dumps(session), 200, {}

    def _expanded(self, session: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        result = dict(session)
        if params.get("expand[0]") == "payment_intent" and session.get("payment_intent"):
            result["payment_intent"] = {
                "id": session["payment_intent"],
                "object": "payment_intent",
                "latest_charge": session.get("_charge"),
            }
        result.pop("_charge", None)
        return result

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The customer completes checkout; returns the session as Stripe would send it."""
        with self._lock:
            session = self.sessions[session_id]
            session["status"] = "complete"
            session["payment_status"] = payment_status
            session["payment_intent"] = session.get("payment_intent") or new_id("pi")
            session["_charge"] = session.get("_charge") or new_id("ch")
            return self.public(session_id)

    def public(self, session_id: str) -> dict[str, Any]:
        session = dict(self.sessions[session_id])
        session.pop("_charge", None)
        return session

    def checkout_creations(self) -> list[Recorded]:
        return [
            r for r in self.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"
        ]


def _error(
    status: int, kind: str, message: str, code: str | None = None
) -> tuple[str, int, dict[str, str]]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return json.dumps({"error": error}), status, {}


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header, computed like stripe-python's tests do."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={signature}"


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    )


def charge(
    *,
    charge_id: str,
    payment_intent: str,
    amount: int,
    amount_refunded: int,
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount_refunded,
        "currency": currency,
        "payment_intent": payment_intent,
        "refunded": amount_refunded >= amount,
        "metadata": {},
    }


def dispute(
    *,
    dispute_id: str,
    charge_id: str,
    payment_intent: str,
    amount: int,
    status: str,
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "currency": currency,
        "charge": charge_id,
        "payment_intent": payment_intent,
        "status": status,
    }


def post_webhook(client: Any, payload: str, *, header: str | None = None) -> Any:
    headers = {} if header == "" else {"HTTP_STRIPE_SIGNATURE": header or sign(payload)}
    return client.post(
        "/billing/stripe/webhook/", data=payload, content_type="application/json", **headers
    )
