"""The hold a job submit takes: the account's active-jobs slot and the credits in one step.

A submit checks the account's concurrency cap and holds the job's price. Both are decided by
one guarded UPDATE of the account row (PostgreSQL: one statement with the transfer's INSERT,
`holds._hold_single_statement`), run as the last statement of the submit's transaction, so
the account row is locked for that statement and the COMMIT only: one account's submits do
not wait on each other's Python work. `LedgerAccount.active_jobs` is the count the cap reads;
`account_active_job_end` gives the slot back when the job ends (in the same transaction as
the job's terminal transition).

A refused `job_hold` leaves the caller's transaction unusable (on PostgreSQL the statement
may have aborted it): the caller rolls back, then `job_hold_refusal` reads why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import User
from billing.errors import ActiveJobsLimited, BillingError, InsufficientCredits, KeyBudgetExceeded
from billing.models import KeyBudgetUsage, LedgerAccount, Transfer
from billing.services.budgets import KeyBudget, key_budget_take
from billing.services.holds import _hold_single_statement, _hold_two_statements, _Refused
from billing.services.ledger import SYSTEM_REVENUE, ledger_account_for_user, system_account


class JobHoldRefused(Exception):
    """`job_hold` refused; roll the transaction back and ask `job_hold_refusal` why."""


def transfer_id_next() -> RawSQL | None:
    """PostgreSQL: the transfer sequence's next value, as an expression for the job row's
    INSERT, so the job row names its hold before the hold exists, without a statement of its
    own; the hold then takes that same id (`job_hold(..., id_taken=True)`: the sequence's
    current value in this session). None elsewhere (no sequence to take from)."""
    if connection.vendor != "postgresql":
        return None
    return RawSQL("nextval(pg_get_serial_sequence(%s, 'id'))", [Transfer._meta.db_table])


def job_hold(
    *,
    user: User,
    amount: int,
    job_id: object,
    active_limit: int,
    budget: KeyBudget | None = None,
    id_taken: bool = False,
) -> int | None:
    """Take one of the account's `active_limit` job slots and hold `amount` credits for the job
    (with the key's `budget`, atomically); returns the hold's transfer id (None when `amount`
    is 0: a free job holds nothing but its slot). `id_taken`: this transaction took the hold's
    id from the sequence already (`transfer_id_next`, PostgreSQL).

    Call it inside the submit's transaction, as late as possible (the account row stays locked
    until the commit). Raises JobHoldRefused when the cap, the credits or the budget refuse.
    """
    if amount <= 0:
        taken = LedgerAccount.objects.filter(user=user, active_jobs__lt=active_limit).update(
            active_jobs=F("active_jobs") + 1
        )
        if not taken:
            raise JobHoldRefused
        return None
    fields: dict[str, Any] = {
        "amount": amount,
        "kind": Transfer.Kind.HOLD,
        "phase": Transfer.Phase.PENDING,
        "idempotency_key": f"job:{job_id}:hold",
        "job_id": job_id,
        "expires_at": timezone.now() + timedelta(seconds=settings.BILLING_HOLD_TTL_SECONDS),
        "budget_usage_id": budget.usage_id if budget is not None else None,
    }
    if connection.vendor == "postgresql":
        try:
            hold = _hold_single_statement(
                user=user,
                fields=fields,
                budget=budget,
                retried=True,  # a missing revenue account is created by job_hold_refusal
                active_limit=active_limit,
                id_taken=id_taken,
            )
        except _Refused:
            raise JobHoldRefused from None
    else:
        # Writes are serialised on this backend: the steps one after the other.
        taken = LedgerAccount.objects.filter(user=user, active_jobs__lt=active_limit).update(
            active_jobs=F("active_jobs") + 1
        )
        hold = _hold_two_statements(user=user, fields=fields) if taken else None
        if (
            hold is not None
            and budget is not None
            and not key_budget_take(budget=budget, amount=amount)
        ):
            hold = None
    if hold is None:
        raise JobHoldRefused
    return int(hold.pk)


def job_hold_refusal(
    *, user: User, amount: int, active_limit: int, budget: KeyBudget | None = None
) -> BillingError | None:
    """Why `job_hold` refused, read after the rollback: ActiveJobsLimited, KeyBudgetExceeded or
    InsufficientCredits. None when nothing refuses now (the account or the revenue account did
    not exist and now does, or a concurrent job ended): the caller may try again."""
    account = ledger_account_for_user(user=user)
    system_account(code=SYSTEM_REVENUE)
    if account.active_jobs >= active_limit:
        return ActiveJobsLimited(limit=active_limit)
    if amount <= 0:
        return None
    if budget is not None:
        used = KeyBudgetUsage.objects.filter(pk=budget.usage_id).values_list("used", flat=True)
        left = budget.limit - int(used.first() or 0)
        if left < amount:
            return KeyBudgetExceeded(
                required=amount,
                available=left,
                budget=budget.limit,
                period=budget.period,
                key_name=budget.key_name,
            )
    if not account.allow_negative and account.available < amount:
        return InsufficientCredits(required=amount, available=account.available)
    return None


def account_active_job_end(*, user_id: Any) -> None:
    """Give back one of the account's job slots (a job ended). `user_id` may be an expression
    (a subquery naming the job's user), so the caller needs no read for it."""
    LedgerAccount.objects.filter(user_id=user_id, active_jobs__gt=0).update(
        active_jobs=F("active_jobs") - 1
    )
