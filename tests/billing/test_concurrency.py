"""L2, L3, L5, L6 under real concurrency: threads with their own connections, committed data.

They need PostgreSQL's row locks (the point of the test); on SQLite they are skipped with a
reason because SQLite serialises every write transaction anyway.
"""

from __future__ import annotations

import uuid

import pytest

from billing.errors import InsufficientCredits
from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import credits_capture, credits_grant, credits_hold, credits_release
from tests.conftest import run_in_threads
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def funded(require_postgres):
    user = UserFactory()
    credits_grant(user=user, amount=100, idempotency_key=f"seed:{user.pk}")
    return user


def test_forty_holds_of_ten_against_one_hundred_accept_exactly_ten(funded) -> None:
    results = run_in_threads(
        40, lambda i: credits_hold(user=funded, amount=10, idempotency_key=f"race:{i}")
    )
    accepted = [r for r in results if isinstance(r, Transfer)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(accepted) == 10
    assert len(refused) == 30
    balance = balance_get(user=funded)
    assert balance.available == 0
    assert balance.held + balance.available == 100  # conservation (L3)
    assert ledger_inconsistencies() == []


def test_holds_of_uneven_cost_leave_the_remainder(funded) -> None:
    results = run_in_threads(
        20, lambda i: credits_hold(user=funded, amount=7, idempotency_key=f"odd:{i}")
    )
    assert sum(isinstance(r, Transfer) for r in results) == 100 // 7
    assert balance_get(user=funded).available == 100 % 7


def test_one_idempotency_key_forty_times_is_one_hold(funded) -> None:
    job = uuid.uuid4()
    results = run_in_threads(
        40, lambda i: credits_hold(user=funded, amount=10, idempotency_key="same", job_id=job)
    )
    assert all(isinstance(r, Transfer) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Transfer.objects.filter(kind=Transfer.Kind.HOLD).count() == 1
    assert balance_get(user=funded).available == 90


def test_capture_and_release_racing_on_one_hold_resolve_once(funded) -> None:
    for round_no in range(5):
        hold = credits_hold(user=funded, amount=10, idempotency_key=f"h:{round_no}")

        def act(i: int, hold: Transfer = hold):
            if i % 2 == 0:
                return credits_capture(hold=hold)
            return credits_release(hold=hold)

        results = run_in_threads(6, act)
        winners = [r for r in results if r.created]
        assert len(winners) == 1, results
        assert Transfer.objects.filter(pending=hold).count() == 1
    captured = Transfer.objects.filter(kind=Transfer.Kind.CAPTURE).count()
    balance = balance_get(user=funded)
    assert balance.held == 0
    assert balance.available == 100 - 10 * captured
    assert ledger_inconsistencies() == []


def test_spends_and_grants_interleaved_conserve_credits(funded) -> None:
    def act(i: int):
        if i % 4 == 0:
            return credits_grant(user=funded, amount=5, idempotency_key=f"g:{i}")
        try:
            hold = credits_hold(user=funded, amount=9, idempotency_key=f"s:{i}")
        except InsufficientCredits as exc:
            return exc
        return credits_capture(hold=hold, amount=6)

    results = run_in_threads(32, act)
    grants = sum(isinstance(r, Transfer) for r in results)
    spends = sum(getattr(r, "created", False) for r in results)
    balance = balance_get(user=funded)
    assert balance.held == 0
    assert balance.available == 100 + 5 * grants - 6 * spends
    assert balance.available >= 0
    assert ledger_inconsistencies() == []
