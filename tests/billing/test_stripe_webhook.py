"""Stripe webhooks: S1 (one grant per paid session), S2 (unverified → 400, nothing written),
S3 (delayed payments), S4 (refunds and disputes, state-based clawbacks).

Events are signed locally with Stripe's scheme and posted to the real URL.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from django.test import Client

from billing.errors import InsufficientCredits
from billing.models import LedgerAccount, StripeEvent, TopUp, Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import credits_debit, credits_grant, credits_hold
from tests.billing.stripe_fakes import (
    FakeStripe,
    charge,
    dispute,
    event,
    new_id,
    post_webhook,
    sign,
)
from tests.conftest import run_in_threads

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(db):
    yield
    assert ledger_inconsistencies() == []


def grants() -> int:
    return Transfer.objects.filter(kind=Transfer.Kind.TOPUP).count()


def completed(
    fake: FakeStripe,
    topup: TopUp,
    *,
    payment_status: str = "paid",
    event_type: str = "checkout.session.completed",
    event_id: str | None = None,
) -> str:
    session = fake.pay(topup.stripe_session_id, payment_status=payment_status)
    return event(event_type, session, event_id=event_id)


def paid_topup(client: Client, fake: FakeStripe, start_checkout: Any) -> TopUp:
    topup = start_checkout()
    assert post_webhook(client, completed(fake, topup)).status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    return topup


def refund_event(topup: TopUp, amount_refunded: int, *, event_id: str | None = None) -> str:
    return event(
        "charge.refunded",
        charge(
            charge_id=topup.stripe_charge_id or "ch_test_refund",
            payment_intent=topup.stripe_payment_intent_id,
            amount=topup.amount,
            amount_refunded=amount_refunded,
        ),
        event_id=event_id,
    )


def dispute_event(
    topup: TopUp,
    event_type: str,
    status: str,
    *,
    dispute_id: str = "dp_test_1",
    amount: int | None = None,
) -> str:
    return event(
        event_type,
        dispute(
            dispute_id=dispute_id,
            charge_id=topup.stripe_charge_id or "ch_test_dispute",
            payment_intent=topup.stripe_payment_intent_id,
            amount=topup.amount if amount is None else amount,
            status=status,
        ),
    )


def clawbacks(topup: TopUp) -> list[tuple[str, int]]:
    return list(
        Transfer.objects.filter(reference=f"topup:{topup.uid}")
        .exclude(kind=Transfer.Kind.TOPUP)
        .order_by("id")
        .values_list("kind", "amount")
    )


# ---------------------------------------------------------------------------------------------
# S1 / S3: fulfilment
# ---------------------------------------------------------------------------------------------


def test_paid_checkout_grants_the_pack_once(fake_stripe, start_checkout) -> None:
    client = Client(enforce_csrf_checks=True)  # the endpoint is CSRF-exempt: Stripe has no token
    topup = start_checkout()
    payload = completed(fake_stripe, topup)
    first = post_webhook(client, payload)
    assert first.status_code == 200
    assert first.json()["duplicate"] is False
    duplicate = post_webhook(client, payload)
    assert duplicate.status_code == 200
    assert duplicate.json()["duplicate"] is True
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    assert topup.grant is not None
    assert topup.grant.idempotency_key == f"stripe:checkout:{topup.stripe_session_id}"
    assert (topup.grant.kind, topup.grant.amount) == ("topup", 100)
    assert grants() == 1
    assert balance_get(user=topup.user).available == 100
    stored = StripeEvent.objects.get()
    assert stored.event_id == json.loads(payload)["id"]
    assert stored.body == payload
    assert stored.outcome == "processed"


def test_unpaid_completion_grants_nothing_until_async_success(
    client, fake_stripe, start_checkout
) -> None:
    topup = start_checkout()
    assert (
        post_webhook(client, completed(fake_stripe, topup, payment_status="unpaid")).status_code
        == 200
    )
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PROCESSING
    assert grants() == 0
    succeeded = completed(fake_stripe, topup, event_type="checkout.session.async_payment_succeeded")
    for _ in range(2):
        assert post_webhook(client, succeeded).status_code == 200
    # A late (or re-sent) unpaid completion does not undo anything.
    post_webhook(
        client,
        event(
            "checkout.session.completed",
            {**fake_stripe.public(topup.stripe_session_id), "payment_status": "unpaid"},
        ),
    )
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    assert grants() == 1
    assert balance_get(user=topup.user).available == 100


def test_async_payment_failure_marks_the_topup_failed(client, fake_stripe, start_checkout) -> None:
    topup = start_checkout()
    post_webhook(client, completed(fake_stripe, topup, payment_status="unpaid"))
    failed = completed(
        fake_stripe,
        topup,
        payment_status="unpaid",
        event_type="checkout.session.async_payment_failed",
    )
    assert post_webhook(client, failed).status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED
    assert grants() == 0


def test_expired_session_marks_the_topup_expired(client, fake_stripe, start_checkout) -> None:
    topup = start_checkout()
    session = {**fake_stripe.public(topup.stripe_session_id), "status": "expired"}
    assert post_webhook(client, event("checkout.session.expired", session)).status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.EXPIRED


@pytest.mark.parametrize("seed", range(6))
def test_any_order_of_events_and_success_page_grants_once(
    client, fake_stripe, start_checkout, seed: int
) -> None:
    topup = start_checkout()
    completed_paid = completed(fake_stripe, topup)
    succeeded = completed(fake_stripe, topup, event_type="checkout.session.async_payment_succeeded")
    unpaid = event(
        "checkout.session.completed",
        {**fake_stripe.public(topup.stripe_session_id), "payment_status": "unpaid"},
    )
    steps = [
        lambda: post_webhook(client, completed_paid),
        lambda: post_webhook(client, completed_paid),
        lambda: post_webhook(client, succeeded),
        lambda: post_webhook(client, unpaid),
        lambda: client.get(f"/billing/success/?session_id={topup.stripe_session_id}"),
    ]
    random.Random(seed).shuffle(steps)
    for step in steps:
        assert step().status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.PAID
    assert grants() == 1
    assert balance_get(user=topup.user).available == 100


def test_event_naming_a_topup_whose_session_id_was_not_stored_yet(
    client, fake_stripe, start_checkout
) -> None:
    """A crash between Stripe's answer and our write: the webhook still finds the top-up."""
    topup = start_checkout()
    session_id = topup.stripe_session_id
    TopUp.objects.filter(pk=topup.pk).update(stripe_session_id=None)
    payload = event("checkout.session.completed", fake_stripe.pay(session_id))
    assert post_webhook(client, payload).status_code == 200
    topup.refresh_from_db()
    assert topup.stripe_session_id == session_id
    assert topup.status == TopUp.Status.PAID


