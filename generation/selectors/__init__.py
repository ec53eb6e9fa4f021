"""Read paths of generation, one module per sub-domain: jobs.py, queue.py (queue place and
ETA), uploads.py, usage.py (daily limit). Every lookup is scoped to the acting account:
another account's job answers exactly like an unknown id.

The names below are the package's public interface; import them from `generation.selectors`.
"""

from __future__ import annotations

from generation.selectors.jobs import (
    JobCounts,
    PriceCheck,
    callback_deliveries_for_job,
    job_counts,
    job_get,
    job_get_by_idempotency_key,
    job_price_check,
    jobs_filtered_for_user,
    jobs_for_user,
    jobs_page_for_user,
    jobs_succeeded_for_user,
)
from generation.selectors.queue import (
    QUEUE_SNAPSHOT_CACHE_KEY,
    QueuePlace,
    QueueSnapshot,
    job_eta_seconds,
    job_queue_place,
    queue_snapshot_forget,
    queue_snapshot_get,
    queue_snapshot_take,
    render_seconds_estimate,
    render_seconds_estimate_forget,
)
from generation.selectors.uploads import upload_get_by_key, uploads_for_job
from generation.selectors.usage import (
    DailyUsage,
    KeyUsage,
    daily_limit_resets_at,
    daily_usage,
    daily_usage_cache_key,
    daily_usage_cached,
    daily_usage_forget,
    day_start,
    usage_by_key,
)

__all__ = [
    "QUEUE_SNAPSHOT_CACHE_KEY",
    "DailyUsage",
    "JobCounts",
    "KeyUsage",
    "PriceCheck",
    "QueuePlace",
    "QueueSnapshot",
    "callback_deliveries_for_job",
    "daily_limit_resets_at",
    "daily_usage",
    "daily_usage_cache_key",
    "daily_usage_cached",
    "daily_usage_forget",
    "day_start",
    "job_counts",
    "job_eta_seconds",
    "job_get",
    "job_get_by_idempotency_key",
    "job_price_check",
    "job_queue_place",
    "jobs_filtered_for_user",
    "jobs_for_user",
    "jobs_page_for_user",
    "jobs_succeeded_for_user",
    "queue_snapshot_forget",
    "queue_snapshot_get",
    "queue_snapshot_take",
    "render_seconds_estimate",
    "render_seconds_estimate_forget",
    "upload_get_by_key",
    "uploads_for_job",
    "usage_by_key",
]
