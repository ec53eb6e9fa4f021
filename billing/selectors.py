"""Read paths of the credit ledger."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet, Sum

from accounts.models import User
from billing.models import LedgerAccount, Transfer


@dataclass(frozen=True)
class Balance:
    posted: int
    held: int

    @property
    def available(self) -> int:
        return self.posted - self.held


def balance_get(*, user: User) -> Balance:
    """Posted credits, open holds and (derived) available credits of a user."""
    account = LedgerAccount.objects.filter(user=user).first()
    if account is None:
        return Balance(posted=0, held=0)
    return Balance(posted=account.posted, held=account.held)


def holds_open(*, user: User) -> QuerySet[Transfer]:
    return Transfer.objects.filter(
        debit_account__user=user, phase=Transfer.Phase.PENDING, resolutions__isnull=True
    )


def hold_for_job(*, job_id: object) -> Transfer | None:
    return Transfer.objects.filter(job_id=job_id, phase=Transfer.Phase.PENDING).first()


def transfers_for_job(*, job_id: object) -> QuerySet[Transfer]:
    return Transfer.objects.filter(job_id=job_id).order_by("created_at", "id")


def transfers_for_user(*, user: User) -> QuerySet[Transfer]:
    return (
        Transfer.objects.filter(Q(debit_account__user=user) | Q(credit_account__user=user))
        .select_related("debit_account", "credit_account")
        .order_by("-created_at", "-id")
    )


def _sum(qs: QuerySet[Transfer]) -> int:
    return int(qs.aggregate(total=Sum("amount"))["total"] or 0)


def ledger_inconsistencies() -> list[str]:
    """Recompute every customer account's totals from transfers and report any drift (L1, L3).

    Posted debits count posted transfers and captures; pending debits count holds not yet
    resolved. An empty list means the cached totals equal the ledger.
    """
    problems: list[str] = []
    for account in LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CUSTOMER):
        posted_phases = [Transfer.Phase.POSTED, Transfer.Phase.POST_PENDING]
        debits_posted = _sum(Transfer.objects.filter(debit_account=account,
                                                     phase__in=posted_phases))
        credits_posted = _sum(Transfer.objects.filter(credit_account=account,
                                                      phase__in=posted_phases))
        debits_pending = _sum(
            Transfer.objects.filter(
                debit_account=account, phase=Transfer.Phase.PENDING, resolutions__isnull=True
            )
        )
        expected = {
            "debits_posted": debits_posted,
            "credits_posted": credits_posted,
            "debits_pending": debits_pending,
            "credits_pending": 0,
        }
        for field, value in expected.items():
            cached = getattr(account, field)
            if cached != value:
                problems.append(f"{account}: {field} cached {cached} != ledger {value}")
        if not account.allow_negative and account.available < 0:
            problems.append(f"{account}: available is negative ({account.available})")
    # Each resolution must not exceed its hold, and resolving rows mirror their hold's accounts.
    for resolution in Transfer.objects.filter(pending__isnull=False).select_related("pending"):
        hold = resolution.pending
        if hold is None:
            continue
        if resolution.amount > hold.amount:
            problems.append(f"transfer {resolution.pk}: resolves more than its hold")
        if (resolution.debit_account_id, resolution.credit_account_id) != (
            hold.debit_account_id, hold.credit_account_id
        ):
            problems.append(f"transfer {resolution.pk}: accounts differ from its hold")
    return problems
