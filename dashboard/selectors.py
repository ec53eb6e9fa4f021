"""The usage read model of account management: usage records and the per-day usage summary.

Usage records are the account's ledger entries as the customer sees them, newest first, with
the job's facade and API key name joined in the same query (jobs are read here, never written:
the ledger only knows a job by `job_id`). Days are calendar days in
TIME_ZONE, the zone whose midnight also resets the daily job limit and
the "credits used today" alert, so the API's days, the chart and the alerts agree.

Row amounts are signed changes of the customer's *available* credits, so that over any
complete set of rows Σ amount = change of the balance (`balance_after`):

| kind (API)   | ledger kinds    | amount                                      | charged         |
|--------------|-----------------|---------------------------------------------|-----------------|
| `top-up`     | topup           | + credits bought                            | 0               |
| `grant`      | grant           | + credits granted (signup, staff)           | 0               |
| `hold`       | hold            | - credits reserved for a job                | 0               |
| `capture`    | capture         | + the part of the hold not charged (0 for a | credits charged |
|              |                 |   full capture: the hold already took them) |                 |
| `release`    | release, expire | + credits given back                        | 0               |
| `adjustment` | adjustment      | +/- staff correction                        | 0               |
| `clawback`   | clawback        | - credits taken back (refund, dispute)      | 0               |
| `reinstate`  | reinstate       | + clawed-back credits returned              | 0               |
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core import signing
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from billing.models import LedgerAccount, Transfer
from billing.usage import local_day_start, usage_time_zone
from generation.models import Job

USAGE_KINDS: dict[str, tuple[str, ...]] = {
    "top-up": (Transfer.Kind.TOPUP,),
    "grant": (Transfer.Kind.GRANT,),
    "hold": (Transfer.Kind.HOLD,),
    "capture": (Transfer.Kind.CAPTURE,),
    "release": (Transfer.Kind.RELEASE, Transfer.Kind.EXPIRE),
    "adjustment": (Transfer.Kind.ADJUSTMENT,),
    "clawback": (Transfer.Kind.CLAWBACK,),
    "reinstate": (Transfer.Kind.REINSTATE,),
}
KIND_OF_ENTRY = {entry: name for name, entries in USAGE_KINDS.items() for entry in entries}
USAGE_PAGE_MAX = 200
USAGE_DAILY_MAX_DAYS = 366
# The salt predates this module's move: changing it would void cursors already handed out.
CURSOR_SALT = "billing.usage.cursor"


class UsageQueryInvalid(ValueError):
    """A usage query parameter is not acceptable; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# Usage records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageQuery:
    """Filters of a usage listing: created_at in [start, end), kinds (API names), one job."""

    start: datetime | None = None
    end: datetime | None = None
    kinds: tuple[str, ...] = ()
    job_id: uuid.UUID | None = None
    api_key_id: int | None = None  # entries of jobs submitted with this key


def usage_query_build(
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    kinds: list[str] | None = None,
    job_id: uuid.UUID | None = None,
    api_key_id: int | None = None,
) -> UsageQuery:
    """Turn API filters into a UsageQuery; raises UsageQueryInvalid naming the field.

    A date `start` means from its local midnight; a date `end` includes that whole day; a
    datetime without an offset is read in the usage time zone; a datetime `end` is inclusive.
    """
    lower = _as_instant(start) if start is not None else None
    upper: datetime | None = None
    if isinstance(end, datetime):
        upper = _as_instant(end) + timedelta(microseconds=1)
    elif isinstance(end, date):
        upper = local_day_start(end + timedelta(days=1))
    if lower is not None and upper is not None and lower >= upper:
        raise UsageQueryInvalid("from", "must not be after to")
    names: list[str] = []
    for name in kinds or []:
        if name not in USAGE_KINDS:
            raise UsageQueryInvalid(
                "kind", f"unknown kind {name!r}; one of {', '.join(USAGE_KINDS)}"
            )
        if name not in names:
            names.append(name)
    return UsageQuery(
        start=lower, end=upper, kinds=tuple(names), job_id=job_id, api_key_id=api_key_id
    )


def _as_instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=usage_time_zone())
    return local_day_start(value)


@dataclass(frozen=True)
class UsageRecord:
    id: uuid.UUID  # the transfer's public uid
    created_at: datetime
    kind: str  # API name (USAGE_KINDS)
    entry: str  # ledger kind (expire vs release)
    amount: int  # signed change of available credits
    charged: int  # credits charged (captures)
    balance_after: int | None
    job_id: uuid.UUID | None
    facade: str | None
    api_key_name: str | None
    reason: str


