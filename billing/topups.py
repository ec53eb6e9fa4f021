"""Services of the Stripe top-up sub-domain: start a checkout, fulfil it once, mirror refunds
and disputes in the ledger, and process verified webhook events.

Kept beside `billing/services.py` (the ledger primitives these call) because that module is
already at its size limit (STYLE rule 12). Every function owns its transaction (a savepoint
when nested, as inside `stripe_event_process`) and locks the TopUp row before touching the
ledger, so all writes about one top-up are serialised: TopUp row, then the customer account
row, always in that order.

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
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing import stripe_client
from billing.errors import PackUnavailable, PaymentsNotConfigured
from billing.models import CreditPack, StripeEvent, TopUp, Transfer
from billing.services import (
    SYSTEM_CLAWBACKS,
    SYSTEM_TOPUPS,
    credits_clawback,
    credits_grant,
)
from billing.stripe_client import Charge, CheckoutSession, Dispute, WebhookEvent

logger = logging.getLogger(__name__)

PAID_PAYMENT_STATUSES = frozenset({"paid", "no_payment_required"})
# Dispute statuses that release the disputed credits; any other status holds them back
# (needs_response, under_review, warning_* inquiries, and lost, which is final).
# https://docs.stripe.com/api/disputes/object#dispute_object-status
DISPUTE_RELEASED_STATUSES = frozenset({"won", "warning_closed", "prevented"})
DISPUTE_FINAL_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})


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


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        return None


def _topup_for_session_locked(session: CheckoutSession) -> TopUp | None:
    """The TopUp of a Checkout Session, row-locked; None when the session is not ours."""
    rows = TopUp.objects.select_for_update()
    topup = rows.filter(stripe_session_id=session.id).first()
    if topup is not None:
        return topup
    # The webhook can arrive before we stored the session id (or after a crash in between):
    # our uid travels as client_reference_id and metadata.
    uid = _parse_uuid(session.topup_id) or _parse_uuid(session.client_reference_id)
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


def _record_payment_ids(topup: TopUp, *, payment_intent_id: str = "", charge_id: str = "") -> None:
    if payment_intent_id and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = payment_intent_id
    if charge_id and not topup.stripe_charge_id:
        topup.stripe_charge_id = charge_id


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
        _record_payment_ids(
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
        _clawback_sync(topup)
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
        _record_payment_ids(topup, payment_intent_id=session.payment_intent_id)
        if topup.status != TopUp.Status.PAID:
            topup.status = TopUp.Status.FAILED
            topup.failure_reason = "the delayed payment failed"
        topup.save()
    return topup


# ---------------------------------------------------------------------------------------------
# Refunds and disputes (S4)
# ---------------------------------------------------------------------------------------------


def _topup_for_charge_locked(
    *, charge_id: str, payment_intent_id: str, topup_id: str = ""
) -> TopUp | None:
    rows = TopUp.objects.select_for_update()
    if charge_id and (topup := rows.filter(stripe_charge_id=charge_id).first()):
        return topup
    if payment_intent_id and (
        topup := rows.filter(stripe_payment_intent_id=payment_intent_id).first()
    ):
        return topup
    uid = _parse_uuid(topup_id)
    return rows.filter(uid=uid).first() if uid else None


def topup_clawback_target(topup: TopUp) -> int:
    """Credits that should be taken back for the Stripe state mirrored on `topup`.

    floor(credits * amount_refunded / amount) for refunds, plus the same proportion of the
    disputed amount while a dispute holds it (open or lost), capped at the pack's credits.
    """
    refunded = topup.credits * topup.amount_refunded // topup.amount
    disputed = 0
    if topup.dispute_id and topup.dispute_status not in DISPUTE_RELEASED_STATUSES:
        disputed = topup.credits * topup.dispute_amount // topup.amount
    return min(topup.credits, refunded + disputed)


def _clawback_sync(topup: TopUp) -> None:
    """Post the difference between the target clawback and what was already taken back.

    The caller holds the TopUp row lock. Before the grant exists nothing is taken (fulfilment
    calls this again right after granting). More to take → a forced debit (`credits_clawback`,
    may leave the balance negative); less → a `reinstate` credit (a dispute won).
    """
    if topup.grant_id is None:
        return
    target = topup_clawback_target(topup)
    delta = target - topup.credits_clawed_back
    if delta == 0:
        return
    entry = topup.clawback_entries + 1
    reason = (
        f"top-up {topup.uid}: refunded {topup.amount_refunded}/{topup.amount} "
        f"{topup.currency}, dispute {topup.dispute_status or 'none'}"
    )
    reference = f"topup:{topup.uid}"
    if delta > 0:
        credits_clawback(
            user=topup.user,
            amount=delta,
            idempotency_key=f"topup:{topup.uid}:clawback:{entry}",
            reason=reason,
            reference=reference,
            destination=SYSTEM_CLAWBACKS,
        )
    else:
        credits_grant(
            user=topup.user,
            amount=-delta,
            idempotency_key=f"topup:{topup.uid}:reinstate:{entry}",
            reason=reason,
            kind=Transfer.Kind.REINSTATE,
            source=SYSTEM_CLAWBACKS,
            reference=reference,
        )
    topup.credits_clawed_back = target
    topup.clawback_entries = entry
    topup.save(update_fields=["credits_clawed_back", "clawback_entries", "updated_at"])


def topup_refund_sync(*, charge: Charge) -> TopUp | None:
    """`charge.refunded`: mirror the cumulative refunded amount and claw back in proportion.

    State-based: the stored amount only grows (max of stored and reported), so duplicates and
    out-of-order events change nothing. Returns None for charges that are not top-ups.
    """
    with transaction.atomic():
        topup = _topup_for_charge_locked(
            charge_id=charge.id,
            payment_intent_id=charge.payment_intent_id,
            topup_id=charge.topup_id,
        )
        if topup is None:
            return None
        _record_payment_ids(topup, payment_intent_id=charge.payment_intent_id, charge_id=charge.id)
        topup.amount_refunded = min(
            topup.amount, max(topup.amount_refunded, charge.amount_refunded)
        )
        topup.save()
        _clawback_sync(topup)
    return topup


def topup_dispute_sync(*, dispute: Dispute) -> TopUp | None:
    """`charge.dispute.*`: hold back the disputed credits; reinstate them if the dispute is won.

    The dispute status only moves forward: once a final status (won, lost, …) is recorded,
    later-arriving events of the same dispute are ignored (a `created` delivered after
    `closed` cannot reopen it). Returns None for charges that are not top-ups.
    """
    with transaction.atomic():
        topup = _topup_for_charge_locked(
            charge_id=dispute.charge_id, payment_intent_id=dispute.payment_intent_id
        )
        if topup is None:
            return None
        _record_payment_ids(
            topup, payment_intent_id=dispute.payment_intent_id, charge_id=dispute.charge_id
        )
        same = topup.dispute_id == dispute.id
        settled = topup.dispute_status in DISPUTE_FINAL_STATUSES
        if not topup.dispute_id or (same and not settled) or (not same and settled):
            topup.dispute_id = dispute.id
            topup.dispute_status = dispute.status
            topup.dispute_amount = min(dispute.amount, topup.amount)
        topup.save()
        _clawback_sync(topup)
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
