"""The Stripe gateway: the only module that imports `stripe` (STYLE rule 6).

Everything crossing into services is one of the frozen dataclasses below, never a Stripe object.
Outgoing calls use `stripe.StripeClient` with `STRIPE_API_BASE` as the API address and a
deterministic Idempotency-Key supplied by the caller, so a crashed and retried caller never
creates a second Checkout Session (S5; https://docs.stripe.com/api/idempotent_requests).

Test hook: when the setting `STRIPE_HTTP_CLIENT` holds an instance of `stripe.HTTPClient`, the
SDK sends its HTTP requests through it (the SDK's own transport boundary; nothing of ours is
replaced). Otherwise the SDK's default client talks to `STRIPE_API_BASE`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from rest_framework.exceptions import ParseError

from billing.errors import PaymentsNotConfigured
from veosaas import strict

# stripe-python refuses signatures older than this; we also refuse timestamps this far ahead,
# which stripe-python does not check (https://github.com/stripe/stripe-python, _webhook.py).
WEBHOOK_TOLERANCE_SECONDS = 300
MAX_NETWORK_RETRIES = 2


class StripeUnavailable(Exception):
    """Stripe could not be reached or answered with an error; safe to retry later."""


class StripeNotFound(Exception):
    """Stripe does not know the requested object (for example a made-up session id)."""


class WebhookInvalid(Exception):
    """A webhook request that is not a fresh, correctly signed Stripe event."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    client_reference_id: str
    topup_id: str  # our TopUp uid from metadata ("" when absent)
    payment_intent_id: str
    charge_id: str  # known only when the payment intent was expanded
    amount_total: int | None
    currency: str


@dataclass(frozen=True)
class Charge:
    id: str
    payment_intent_id: str
    amount: int
    amount_refunded: int
    currency: str
    topup_id: str  # from metadata copied from the payment intent ("" when absent)


@dataclass(frozen=True)
class Dispute:
    id: str
    charge_id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: str


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: datetime | None
    livemode: bool
    api_version: str
    body: str
    payload: dict[str, Any]

    @property
    def data_object(self) -> dict[str, Any]:
        data = self.payload.get("data") or {}
        obj = data.get("object") if isinstance(data, dict) else None
        return obj if isinstance(obj, dict) else {}


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentsNotConfigured("payments are not configured (STRIPE_SECRET_KEY is unset)")
    http_client = settings.STRIPE_HTTP_CLIENT
    if http_client is not None and not isinstance(http_client, stripe.HTTPClient):
        raise TypeError("STRIPE_HTTP_CLIENT must be an instance of stripe.HTTPClient")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http_client,
    )


# ---------------------------------------------------------------------------------------------
# Parsing Stripe JSON into our dataclasses
# ---------------------------------------------------------------------------------------------


