"""Read paths of the credit ledger."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import ApiKey, User
from billing.models import CreditPack, KeyBudgetUsage, LedgerAccount, TopUp, Transfer, UsageAlert
from billing.usage import budget_period_start, local_day_start, local_today, usage_time_zone
from outbound.models import Delivery
from outbound.selectors import deliveries_recent


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


def hold_for_job(*, job_id: uuid.UUID | str) -> Transfer | None:
    return Transfer.objects.filter(job_id=job_id, phase=Transfer.Phase.PENDING).first()


def transfers_for_job(*, job_id: uuid.UUID | str) -> QuerySet[Transfer]:
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
        debits_posted = _sum(
            Transfer.objects.filter(debit_account=account, phase__in=posted_phases)
        )
        credits_posted = _sum(
            Transfer.objects.filter(credit_account=account, phase__in=posted_phases)
        )
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
        # Only a clawback (credits_clawback) may leave a customer negative, marking it in_debt.
        if not (account.allow_negative or account.in_debt) and account.available < 0:
            problems.append(f"{account}: available is negative ({account.available})")
    # Each resolution must not exceed its hold, and resolving rows mirror their hold's accounts.
    for resolution in Transfer.objects.filter(pending__isnull=False).select_related("pending"):
        hold = resolution.pending
        if hold is None:
            continue
        if resolution.amount > hold.amount:
            problems.append(f"transfer {resolution.pk}: resolves more than its hold")
        if (resolution.debit_account_id, resolution.credit_account_id) != (
            hold.debit_account_id,
            hold.credit_account_id,
        ):
            problems.append(f"transfer {resolution.pk}: accounts differ from its hold")
    return problems


# ---------------------------------------------------------------------------------------------
# Top-ups and finance
# ---------------------------------------------------------------------------------------------


def credit_packs_active() -> QuerySet[CreditPack]:
    """Packs on sale, cheapest first."""
    return CreditPack.objects.filter(active=True).order_by("price", "id")


def credit_pack_get(*, pack_id: int) -> CreditPack | None:
    """A pack by id, active or not (callers decide what an inactive pack means)."""
    return CreditPack.objects.filter(pk=pack_id).first()


@dataclass(frozen=True)
class FinanceDay:
    day: date
    revenue: tuple[tuple[str, int], ...]  # (currency, minor units) of top-ups paid that day
    credits_sold: int
    credits_granted: int  # free: signup grants and other grants
    credits_used: int  # captured by generation jobs
    credits_clawed_back: int  # clawbacks minus reinstatements (refunds, disputes)


def finance_daily_summary(*, days: int = 30, today: date | None = None) -> list[FinanceDay]:
    """Revenue and credit flows per day, oldest first, for the `days` days ending `today`.

    Days are calendar days in the business time zone (TIME_ZONE, whatever zone the viewer
    displays times in); days without activity are included. Two grouped queries, whatever the
    number of days.
    """
    zone = usage_time_zone()
    today = today or local_today()
    first = today - timedelta(days=days - 1)
    start = local_day_start(first)
    revenue: dict[date, dict[str, int]] = defaultdict(dict)
    paid = (
        TopUp.objects.filter(status=TopUp.Status.PAID, paid_at__gte=start)
        .annotate(day=TruncDate("paid_at", tzinfo=zone))
        .values("day", "currency")
        .annotate(total=Sum("amount"))
    )
    for row in paid:
        revenue[row["day"]][row["currency"]] = int(row["total"])
    flows: dict[tuple[date, str], int] = {}
    moved = (
        Transfer.objects.filter(
            created_at__gte=start,
            kind__in=[
                Transfer.Kind.TOPUP,
                Transfer.Kind.GRANT,
                Transfer.Kind.CAPTURE,
                Transfer.Kind.CLAWBACK,
                Transfer.Kind.REINSTATE,
            ],
        )
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "kind")
        .annotate(total=Sum("amount"))
    )
    for flow in moved:
        flows[(flow["day"], flow["kind"])] = int(flow["total"])
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        result.append(
            FinanceDay(
                day=day,
                revenue=tuple(sorted(revenue.get(day, {}).items())),
                credits_sold=flows.get((day, Transfer.Kind.TOPUP), 0),
                credits_granted=flows.get((day, Transfer.Kind.GRANT), 0),
                credits_used=flows.get((day, Transfer.Kind.CAPTURE), 0),
                credits_clawed_back=flows.get((day, Transfer.Kind.CLAWBACK), 0)
                - flows.get((day, Transfer.Kind.REINSTATE), 0),
            )
        )
    return result


# ---------------------------------------------------------------------------------------------
# Customer dashboard
# ---------------------------------------------------------------------------------------------


def credits_used_by_day(
    *, user: User, days: int = 30, today: date | None = None
) -> list[tuple[date, int]]:
    """Credits the user's jobs were charged (captures) per calendar day, oldest first, for the
    `days` days ending `today` (business time zone, as the usage API and the daily limit);
    days without use are included as 0. One grouped query."""
    zone = usage_time_zone()
    today = today or local_today()
    first = today - timedelta(days=days - 1)
    start = local_day_start(first)
    used = dict(
        Transfer.objects.filter(
            debit_account__user=user, kind=Transfer.Kind.CAPTURE, created_at__gte=start
        )
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(total=Sum("amount"))
        .values_list("day", "total")
    )
    return [
        (first + timedelta(days=n), int(used.get(first + timedelta(days=n), 0)))
        for n in range(days)
    ]


def transfer_available_effect(transfer: Transfer, *, user_id: int) -> int:
    """How a ledger entry changed the customer's available credits: a hold takes them, its
    capture changes nothing more (it turns the hold into a charge), a release or expiry gives
    them back; a posted entry adds or takes its amount depending on the customer's side."""
    if transfer.phase == Transfer.Phase.PENDING:
        return -transfer.amount
    if transfer.phase == Transfer.Phase.POST_PENDING:
        return 0
    if transfer.phase == Transfer.Phase.VOID_PENDING:
        return transfer.amount
    return transfer.amount if transfer.credit_account.user_id == user_id else -transfer.amount


