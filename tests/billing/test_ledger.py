"""Ledger behaviour on one connection: L1, L4, L5, L6, L7 and adjustments."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from billing.errors import IdempotencyConflict, InsufficientCredits
from billing.models import LedgerAccount, Transfer
from billing.selectors import balance_get, holds_open, ledger_inconsistencies
from billing.services import (
    credits_adjust,
    credits_capture,
    credits_grant,
    credits_hold,
    credits_release,
    holds_expire_stale,
)
from tests.factories import UserFactory


@pytest.fixture
def funded(db):
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=f"seed:{user.pk}")
    return user


@pytest.fixture(autouse=True)
def _ledger_stays_consistent(db):
    yield
    assert ledger_inconsistencies() == []


def key() -> str:
    return f"test:{uuid.uuid4()}"


def test_grant_posts_credits(funded) -> None:
    balance = balance_get(user=funded)
    assert (balance.posted, balance.held, balance.available) == (100, 0, 100)


def test_hold_reserves_and_capture_charges(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    assert balance_get(user=funded).available == 70
    assert balance_get(user=funded).held == 30
    assert hold.balance_after == 70
    result = credits_capture(hold=hold)
    assert result.created
    balance = balance_get(user=funded)
    assert (balance.posted, balance.held, balance.available) == (70, 0, 70)


def test_partial_capture_releases_the_rest(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    credits_capture(hold=hold, amount=12)
    balance = balance_get(user=funded)
    assert (balance.posted, balance.held, balance.available) == (88, 0, 88)


def test_capture_more_than_held_is_refused(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    with pytest.raises(ValueError, match="capture"):
        credits_capture(hold=hold, amount=31)
    assert balance_get(user=funded).held == 30


def test_release_returns_credits(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    credits_release(hold=hold, reason="job failed")
    assert balance_get(user=funded).available == 100
    assert not holds_open(user=funded).exists()


def test_hold_resolves_at_most_once(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    first = credits_capture(hold=hold)
    again = credits_capture(hold=hold)
    late_release = credits_release(hold=hold)
    assert first.created
    assert not again.created
    assert not late_release.created
    assert again.transfer.pk == first.transfer.pk == late_release.transfer.pk
    assert balance_get(user=funded).available == 70


def test_unique_constraint_backstops_double_resolution(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    credits_release(hold=hold)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(
            debit_account_id=hold.debit_account_id,
            credit_account_id=hold.credit_account_id,
            amount=30,
            kind=Transfer.Kind.CAPTURE,
            phase=Transfer.Phase.POST_PENDING,
            pending=hold,
            idempotency_key=key(),
        )


def test_insufficient_credits_changes_nothing(funded) -> None:
    with pytest.raises(InsufficientCredits) as excinfo:
        credits_hold(user=funded, amount=101, idempotency_key=key())
    assert (excinfo.value.required, excinfo.value.available) == (101, 100)
    assert Transfer.objects.filter(kind=Transfer.Kind.HOLD).count() == 0
    assert balance_get(user=funded).available == 100


def test_user_without_account_has_nothing_to_spend(db) -> None:
    with pytest.raises(InsufficientCredits):
        credits_hold(user=UserFactory(), amount=1, idempotency_key=key())


def test_same_idempotency_key_is_one_hold(funded) -> None:
    k = key()
    job = uuid.uuid4()
    first = credits_hold(user=funded, amount=10, idempotency_key=k, job_id=job)
    second = credits_hold(user=funded, amount=10, idempotency_key=k, job_id=job)
    assert first.pk == second.pk
    assert balance_get(user=funded).available == 90


@pytest.mark.parametrize("change", ["amount", "job", "user"])
def test_same_key_with_different_parameters_is_refused(funded, change: str) -> None:
    k = key()
    job = uuid.uuid4()
    credits_hold(user=funded, amount=10, idempotency_key=k, job_id=job)
    other = UserFactory()
    credits_grant(user=other, amount=50, idempotency_key=key())
    kwargs = {"user": funded, "amount": 10, "idempotency_key": k, "job_id": job}
    if change == "amount":
        kwargs["amount"] = 11
    elif change == "job":
        kwargs["job_id"] = uuid.uuid4()
    else:
        kwargs["user"] = other
    with pytest.raises(IdempotencyConflict):
        credits_hold(**kwargs)
    assert balance_get(user=funded).available == 90
    assert balance_get(user=other).available == 50


def test_grant_with_reused_key_is_idempotent_or_conflicts(funded) -> None:
    k = key()
    credits_grant(user=funded, amount=5, idempotency_key=k)
    credits_grant(user=funded, amount=5, idempotency_key=k)
    assert balance_get(user=funded).available == 105
    with pytest.raises(IdempotencyConflict):
        credits_grant(user=funded, amount=6, idempotency_key=k)


def test_transfers_cannot_be_updated(funded) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        Transfer.objects.filter(credit_account__user=funded).update(amount=1_000_000)
    assert balance_get(user=funded).available == 100


def test_transfers_cannot_be_deleted_on_postgres(funded, require_postgres) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        Transfer.objects.filter(credit_account__user=funded).delete()
    assert Transfer.objects.filter(credit_account__user=funded).count() == 1


def test_trigger_is_installed_on_postgres(require_postgres) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'billing_transfer'::regclass "
            "AND NOT tgisinternal"
        )
        assert [row[0] for row in cursor.fetchall()] == ["billing_transfer_append_only"]


def test_customer_balance_constraint_backstops_overspend(funded) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(user=funded).update(debits_pending=101)


def test_stale_holds_expire_once(funded) -> None:
    old = credits_hold(user=funded, amount=20, idempotency_key=key(), ttl=timedelta(seconds=1))
    fresh = credits_hold(user=funded, amount=10, idempotency_key=key())
    later = timezone.now() + timedelta(seconds=5)
    assert holds_expire_stale(now=later) == 1
    assert holds_expire_stale(now=later) == 0
    assert old.resolutions.get().kind == Transfer.Kind.EXPIRE
    assert not fresh.resolutions.exists()
    assert balance_get(user=funded).available == 90


def test_adjustments_record_actor_and_reason(funded) -> None:
    staff = UserFactory(is_staff=True)
    plus = credits_adjust(
        user=funded,
        amount=15,
        actor=staff,
        reason="goodwill",
        idempotency_key=key(),
        reference="TICKET-1",
    )
    minus = credits_adjust(
        user=funded, amount=-40, actor=staff, reason="correction", idempotency_key=key()
    )
    assert (plus.kind, plus.actor, plus.reason, plus.reference) == (
        "adjustment",
        staff,
        "goodwill",
        "TICKET-1",
    )
    assert minus.debit_account.user == funded
    assert balance_get(user=funded).available == 75
    with pytest.raises(InsufficientCredits):
        credits_adjust(
            user=funded, amount=-76, actor=staff, reason="too much", idempotency_key=key()
        )
    with pytest.raises(ValueError, match="reason"):
        credits_adjust(user=funded, amount=5, actor=staff, reason=" ", idempotency_key=key())


def test_double_entry_sums_balance_across_all_accounts(funded) -> None:
    hold = credits_hold(user=funded, amount=30, idempotency_key=key())
    credits_capture(hold=hold, amount=20)
    credits_release(hold=credits_hold(user=funded, amount=5, idempotency_key=key()))
    # Every row names one debit and one credit account, so per-account recomputed sums of
    # debits and credits balance over the whole ledger (posted and pending separately).
    rows = list(Transfer.objects.all())
    for phases in (("posted", "post_pending"), ("pending",)):
        selected = [r for r in rows if r.phase in phases]
        debits: dict[int, int] = {}
        credits: dict[int, int] = {}
        for r in selected:
            debits[r.debit_account_id] = debits.get(r.debit_account_id, 0) + r.amount
            credits[r.credit_account_id] = credits.get(r.credit_account_id, 0) + r.amount
        assert sum(debits.values()) == sum(credits.values())
