"""Read paths of generation. Every lookup is scoped to the acting account: another
account's job answers exactly like an unknown id."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone

from accounts.models import User
from billing.errors import PriceNotFound
from billing.services import price_quote
from generation.models import Job, Upload
from generation.veo_rules import VeoConstraintError, veo_validate
from outbound.models import Delivery
from outbound.selectors import deliveries_for_reference

# Used before any job of a kind has finished: seconds of rendering per second of output.
_FALLBACK_SECONDS_PER_OUTPUT_SECOND = {"720p": 1.0, "1080p": 2.5, "4k": 8.0}


@cache
def _job_row_plan(vendor: str) -> tuple[str, list[str], list[tuple[Any, list[Any]]]]:
    """One SELECT of every Job column by id and owner, and each column's DB converters.

    Built once per process from the model, the same way Django's compiler would each time.
    """
    quote = connection.ops.quote_name
    fields = Job._meta.concrete_fields
    table = Job._meta.db_table
    sql = (
        f"SELECT {', '.join(quote(f.column) for f in fields)} FROM {quote(table)} "  # noqa: S608
        f"WHERE {quote('id')} = %s AND {quote('user_id')} = %s"
    )
    plan = []
    for field in fields:
        column = field.get_col(table)
        plan.append(
            (column, connection.ops.get_db_converters(column) + field.get_db_converters(connection))
        )
    return sql, [f.attname for f in fields], plan


def job_get(*, user: User, job_id: object) -> Job | None:
    """The user's job with this id, or None (also for another account's job).

    Status polling is the hottest read path: this runs one fixed SQL statement instead of
    compiling an ORM query on every call.
    """
    try:
        pk = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except (ValueError, AttributeError):
        return None
    sql, names, plan = _job_row_plan(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [Job._meta.pk.get_db_prep_value(pk, connection), user.pk])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (column, converters) in zip(row, plan, strict=True):
        for converter in converters:
            value = converter(value, column, connection)
        values.append(value)
    return Job.from_db(connection.alias, names, values)


def upload_get_by_key(*, user: User, key: str) -> Upload | None:
    """An upload of this user by its public key (`img_<hex>`) or its id."""
    raw = key.removeprefix("img_")
    try:
        pk = uuid.UUID(raw)
    except ValueError:
        return None
    return Upload.objects.filter(pk=pk, user=user).first()


# Estimates per (provider, model tier, resolution, duration) with the monotonic time each
# expires: queued jobs are polled often and the average moves slowly.
_estimates: dict[tuple[str, str, str, int], tuple[int, float]] = {}


def render_seconds_estimate(
    *, provider: str, model_tier: str, resolution: str, duration_seconds: int
) -> int:
    """Typical render time, from the last 50 finished jobs of the same provider, model tier,
    resolution and duration (a fixed guess per second of output until there are some).

    Kept per process for GENERATION_STATUS_CACHE_SECONDS, so polling a queued job runs no SQL.
    """
    kind = (provider, model_tier, resolution, duration_seconds)
    memo = _estimates.get(kind)
    if memo is not None and memo[1] > perf_counter():
        return memo[0]
    recent = (
        Job.objects.filter(
            state=Job.State.SUCCEEDED,
            provider=provider,
            model_tier=model_tier,
            resolution=resolution,
            duration_seconds=duration_seconds,
            render_seconds__isnull=False,
        )
        .order_by("-completed_at")
        .values_list("render_seconds", flat=True)[:50]
    )
    values = list(recent)
    average = sum(values) / len(values) if values else None
    if average is None:
        average = _FALLBACK_SECONDS_PER_OUTPUT_SECOND.get(resolution, 2.0) * duration_seconds
    estimate = max(1, round(average))
    _estimates[kind] = (estimate, perf_counter() + settings.GENERATION_STATUS_CACHE_SECONDS)
    return estimate


def render_seconds_estimate_forget() -> None:
    """Drop this process's estimates (the next call measures again)."""
    _estimates.clear()


def job_eta_seconds(*, job: Job) -> int:
    """Seconds until the job is expected to finish: measured while running, estimated while
    queued from recorded render times; 0 once it has ended."""
    if job.is_terminal:
        return 0
    if job.state == Job.State.RUNNING and job.eta_seconds is not None:
        return job.eta_seconds
    return render_seconds_estimate(
        provider=job.provider,
        model_tier=job.model_tier,
        resolution=job.resolution,
        duration_seconds=job.duration_seconds,
    )


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


