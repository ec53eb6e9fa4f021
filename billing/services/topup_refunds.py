"""Refunds and disputes of Stripe top-ups, mirrored in the ledger (S4).

State-based: the TopUp mirrors Stripe's cumulative `amount_refunded` and the dispute status
(both only move forward), and each call posts just the difference between the clawback this
state implies and what was already taken back. The TopUp row is locked first, then the customer
account row (billing/lock_objects.py).
"""

from __future__ import annotations

import uuid

from django.db import transaction

from billing import lock_objects
from billing.models import TopUp, Transfer
from billing.services.ledger import SYSTEM_CLAWBACKS, credits_clawback, credits_grant
from billing.stripe_client import Charge, Dispute

# Dispute statuses that release the disputed credits; any other status holds them back
# (needs_response, under_review, warning_* inquiries, and lost, which is final).
# https://docs.stripe.com/api/disputes/object#dispute_object-status
DISPUTE_RELEASED_STATUSES = frozenset({"won", "warning_closed", "prevented"})
DISPUTE_FINAL_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})


def topup_uuid(value: str) -> uuid.UUID | None:
    """Our top-up uid carried in Stripe metadata, or None when it is not a UUID."""
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Refunds and disputes (S4)
# ---------------------------------------------------------------------------------------------


def topup_payment_ids_record(
    topup: TopUp, *, payment_intent_id: str = "", charge_id: str = ""
) -> None:
    """Remember Stripe's payment ids on the top-up (first seen wins; the caller saves)."""
    if payment_intent_id and not topup.stripe_payment_intent_id:
        topup.stripe_payment_intent_id = payment_intent_id
    if charge_id and not topup.stripe_charge_id:
        topup.stripe_charge_id = charge_id


def _topup_for_charge_locked(
    *, charge_id: str, payment_intent_id: str, topup_id: str = ""
) -> TopUp | None:
    rows = lock_objects.topups_locked()
    if charge_id and (topup := rows.filter(stripe_charge_id=charge_id).first()):
        return topup
    if payment_intent_id and (
        topup := rows.filter(stripe_payment_intent_id=payment_intent_id).first()
    ):
        return topup
    uid = topup_uuid(topup_id)
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


def topup_clawback_sync(topup: TopUp) -> None:
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
        topup_payment_ids_record(
            topup, payment_intent_id=charge.payment_intent_id, charge_id=charge.id
        )
        topup.amount_refunded = min(
            topup.amount, max(topup.amount_refunded, charge.amount_refunded)
        )
        topup.save()
        topup_clawback_sync(topup)
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
        topup_payment_ids_record(
            topup, payment_intent_id=dispute.payment_intent_id, charge_id=dispute.charge_id
        )
        same = topup.dispute_id == dispute.id
        settled = topup.dispute_status in DISPUTE_FINAL_STATUSES
        if not topup.dispute_id or (same and not settled) or (not same and settled):
            topup.dispute_id = dispute.id
            topup.dispute_status = dispute.status
            topup.dispute_amount = min(dispute.amount, topup.amount)
        topup.save()
        topup_clawback_sync(topup)
    return topup
