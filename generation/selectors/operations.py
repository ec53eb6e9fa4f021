"""Operator reads across all accounts: the queue, stuck jobs, provider error rates.

Staff-only (the admin operations page) and the scrape-time gauges of `/metrics`; never
scoped to an account, so never reachable from a customer surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from generation.models import Job, Upload


@dataclass(frozen=True)
class QueueHealth:
    queued: int
    running: int
    oldest_queued_at: datetime | None
    stuck: int  # running past their lease: the reaper should have recovered them

    def oldest_queued_age_seconds(self, now: datetime) -> float:
        if self.oldest_queued_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_queued_at).total_seconds())


@dataclass(frozen=True)
class ProviderRate:
    provider: str
    ended: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.ended if self.ended else 0.0


def queue_health(*, now: datetime | None = None) -> QueueHealth:
    now = now or timezone.now()
    row = Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).aggregate(
        queued=Count("pk", filter=Q(state=Job.State.QUEUED)),
        running=Count("pk", filter=Q(state=Job.State.RUNNING)),
        oldest=Min("created_at", filter=Q(state=Job.State.QUEUED)),
        stuck=Count("pk", filter=Q(state=Job.State.RUNNING, lease_expires_at__lt=now)),
    )
    return QueueHealth(
        queued=row["queued"],
        running=row["running"],
        oldest_queued_at=row["oldest"],
        stuck=row["stuck"],
    )


def provider_rates(*, since: datetime) -> list[ProviderRate]:
    """Jobs ended since `since` per provider, and how many of them failed."""
    rows = (
        Job.objects.filter(completed_at__gte=since)
        .values("provider")
        .annotate(
            ended=Count("pk"),
            failed=Count("pk", filter=Q(state=Job.State.FAILED)),
        )
        .order_by("provider")
    )
    return [ProviderRate(r["provider"], r["ended"], r["failed"]) for r in rows]


def jobs_stuck(*, now: datetime | None = None, limit: int = 20) -> QuerySet[Job]:
    now = now or timezone.now()
    return Job.objects.filter(state=Job.State.RUNNING, lease_expires_at__lt=now).order_by(
        "lease_expires_at"
    )[:limit]


def jobs_failed_recent(*, limit: int = 20) -> QuerySet[Job]:
    return (
        Job.objects.filter(state=Job.State.FAILED)
        .select_related("user")
        .order_by("-completed_at")[:limit]
    )


def queue_gauges() -> list[tuple[str, str, list[str], dict[tuple[str, ...], float]]]:
    """Scrape-time gauges for /metrics (registered in GenerationConfig.ready)."""
    now = timezone.now()
    health = queue_health(now=now)
    rates = provider_rates(since=now - timedelta(hours=1))
    return [
        (
            "veosaas_jobs_in_state",
            "Jobs queued or running now.",
            ["state"],
            {("queued",): health.queued, ("running",): health.running},
        ),
        (
            "veosaas_queue_oldest_age_seconds",
            "Age of the oldest queued job.",
            [],
            {(): health.oldest_queued_age_seconds(now)},
        ),
        (
            "veosaas_jobs_stuck",
            "Running jobs past their lease (the reaper recovers them).",
            [],
            {(): health.stuck},
        ),
        (
            "veosaas_provider_failure_ratio_1h",
            "Share of jobs that ended failed in the last hour, per provider.",
            ["provider"],
            {(r.provider,): r.failure_rate for r in rates},
        ),
    ]


@dataclass(frozen=True)
class AccountStorage:
    user_id: int
    email: str
    result_bytes: int
    upload_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.result_bytes + self.upload_bytes


def storage_by_account(*, limit: int = 20) -> list[AccountStorage]:
    """Bytes stored per account (results still stored + uploads), largest first."""
    results = dict(
        Job.objects.filter(video_deleted_at__isnull=True, media_bytes__gt=0)
        .values("user_id")
        .annotate(total=Sum("media_bytes"))
        .values_list("user_id", "total")
    )
    uploads = dict(
        Upload.objects.values("user_id").annotate(total=Sum("size")).values_list("user_id", "total")
    )
    users = sorted(
        set(results) | set(uploads),
        key=lambda pk: -((results.get(pk) or 0) + (uploads.get(pk) or 0)),
    )[:limit]
    emails = dict(User.objects.filter(pk__in=users).values_list("pk", "email"))
    return [
        AccountStorage(pk, emails.get(pk, "?"), results.get(pk) or 0, uploads.get(pk) or 0)
        for pk in users
    ]


def account_storage_bytes(*, user_id: int) -> int:
    """Bytes one account stores now (results still stored + uploads)."""
    results = Job.objects.filter(user_id=user_id, video_deleted_at__isnull=True).aggregate(
        total=Sum("media_bytes")
    )["total"]
    uploads = Upload.objects.filter(user_id=user_id).aggregate(total=Sum("size"))["total"]
    return int(results or 0) + int(uploads or 0)