def test_events_that_are_not_ours_are_stored_and_ignored(client, fake_stripe) -> None:
    foreign = event(
        "checkout.session.completed",
        {
            "id": "cs_test_foreign",
            "object": "checkout.session",
            "status": "complete",
            "payment_status": "paid",
            "client_reference_id": None,
            "metadata": {},
        },
    )
    other_type = event("customer.created", {"id": "cus_1", "object": "customer"})
    for payload in (foreign, other_type):
        response = post_webhook(client, payload)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored"
    assert StripeEvent.objects.count() == 2
    assert not Transfer.objects.exists()


def test_paid_amount_different_from_the_price_is_not_granted(
    client, fake_stripe, start_checkout
) -> None:
    topup = start_checkout()
    session = {**fake_stripe.pay(topup.stripe_session_id), "amount_total": 1}
    assert post_webhook(client, event("checkout.session.completed", session)).status_code == 200
    topup.refresh_from_db()
    assert topup.grant is None
    assert topup.failure_reason


# ---------------------------------------------------------------------------------------------
# S2: verification
# ---------------------------------------------------------------------------------------------


def _bad_requests(payload: str) -> dict[str, tuple[str, str | None]]:
    now = int(time.time())
    return {
        "tampered body": (payload.replace('"paid"', '"paid" '), sign(payload)),
        "wrong secret": (payload, sign(payload, secret="whsec_someone_else")),
        "stale timestamp": (payload, sign(payload, timestamp=now - 301)),
        "future timestamp": (payload, sign(payload, timestamp=now + 360)),
        "missing header": (payload, ""),
        "garbage header": (payload, "garbage"),
        "no v1 signature": (payload, f"t={now}"),
        "signed non-json": ("not json", sign("not json")),
    }


@pytest.mark.parametrize(
    "case",
    [
        "tampered body",
        "wrong secret",
        "stale timestamp",
        "future timestamp",
        "missing header",
        "garbage header",
        "no v1 signature",
        "signed non-json",
    ],
)
def test_unverified_requests_are_refused_and_write_nothing(
    client, fake_stripe, start_checkout, case: str
) -> None:
    topup = start_checkout()
    before = TopUp.objects.values().get(pk=topup.pk)
    body, header = _bad_requests(completed(fake_stripe, topup))[case]
    response = post_webhook(client, body, header=header)
    assert response.status_code == 400
    assert not StripeEvent.objects.exists()
    assert not Transfer.objects.exists()
    assert TopUp.objects.values().get(pk=topup.pk) == before


