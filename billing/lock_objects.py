"""Every row lock billing takes, in one place, and the order they are taken in.

Lock order, outermost first (a transaction that holds a later lock never waits for an earlier
one, so two billing transactions cannot deadlock on each other):

1. the business row the operation decides about: a `TopUp` (fulfilment, refunds, disputes) or
   an `AdjustmentRequest` (approve or reject);
2. the customer's `LedgerAccount` row: explicitly with `ledger_account_lock` (resolving a hold,
   `account_lock` before a check-then-spend such as a key's own cap in `job_submit`), or
   implicitly by the relative `UPDATE` of `services.ledger.customer_totals_apply`, which every
   change of a customer's totals goes through;
3. an API key's budget usage row (`KeyBudgetUsage`, services/budgets.py): only ever changed
   after the key's account row, by a hold (in the hold's own statement, which reads the
   account UPDATE's result first) or by resolving a hold (after `ledger_account_lock`).

System accounts are never locked: they keep no cached totals (their balance is the sum of their
transfers), so any number of transactions may post against them at once. Every lock lasts
until the caller's transaction ends, so each function must be called inside
`transaction.atomic()`.
"""

from __future__ import annotations

from django.db.models import QuerySet

from billing.models import AdjustmentRequest, LedgerAccount, TopUp


def ledger_account_lock(*, account_id: int) -> LedgerAccount:
    """Lock one customer account row (step 2) and return it as it is now."""
    return LedgerAccount.objects.select_for_update().get(pk=account_id)


def ledger_account_locked() -> QuerySet[LedgerAccount]:
    """Customer accounts, each row locked as it is read (step 2): filter, then `.first()`."""
    return LedgerAccount.objects.select_for_update()


def topups_locked() -> QuerySet[TopUp]:
    """Top-ups, each row locked as it is read (step 1): filter, then `.first()`."""
    return TopUp.objects.select_for_update()


def adjustment_request_lock(*, adjustment_request_id: int) -> AdjustmentRequest:
    """Lock one adjustment request row (step 1) and return it as it is now."""
    return AdjustmentRequest.objects.select_for_update().get(pk=adjustment_request_id)
