"""Holds: two-phase transfers from a customer to revenue. A hold reserves credits for a job;
capture charges (part of) it, release or expiry gives it back, each exactly once (L6, L7).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from billing import lock_objects
from billing.errors import InsufficientCredits, KeyBudgetExceeded
from billing.models import KeyBudgetUsage, LedgerAccount, Transfer
from billing.services.budgets import KeyBudget, key_budget_give_back, key_budget_take
from billing.services.ledger import (
    SYSTEM_REVENUE,
    alerts_evaluate_on_commit,
    customer_totals_apply,
    ledger_account_for_user,
    system_account,
    transfer_by_key,
    transfer_check_same,
)
from veosaas import metrics


class _Refused(Exception):
    """Raised inside a hold's transaction to roll back whatever part of it was applied."""


@dataclass(frozen=True)
class Resolution:
    """Outcome of resolving a hold. `created` is False when an earlier call had resolved it."""

    transfer: Transfer
    created: bool


def credits_hold(
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    job_id: object = None,
    ttl: timedelta | None = None,
    budget: KeyBudget | None = None,
) -> Transfer:
    """Reserve `amount` of the user's available credits as a pending transfer to revenue.

    Raises InsufficientCredits (with required and available) when the balance is short; nothing
    is written then. Idempotent: the same key returns the first hold; the same key with a
    different user, amount or job raises IdempotencyConflict. Concurrent holds on one account
    serialise on its row, so N racing holds of C against B accept exactly floor(B / C) (L2).

    With an API key's `budget` (billing.services.budgets.key_budget_open) the hold is also
    counted on the key's period usage, atomically with the hold: both apply or neither, and
    a hold that would cross the budget raises KeyBudgetExceeded (A4).
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    expires_at = timezone.now() + (ttl or timedelta(seconds=settings.BILLING_HOLD_TTL_SECONDS))
    fields = {
        "amount": amount,
        "kind": Transfer.Kind.HOLD,
        "phase": Transfer.Phase.PENDING,
        "idempotency_key": idempotency_key,
        "job_id": job_id,
        "expires_at": expires_at,
        "budget_usage_id": budget.usage_id if budget is not None else None,
    }
    try:
        if budget is not None:
            hold = _hold_budgeted(user=user, fields=fields, budget=budget)
        elif connection.vendor != "postgresql":
            with transaction.atomic():
                hold = _hold_two_statements(user=user, fields=fields)
        elif connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a conflict must not doom the caller
                hold = _hold_single_statement(user=user, fields=fields)
        else:
            # One statement in autocommit is its own transaction: no BEGIN/COMMIT round trips
            # while the account row is locked.
            hold = _hold_single_statement(user=user, fields=fields)
    except IntegrityError:
        found = transfer_by_key(idempotency_key)
        if found is None:
            raise
        account = ledger_account_for_user(user=user)
        return transfer_check_same(
            found,
            debit_account_id=account.pk,
            amount=amount,
            job_id=job_id,
            kind=Transfer.Kind.HOLD,
        )
    if hold is None and budget is not None:
        used = KeyBudgetUsage.objects.filter(pk=budget.usage_id).values_list("used", flat=True)
        left = budget.limit - int(used.first() or 0)
        if left < amount:
            raise KeyBudgetExceeded(
                required=amount,
                available=left,
                budget=budget.limit,
                period=budget.period,
                key_name=budget.key_name,
            )
    if hold is None:
        found_account = LedgerAccount.objects.filter(user=user).first()
        available = found_account.available if found_account else 0
        raise InsufficientCredits(required=amount, available=available)
    return hold


def _hold_budgeted(
    *, user: User, fields: dict[str, object], budget: KeyBudget, retried: bool = False
) -> Transfer | None:
    """The hold and the key budget's guarded UPDATE, both or neither; None when either is short.

    PostgreSQL: one statement (`_hold_single_statement` with the budget step in its CTE), which
    aborts as a whole when the account was debited but the budget refused. Elsewhere: the two
    steps in one transaction, rolled back when the budget refuses. Either way the account row
    is locked before the budget row, as when a hold is resolved (no deadlock).
    """
    amount = int(fields["amount"])  # type: ignore[call-overload]
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # One statement in autocommit: no BEGIN/COMMIT while the account row is locked.
            return _hold_single_statement(user=user, fields=fields, budget=budget)
        with transaction.atomic():  # PostgreSQL inside a transaction: a savepoint
            if connection.vendor == "postgresql":
                return _hold_single_statement(user=user, fields=fields, budget=budget)
            hold = _hold_two_statements(user=user, fields=fields)
            if hold is not None and not key_budget_take(budget=budget, amount=amount):
                raise _Refused
            return hold
    except _Refused:
        if retried or LedgerAccount.objects.filter(code=SYSTEM_REVENUE).exists():
            return None
    # The first hold ever: the statement cannot tell a missing revenue account from a refusal.
    system_account(code=SYSTEM_REVENUE)
    return _hold_budgeted(user=user, fields=fields, budget=budget, retried=True)


def _hold_two_statements(*, user: User, fields: dict[str, object]) -> Transfer | None:
    account = ledger_account_for_user(user=user)
    revenue = system_account(code=SYSTEM_REVENUE)
    amount = int(fields["amount"])  # type: ignore[call-overload]
    balance = customer_totals_apply(
        account_id=account.pk, debits_pending=amount, require_available=amount
    )
    if balance is None:
        return None
    metrics.ledger_entry_on_commit(kind=str(fields["kind"]), amount=amount)
    return Transfer.objects.create(
        debit_account=account, credit_account=revenue, balance_after=balance, **fields
    )


def _hold_single_statement(
    *,
    user: User,
    fields: dict[str, object],
    budget: KeyBudget | None = None,
    retried: bool = False,
    active_limit: int | None = None,
    id_taken: bool = False,
) -> Transfer | None:
    """PostgreSQL: the guarded UPDATE and the INSERT in one statement (a data-modifying CTE).

    With `active_limit` the account's `active_jobs` is counted up in the same UPDATE, guarded
    on staying within the limit (job_holds.py); with `id_taken` the hold takes the id this
    session took from the sequence already (job_holds.transfer_id_next), else the next.

    The account row lock is then held only inside the server, never across Python work between
    statements, which under many threads is what limits throughput on one hot account. A unique
    violation on the idempotency key fails the whole statement, so the update is undone too.
    Returns None when the user has no account or not enough available credits.
    """
    accounts = LedgerAccount._meta.db_table
    transfers = Transfer._meta.db_table
    row: dict[str, Any] = {
        **fields,
        "uid": uuid.uuid4(),
        "user_id": user.pk,
        "revenue_code": SYSTEM_REVENUE,
        "created_at": timezone.now(),
        "budget_limit": budget.limit if budget is not None else 0,
        "active_limit": active_limit,
        "transfers": transfers,
    }
    active_set = active_guard = id_column = id_value = ""
    if active_limit is not None:
        active_set = ", active_jobs = active_jobs + 1"
        active_guard = " AND active_jobs < %(active_limit)s"
    if id_taken:
        id_column, id_value = "id, ", "currval(pg_get_serial_sequence(%(transfers)s, 'id')), "
    budget_step = budget_guard = ""
    if budget is not None:
        # The key's budget, counted only once the account was debited (it reads `acc`, so the
        # account row is locked first, as when a hold is resolved). Its guard is re-checked on
        # the locked usage row, so it is the authoritative one. When the account was debited
        # but the budget refused, the divisor below is 0: the whole statement aborts (and with
        # it the account's UPDATE), raising DataError, turned into "refused" by the caller.
        budget_step = f""", bud AS (
            UPDATE {KeyBudgetUsage._meta.db_table} SET used = used + %(amount)s
            WHERE id = %(budget_usage_id)s AND used + %(amount)s <= %(budget_limit)s
              AND EXISTS (SELECT 1 FROM acc)
            RETURNING id
        )"""  # noqa: S608 - table name is ours
        budget_guard = " WHERE 1 / (SELECT count(*) FROM bud) = 1"
    # Every part of a data-modifying CTE runs, so the UPDATE itself is guarded on the revenue
    # account existing: otherwise it could reserve credits with no transfer row to show for it.
    # RETURNING also reads the account's `alerts_enabled` from the UPDATE's own result (a
    # scalar subquery on the CTE: no extra statement, and measurably cheaper than wrapping the
    # INSERT in another CTE).
    sql = f"""
        WITH revenue AS (
            SELECT id FROM {accounts} WHERE code = %(revenue_code)s AND kind = 'system'
        ), acc AS (
            UPDATE {accounts} SET debits_pending = debits_pending + %(amount)s{active_set}
            WHERE user_id = %(user_id)s AND EXISTS (SELECT 1 FROM revenue) AND (allow_negative
                  OR credits_posted - debits_posted - debits_pending >= %(amount)s){active_guard}
            RETURNING id, credits_posted - debits_posted - debits_pending AS available,
                alerts_enabled
        ){budget_step}
        INSERT INTO {transfers} ({id_column}uid, debit_account_id, credit_account_id, amount,
            kind, phase, idempotency_key, job_id, reason, reference, balance_after, expires_at,
            created_at, budget_usage_id)
        SELECT {id_value}%(uid)s, acc.id, revenue.id, %(amount)s, %(kind)s, %(phase)s,
            %(idempotency_key)s, %(job_id)s, '', '', acc.available, %(expires_at)s,
            %(created_at)s, %(budget_usage_id)s
        FROM acc, revenue{budget_guard}
        RETURNING id, debit_account_id, credit_account_id, balance_after,
            (SELECT alerts_enabled FROM acc)
    """  # noqa: S608 - table names are ours; values are parameters
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, row)
            result = cursor.fetchone()
    except DataError:
        if budget is None:
            raise
        raise _Refused from None
    if result is None:
        # Not enough credits, or the revenue account did not exist yet when the statement ran
        # (the first hold ever, possibly racing another): make sure it exists, try once more.
        if retried:
            return None
        system_account(code=SYSTEM_REVENUE)
        return _hold_single_statement(
            user=user,
            fields=fields,
            budget=budget,
            retried=True,
            active_limit=active_limit,
            id_taken=id_taken,
        )
    transfer_id, debit_account_id, credit_account_id, balance_after, alerts_enabled = result
    metrics.ledger_entry_on_commit(kind=str(fields["kind"]), amount=int(fields["amount"]))  # type: ignore[call-overload]
    if alerts_enabled:
        alerts_evaluate_on_commit(user_id=user.pk)
    return Transfer(
        id=transfer_id,
        uid=row["uid"],
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        balance_after=balance_after,
        created_at=row["created_at"],
        reason="",
        reference="",
        **fields,
    )


def _resolve(*, hold: Transfer, capture: int, kind: str, reason: str) -> Resolution:
    """Resolve a pending hold once: post `capture` credits (0 = void) and release the rest.

    The customer account row is locked first, so every resolution of its holds is serialised
    and the "already resolved?" check cannot race; the unique constraint on `pending` is the
    backstop (L6).
    """
    if hold.phase != Transfer.Phase.PENDING:
        raise ValueError("only a pending transfer can be resolved")
    if not 0 <= capture <= hold.amount:
        raise ValueError("capture must be between 0 and the held amount")
    with transaction.atomic():
        lock_objects.ledger_account_lock(account_id=hold.debit_account_id)
        existing = Transfer.objects.filter(pending=hold).first()
        if existing is not None:
            return Resolution(transfer=existing, created=False)
        balance = customer_totals_apply(
            account_id=hold.debit_account_id,
            debits_pending=-hold.amount,
            debits_posted=capture,
        )
        if hold.budget_usage_id is not None:
            key_budget_give_back(usage_id=hold.budget_usage_id, amount=hold.amount - capture)
        phase = Transfer.Phase.POST_PENDING if capture else Transfer.Phase.VOID_PENDING
        metrics.ledger_entry_on_commit(kind=kind, amount=capture or hold.amount)
        transfer = Transfer.objects.create(
            debit_account_id=hold.debit_account_id,
            credit_account_id=hold.credit_account_id,
            amount=capture or hold.amount,
            kind=kind,
            phase=phase,
            pending=hold,
            idempotency_key=f"{hold.idempotency_key}:resolve",
            job_id=hold.job_id,
            reason=reason,
            balance_after=balance,
        )
        return Resolution(transfer=transfer, created=True)


def credits_capture(*, hold: Transfer, amount: int | None = None, reason: str = "") -> Resolution:
    """Charge `amount` (default: all) of a hold; the remainder is released. At most once."""
    amount = hold.amount if amount is None else amount
    if amount == 0:
        return _resolve(hold=hold, capture=0, kind=Transfer.Kind.RELEASE, reason=reason)
    return _resolve(hold=hold, capture=amount, kind=Transfer.Kind.CAPTURE, reason=reason)


def credits_release(*, hold: Transfer, reason: str = "", expired: bool = False) -> Resolution:
    """Void a hold, returning its credits to the customer. At most once."""
    kind = Transfer.Kind.EXPIRE if expired else Transfer.Kind.RELEASE
    return _resolve(hold=hold, capture=0, kind=kind, reason=reason)


def holds_expire_stale(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release holds whose TTL has passed (L7 backstop). Returns how many this call expired."""
    now = now or timezone.now()
    stale = Transfer.objects.filter(
        phase=Transfer.Phase.PENDING, expires_at__lt=now, resolutions__isnull=True
    ).order_by("expires_at")[:limit]
    expired = 0
    for hold in list(stale):
        if credits_release(hold=hold, reason="hold expired", expired=True).created:
            expired += 1
    return expired
