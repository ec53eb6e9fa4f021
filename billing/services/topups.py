"""Services of the Stripe top-up sub-domain: start a checkout, fulfil it once, mirror refunds
and disputes in the ledger, and process verified webhook events.

Refunds and disputes are in `topup_refunds.py`. Every function owns its transaction (a
savepoint when nested, as inside `stripe_event_process`) and locks the TopUp row before touching
the ledger, so all writes about one top-up are serialised: TopUp row, then the customer account
row, always in that order (billing/lock_objects.py).

Idempotency, from the outside in:
- webhook events: a unique Stripe event id (duplicates answer 200 and change nothing);
- fulfilment: the grant's idempotency key is `stripe:checkout:<session id>` (unique) and the
  TopUp holds the grant in a one-to-one field, so a second grant is impossible (S1);
- refunds/disputes: state-based. The TopUp mirrors Stripe's cumulative `amount_refunded` and
  the dispute status (both only move forward), and each call posts just the difference between
  the clawback this state implies and what was already taken back (S4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import lock_objects, stripe_client
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.models import CreditPack, StripeEvent, TopUp, Transfer
from billing.services.ledger import SYSTEM_TOPUPS, credits_grant
from billing.services.topup_refunds import (
    topup_clawback_sync,
    topup_dispute_sync,
    topup_payment_ids_record,
    topup_refund_sync,
    topup_uuid,
)
from billing.stripe_client import CheckoutSession, WebhookEvent

logger = logging.getLogger(__name__)

PAID_PAYMENT_STATUSES = frozenset({"paid", "no_payment_required"})


@dataclass(frozen=True)
class CheckoutStart:
    topup: TopUp
    session_id: str
    url: str


@dataclass(frozen=True)
class EventResult:
    """What `stripe_event_process` did with one event."""

    duplicate: bool
    outcome: str
    note: str = ""


def topup_checkout_idempotency_key(topup: TopUp) -> str:
    """The Idempotency-Key of the Stripe call that creates this top-up's Checkout Session."""
    return f"topup:{topup.uid}:checkout"


def topup_grant_idempotency_key(session_id: str) -> str:
    """The ledger key of a Checkout Session's grant: at most one grant per session (S1)."""
    return f"stripe:checkout:{session_id}"


# ---------------------------------------------------------------------------------------------
# Checkout
# ---------------------------------------------------------------------------------------------


def topup_checkout_create(
    *, user: User, pack: CreditPack, base_url: str | None = None
) -> CheckoutStart:
    """Start buying `pack`: write a TopUp row, then create its Stripe Checkout Session.

    Credits, price and currency are copied from the pack now (never taken from the client).
    The Stripe call carries the Idempotency-Key `topup:<uid>:checkout`, so a retry of this
    top-up can only ever get the same session back (S5). `base_url` (default PUBLIC_BASE_URL)
    prefixes the success and cancel URLs.

    Raises PaymentsNotConfigured when Stripe is off, PackUnavailable for an inactive pack,
    and stripe_client.StripeUnavailable when Stripe fails (the TopUp is then marked failed).
    """
    if not stripe_client.is_configured():
        raise PaymentsNotConfigured("payments are not configured")
    if not pack.active:
        raise PackUnavailable(f"pack {pack.pk} is not available")
    base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
    if not base:
        raise ValueError("base_url is required when PUBLIC_BASE_URL is unset")
    topup = TopUp.objects.create(
        user=user, pack=pack, credits=pack.credits, amount=pack.price, currency=pack.currency
    )
    try:
        session = stripe_client.checkout_session_create(
            topup_id=str(topup.uid),
            product_name=f"{pack.name} ({pack.credits} credits)",
            amount=pack.price,
            currency=pack.currency,
            customer_email=user.email,
            success_url=f"{base}{reverse('dashboard:topup-success')}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base}{reverse('dashboard:topup-cancel')}",
            idempotency_key=topup_checkout_idempotency_key(topup),
        )
    except stripe_client.StripeUnavailable as exc:
        TopUp.objects.filter(pk=topup.pk, status=TopUp.Status.CREATED).update(
            status=TopUp.Status.FAILED, failure_reason=str(exc)[:255], updated_at=timezone.now()
        )
        raise
    # Conditional updates: a webhook that raced ahead of us may have advanced the row already.
    TopUp.objects.filter(pk=topup.pk, stripe_session_id__isnull=True).update(
        stripe_session_id=session.id
    )
    TopUp.objects.filter(pk=topup.pk, status=TopUp.Status.CREATED).update(
        status=TopUp.Status.OPEN, checkout_url=session.url, updated_at=timezone.now()
    )
    topup.refresh_from_db()
    return CheckoutStart(topup=topup, session_id=session.id, url=session.url)


# ---------------------------------------------------------------------------------------------
# Fulfilment (S1, S3)
# ---------------------------------------------------------------------------------------------


def _topup_for_session_locked(session: CheckoutSession) -> TopUp | None:
    """The TopUp of a Checkout Session, row-locked; None when the session is not ours."""
    rows = lock_objects.topups_locked()
    topup = rows.filter(stripe_session_id=session.id).first()
    if topup is not None:
        return topup
    # The webhook can arrive before we stored the session id (or after a crash in between):
    # our uid travels as client_reference_id and metadata.
    uid = topup_uuid(session.topup_id) or topup_uuid(session.client_reference_id)
    topup = rows.filter(uid=uid).first() if uid else None
    if topup is None:
        return None
    if topup.stripe_session_id and topup.stripe_session_id != session.id:
        logger.warning(
            "session %s names top-up %s, which has session %s; ignored",
            session.id,
            topup.uid,
            topup.stripe_session_id,
        )
        return None
    topup.stripe_session_id = session.id
    return topup


