"""Queue places for status polling, kept in the shared cache between queue changes.

A codefast status poll of a queued or running job answers its queue place; counting it costs
one or two SQL statements, and a queue of N jobs is polled about N times every few seconds.
Every change to a job is followed by `job_snapshot_publish` (generation.snapshots), which
also writes a new *queue epoch* (QUEUE_EPOCH_CACHE_KEY). A place is cached with the epoch read
before it was counted and is used only while that epoch is still current, so a poll answers
what a fresh count would since the last publication: a count that raced a change carries the
old epoch and is never used. A change that is never published (a process that dies between
its commit and its publication) is seen at most QUEUE_PLACE_CACHE_SECONDS late.

A queued job's place is cached under its own id; every job that has left the queue shares one
entry (position 0, the queue's length).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache

from generation.models import Job
from generation.selectors.queue import QueuePlace, job_queue_place
from generation.snapshots import QUEUE_EPOCH_CACHE_KEY

QUEUE_PLACE_CACHE_SECONDS = 2
_STARTED_KEY = "queue:place:v1:started"


def _queued_key(job_id: uuid.UUID) -> str:
    return f"queue:place:v1:{job_id.hex}"


def queue_place_cache_keys(job_id: uuid.UUID | None) -> list[str]:
    """The cache entries `job_queue_place_cached` reads for the job: a caller reads them in the
    same `cache.get_many` as the job's snapshot and passes the result as `prefetched`."""
    if job_id is None:
        return []
    return [QUEUE_EPOCH_CACHE_KEY, _queued_key(job_id), _STARTED_KEY]


def queue_place_entry_key(job: Job) -> str:
    """The entry `job_queue_place_cached` answers from for this job (when it holds the place
    of the current epoch; else the place is counted and stored there)."""
    return _queued_key(job.pk) if job.state == Job.State.QUEUED else _STARTED_KEY


def job_queue_place_cached(
    *,
    job: Job,
    exact_max: int,
    snapshot_seconds: float,
    prefetched: dict[str, Any] | None = None,
) -> QueuePlace:
    """`job_queue_place` of a queued or running job, through the shared cache (module doc)."""
    key = queue_place_entry_key(job)
    if prefetched is None:
        prefetched = cache.get_many([QUEUE_EPOCH_CACHE_KEY, key])
    epoch = prefetched.get(QUEUE_EPOCH_CACHE_KEY)
    entry = prefetched.get(key)
    if isinstance(entry, tuple) and len(entry) == 3 and entry[0] == epoch:
        return QueuePlace(position=entry[1], total=entry[2])
    place = job_queue_place(job=job, exact_max=exact_max, snapshot_seconds=snapshot_seconds)
    cache.set(key, (epoch, place.position, place.total), QUEUE_PLACE_CACHE_SECONDS)
    return place