# ---------------------------------------------------------------------------------------------
# codefast: daily limit reset, history, idempotent retries, queue positions
# ---------------------------------------------------------------------------------------------


def daily_limit_resets_at(*, now: datetime | None = None) -> datetime:
    """The next midnight in GENERATION_DAILY_LIMIT_TIME_ZONE (when `daily_usage` starts over)."""
    zone = ZoneInfo(settings.GENERATION_DAILY_LIMIT_TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time.min, tzinfo=zone)


def jobs_succeeded_for_user(*, user: User) -> QuerySet[Job]:
    """The account's finished videos, newest first: one query, only the listed columns."""
    return (
        Job.objects.filter(user=user, state=Job.State.SUCCEEDED)
        .only(
            "id",
            "user_id",
            "created_at",
            "aspect_ratio",
            "resolved_aspect_ratio",
            "duration_seconds",
            "resolution",
            "image_refs",
            "video_file",
        )
        .order_by("-created_at", "-id")
    )


def job_get_by_idempotency_key(*, user: User, key: str) -> Job | None:
    """The account's job submitted with this Idempotency-Key, if any."""
    return Job.objects.filter(user=user, idempotency_key=key).first()


@dataclass(frozen=True)
class QueuePlace:
    """`position`: 1-based rank among queued jobs of all accounts in FIFO order (created_at,
    then id), 0 when the job is not queued. `total`: how many jobs are queued (all accounts)."""

    position: int
    total: int


@dataclass(frozen=True)
class QueueSnapshot:
    """The queue at one instant: its length and every k-th job (plus the last) with its rank.

    Fences are stored as plain ints and bytes (see `_queue_key`): unpickling 512 datetimes and
    UUIDs on every status request would cost about a millisecond."""

    taken_at: float  # epoch seconds
    compute_seconds: float
    total: int
    keys: tuple[tuple[int, bytes], ...]  # queue keys of the fences, in FIFO order
    ranks: tuple[int, ...]  # 1-based rank of each fence when the snapshot was taken


QUEUE_SNAPSHOT_CACHE_KEY = "generation:queue-snapshot:v2"
_QUEUE_SNAPSHOT_LOCK_KEY = "generation:queue-snapshot:refreshing"
# Fences: every 256th queued job, thinned to at most 512, so the cached value stays ~20 KB and
# the exact count near a job covers at most max(256, total / 512) rows.
_FENCE_STEP = 256
_MAX_FENCES = 512


_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))
_MICROSECOND = timedelta(microseconds=1)


def _queue_key(created_at: datetime, pk: uuid.UUID) -> tuple[int, bytes]:
    """A job's place in FIFO order as (microseconds since 1970, id bytes): orders exactly like
    (created_at, id) in the database (PostgreSQL compares uuids bytewise)."""
    return (created_at - _EPOCH) // _MICROSECOND, pk.bytes


def _from_queue_key(key: tuple[int, bytes]) -> tuple[datetime, uuid.UUID]:
    return _EPOCH + key[0] * _MICROSECOND, uuid.UUID(bytes=key[1])


def _queued() -> QuerySet[Job]:
    return Job.objects.filter(state=Job.State.QUEUED)


def _before(created_at: datetime, pk: uuid.UUID) -> Q:
    """Queue keys (created_at, id) strictly before this one. The plain `created_at <=` bound
    is redundant but lets the (state, created_at) index limit the range scanned."""
    return Q(created_at__lte=created_at) & (
        Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
    )


def _at_or_after(created_at: datetime, pk: uuid.UUID) -> Q:
    return Q(created_at__gte=created_at) & (
        Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gte=pk)
    )


