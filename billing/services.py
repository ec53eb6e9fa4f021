"""Write paths of the credit ledger, and the price quote.

Every function here owns its transaction (a savepoint when called inside a caller's, such as
`job_submit`, so a hold and its job row commit together). Customer totals change only through
`_customer_apply`, one relative `UPDATE … RETURNING` per call, guarded by
`available >= amount` for debits; the UPDATE takes the row lock that serialises spends of one
account (L2, L3). Each entry carries a unique idempotency key (L5).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from billing.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    PriceNotFound,
)
from billing.models import LedgerAccount, Price, Transfer

SYSTEM_GRANTS = "grants"
SYSTEM_REVENUE = "revenue"
SYSTEM_ADJUSTMENTS = "adjustments"
SYSTEM_TOPUPS = "stripe_topups"  # source of credits bought through Stripe Checkout
SYSTEM_CLAWBACKS = "clawbacks"  # sink of credits taken back after refunds and disputes


@dataclass(frozen=True)
class Quote:
    credits: int
    operation: str
    model_tier: str
    resolution: str
    seconds: int


@dataclass(frozen=True)
class Resolution:
    """Outcome of resolving a hold. `created` is False when an earlier call had resolved it."""

    transfer: Transfer
    created: bool


# ---------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------


def ledger_account_for_user(*, user: User) -> LedgerAccount:
    """The user's customer account, created on first use."""
    account = LedgerAccount.objects.filter(user=user).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(kind=LedgerAccount.Kind.CUSTOMER, user=user)
    except IntegrityError:
        return LedgerAccount.objects.get(user=user)


def system_account(*, code: str) -> LedgerAccount:
    """A system account (may go negative: it is the source or sink of customer credits)."""
    account = LedgerAccount.objects.filter(code=code, kind=LedgerAccount.Kind.SYSTEM).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                kind=LedgerAccount.Kind.SYSTEM, code=code, allow_negative=True
            )
    except IntegrityError:
        return LedgerAccount.objects.get(code=code)


def account_lock(*, user: User) -> LedgerAccount:
    """Lock the user's customer account row until the caller's transaction ends.

    Callers that must check something and then spend (the per-account concurrency cap in
    `job_submit`) take this lock first, so the check and the hold are serialised together.
    Must be called inside `transaction.atomic()`.
    """
    account = ledger_account_for_user(user=user)
    return LedgerAccount.objects.select_for_update().get(pk=account.pk)


def _customer_apply(
    *,
    account_id: int,
    debits_posted: int = 0,
    credits_posted: int = 0,
    debits_pending: int = 0,
    require_available: int = 0,
    force: bool = False,
) -> int | None:
    """Apply relative changes to a customer's cached totals in one statement.

    Returns the available balance afterwards, or None when `require_available` (> 0) was not
    met (nothing changed). Changes that require nothing (credits, captures, releases) always
    apply, also to an account that is in debt. `force` (clawbacks only, see `credits_clawback`)
    skips the check and marks the account `in_debt` when the result is negative; any other
    change that brings available back to zero or more clears that mark. The statement's row
    lock is held until the caller's transaction ends. When the account has usage alerts
    (`alerts_enabled`, read back from the updated row), an alert evaluation is enqueued after
    the caller's commit.
    """
    table = LedgerAccount._meta.db_table
    after = "credits_posted + %s - debits_posted - %s - debits_pending - %s"
    sql = (
        f"UPDATE {table} SET debits_posted = debits_posted + %s, "  # noqa: S608 - table name is ours
        "credits_posted = credits_posted + %s, debits_pending = debits_pending + %s, "
        f"in_debt = ((%s OR in_debt) AND ({after}) < 0) "
        "WHERE id = %s AND (%s OR %s <= 0 OR allow_negative OR "
        "credits_posted - debits_posted - debits_pending >= %s) "
        "RETURNING credits_posted - debits_posted - debits_pending, alerts_enabled, user_id"
    )
    params: list[object] = [
        debits_posted,
        credits_posted,
        debits_pending,
        force,
        credits_posted,
        debits_posted,
        debits_pending,
        account_id,
        force,
        require_available,
        require_available,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1]:
        alerts_evaluate_on_commit(user_id=row[2])
    return int(row[0])