@dataclass(frozen=True)
class UsagePage:
    records: list[UsageRecord]
    next_cursor: str | None


_ROW_FIELDS = (
    "id",
    "uid",
    "created_at",
    "kind",
    "phase",
    "amount",
    "credit_account_id",
    "balance_after",
    "job_id",
    "reason",
    "held",
    "job_facade",
    "job_key_name",
)


def _side(
    *,
    user: User,
    account_id: int,
    side: str,
    query: UsageQuery,
    after: tuple[datetime, int] | None = None,
) -> QuerySet[Any]:
    """One side (debit or credit) of the account's transfers, filtered, annotated and ordered
    newest first, as dicts.

    Each side is read in the order of its (account, created_at) index, so a page stops after
    `limit` rows; the job's facade and key name come from correlated subqueries on the job's
    primary key (scoped to the account), evaluated only for the rows read: one statement per
    side whatever the page size. The keyset condition is written as `created_at <= t AND (
    created_at < t OR id < i)` so that its first half is an index condition.
    """
    jobs = Job.objects.filter(pk=OuterRef("job_id"), user_id=user.pk).order_by()
    qs = Transfer.objects.filter(**{f"{side}_account_id": account_id})
    if query.start is not None:
        qs = qs.filter(created_at__gte=query.start)
    if query.end is not None:
        qs = qs.filter(created_at__lt=query.end)
    if query.kinds:
        qs = qs.filter(kind__in=[e for name in query.kinds for e in USAGE_KINDS[name]])
    if query.job_id is not None:
        qs = qs.filter(job_id=query.job_id)
    if query.api_key_id is not None:
        keyed = Job.objects.filter(user_id=user.pk, api_key_id=query.api_key_id)
        qs = qs.filter(job_id__in=keyed.values("id"))
    if after is not None:
        created_at, pk = after
        qs = qs.filter(Q(created_at__lte=created_at), Q(created_at__lt=created_at) | Q(id__lt=pk))
    return (
        qs.annotate(
            held=F("pending__amount"),
            job_facade=Subquery(jobs.values("facade")[:1]),
            job_key_name=Subquery(jobs.values("api_key__name")[:1]),
        )
        .order_by("-created_at", "-id")
        .values(*_ROW_FIELDS)
    )


def _newest_first(row: dict[str, Any]) -> tuple[datetime, int]:
    return row["created_at"], row["id"]


def _record(row: dict[str, Any], *, account_id: int) -> UsageRecord:
    amount = int(row["amount"])
    phase = row["phase"]
    charged = 0
    if phase == Transfer.Phase.PENDING:
        effect = -amount
    elif phase == Transfer.Phase.POST_PENDING:
        effect = int(row["held"] or amount) - amount  # the hold's uncharged rest comes back
        charged = amount
    elif phase == Transfer.Phase.VOID_PENDING:
        effect = amount
    else:
        effect = amount if row["credit_account_id"] == account_id else -amount
    job_id = row["job_id"]
    if job_id is not None and not isinstance(job_id, uuid.UUID):
        job_id = uuid.UUID(str(job_id))
    return UsageRecord(
        id=row["uid"] if isinstance(row["uid"], uuid.UUID) else uuid.UUID(str(row["uid"])),
        created_at=row["created_at"],
        kind=KIND_OF_ENTRY.get(row["kind"], row["kind"]),
        entry=row["kind"],
        amount=effect,
        charged=charged,
        balance_after=row["balance_after"],
        job_id=job_id,
        facade=row["job_facade"],
        api_key_name=row["job_key_name"],
        reason=row["reason"],
    )


def _account_id(*, user: User) -> int | None:
    return LedgerAccount.objects.filter(user_id=user.pk).values_list("pk", flat=True).first()


def _cursor_dump(row: dict[str, Any]) -> str:
    return signing.dumps([row["created_at"].isoformat(), row["id"]], salt=CURSOR_SALT)


def _cursor_load(cursor: str) -> tuple[datetime, int]:
    try:
        created_at, pk = signing.loads(cursor, salt=CURSOR_SALT)
        instant = datetime.fromisoformat(created_at)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise UsageQueryInvalid("cursor", "is not a cursor from a previous page") from exc
    if not isinstance(pk, int) or timezone.is_naive(instant):
        raise UsageQueryInvalid("cursor", "is not a cursor from a previous page")
    return instant, pk


