"""L3 as a property: random sequences of ledger operations agree with an in-memory model."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from billing.errors import InsufficientCredits
from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import (
    credits_adjust,
    credits_capture,
    credits_grant,
    credits_hold,
    credits_release,
)
from tests.factories import UserFactory


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self.user = UserFactory()
        self.staff = UserFactory(is_staff=True)
        self.posted = 0
        self.open: dict[int, int] = {}

    def k(self) -> str:
        return f"m:{uuid.uuid4()}"

    @rule(amount=st.integers(1, 500))
    def grant(self, amount: int) -> None:
        credits_grant(user=self.user, amount=amount, idempotency_key=self.k())
        self.posted += amount

    @rule(target=holds, amount=st.integers(1, 300))
    def hold(self, amount: int):
        available = self.posted - sum(self.open.values())
        try:
            transfer = credits_hold(user=self.user, amount=amount, idempotency_key=self.k())
        except InsufficientCredits:
            assert amount > available
            return None
        assert amount <= available
        self.open[transfer.pk] = amount
        return transfer

    @rule(hold=holds, fraction=st.floats(0, 1))
    def capture(self, hold: Transfer | None, fraction: float) -> None:
        if hold is None:
            return
        amount = int(hold.amount * fraction)
        result = credits_capture(hold=hold, amount=amount)
        if hold.pk in self.open:
            assert result.created
            del self.open[hold.pk]
            self.posted -= amount
        else:
            assert not result.created

    @rule(hold=holds)
    def release(self, hold: Transfer | None) -> None:
        if hold is None:
            return
        result = credits_release(hold=hold)
        assert result.created == (hold.pk in self.open)
        self.open.pop(hold.pk, None)

    @rule(amount=st.integers(-200, 200).filter(bool))
    def adjust(self, amount: int) -> None:
        available = self.posted - sum(self.open.values())
        try:
            credits_adjust(
                user=self.user,
                amount=amount,
                actor=self.staff,
                reason="model",
                idempotency_key=self.k(),
            )
        except InsufficientCredits:
            assert -amount > available
            return
        self.posted += amount

    @invariant()
    def balances_match_model(self) -> None:
        balance = balance_get(user=self.user)
        assert balance.posted == self.posted
        assert balance.held == sum(self.open.values())
        assert balance.available >= 0

    def teardown(self) -> None:
        assert ledger_inconsistencies() == []


@pytest.mark.django_db
def test_ledger_agrees_with_reference_model() -> None:
    LedgerMachine.TestCase.settings = hsettings(
        max_examples=25, stateful_step_count=25, deadline=None
    )
    LedgerMachine.TestCase().runTest()
