"""Write paths of the credit ledger: customer and system accounts, posted transfers (grants,
debits, staff adjustments, clawbacks) and the signup grant. Holds are in `holds.py`.

Every function here owns its transaction (a savepoint when called inside a caller's, such as
`job_submit`, so a hold and its job row commit together). Customer totals change only through
`customer_totals_apply`, one relative `UPDATE … RETURNING` per call, guarded by
`available >= amount` for debits; the UPDATE takes the row lock that serialises spends of one
account (L2, L3; the lock order is in billing/lock_objects.py). Each entry carries a unique
idempotency key (L5).
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from billing import lock_objects
from billing.errors import IdempotencyConflict, InsufficientCredits
from billing.models import LedgerAccount, Transfer
from veosaas import metrics

SYSTEM_GRANTS = "grants"
SYSTEM_REVENUE = "revenue"
SYSTEM_ADJUSTMENTS = "adjustments"
SYSTEM_TOPUPS = "stripe_topups"  # source of credits bought through Stripe Checkout
SYSTEM_CLAWBACKS = "clawbacks"  # sink of credits taken back after refunds and disputes


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

    Callers that must check something and then spend (a key's own concurrency cap or the
    daily limit in `job_submit`) take this lock first, so the check and the hold are
    serialised together.
    Must be called inside `transaction.atomic()`.
    """
    account = lock_objects.ledger_account_locked().filter(user=user).first()
    if account is not None:  # one statement when the account exists (it almost always does)
        return account
    account = ledger_account_for_user(user=user)
    return lock_objects.ledger_account_lock(account_id=account.pk)


def customer_totals_apply(
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
    params: list[int | bool] = [
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


def transfer_by_key(key: str) -> Transfer | None:
    """The transfer recorded under this idempotency key, if any (holds.py shares it)."""
    return Transfer.objects.filter(idempotency_key=key).first()


def transfer_check_same(existing: Transfer, **expected: object) -> Transfer:
    """Return `existing` when a repeat with its key asks for the same thing (every `expected`
    field equal), else raise IdempotencyConflict naming the first field that differs."""
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
    found = transfer_by_key(idempotency_key)
    if found is not None:
        return transfer_check_same(found, **side, amount=amount, kind=kind)
    other = system_account(code=system_code)
    try:
        with transaction.atomic():
            if incoming:
                balance = customer_totals_apply(account_id=account.pk, credits_posted=amount)
            else:
                balance = customer_totals_apply(
                    account_id=account.pk,
                    debits_posted=amount,
                    require_available=0 if force else amount,
                    force=force,
                )
                if balance is None:
                    account.refresh_from_db()
                    raise InsufficientCredits(required=amount, available=account.available)
            metrics.ledger_entry_on_commit(kind=kind, amount=amount)
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
        found = transfer_by_key(idempotency_key)
        if found is None:
            raise
        return transfer_check_same(found, **side, amount=amount, kind=kind)


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
    found = transfer_by_key(key)
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
        found = transfer_by_key(key)
        if found is None:
            raise
        return found