def usage_records_page(
    *, user: User, query: UsageQuery, limit: int, cursor: str | None = None
) -> UsagePage:
    """One page of the account's usage records, newest first (keyset on (created_at, id)).

    `cursor` is the `next_cursor` of the previous page (signed, opaque). Entries written while
    a client pages are newer than its cursor, so they never shift later pages: no duplicates
    and no gaps among the entries that existed. Three queries, whatever `limit` is (≤ 200).
    """
    if not 1 <= limit <= USAGE_PAGE_MAX:
        raise UsageQueryInvalid("limit", f"must be between 1 and {USAGE_PAGE_MAX}")
    after = _cursor_load(cursor) if cursor else None
    account_id = _account_id(user=user)
    if account_id is None:
        return UsagePage(records=[], next_cursor=None)
    # The customer is on exactly one side of each transfer: merge the two ordered sides.
    sides = [
        list(
            _side(user=user, account_id=account_id, side=side, query=query, after=after)[
                : limit + 1
            ]
        )
        for side in ("debit", "credit")
    ]
    rows = list(heapq.merge(*sides, key=_newest_first, reverse=True))[: limit + 1]
    more = len(rows) > limit
    rows = rows[:limit]
    return UsagePage(
        records=[_record(row, account_id=account_id) for row in rows],
        next_cursor=_cursor_dump(rows[-1]) if more else None,
    )


def usage_records_iter(*, user: User, query: UsageQuery) -> Iterator[UsageRecord]:
    """Every matching usage record, newest first, streamed in chunks from both sides of the
    ledger at once (for CSV exports: no sort, nothing held in memory)."""
    account_id = _account_id(user=user)
    if account_id is None:
        return
    sides = [
        _side(user=user, account_id=account_id, side=side, query=query).iterator(chunk_size=1000)
        for side in ("debit", "credit")
    ]
    for row in heapq.merge(*sides, key=_newest_first, reverse=True):
        yield _record(row, account_id=account_id)


# ---------------------------------------------------------------------------------------------
# Per-day summary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageDay:
    day: date
    credits_used: int  # captured by jobs
    credits_added: int  # posted to the account: top-ups, grants, positive adjustments, ...
    jobs_succeeded: int
    jobs_failed: int


def usage_daily(*, user: User, first: date, last: date) -> list[UsageDay]:
    """Credits used and added, and jobs succeeded / failed, per local day from `first` to
    `last` inclusive (days without activity included, oldest first). Jobs count on the day
    they ended. Three queries whatever the range (≤ USAGE_DAILY_MAX_DAYS days)."""
    if first > last:
        raise UsageQueryInvalid("from", "must not be after to")
    days = (last - first).days + 1
    if days > USAGE_DAILY_MAX_DAYS:
        raise UsageQueryInvalid("from", f"the range is at most {USAGE_DAILY_MAX_DAYS} days")
    zone = usage_time_zone()
    start, end = local_day_start(first), local_day_start(last + timedelta(days=1))
    used: dict[date, int] = {}
    added: dict[date, int] = {}
    account_id = _account_id(user=user)
    if account_id is not None:
        window = Transfer.objects.filter(created_at__gte=start, created_at__lt=end)
        for target, qs in (
            (used, window.filter(debit_account_id=account_id, kind=Transfer.Kind.CAPTURE)),
            (added, window.filter(credit_account_id=account_id, phase=Transfer.Phase.POSTED)),
        ):
            rows = (
                qs.annotate(day=TruncDate("created_at", tzinfo=zone))
                .values("day")
                .annotate(total=Sum("amount"))
                .values_list("day", "total")
            )
            target.update({day: int(total) for day, total in rows})
    jobs: dict[tuple[date, str], int] = {}
    ended = (
        Job.objects.filter(
            user_id=user.pk,
            completed_at__gte=start,
            completed_at__lt=end,
            state__in=[Job.State.SUCCEEDED, Job.State.FAILED],
        )
        .annotate(day=TruncDate("completed_at", tzinfo=zone))
        .values("day", "state")
        .annotate(n=Count("id"))
        .values_list("day", "state", "n")
    )
    for day, state, n in ended:
        jobs[(day, state)] = int(n)
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        result.append(
            UsageDay(
                day=day,
                credits_used=used.get(day, 0),
                credits_added=added.get(day, 0),
                jobs_succeeded=jobs.get((day, Job.State.SUCCEEDED), 0),
                jobs_failed=jobs.get((day, Job.State.FAILED), 0),
            )
        )
    return result