# ---------------------------------------------------------------------------------------------
# Usage alerts, their deliveries and the account callback URL
# ---------------------------------------------------------------------------------------------


def alerts_for_user(*, user: User) -> QuerySet[UsageAlert]:
    return (
        UsageAlert.objects.filter(user_id=user.pk)
        .select_related("api_key")
        .order_by("created_at", "id")
    )


def alert_get(*, user: User, alert_id: int) -> UsageAlert | None:
    """One of the account's alerts, or None (also for another account's alert)."""
    return UsageAlert.objects.filter(user_id=user.pk, pk=alert_id).first()


def alert_deliveries_recent(*, user: User, limit: int = 20) -> QuerySet[Delivery]:
    """The account's latest usage-alert notifications (email and webhook), newest first."""
    return deliveries_recent(user=user, topic=Delivery.Topic.USAGE_ALERT, limit=limit)


def key_budget_used(*, api_key: ApiKey, now: datetime | None = None) -> int:
    """Credits counted on the key's budget in the current period (holds and captures)."""
    starts_at = budget_period_start(period=api_key.budget_period, now=now or timezone.now())
    value = (
        KeyBudgetUsage.objects.filter(
            api_key_id=api_key.pk, period=api_key.budget_period, starts_at=starts_at
        )
        .values_list("used", flat=True)
        .first()
    )
    return int(value or 0)


def key_budgets_used(*, api_keys: list[ApiKey], now: datetime | None = None) -> dict[int, int]:
    """Credits counted this period on each key's budget (key id → used; 0 when nothing yet),
    in one query whatever the number of keys (the keys page and the keys API)."""
    now = now or timezone.now()
    wanted = Q(pk__in=[])
    for key in api_keys:
        starts_at = budget_period_start(period=key.budget_period, now=now)
        wanted |= Q(api_key_id=key.pk, period=key.budget_period, starts_at=starts_at)
    used = {key.pk: 0 for key in api_keys}
    if api_keys:
        for key_id, value in KeyBudgetUsage.objects.filter(wanted).values_list(
            "api_key_id", "used"
        ):
            used[key_id] = int(value)
    return used


# The ledger check reads every transfer: at most once per this many seconds per deployment.
LEDGER_DRIFT_CACHE_SECONDS = 300


def ledger_drift_gauges() -> list[tuple[str, str, list[str], dict[tuple[str, ...], float]]]:
    """Scrape-time gauge for /metrics: `ledger_inconsistencies()` count (0 = consistent),
    recomputed at most every LEDGER_DRIFT_CACHE_SECONDS through the shared cache."""
    problems = cache.get_or_set(
        "billing:ledger-drift", lambda: len(ledger_inconsistencies()), LEDGER_DRIFT_CACHE_SECONDS
    )
    return [
        (
            "veosaas_ledger_inconsistencies",
            "Ledger drift found by the balance recomputation (checkledger); must be 0.",
            [],
            {(): float(problems or 0)},
        )
    ]