def test_timestamps_within_tolerance_are_accepted(client, fake_stripe, start_checkout) -> None:
    topup = start_checkout()
    now = int(time.time())
    old = completed(fake_stripe, topup)
    ahead = completed(fake_stripe, topup)
    assert post_webhook(client, old, header=sign(old, timestamp=now - 250)).status_code == 200
    assert post_webhook(client, ahead, header=sign(ahead, timestamp=now + 250)).status_code == 200
    assert grants() == 1


def test_webhook_without_secret_configured_is_refused(client, stripe_off) -> None:
    payload = event("customer.created", {"id": "cus_1"})
    assert post_webhook(client, payload).status_code == 503
    assert not StripeEvent.objects.exists()


def test_webhook_only_accepts_post(client, fake_stripe) -> None:
    assert client.get("/billing/stripe/webhook/").status_code == 405


# ---------------------------------------------------------------------------------------------
# S4: refunds
# ---------------------------------------------------------------------------------------------


def test_refunds_claw_back_in_proportion_to_the_cumulative_amount(
    client, fake_stripe, start_checkout
) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)  # 100 credits for 1000 cents
    post_webhook(client, refund_event(topup, 250))
    assert balance_get(user=topup.user).available == 75
    post_webhook(client, refund_event(topup, 600))  # a second partial refund: 600 in total
    assert balance_get(user=topup.user).available == 40
    full = refund_event(topup, 1000)
    post_webhook(client, full)
    assert balance_get(user=topup.user).available == 0
    assert post_webhook(client, full).json()["duplicate"] is True  # same event again
    post_webhook(client, refund_event(topup, 1000))  # same state, new event id
    post_webhook(client, refund_event(topup, 250))  # an old event arriving late
    assert clawbacks(topup) == [("clawback", 25), ("clawback", 35), ("clawback", 40)]
    topup.refresh_from_db()
    assert (topup.amount_refunded, topup.credits_clawed_back) == (1000, 100)
    assert balance_get(user=topup.user).available == 0


def test_refund_rounds_the_clawback_down(client, fake_stripe, start_checkout) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    post_webhook(client, refund_event(topup, 333))  # 33.3 credits → 33
    assert clawbacks(topup) == [("clawback", 33)]


def test_refund_of_spent_credits_goes_negative_and_blocks_spending(
    client, fake_stripe, start_checkout
) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    user = topup.user
    credits_debit(user=user, amount=70, idempotency_key="spent")
    hold = credits_hold(user=user, amount=20, idempotency_key="running-job")
    post_webhook(client, refund_event(topup, 1000))
    balance = balance_get(user=user)
    assert (balance.posted, balance.held, balance.available) == (-70, 20, -90)
    assert LedgerAccount.objects.get(user=user).in_debt
    with pytest.raises(InsufficientCredits):
        credits_hold(user=user, amount=1, idempotency_key="new-job")
    with pytest.raises(InsufficientCredits):
        credits_debit(user=user, amount=1, idempotency_key="new-debit")
    # The running job still settles, and new credits pay the debt off first.
    from billing.services import credits_capture

    credits_capture(hold=hold)
    assert balance_get(user=user).available == -90
    credits_grant(user=user, amount=100, idempotency_key="more")
    account = LedgerAccount.objects.get(user=user)
    assert (account.available, account.in_debt) == (10, False)
    credits_hold(user=user, amount=10, idempotency_key="now-affordable")


def test_a_refund_seen_before_the_payment_is_applied_after_the_grant(
    client, fake_stripe, start_checkout
) -> None:
    topup = start_checkout()
    session = fake_stripe.pay(topup.stripe_session_id)
    early_refund = event(
        "charge.refunded",
        {
            **charge(
                charge_id="ch_test_early",
                payment_intent=session["payment_intent"],
                amount=1000,
                amount_refunded=400,
            ),
            "metadata": {"topup_id": str(topup.uid)},  # copied from the payment intent
        },
    )
    assert post_webhook(client, early_refund).json()["outcome"] == "processed"
    assert not Transfer.objects.exists()
    post_webhook(client, event("checkout.session.completed", session))
    assert clawbacks(topup) == [("clawback", 40)]
    assert balance_get(user=topup.user).available == 60