def _id_of(value: Any) -> str:
    """An expandable field: either the id string or the expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else default


def checkout_session_from_dict(obj: Mapping[str, Any]) -> CheckoutSession:
    payment_intent = obj.get("payment_intent")
    charge_id = ""
    if isinstance(payment_intent, Mapping):
        charge_id = _id_of(payment_intent.get("latest_charge"))
    amount_total = obj.get("amount_total")
    return CheckoutSession(
        id=str(obj.get("id") or ""),
        url=str(obj.get("url") or ""),
        status=str(obj.get("status") or ""),
        payment_status=str(obj.get("payment_status") or ""),
        client_reference_id=str(obj.get("client_reference_id") or ""),
        topup_id=str(_metadata(obj).get("topup_id") or ""),
        payment_intent_id=_id_of(payment_intent),
        charge_id=charge_id,
        amount_total=_int(amount_total) if amount_total is not None else None,
        currency=str(obj.get("currency") or "").lower(),
    )


def charge_from_dict(obj: Mapping[str, Any]) -> Charge:
    return Charge(
        id=str(obj.get("id") or ""),
        payment_intent_id=_id_of(obj.get("payment_intent")),
        amount=_int(obj.get("amount")),
        amount_refunded=_int(obj.get("amount_refunded")),
        currency=str(obj.get("currency") or "").lower(),
        topup_id=str(_metadata(obj).get("topup_id") or ""),
    )


def dispute_from_dict(obj: Mapping[str, Any]) -> Dispute:
    return Dispute(
        id=str(obj.get("id") or ""),
        charge_id=_id_of(obj.get("charge")),
        payment_intent_id=_id_of(obj.get("payment_intent")),
        amount=_int(obj.get("amount")),
        currency=str(obj.get("currency") or "").lower(),
        status=str(obj.get("status") or ""),
    )


# ---------------------------------------------------------------------------------------------
# Outgoing calls
# ---------------------------------------------------------------------------------------------


def checkout_session_create(
    *,
    topup_id: str,
    product_name: str,
    amount: int,
    currency: str,
    customer_email: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> CheckoutSession:
    """Create a one-off payment Checkout Session for one top-up.

    `idempotency_key` must be derived from our TopUp row, so a retry after a crash returns the
    session Stripe already created instead of a second one. Our TopUp uid travels as
    `client_reference_id` and as metadata on the session and its payment intent (charges,
    refunds and disputes can then be matched back to it).
    https://docs.stripe.com/api/checkout/sessions/create
    """
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount,
                    "product_data": {"name": product_name},
                },
            }
        ],
        "client_reference_id": topup_id,
        "metadata": {"topup_id": topup_id},
        "payment_intent_data": {"metadata": {"topup_id": topup_id}},
        "customer_email": customer_email,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
    except stripe.StripeError as exc:
        raise StripeUnavailable(f"Stripe refused or failed to create the session: {exc}") from exc
    result = checkout_session_from_dict(session.to_dict())
    if not result.id or not result.url:
        raise StripeUnavailable("Stripe answered without a session id or url")
    return result


def checkout_session_retrieve(*, session_id: str) -> CheckoutSession:
    """Re-read a Checkout Session from Stripe (payment intent expanded, to learn the charge)."""
    try:
        session = _client().v1.checkout.sessions.retrieve(
            session_id, params={"expand": ["payment_intent"]}
        )
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise StripeNotFound(session_id) from exc
        raise StripeUnavailable(str(exc)) from exc
    except stripe.StripeError as exc:
        raise StripeUnavailable(str(exc)) from exc
    return checkout_session_from_dict(session.to_dict())


# ---------------------------------------------------------------------------------------------
# Incoming webhooks
# ---------------------------------------------------------------------------------------------


def _header_timestamp(signature_header: str) -> int:
    for item in signature_header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise WebhookInvalid("no timestamp in the Stripe-Signature header")


def _event_created(value: Any) -> datetime | None:
    """`created` as a datetime, None when absent or not a representable Unix time."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def webhook_event_construct(
    *, payload: bytes, signature_header: str, now: float | None = None
) -> WebhookEvent:
    """Verify a webhook request and return its event, or raise WebhookInvalid.

    Verification is stripe-python's (`Webhook.construct_event`: HMAC-SHA256 of "{t}.{body}"
    with the endpoint secret, `t` at most 300 s old); on top of it a `t` more than 300 s in
    the future is refused too. Nothing is written here.
    https://docs.stripe.com/webhooks#verify-official-libraries
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise PaymentsNotConfigured("STRIPE_WEBHOOK_SECRET is unset")
    if not signature_header:
        raise WebhookInvalid("missing Stripe-Signature header")
    try:
        # Signature only: the body is parsed below by our strict parser, so a validly signed
        # but odd body (an array, huge numbers, NUL characters) is a 400, never a 500.
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise WebhookInvalid(f"signature verification failed: {exc}") from exc
    now = time.time() if now is None else now
    if _header_timestamp(signature_header) > now + WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookInvalid("timestamp too far in the future")
    try:
        body = payload.decode("utf-8")
        data = strict.json_loads(body)
    except (UnicodeDecodeError, ParseError, strict.FieldError) as exc:
        raise WebhookInvalid(f"body is not acceptable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise WebhookInvalid("body is not a Stripe event")
    event_id, event_type = data.get("id"), data.get("type")
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255):
        raise WebhookInvalid("body is not a Stripe event (id)")
    if not (isinstance(event_type, str) and 0 < len(event_type) <= 255):
        raise WebhookInvalid("body is not a Stripe event (type)")
    return WebhookEvent(
        id=event_id,
        type=event_type,
        created=_event_created(data.get("created")),
        livemode=bool(data.get("livemode")),
        api_version=str(data.get("api_version") or ""),
        body=body,
        payload=data,
    )