def alerts_evaluate_on_commit(*, user_id: int) -> None:
    """Enqueue `alerts_evaluate_task` after the current transaction commits (ids only).

    Called only for accounts with usage alerts; the evaluation never runs in the request that
    changed the balance, and a rolled-back change enqueues nothing. `robust`: a broker error is
    logged and never reaches the caller, whose credits are already committed (the next ledger
    change of the account evaluates its alerts again).
    """
    from billing.tasks import alerts_evaluate_task  # billing.tasks imports billing.alerts

    def enqueue() -> None:
        alerts_evaluate_task.delay(user_id)

    transaction.on_commit(enqueue, robust=True)


def _existing(key: str) -> Transfer | None:
    return Transfer.objects.filter(idempotency_key=key).first()


def _check_same(existing: Transfer, **expected: object) -> Transfer:
    for field, value in expected.items():
        if getattr(existing, field) != value:
            raise IdempotencyConflict(
                f"Idempotency key {existing.idempotency_key!r} was used with a different {field}."
            )
    return existing


# ---------------------------------------------------------------------------------------------
# Posted transfers between a customer and a system account
# ---------------------------------------------------------------------------------------------


def _post(
    *,
    user: User,
    amount: int,
    kind: str,
    idempotency_key: str,
    system_code: str,
    incoming: bool,
    force: bool = False,
    actor: User | None = None,
    reason: str = "",
    reference: str = "",
) -> Transfer:
    """Post `amount` into (`incoming`) or out of the user's account, once per key.

    Outgoing amounts need that many available credits (InsufficientCredits otherwise, nothing
    written) unless `force` (clawbacks). The same key returns the first transfer; the same key
    for another account, amount or kind raises IdempotencyConflict — also when a concurrent
    call with the key wins the race (its unique violation undoes this one's balance change).
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    account = ledger_account_for_user(user=user)
    side = {"credit_account_id": account.pk} if incoming else {"debit_account_id": account.pk}
    found = _existing(idempotency_key)
    if found is not None:
        return _check_same(found, **side, amount=amount, kind=kind)
    other = system_account(code=system_code)
    try:
        with transaction.atomic():
            if incoming:
                balance = _customer_apply(account_id=account.pk, credits_posted=amount)
            else:
                balance = _customer_apply(
                    account_id=account.pk,
                    debits_posted=amount,
                    require_available=0 if force else amount,
                    force=force,
                )
                if balance is None:
                    account.refresh_from_db()
                    raise InsufficientCredits(required=amount, available=account.available)
            return Transfer.objects.create(
                debit_account=other if incoming else account,
                credit_account=account if incoming else other,
                amount=amount,
                kind=kind,
                phase=Transfer.Phase.POSTED,
                idempotency_key=idempotency_key,
                actor=actor,
                reason=reason,
                reference=reference,
                balance_after=balance,
            )
    except IntegrityError:
        found = _existing(idempotency_key)
        if found is None:
            raise
        return _check_same(found, **side, amount=amount, kind=kind)


def credits_grant(
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    reason: str = "",
    kind: str = Transfer.Kind.GRANT,
    source: str = SYSTEM_GRANTS,
    actor: User | None = None,
    reference: str = "",
) -> Transfer:
    """Credit `amount` to the user's account from a system account, posted at once.

    Idempotent: the same key returns the first transfer; the same key with a different user,
    amount or kind raises IdempotencyConflict.
    """
    return _post(
        user=user,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        system_code=source,
        incoming=True,
        actor=actor,
        reason=reason,
        reference=reference,
    )


def credits_debit(
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    reason: str = "",
    kind: str = Transfer.Kind.ADJUSTMENT,
    destination: str = SYSTEM_ADJUSTMENTS,
    actor: User | None = None,
    reference: str = "",
) -> Transfer:
    """Debit `amount` posted from the user's available credits (never below zero).

    Raises InsufficientCredits when the available balance is short. Idempotent like grants.
    """
    return _post(
        user=user,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        system_code=destination,
        incoming=False,
        actor=actor,
        reason=reason,
        reference=reference,
    )


def credits_adjust(
    *,
    user: User,
    amount: int,
    actor: User,
    reason: str,
    idempotency_key: str,
    reference: str = "",
) -> Transfer:
    """A staff adjustment: positive credits the user, negative debits (never below zero).

    Requires an actor and a reason; the transfer records both (L8 audit trail).
    """
    if not reason.strip():
        raise ValueError("an adjustment needs a reason")
    if amount == 0:
        raise ValueError("an adjustment needs a non-zero amount")
    if amount > 0:
        return credits_grant(
            user=user,
            amount=amount,
            idempotency_key=idempotency_key,
            reason=reason,
            kind=Transfer.Kind.ADJUSTMENT,
            source=SYSTEM_ADJUSTMENTS,
            actor=actor,
            reference=reference,
        )
    return credits_debit(
        user=user,
        amount=-amount,
        idempotency_key=idempotency_key,
        reason=reason,
        kind=Transfer.Kind.ADJUSTMENT,
        destination=SYSTEM_ADJUSTMENTS,
        actor=actor,
        reference=reference,
    )


def credits_clawback(
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    reason: str,
    reference: str = "",
    destination: str = SYSTEM_CLAWBACKS,
) -> Transfer:
    """Take back `amount` posted credits even when fewer are available: a forced debit.

    The only path by which a customer's available balance may go below zero: credits of a
    refunded or disputed top-up were possibly spent already (S4). The account is then marked
    `in_debt`, which relaxes its non-negative constraint; holds and debits still require
    available >= amount, so a negative balance blocks every new spend until later credits cover
    it (which clears the mark). Idempotent like grants: the same key returns the first transfer;
    the same key with a different user or amount raises IdempotencyConflict.
    """
    if not reason.strip():
        raise ValueError("a clawback needs a reason")
    return _post(
        user=user,
        amount=amount,
        kind=Transfer.Kind.CLAWBACK,
        idempotency_key=idempotency_key,
        system_code=destination,
        incoming=False,
        force=True,
        reason=reason,
        reference=reference,
    )


def signup_grant(*, user: User) -> Transfer | None:
    """Give a new user BILLING_SIGNUP_GRANT_CREDITS free credits, once per user.

    Idempotent on `signup:<user id>`: later calls return the first grant, even if the setting
    changed since. Returns None when the setting is 0 (grants switched off).
    """
    key = f"signup:{user.pk}"
    found = _existing(key)
    if found is not None:
        return found
    amount = int(settings.BILLING_SIGNUP_GRANT_CREDITS)
    if amount <= 0:
        return None
    try:
        return credits_grant(
            user=user,
            amount=amount,
            idempotency_key=key,
            reason="signup grant",
            kind=Transfer.Kind.GRANT,
            source=SYSTEM_GRANTS,
        )
    except IdempotencyConflict:
        # A concurrent call with another configured amount won; its grant is the grant.
        found = _existing(key)
        if found is None:
            raise
        return found


# ---------------------------------------------------------------------------------------------
# Holds: two-phase transfers to revenue
# ---------------------------------------------------------------------------------------------


def credits_hold(
    *,
    user: User,
    amount: int,
    idempotency_key: str,
    job_id: object = None,
    ttl: timedelta | None = None,
) -> Transfer:
    """Reserve `amount` of the user's available credits as a pending transfer to revenue.

    Raises InsufficientCredits (with required and available) when the balance is short; nothing
    is written then. Idempotent: the same key returns the first hold; the same key with a
    different user, amount or job raises IdempotencyConflict. Concurrent holds on one account
    serialise on its row, so N racing holds of C against B accept exactly floor(B / C) (L2).
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
    }
    try:
        if connection.vendor != "postgresql":
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
        found = _existing(idempotency_key)
        if found is None:
            raise
        account = ledger_account_for_user(user=user)
        return _check_same(
            found,
            debit_account_id=account.pk,
            amount=amount,
            job_id=job_id,
            kind=Transfer.Kind.HOLD,
        )
    if hold is None:
        account = LedgerAccount.objects.filter(user=user).first()
        raise InsufficientCredits(required=amount, available=account.available if account else 0)
    return hold


