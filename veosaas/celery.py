"""The Celery app. Tasks are enqueued after commit (DjangoTask.delay_on_commit) with ids only.

Signals carry the log context across the broker: a task published while a request id (and
job id) is bound carries them in its message headers, and the worker binds them again before
the task runs (veosaas/logcontext.py), so one request id finds the web line, the task lines
and the callback attempts.
"""

import logging
import os
from functools import partial, update_wrapper
from typing import Any

from celery import Celery, signals

from veosaas import logcontext

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "veosaas.settings")

app = Celery(
    "veosaas",
    task_cls="celery.contrib.django.task:DjangoTask",
    include=["veosaas.health"],
)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_HEADER_PREFIX = "veosaas_"
logger = logging.getLogger(__name__)


@signals.setup_logging.connect
def _logging_from_settings(**_: Any) -> None:
    """Workers log like the web (settings.LOGGING: JSON lines with the ids), not Celery's way."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def _context_to_headers(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    for name in ("request_id", "job_id"):
        value = logcontext.get(name)
        if value and f"{_HEADER_PREFIX}{name}" not in headers:
            headers[f"{_HEADER_PREFIX}{name}"] = value


@signals.task_prerun.connect
def _context_from_headers(task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    values = {
        name: getattr(request, f"{_HEADER_PREFIX}{name}", None) for name in ("request_id", "job_id")
    }
    logcontext.reset(**values)


@signals.task_postrun.connect
def _context_clear(**_: Any) -> None:
    logcontext.reset()


@signals.worker_init.connect
def _worker_metrics_port(**_: Any) -> None:
    """Serve this machine's metrics on METRICS_WORKER_PORT (machines without a web process)."""
    from django.conf import settings

    if settings.METRICS_ENABLED and settings.METRICS_WORKER_PORT:
        from prometheus_client import start_http_server

        from veosaas.metrics_view import process_registry

        start_http_server(
            settings.METRICS_WORKER_PORT,
            addr=settings.METRICS_WORKER_ADDR,
            registry=process_registry(),
        )


def broker_queue_depths(
    names: tuple[str, ...] = ("generation", "callbacks", "default"),
) -> dict[str, int | None]:
    """Messages waiting in each broker queue (None when the broker cannot say)."""
    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as conn:
            for name in names:
                try:
                    channel = conn.channel()
                    try:
                        depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                    finally:
                        channel.close()
                except Exception:  # an undeclared queue closes an AMQP channel: unknown
                    depths[name] = None
    except Exception:
        return dict.fromkeys(names)
    return depths


def broker_gauges() -> list[tuple[str, str, list[str], dict[tuple[str, ...], float]]]:
    """Scrape-time gauge for /metrics: messages waiting per broker queue (unknown ones left
    out). Registered in GenerationConfig.ready with the queue gauges."""
    depths = broker_queue_depths()
    return [
        (
            "veosaas_broker_queue_messages",
            "Messages waiting in each broker queue.",
            ["queue"],
            {(name,): float(depth) for name, depth in depths.items() if depth is not None},
        )
    ]


def enqueue_on_commit(task: Any, *, args: list[Any], countdown: float | None = None) -> None:
    """Publish `task` once the current transaction commits, robustly: a broker that refuses
    the message is logged and never turns writes that already committed into an error for
    the caller (who would retry and pay twice); a reaper must find what was not enqueued
    (generation's re-enqueues jobs still queued after GENERATION_REQUEUE_AFTER_SECONDS).
    Sent now (no countdown), it goes the lean way where it can (veosaas.task_publish)."""
    from django.db import transaction

    if countdown is None:
        publish = partial(_send_now, task, args)
    else:
        publish = partial(task.apply_async, args=args, countdown=countdown)
    update_wrapper(publish, task.apply_async)  # robust on_commit logs failures by __qualname__
    transaction.on_commit(publish, robust=True)


def _send_now(task: Any, args: list[Any]) -> None:
    """Publish `task(*args)` now: the lean way (veosaas.task_publish) where it applies, else,
    or when that fails to reach the broker, through Celery (with its retry policy)."""
    import redis

    from veosaas import task_publish

    try:
        if task_publish.publish(task, args):
            return
    except redis.exceptions.RedisError as exc:
        logger.warning("lean publish of %s failed, sending through Celery: %s", task.name, exc)
    task.apply_async(args=args)
