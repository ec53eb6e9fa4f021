"""Prometheus metrics: their definitions, and the helpers that count after commit.

Off unless METRICS_ENABLED. Under gunicorn and Celery's prefork pool every process writes its
samples to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode), and
`/metrics` on any web process aggregates the files of every process on the machine, workers
included (veosaas/metrics_view.py). Workers on other machines serve the same aggregation on
METRICS_WORKER_PORT. https://prometheus.github.io/client_python/multiprocess/

Counters move only when what they count committed (`count_on_commit`), so a rolled-back
submit or a refused hold never shows up.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from prometheus_client import Counter, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RENDER_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900)

http_requests = Counter(
    "veosaas_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
http_latency = Histogram(
    "veosaas_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
jobs_submitted = Counter(
    "veosaas_jobs_submitted_total", "Jobs accepted.", ["facade", "provider", "model"]
)
jobs_finished = Counter(
    "veosaas_jobs_finished_total",
    "Jobs that ended, by outcome (succeeded, failed, cancelled).",
    ["facade", "provider", "model", "outcome"],
)
job_render_seconds = Histogram(
    "veosaas_job_render_seconds",
    "Provider time of a succeeded job (local render or upstream operation).",
    ["provider", "model"],
    buckets=_RENDER_BUCKETS,
)
job_queue_wait_seconds = Histogram(
    "veosaas_job_queue_wait_seconds",
    "Time from submit to the first start of a job.",
    ["facade"],
    buckets=_RENDER_BUCKETS,
)
provider_errors = Counter(
    "veosaas_provider_errors_total", "Errors returned by providers.", ["provider", "kind"]
)
deliveries = Counter(
    "veosaas_deliveries_total",
    "Outbound delivery attempts (job callbacks, usage alerts) by outcome.",
    ["topic", "outcome"],
)
delivery_latency = Histogram(
    "veosaas_delivery_latency_seconds",
    "Time for the receiver of a webhook to answer.",
    ["topic"],
    buckets=_LATENCY_BUCKETS,
)
ledger_entries = Counter(
    "veosaas_ledger_entries_total", "Ledger transfers written, by kind.", ["kind"]
)
ledger_credits = Counter(
    "veosaas_ledger_credits_total", "Credits moved by ledger transfers, by kind.", ["kind"]
)
stripe_events = Counter(
    "veosaas_stripe_events_total", "Verified Stripe webhook events, by type.", ["type"]
)
storage_deleted = Counter(
    "veosaas_storage_files_deleted_total", "Files removed by the storage sweep.", ["reason"]
)


def enabled() -> bool:
    return bool(settings.METRICS_ENABLED)


def count_on_commit(action: Callable[[], None]) -> None:
    """Run a metric update once the current transaction commits (at once outside one)."""
    if enabled():
        transaction.on_commit(action, robust=True)


def ledger_entry_on_commit(*, kind: str, amount: int) -> None:
    def count() -> None:
        ledger_entries.labels(kind=kind).inc()
        ledger_credits.labels(kind=kind).inc(amount)

    count_on_commit(count)


# Gauges read from the database at scrape time (queue depth, oldest queued job...): each app
# registers a function returning (name, help, {label tuple: value}, label names) in ready().
ScrapeGauge = tuple[str, str, list[str], dict[tuple[str, ...], float]]
_scrape_sources: list[Callable[[], list[ScrapeGauge]]] = []


def scrape_source_register(source: Callable[[], list[ScrapeGauge]]) -> None:
    if source not in _scrape_sources:
        _scrape_sources.append(source)


def scrape_sources() -> list[Callable[[], list[ScrapeGauge]]]:
    return list(_scrape_sources)