def queue_snapshot_take() -> QueueSnapshot:
    """Rank the whole queue once (one query; about 0.1 s per 100,000 queued jobs)."""
    started = perf_counter()
    ranked = (
        _queued()
        .annotate(
            rank=Window(RowNumber(), order_by=[F("created_at").asc(), F("pk").asc()]),
            queued=Window(Count("pk")),
        )
        .annotate(step=Mod(F("rank"), Value(_FENCE_STEP)))
        .filter(Q(step=1) | Q(rank=F("queued")))
        .order_by("rank")
        .values_list("created_at", "pk", "rank", "queued")
    )
    rows = list(ranked)
    fences = rows[:: max(1, -(-len(rows) // _MAX_FENCES))]
    if rows and fences[-1] != rows[-1]:
        fences.append(rows[-1])
    return QueueSnapshot(
        taken_at=timezone.now().timestamp(),
        compute_seconds=perf_counter() - started,
        total=rows[-1][3] if rows else 0,
        keys=tuple(_queue_key(created_at, pk) for created_at, pk, _, _ in fences),
        ranks=tuple(rank for _, _, rank, _ in fences),
    )


# This process's copy of the shared snapshot: used under the same freshness rule as the shared
# one, so it never makes positions staler, and it spares each status call a cache read.
_snapshot_memo: QueueSnapshot | None = None


def _snapshot_fresh(snapshot: QueueSnapshot, max_age_seconds: float) -> bool:
    age = timezone.now().timestamp() - snapshot.taken_at
    return 0 <= age <= max(max_age_seconds, 20 * snapshot.compute_seconds)


def queue_snapshot_forget() -> None:
    """Drop the snapshot (shared and this process's copy); the next read takes a new one."""
    global _snapshot_memo
    _snapshot_memo = None
    caches["default"].delete(QUEUE_SNAPSHOT_CACHE_KEY)


def queue_snapshot_get(*, max_age_seconds: float) -> QueueSnapshot | None:
    """The shared queue snapshot, refreshed by one process at a time when older than
    `max_age_seconds` (or 20 times its own cost, so a huge queue costs the database < 5 %).
    While another process refreshes it the previous one is returned; None if there is none."""
    global _snapshot_memo
    memo = _snapshot_memo
    if memo is not None and _snapshot_fresh(memo, max_age_seconds):
        return memo
    store = caches["default"]
    snapshot = store.get(QUEUE_SNAPSHOT_CACHE_KEY)
    if snapshot is not None and _snapshot_fresh(snapshot, max_age_seconds):
        _snapshot_memo = snapshot
        return snapshot
    if not store.add(_QUEUE_SNAPSHOT_LOCK_KEY, 1, timeout=60):
        return snapshot
    try:
        snapshot = queue_snapshot_take()
        store.set(QUEUE_SNAPSHOT_CACHE_KEY, snapshot, timeout=3600)
    finally:
        store.delete(_QUEUE_SNAPSHOT_LOCK_KEY)
    _snapshot_memo = snapshot
    return snapshot


def job_queue_place(
    *, job: Job, exact_max: int = 2000, snapshot_seconds: float = 2.0
) -> QueuePlace:
    """Where `job` stands in the global FIFO queue.

    Up to `exact_max` queued jobs (judged by the shared snapshot) this is exact: one
    statement counts the queued jobs and those ahead of this one, so the two always agree
    and two jobs never share a position. Counting is linear in the queue length, though, so a
    longer queue is read from the snapshot (`queue_snapshot_get`): the rank of the nearest
    fence at or before the job, plus an exact count of the queued jobs between that fence and
    the job; the total is the snapshot's plus an exact count of the jobs queued after its last
    one. Jobs that left the queue ahead of the fence since the snapshot are then still
    counted, for at most `snapshot_seconds`.
    """
    snapshot = queue_snapshot_get(max_age_seconds=snapshot_seconds)
    if snapshot is None or snapshot.total <= exact_max:
        return _queue_place_exact(job)
    return _queue_place_near_fence(job, snapshot)


def _queue_place_exact(job: Job) -> QueuePlace:
    if job.state != Job.State.QUEUED:
        return QueuePlace(position=0, total=_queued().count())
    counts = _queued().aggregate(
        total=Count("pk"), ahead=Count("pk", filter=_before(job.created_at, job.pk))
    )
    position = counts["ahead"] + 1
    # The job may have started since it was read; its position still stands as read.
    return QueuePlace(position=position, total=max(counts["total"], position))


def _queue_place_near_fence(job: Job, snapshot: QueueSnapshot) -> QueuePlace:
    last_created, last_pk = _from_queue_key(snapshot.keys[-1])
    arrived = Q(created_at__gte=last_created) & (
        Q(created_at__gt=last_created) | Q(created_at=last_created, pk__gt=last_pk)
    )
    if job.state != Job.State.QUEUED:
        return QueuePlace(position=0, total=snapshot.total + _queued().filter(arrived).count())
    index = bisect.bisect_right(snapshot.keys, _queue_key(job.created_at, job.pk)) - 1
    ahead = _before(job.created_at, job.pk)
    if index >= 0:
        ahead &= _at_or_after(*_from_queue_key(snapshot.keys[index]))
    # One statement over the two short index ranges (arrivals after the last fence, and the
    # jobs between this job's fence and itself) instead of two round trips.
    counts = (
        _queued()
        .filter(arrived | ahead)
        .aggregate(arrived=Count("pk", filter=arrived), ahead=Count("pk", filter=ahead))
    )
    total = snapshot.total + counts["arrived"]
    # Ahead of every fence (index -1), only jobs requeued since the snapshot can precede it.
    position = (snapshot.ranks[index] if index >= 0 else 1) + counts["ahead"]
    return QueuePlace(position=position, total=max(total, position))


# ---------------------------------------------------------------------------------------------
# Dashboard: counts, filtered history, price preview, a job's inputs and callbacks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCounts:
    total: int
    succeeded: int
    active: int  # queued or running


def job_counts(*, user: User) -> JobCounts:
    """The account's jobs: all, finished videos, and those queued or running (one query)."""
    counts = Job.objects.filter(user=user).aggregate(
        total=Count("pk"),
        succeeded=Count("pk", filter=Q(state=Job.State.SUCCEEDED)),
        active=Count("pk", filter=Q(state__in=[Job.State.QUEUED, Job.State.RUNNING])),
    )
    return JobCounts(total=counts["total"], succeeded=counts["succeeded"], active=counts["active"])


def jobs_filtered_for_user(
    *,
    user: User,
    state: str = "",
    created_from: date | None = None,
    created_to: date | None = None,
) -> QuerySet[Job]:
    """The account's jobs, newest first, optionally of one state and created within a range of
    calendar days (both ends included, days in the current time zone)."""
    jobs = Job.objects.filter(user=user)
    if state:
        jobs = jobs.filter(state=state)
    zone = timezone.get_current_timezone()
    if created_from is not None:
        jobs = jobs.filter(created_at__gte=datetime.combine(created_from, time.min, tzinfo=zone))
    if created_to is not None:
        end = datetime.combine(created_to + timedelta(days=1), time.min, tzinfo=zone)
        jobs = jobs.filter(created_at__lt=end)
    return jobs.order_by("-created_at", "-id")


@dataclass(frozen=True)
class PriceCheck:
    """What a generation would cost, or why it cannot be made (`field`, `message`)."""

    credits: int | None
    field: str = ""
    message: str = ""


_IMAGES_PER_MODE = {Job.Mode.TEXT: 0, Job.Mode.IMAGE: 1, Job.Mode.FIRST_LAST: 2}


def job_price_check(
    *, mode: str, model_tier: str, resolution: str, duration_seconds: int, aspect_ratio: str
) -> PriceCheck:
    """The credits `job_submit` would hold for a generation with these inputs (the same
    `billing.services.price_quote` call), after the same Veo constraint check; reads only."""
    try:
        veo_validate(
            mode=mode,
            model_tier=model_tier,
            resolution=resolution,
            duration_seconds=duration_seconds,
            aspect_ratio=aspect_ratio if aspect_ratio != "auto" else "16:9",
            image_count=_IMAGES_PER_MODE.get(mode, 0),
            has_source_video=False,
        )
        quote = price_quote(
            operation=Job.Kind.GENERATE,
            model_tier=model_tier,
            resolution=resolution,
            seconds=duration_seconds,
        )
    except VeoConstraintError as exc:
        return PriceCheck(credits=None, field=exc.field, message=exc.message)
    except PriceNotFound as exc:
        return PriceCheck(credits=None, field="resolution", message=str(exc))
    return PriceCheck(credits=quote.credits)


def uploads_for_job(*, job: Job) -> list[Upload]:
    """The job's uploaded input images, in the job's order (URL inputs are not included)."""
    ids = [ref["upload"] for ref in job.image_refs if "upload" in ref]
    found = {str(u.pk): u for u in Upload.objects.filter(user_id=job.user_id, pk__in=ids)}
    return [found[i] for i in ids if i in found]


def callback_deliveries_for_job(*, job: Job) -> QuerySet[Delivery]:
    """The job's callback deliveries with their attempts (two queries)."""
    return deliveries_for_reference(topic=Delivery.Topic.JOB_CALLBACK, reference=job.pk.hex)