def topup_fulfil(*, session: CheckoutSession) -> TopUp | None:
    """Grant a paid Checkout Session's credits exactly once; the one fulfilment path.

    Called for `checkout.session.completed`, `checkout.session.async_payment_succeeded` and
    from the success page, in any order, any number of times, concurrently (S1). Paid
    (`payment_status` paid / no_payment_required) → one `topup` transfer keyed
    `stripe:checkout:<session id>`; completed but unpaid (delayed payment methods) → status
    processing, nothing granted (S3). A refund or dispute that arrived before the grant is
    applied right after it. Returns None when the session is not one of ours.
    """
    with transaction.atomic():
        topup = _topup_for_session_locked(session)
        if topup is None:
            return None
        topup_payment_ids_record(
            topup, payment_intent_id=session.payment_intent_id, charge_id=session.charge_id
        )
        if session.payment_status in PAID_PAYMENT_STATUSES and topup.grant_id is None:
            mismatch = (
                session.amount_total is not None and session.amount_total != topup.amount
            ) or (session.currency and session.currency != topup.currency)
            if mismatch:
                # Never grant for a payment we did not price; a human must look at it.
                logger.error(
                    "top-up %s: session %s paid %s %s, expected %s %s",
                    topup.uid,
                    session.id,
                    session.amount_total,
                    session.currency,
                    topup.amount,
                    topup.currency,
                )
                topup.failure_reason = "paid amount or currency differs from the pack price"
            else:
                topup.grant = credits_grant(
                    user=topup.user,
                    amount=topup.credits,
                    idempotency_key=topup_grant_idempotency_key(session.id),
                    reason=f"Stripe top-up {topup.pack.name}",
                    kind=Transfer.Kind.TOPUP,
                    source=SYSTEM_TOPUPS,
                    reference=f"topup:{topup.uid}",
                )
                topup.status = TopUp.Status.PAID
                topup.paid_at = timezone.now()
                topup.failure_reason = ""
        elif session.status == "complete" and topup.status in (
            TopUp.Status.CREATED,
            TopUp.Status.OPEN,
        ):
            topup.status = TopUp.Status.PROCESSING
        elif session.status == "expired" and topup.status in (
            TopUp.Status.CREATED,
            TopUp.Status.OPEN,
        ):
            topup.status = TopUp.Status.EXPIRED
        topup.save()
        topup_clawback_sync(topup)
    return topup


def topup_fulfil_from_stripe(*, session_id: str) -> TopUp | None:
    """Success-page fulfilment: re-read the session from Stripe, then `topup_fulfil` it.

    Raises PaymentsNotConfigured, stripe_client.StripeNotFound (unknown session) or
    stripe_client.StripeUnavailable. Returns None when the session is not one of ours.
    """
    session = stripe_client.checkout_session_retrieve(session_id=session_id)
    return topup_fulfil(session=session)


def topup_payment_fail(*, session: CheckoutSession) -> TopUp | None:
    """`checkout.session.async_payment_failed`: mark the top-up failed (unless already paid)."""
    with transaction.atomic():
        topup = _topup_for_session_locked(session)
        if topup is None:
            return None
        topup_payment_ids_record(topup, payment_intent_id=session.payment_intent_id)
        if topup.status != TopUp.Status.PAID:
            topup.status = TopUp.Status.FAILED
            topup.failure_reason = "the delayed payment failed"
        topup.save()
    return topup


# ---------------------------------------------------------------------------------------------
# Webhook events
# ---------------------------------------------------------------------------------------------

SESSION_FULFIL_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.expired",
    }
)


def _dispatch(event: WebhookEvent) -> tuple[str, str]:
    obj = event.data_object
    topup: TopUp | None
    if event.type in SESSION_FULFIL_EVENTS:
        topup = topup_fulfil(session=stripe_client.checkout_session_from_dict(obj))
    elif event.type == "checkout.session.async_payment_failed":
        topup = topup_payment_fail(session=stripe_client.checkout_session_from_dict(obj))
    elif event.type == "charge.refunded":
        topup = topup_refund_sync(charge=stripe_client.charge_from_dict(obj))
    elif event.type.startswith("charge.dispute."):
        topup = topup_dispute_sync(dispute=stripe_client.dispute_from_dict(obj))
    else:
        return StripeEvent.Outcome.IGNORED, "event type not handled"
    if topup is None:
        return StripeEvent.Outcome.IGNORED, "no matching top-up"
    return StripeEvent.Outcome.PROCESSED, f"top-up {topup.uid}: {topup.status}"


def stripe_event_process(*, event: WebhookEvent) -> EventResult:
    """Store a verified event once (unique Stripe event id) and apply it, in one transaction.

    A duplicate (same event id, also a concurrent one: the second insert waits for the first
    transaction and then fails) is reported as such and changes nothing. If applying raises,
    everything rolls back, including the stored event, so Stripe's retry applies it again.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = StripeEvent.objects.create(
                    event_id=event.id,
                    type=event.type,
                    livemode=event.livemode,
                    api_version=event.api_version,
                    stripe_created_at=event.created,
                    body=event.body,
                    payload=event.payload,
                )
        except IntegrityError:
            if not StripeEvent.objects.filter(event_id=event.id).exists():
                raise
            return EventResult(duplicate=True, outcome="duplicate")
        outcome, note = _dispatch(event)
        row.outcome = outcome
        row.note = note[:255]
        row.processed_at = timezone.now()
        row.save(update_fields=["outcome", "note", "processed_at"])
    return EventResult(duplicate=False, outcome=outcome, note=note)
