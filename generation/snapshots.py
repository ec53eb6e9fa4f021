"""Job status snapshots: what status polling reads, kept in the shared cache.

Clients poll a job's status every few seconds for as long as it runs, so status reads far
outnumber the job's changes. Every change made in `generation.services` is followed, once it
is committed, by `job_snapshot_publish`, which copies the job's status columns into the shared
cache; status endpoints read `job_snapshot_get` and touch the database only on a miss.

Ordering: a publication of a change re-reads the row under its row lock (SELECT ... FOR
UPDATE; on SQLite the IMMEDIATE transaction's write lock) and stores it before the lock is
released, so publications land in commit order and a slow publisher can never put an older row
over a newer one. The submit's publication (`job_snapshot_publish_new_on_commit`) needs no
read and no second transaction: it stores the row it has just inserted, built from the inserted
values, with `cache.add` after the commit. That row is the job's first version, older than any
other publication of the job, and `cache.add` never replaces an entry, so whatever a later
change (a cancel, the worker) published first is kept; a job id is new, so no entry of an
earlier job can be there. A read that misses stores what it loaded with `cache.add` too, which
never replaces a publication.

Staleness: if a process dies between a commit and its publication, the snapshot is stale until
it expires — GENERATION_STATUS_CACHE_SECONDS for a queued or running job. Snapshots of ended
jobs (whose status columns no longer change) live GENERATION_STATUS_CACHE_FINAL_SECONDS.
Anything that changes a job's row outside `generation.services` must call
`job_snapshot_publish` (or `job_snapshot_publish_on_commit`) itself.

Live streams: each publication also announces the change over Redis pub/sub
(generation/changes.py), which wakes the job's open event streams (generation/streams.py).
Every publication (a new job's too) also writes a new queue epoch (QUEUE_EPOCH_CACHE_KEY):
cached queue places (generation.selectors.queue_cache) are used only while the epoch they were
counted under is current.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction

from generation.changes import job_change_announce
from generation.models import Job

# The columns status answers are made of (veo3o1 status, kie record-info, codefast status; the
# ETA of a queued job).
STATUS_FIELDS: tuple[str, ...] = (
    "id",
    "user_id",
    "facade",
    "kind",
    "mode",
    "state",
    "failure_stage",
    "error_code",
    "error_message",
    "progress",
    "eta_seconds",
    "provider",
    "model_tier",
    "aspect_ratio",
    "resolved_aspect_ratio",
    "resolution",
    "duration_seconds",
    "video_file",
    "poster_file",
    "output_width",
    "output_height",
    "output_duration",
    "credits_quoted",
    "credits_charged",
    "created_at",
    "started_at",
    "completed_at",
    # The /v1/videos video object (generation/facades/openai_videos/shapes.py).
    "prompt",
    "remixed_from_id",
    "video_deleted_at",
    "cancel_requested_at",
    "image_refs",  # codefast `has_image`
    "raw_request",  # kie `paramJson`
)
# The same names in model order, which Model.from_db needs for a partial row.
_MODEL_ORDER = tuple(f.attname for f in Job._meta.concrete_fields if f.attname in STATUS_FIELDS)
_TERMINAL = frozenset(Job.TERMINAL_STATES)
# Part of the cache key: bump it when STATUS_FIELDS or the Job model changes shape, so no
# process reads a snapshot pickled by an older release.
SNAPSHOT_VERSION = 3
QUEUE_EPOCH_CACHE_KEY = "queue:epoch:v1"


def snapshot_key(job_id: uuid.UUID) -> str:
    return f"job:status:v{SNAPSHOT_VERSION}:{job_id.hex}"


def _ttl(job: Job) -> int:
    if job.state in _TERMINAL:
        return settings.GENERATION_STATUS_CACHE_FINAL_SECONDS
    return settings.GENERATION_STATUS_CACHE_SECONDS


def _load(pk: uuid.UUID, *, lock: bool = False) -> Job | None:
    """The job with STATUS_FIELDS only (cached as the instance itself: unpickling one costs a
    third of rebuilding it from a dict)."""
    queryset = Job.objects.select_for_update() if lock else Job.objects
    values = queryset.filter(pk=pk).values(*STATUS_FIELDS).first()
    if values is None:
        return None
    return Job.from_db(DEFAULT_DB_ALIAS, _MODEL_ORDER, [values[f] for f in _MODEL_ORDER])


def snapshot_id(job_id: object) -> uuid.UUID | None:
    """The job id as a UUID, or None when it cannot be one (then no job has it)."""
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id))
    except (ValueError, AttributeError):
        return None


def job_snapshot_publish(*, job_id: object) -> None:
    """Copy the job's committed status columns to the shared cache (see the module doc)."""
    pk = snapshot_id(job_id)
    if pk is None:
        return
    with transaction.atomic():
        job = _load(pk, lock=True)
        epoch = uuid.uuid4().hex
        if job is None:
            cache.set(QUEUE_EPOCH_CACHE_KEY, epoch, settings.GENERATION_STATUS_CACHE_SECONDS)
            cache.delete(snapshot_key(pk))
        else:
            # One round trip; the epoch first, so a poll that reads the new snapshot counts
            # its queue place afresh. An epoch that expires reads as None: a new one follows.
            cache.set_many({QUEUE_EPOCH_CACHE_KEY: epoch, snapshot_key(pk): job}, _ttl(job))
        # Still under the lock, so announcements leave in commit order (generation/changes.py).
        job_change_announce(job_id=pk)


def job_snapshot_publish_on_commit(job_id: object) -> None:
    """Publish once the current transaction commits (at once outside a transaction).

    A failed publication is logged and never undoes the change it follows; the snapshot then
    expires on its own (GENERATION_STATUS_CACHE_SECONDS).
    """
    transaction.on_commit(lambda: job_snapshot_publish(job_id=job_id), robust=True)


def job_snapshot_publish_new_on_commit(job: Job) -> None:
    """Publish a job the current transaction has just created, from the inserted values,
    once the transaction commits (see the module doc: `cache.add`, never over a later one).
    The values are read from `job` at the commit (the submit sets the hold's id on it last,
    and the snapshot is built outside the account's row lock)."""

    def publish() -> None:
        snapshot = Job.from_db(
            DEFAULT_DB_ALIAS, _MODEL_ORDER, [getattr(job, f) for f in _MODEL_ORDER]
        )
        ttl = _ttl(job)
        # A new job lengthens the queue: cached queue places are counted again.
        cache.set(QUEUE_EPOCH_CACHE_KEY, uuid.uuid4().hex, ttl)
        cache.add(snapshot_key(job.pk), snapshot, ttl)

    transaction.on_commit(publish, robust=True)


def job_snapshot_get(
    *, user_id: int, job_id: object, prefetched: dict[str, Any] | None = None
) -> Job | None:
    """The user's job as status readers see it, or None (also for another account's job).

    The instance carries STATUS_FIELDS only; any other attribute is loaded from the database
    on access, like a deferred field. `prefetched` is the result of a `cache.get_many` whose
    keys included `snapshot_key(job_id)` (one round trip for several entries).
    """
    pk = snapshot_id(job_id)
    if pk is None:
        return None
    key = snapshot_key(pk)
    job = prefetched.get(key) if prefetched is not None else cache.get(key)
    if job is None:
        job = _load(pk)
        if job is None:
            return None
        cache.add(key, job, _ttl(job))
    return job if job.user_id == user_id else None
