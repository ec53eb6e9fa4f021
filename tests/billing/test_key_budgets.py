"""Per-key credit budgets (A4): counted atomically with the hold, given back on release, per
calendar period in the business time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from accounts.services import api_key_create, api_key_limits_set
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from billing.models import KeyBudgetUsage, Transfer
from billing.selectors import balance_get, key_budget_used, ledger_inconsistencies
from billing.services import (
    credits_capture,
    credits_grant,
    credits_hold,
    credits_release,
    key_budget_open,
)
from billing.usage import budget_period_start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def budgeted(db: None) -> Any:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"seed:{user.pk}")
    key = api_key_create(user=user, name="contractor").api_key
    key = api_key_limits_set(
        api_key=key, changes={"budget_credits": 100, "budget_period": "day"}, actor=None, via="t"
    )
    return user, key


def hold(user: Any, key: Any, amount: int, name: str) -> Transfer:
    return credits_hold(
        user=user, amount=amount, idempotency_key=name, budget=key_budget_open(api_key=key)
    )


def test_holds_count_on_the_key_budget_and_one_crossing_it_is_refused(budgeted) -> None:  # type: ignore[no-untyped-def]
    user, key = budgeted
    hold(user, key, 60, "a")
    hold(user, key, 40, "b")
    with pytest.raises(KeyBudgetExceeded) as refused:
        hold(user, key, 1, "c")
    assert "'contractor' may spend 100 credits per day" in str(refused.value)
    assert (refused.value.required, refused.value.available) == (1, 0)
    assert isinstance(refused.value, InsufficientCredits)  # facades answer it as a 402
    assert key_budget_used(api_key=key) == 100
    assert balance_get(user=user).available == 900  # the refusal changed nothing
    assert Transfer.objects.filter(kind="hold").count() == 2
    assert ledger_inconsistencies() == []


def test_release_gives_budget_back_and_a_capture_keeps_only_what_it_charged(budgeted) -> None:  # type: ignore[no-untyped-def]
    user, key = budgeted
    first = hold(user, key, 50, "a")
    second = hold(user, key, 50, "b")
    credits_release(hold=first)
    assert key_budget_used(api_key=key) == 50
    credits_capture(hold=second, amount=30)
    assert key_budget_used(api_key=key) == 30
    credits_release(hold=first)  # a second resolution changes nothing
    assert key_budget_used(api_key=key) == 30
    hold(user, key, 70, "c")
    assert key_budget_used(api_key=key) == 100
    assert balance_get(user=user).available == 1000 - 30 - 70


def test_the_account_balance_still_refuses_first(budgeted) -> None:  # type: ignore[no-untyped-def]
    user, key = budgeted
    api_key_limits_set(api_key=key, changes={"budget_credits": 5000}, actor=None, via="t")
    key.refresh_from_db()
    with pytest.raises(InsufficientCredits) as refused:
        hold(user, key, 2000, "big")
    assert not isinstance(refused.value, KeyBudgetExceeded)
    assert key_budget_used(api_key=key) == 0


def test_the_daily_budget_rolls_over_at_midnight_in_the_business_time_zone(
    budgeted, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Asia/Tokyo"  # UTC+9: midnight is 15:00 UTC
    user, key = budgeted
    with time_machine.travel(datetime(2026, 3, 10, 14, 59, 59, tzinfo=UTC), tick=False):
        hold(user, key, 100, "late")
        with pytest.raises(KeyBudgetExceeded):
            hold(user, key, 10, "still today")
    with time_machine.travel(datetime(2026, 3, 10, 15, 0, 0, tzinfo=UTC), tick=False):
        assert key_budget_used(api_key=key) == 0
        hold(user, key, 100, "new day")
        with pytest.raises(KeyBudgetExceeded):
            hold(user, key, 10, "over again")
    starts = sorted(KeyBudgetUsage.objects.values_list("starts_at", flat=True))
    assert starts == [
        datetime(2026, 3, 9, 15, tzinfo=UTC),
        datetime(2026, 3, 10, 15, tzinfo=UTC),
    ]


def test_periods_start_at_local_midnight_monday_and_the_first(settings) -> None:
    settings.TIME_ZONE = "Europe/Istanbul"  # UTC+3
    now = datetime(2026, 12, 10, 22, 30, tzinfo=UTC)  # Friday 11 Dec 01:30 in Istanbul
    assert budget_period_start(period="day", now=now) == datetime(2026, 12, 10, 21, tzinfo=UTC)
    assert budget_period_start(period="week", now=now) == datetime(2026, 12, 6, 21, tzinfo=UTC)
    assert budget_period_start(period="month", now=now) == datetime(2026, 11, 30, 21, tzinfo=UTC)
    assert budget_period_start(period="lifetime", now=now).year == 2000


def test_a_key_without_a_budget_holds_as_before(budgeted) -> None:  # type: ignore[no-untyped-def]
    user, _ = budgeted
    plain = api_key_create(user=user, name="plain").api_key
    assert key_budget_open(api_key=plain) is None
    credits_hold(user=user, amount=1000, idempotency_key="all", budget=None)
    assert balance_get(user=user).available == 0


def test_an_expired_hold_gives_back_to_the_period_it_was_counted_in(budgeted, settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from billing.services import holds_expire_stale

    settings.TIME_ZONE = "UTC"
    user, key = budgeted
    with time_machine.travel(datetime(2026, 5, 1, 23, 0, tzinfo=UTC), tick=False):
        credits_hold(
            user=user,
            amount=70,
            idempotency_key="old",
            ttl=timedelta(hours=2),
            budget=key_budget_open(api_key=key),
        )
    with time_machine.travel(datetime(2026, 5, 2, 1, 30, tzinfo=UTC), tick=False):
        hold(user, key, 100, "today")  # a new day: the whole budget again
        assert holds_expire_stale() == 1
        assert key_budget_used(api_key=key) == 100  # today's row untouched
    usage = {u.starts_at.day: u.used for u in KeyBudgetUsage.objects.all()}
    assert usage == {1: 0, 2: 100}
    assert balance_get(user=user).available == 900
