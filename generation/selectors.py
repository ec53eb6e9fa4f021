"""Read paths of generation. Every lookup is scoped to the acting account: another
account's job answers exactly like an unknown id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from generation.models import Job, Upload

# Used before any job of a kind has finished: seconds of rendering per second of output.
_FALLBACK_SECONDS_PER_OUTPUT_SECOND = {"720p": 1.0, "1080p": 2.5, "4k": 8.0}


def job_get(*, user: User, job_id: object) -> Job | None:
    try:
        pk = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except (ValueError, AttributeError):
        return None
    return Job.objects.filter(pk=pk, user=user).first()


def upload_get_by_key(*, user: User, key: str) -> Upload | None:
    """An upload of this user by its public key (`img_<hex>`) or its id."""
    raw = key.removeprefix("img_")
    try:
        pk = uuid.UUID(raw)
    except ValueError:
        return None
    return Upload.objects.filter(pk=pk, user=user).first()


def render_seconds_estimate(*, provider: str, resolution: str, duration_seconds: int) -> int:
    """Typical render time, from the last 50 finished jobs of the same provider and size."""
    recent = (
        Job.objects.filter(state=Job.State.SUCCEEDED, provider=provider, resolution=resolution,
                           duration_seconds=duration_seconds, render_seconds__isnull=False)
        .order_by("-completed_at").values_list("render_seconds", flat=True)[:50]
    )
    values = list(recent)
    average = sum(values) / len(values) if values else None
    if average is None:
        average = _FALLBACK_SECONDS_PER_OUTPUT_SECOND.get(resolution, 2.0) * duration_seconds
    return max(1, round(average))


def job_eta_seconds(*, job: Job) -> int:
    """Seconds until the job is expected to finish: measured while running, estimated while
    queued from recorded render times; 0 once it has ended."""
    if job.is_terminal:
        return 0
    if job.state == Job.State.RUNNING and job.eta_seconds is not None:
        return job.eta_seconds
    return render_seconds_estimate(provider=job.provider, resolution=job.resolution,
                                   duration_seconds=job.duration_seconds)


def jobs_for_user(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(user=user).order_by("-created_at")


@dataclass(frozen=True)
class DailyUsage:
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def day_start(*, now: datetime | None = None) -> datetime:
    """Midnight today in GENERATION_DAILY_LIMIT_TIME_ZONE (the day the daily limit counts)."""
    zone = ZoneInfo(settings.GENERATION_DAILY_LIMIT_TIME_ZONE)
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