def _hold_two_statements(*, user: User, fields: dict[str, object]) -> Transfer | None:
    account = ledger_account_for_user(user=user)
    revenue = system_account(code=SYSTEM_REVENUE)
    amount = int(fields["amount"])  # type: ignore[call-overload]
    balance = _customer_apply(
        account_id=account.pk, debits_pending=amount, require_available=amount
    )
    if balance is None:
        return None
    return Transfer.objects.create(
        debit_account=account, credit_account=revenue, balance_after=balance, **fields
    )


def _hold_single_statement(
    *, user: User, fields: dict[str, object], retried: bool = False
) -> Transfer | None:
    """PostgreSQL: the guarded UPDATE and the INSERT in one statement (a data-modifying CTE).

    The account row lock is then held only inside the server, never across Python work between
    statements, which under many threads is what limits throughput on one hot account. A unique
    violation on the idempotency key fails the whole statement, so the update is undone too.
    Returns None when the user has no account or not enough available credits.
    """
    accounts = LedgerAccount._meta.db_table
    transfers = Transfer._meta.db_table
    row = {
        **fields,
        "uid": uuid.uuid4(),
        "user_id": user.pk,
        "revenue_code": SYSTEM_REVENUE,
        "created_at": timezone.now(),
    }
    # Every part of a data-modifying CTE runs, so the UPDATE itself is guarded on the revenue
    # account existing: otherwise it could reserve credits with no transfer row to show for it.
    # RETURNING also reads the account's `alerts_enabled` from the UPDATE's own result (a
    # scalar subquery on the CTE: no extra statement, and measurably cheaper than wrapping the
    # INSERT in another CTE).
    sql = f"""
        WITH revenue AS (
            SELECT id FROM {accounts} WHERE code = %(revenue_code)s AND kind = 'system'
        ), acc AS (
            UPDATE {accounts} SET debits_pending = debits_pending + %(amount)s
            WHERE user_id = %(user_id)s AND EXISTS (SELECT 1 FROM revenue) AND (allow_negative
                  OR credits_posted - debits_posted - debits_pending >= %(amount)s)
            RETURNING id, credits_posted - debits_posted - debits_pending AS available,
                alerts_enabled
        )
        INSERT INTO {transfers} (uid, debit_account_id, credit_account_id, amount, kind, phase,
            idempotency_key, job_id, reason, reference, balance_after, expires_at, created_at)
        SELECT %(uid)s, acc.id, revenue.id, %(amount)s, %(kind)s, %(phase)s,
            %(idempotency_key)s, %(job_id)s, '', '', acc.available, %(expires_at)s,
            %(created_at)s
        FROM acc, revenue
        RETURNING id, debit_account_id, credit_account_id, balance_after,
            (SELECT alerts_enabled FROM acc)
    """  # noqa: S608 - table names are ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, row)
        result = cursor.fetchone()
    if result is None:
        # Not enough credits, or the revenue account did not exist yet when the statement ran
        # (the first hold ever, possibly racing another): make sure it exists, try once more.
        if retried:
            return None
        system_account(code=SYSTEM_REVENUE)
        return _hold_single_statement(user=user, fields=fields, retried=True)
    transfer_id, debit_account_id, credit_account_id, balance_after, alerts_enabled = result
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
        LedgerAccount.objects.select_for_update().filter(pk=hold.debit_account_id).get()
        existing = Transfer.objects.filter(pending=hold).first()
        if existing is not None:
            return Resolution(transfer=existing, created=False)
        balance = _customer_apply(
            account_id=hold.debit_account_id,
            debits_pending=-hold.amount,
            debits_posted=capture,
        )
        phase = Transfer.Phase.POST_PENDING if capture else Transfer.Phase.VOID_PENDING
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


# ---------------------------------------------------------------------------------------------
# Prices
# ---------------------------------------------------------------------------------------------


def price_quote(*, operation: str, model_tier: str, resolution: str, seconds: int) -> Quote:
    """The price in credits of one operation. Every submit charges exactly this quote.

    A row in the price table wins; otherwise BILLING_DEFAULT_PRICES. An inactive row or a
    combination in neither raises PriceNotFound (the combination is not sold).
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    row = Price.objects.filter(
        operation=operation, model_tier=model_tier, resolution=resolution
    ).first()
    if row is not None:
        if not row.active:
            raise PriceNotFound(f"{operation} {model_tier} {resolution} is not available")
        flat, per_second = row.flat_credits, row.credits_per_second
    else:
        try:
            flat, per_second = settings.BILLING_DEFAULT_PRICES[operation][model_tier][resolution]
        except KeyError as exc:
            raise PriceNotFound(f"{operation} {model_tier} {resolution} is not available") from exc
    return Quote(
        credits=flat + per_second * seconds,
        operation=operation,
        model_tier=model_tier,
        resolution=resolution,
        seconds=seconds,
    )
