"""The account's daily job usage (codefast's jobs-per-day limit) and its usage per API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.utils import timezone

from accounts.models import User
from billing.models import LedgerAccount, Transfer
from generation.models import Job


@dataclass(frozen=True)
class DailyUsage:
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def day_start(*, now: datetime | None = None) -> datetime:
    """Midnight today in TIME_ZONE (the day the daily limit counts)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def daily_usage(*, user: User, now: datetime | None = None) -> DailyUsage:
    """Jobs the account started today (local midnight), failed ones not counted: a failed
    job gives its slot back. The limit is the account's own or GENERATION_DAILY_LIMIT."""
    limit = user.daily_limit if user.daily_limit is not None else settings.GENERATION_DAILY_LIMIT
    used = (
        Job.objects.filter(user=user, created_at__gte=day_start(now=now))
        .exclude(state__in=[Job.State.FAILED, Job.State.CANCELLED])
        .count()
    )
    return DailyUsage(limit=limit, used=used)


def _daily_usage_key(user_id: int, day: datetime) -> str:
    return f"usage:daily:v1:{user_id}:{day.date().isoformat()}"


def daily_usage_cache_key(*, user_id: int) -> str:
    """The cache entry `daily_usage_cached` reads for the account today."""
    return _daily_usage_key(user_id, day_start())


def daily_usage_cached(*, user: User, prefetched: dict[str, Any] | None = None) -> DailyUsage:
    """`daily_usage` for display (codefast's `daily_limit_remaining` on every status poll),
    read through the shared cache so a poll runs no COUNT.

    `job_submit` and the moves to failed or cancelled call `daily_usage_forget`, so the figure
    follows every change that alters the count; should a process die between a commit and the
    forget, the stale figure lasts at most GENERATION_STATUS_CACHE_SECONDS, the staleness
    bound of the status snapshots themselves. The limit itself is enforced by `job_submit` on
    an exact count under the account lock, never from here.

    `prefetched`: the result of a `cache.get_many` that may include `daily_usage_cache_key`.
    """
    limit = user.daily_limit if user.daily_limit is not None else settings.GENERATION_DAILY_LIMIT
    start = day_start()
    key = _daily_usage_key(user.pk, start)
    used = prefetched.get(key) if prefetched is not None and key in prefetched else cache.get(key)
    if used is None:
        used = daily_usage(user=user).used
        cache.add(key, used, settings.GENERATION_STATUS_CACHE_SECONDS)
    return DailyUsage(limit=limit, used=used)


def daily_usage_forget(*, user_id: int) -> None:
    """Drop the account's cached daily usage when a job of it is created or fails or is
    cancelled: now (this transaction's own reads see the change) and again once the current
    transaction commits (a reader that cached the old count meanwhile is overruled)."""
    key = _daily_usage_key(user_id, day_start())
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key), robust=True)


# ---------------------------------------------------------------------------------------------
# codefast: daily limit reset, history, idempotent retries, queue positions
# ---------------------------------------------------------------------------------------------


def daily_limit_resets_at(*, now: datetime | None = None) -> datetime:
    """The next midnight in TIME_ZONE (when `daily_usage` starts over)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone)


@dataclass(frozen=True)
class KeyUsage:
    """One API key's usage in a range: jobs submitted and credits charged (captured)."""

    api_key_id: int | None  # None: jobs submitted from the dashboard
    jobs: int
    credits_charged: int


def usage_by_key(*, user: User, start: datetime, end: datetime) -> list[KeyUsage]:
    """Per-key totals of the account in [start, end): jobs created, and credits captured in
    the range for jobs of each key (the hold's job names the key). Two queries."""
    jobs: dict[int | None, int] = dict(
        Job.objects.filter(user=user, created_at__gte=start, created_at__lt=end)
        .values("api_key_id")
        .annotate(n=Count("id"))
        .values_list("api_key_id", "n")
    )
    key_of_job = Job.objects.filter(pk=OuterRef("job_id"), user=user).values("api_key_id")[:1]
    account_id = LedgerAccount.objects.filter(user=user).values_list("pk", flat=True).first()
    charged: dict[int | None, int] = {}
    if account_id is not None:
        rows = (
            Transfer.objects.filter(
                debit_account_id=account_id,
                kind=Transfer.Kind.CAPTURE,
                created_at__gte=start,
                created_at__lt=end,
            )
            .annotate(key_id=Subquery(key_of_job))
            .values("key_id")
            .annotate(total=Sum("amount"))
            .values_list("key_id", "total")
        )
        charged = {key_id: int(total or 0) for key_id, total in rows}
    keys = sorted(set(jobs) | set(charged), key=lambda k: (k is None, k or 0))
    return [
        KeyUsage(api_key_id=k, jobs=int(jobs.get(k, 0)), credits_charged=charged.get(k, 0))
        for k in keys
    ]
