"""Queue place and ETA of a job: render-time estimates and the shared queue snapshot."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import caches
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import Mod, RowNumber
from django.utils import timezone

from billing.catalog import Resolution
from generation.models import Job

# Used before any job of a kind has finished: seconds of rendering per second of output.
_FALLBACK_SECONDS_PER_OUTPUT_SECOND = {
    Resolution.P720.value: 1.0,
    Resolution.P1080.value: 2.5,
    Resolution.K4.value: 8.0,
}


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
    values = cast("list[float]", list(recent))  # render_seconds__isnull=False
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
        total=Count("pk"),
        ahead=Count("pk", filter=_before(job.created_at, job.pk)),
        mine=Count("pk", filter=Q(pk=job.pk)),
    )
    if not counts["mine"]:
        # Read from a status snapshot, the job has left the queue since (its row says so).
        return QueuePlace(position=0, total=counts["total"])
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
    mine = Q(pk=job.pk)
    counts = (
        _queued()
        .filter(arrived | ahead | mine)
        .aggregate(
            arrived=Count("pk", filter=arrived),
            ahead=Count("pk", filter=ahead),
            mine=Count("pk", filter=mine),
        )
    )
    total = snapshot.total + counts["arrived"]
    if not counts["mine"]:  # left the queue since its snapshot was read
        return QueuePlace(position=0, total=total)
    # Ahead of every fence (index -1), only jobs requeued since the snapshot can precede it.
    position = (snapshot.ranks[index] if index >= 0 else 1) + counts["ahead"]
    return QueuePlace(position=position, total=max(total, position))


# ---------------------------------------------------------------------------------------------
# Dashboard: counts, filtered history, price preview, a job's inputs and callbacks
# ---------------------------------------------------------------------------------------------