# ---------------------------------------------------------------------------------------------
# S4: disputes
# ---------------------------------------------------------------------------------------------


def test_dispute_lost_keeps_the_credits_clawed_back(client, fake_stripe, start_checkout) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    post_webhook(client, dispute_event(topup, "charge.dispute.created", "needs_response"))
    assert balance_get(user=topup.user).available == 0
    post_webhook(client, dispute_event(topup, "charge.dispute.updated", "under_review"))
    post_webhook(client, dispute_event(topup, "charge.dispute.closed", "lost"))
    assert balance_get(user=topup.user).available == 0
    assert clawbacks(topup) == [("clawback", 100)]
    topup.refresh_from_db()
    assert topup.dispute_status == "lost"


def test_dispute_won_reinstates_the_credits(client, fake_stripe, start_checkout) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    post_webhook(client, dispute_event(topup, "charge.dispute.created", "needs_response"))
    assert balance_get(user=topup.user).available == 0
    closed = dispute_event(topup, "charge.dispute.closed", "won")
    post_webhook(client, closed)
    post_webhook(client, closed)
    # A `created` redelivered after the close cannot reopen the dispute.
    post_webhook(client, dispute_event(topup, "charge.dispute.created", "needs_response"))
    assert clawbacks(topup) == [("clawback", 100), ("reinstate", 100)]
    assert balance_get(user=topup.user).available == 100


def test_dispute_closed_before_created_arrives(client, fake_stripe, start_checkout) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    post_webhook(client, dispute_event(topup, "charge.dispute.closed", "won"))
    post_webhook(client, dispute_event(topup, "charge.dispute.created", "needs_response"))
    assert clawbacks(topup) == []
    assert balance_get(user=topup.user).available == 100


def test_dispute_after_a_partial_refund_takes_the_rest(client, fake_stripe, start_checkout) -> None:
    topup = paid_topup(client, fake_stripe, start_checkout)
    post_webhook(client, refund_event(topup, 300))
    post_webhook(
        client, dispute_event(topup, "charge.dispute.created", "needs_response", amount=700)
    )
    assert balance_get(user=topup.user).available == 0
    post_webhook(client, dispute_event(topup, "charge.dispute.closed", "won", amount=700))
    assert clawbacks(topup) == [("clawback", 30), ("clawback", 70), ("reinstate", 70)]
    assert balance_get(user=topup.user).available == 70


# ---------------------------------------------------------------------------------------------
# S1 under real concurrency (PostgreSQL)
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_replays_and_success_page_grant_exactly_once(
    require_postgres, fake_stripe, start_checkout
) -> None:
    for _ in range(3):
        topup = start_checkout()
        completed_paid = completed(fake_stripe, topup)
        succeeded = completed(
            fake_stripe,
            topup,
            event_type="checkout.session.async_payment_succeeded",
            event_id=new_id("evt"),
        )
        success_url = f"/billing/success/?session_id={topup.stripe_session_id}"

        def act(
            i: int,
            completed_paid: str = completed_paid,
            succeeded: str = succeeded,
            success_url: str = success_url,
        ) -> int:
            client = Client()
            if i < 10:
                return post_webhook(client, completed_paid).status_code
            if i < 13:
                return post_webhook(client, succeeded).status_code
            return client.get(success_url).status_code

        results = run_in_threads(15, act)
        assert results == [200] * 15, results
        topup.refresh_from_db()
        assert topup.status == TopUp.Status.PAID
        assert (
            Transfer.objects.filter(
                kind=Transfer.Kind.TOPUP, credit_account__user=topup.user
            ).count()
            == 1
        )
        assert balance_get(user=topup.user).available == 100
    assert StripeEvent.objects.count() == 6  # two distinct event ids per top-up
    assert ledger_inconsistencies() == []


@pytest.mark.django_db(transaction=True)
def test_parallel_refund_events_claw_back_once(
    require_postgres, fake_stripe, start_checkout
) -> None:
    client = Client()
    topup = paid_topup(client, fake_stripe, start_checkout)
    payloads = [refund_event(topup, amount) for amount in (200, 500, 500, 1000, 1000, 700)]
    results = run_in_threads(12, lambda i: post_webhook(Client(), payloads[i % 6]).status_code)
    assert results == [200] * 12
    topup.refresh_from_db()
    assert topup.credits_clawed_back == 100
    assert sum(amount for _, amount in clawbacks(topup)) == 100
    assert balance_get(user=topup.user).available == 0
