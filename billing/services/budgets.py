"""Per-key credit budgets (billing.models.budgets): the period a hold counts in, the usage row
of a key's current period, and giving credits back when a hold is released.

Periods are calendar periods in TIME_ZONE (the business time zone):
a day from local midnight, a week from Monday's, a month from the 1st's; "lifetime" never
rolls over. Taking budget is part of the hold itself (billing.services.holds.credits_hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from accounts.models import ApiKey
from billing.models import KeyBudgetUsage
from billing.usage import budget_period_start


@dataclass(frozen=True)
class KeyBudget:
    """What a hold needs to count against a key's budget: the period's usage row and limit."""

    api_key_id: int
    key_name: str
    usage_id: int
    limit: int
    period: str
    starts_at: datetime


# (key id, period, start) → usage row id. Usage rows are never deleted (holds protect them),
# so a remembered id is always valid; remembering saves a query on every budgeted submit.
_USAGE_IDS: dict[tuple[int, str, datetime], int] = {}
_USAGE_IDS_MAX = 10_000


def key_budget_open(*, api_key: ApiKey, now: datetime | None = None) -> KeyBudget | None:
    """The key's budget for the current period (its usage row created if needed), or None when
    the key has no budget. Call it before the transaction that holds: creating the row must not
    wait on a concurrent creator while an account row is locked."""
    if api_key.budget_credits is None:
        return None
    starts_at = budget_period_start(period=api_key.budget_period, now=now)
    slot = (int(api_key.pk), str(api_key.budget_period), starts_at)
    usage_id = _USAGE_IDS.get(slot)
    if usage_id is None:
        usage, _ = KeyBudgetUsage.objects.get_or_create(
            api_key_id=api_key.pk, period=api_key.budget_period, starts_at=starts_at
        )
        usage_id = usage.pk
        if transaction.get_connection().in_atomic_block:
            # The row may still be rolled back with the caller's transaction: remember it once
            # it is committed.
            transaction.on_commit(lambda: _remember(slot, usage.pk))
        else:
            _remember(slot, usage_id)
    return KeyBudget(
        api_key_id=api_key.pk,
        key_name=api_key.name,
        usage_id=usage_id,
        limit=int(api_key.budget_credits),
        period=api_key.budget_period,
        starts_at=starts_at,
    )


def _remember(slot: tuple[int, str, datetime], usage_id: int) -> None:
    if len(_USAGE_IDS) >= _USAGE_IDS_MAX:
        _USAGE_IDS.clear()
    _USAGE_IDS[slot] = usage_id


def key_budget_take(*, budget: KeyBudget, amount: int) -> bool:
    """Count `amount` on the budget if it fits (one guarded UPDATE; the row lock lasts until the
    caller's transaction ends). Caller holds the key's account row lock."""
    return bool(
        KeyBudgetUsage.objects.filter(pk=budget.usage_id, used__lte=budget.limit - amount).update(
            used=F("used") + amount
        )
    )


def key_budget_give_back(*, usage_id: int, amount: int) -> None:
    """Return `amount` to the usage row a hold was counted on (a release, or the uncaptured
    rest of a capture). Caller holds the key's account row lock."""
    if amount > 0:
        KeyBudgetUsage.objects.filter(pk=usage_id).update(used=F("used") - amount)
