"""Operator health checks: `/healthz/live` (process), `/healthz` (each dependency) and
`/healthz/worker` (a real task round trip).

`/healthz` reports the database, the shared cache and the broker one by one and answers 503
when any is down: a web node needs all three (keys and rate limits live in the cache, submits
go through the broker). `/healthz/worker` publishes a ping through the broker and waits for a
worker to answer in the shared cache, so it proves the web process, the broker, a worker and
the cache work together. Both always answer JSON.
"""

from __future__ import annotations

import logging
import math
import time
import uuid

from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
PONG_TTL_SECONDS = 120
BROKER_CHECK_TIMEOUT_SECONDS = 2.0


@shared_task(ignore_result=True)
def worker_ping(nonce: str) -> None:
    cache.set(f"health:pong:{nonce}", time.time(), PONG_TTL_SECONDS)


def _error(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {exc}"[:300]


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "down" here
        return _error(exc)
    return "ok"


def _check_cache() -> str:
    # The cache backend is fail-soft (reads miss, writes drop), so only a round trip tells.
    nonce = uuid.uuid4().hex
    try:
        cache.set(f"health:cache:{nonce}", nonce, 10)
        ok = cache.get(f"health:cache:{nonce}") == nonce
        cache.delete(f"health:cache:{nonce}")
    except Exception as exc:
        return _error(exc)
    return "ok" if ok else "error: the cache did not return what was written"


def _check_broker() -> str:
    from veosaas.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(
                max_retries=1,
                interval_start=0,
                interval_step=0,
                timeout=BROKER_CHECK_TIMEOUT_SECONDS,
            )
    except Exception as exc:
        return _error(exc)
    return "ok"


@require_GET
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers (no database or broker involved)."""
    return JsonResponse({"status": "ok"})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "cache": _check_cache(), "broker": _check_broker()}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "error", **checks}
    return JsonResponse(body, status=200 if healthy else 503)


def _timeout(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        return 10.0
    return min(max(value, 0.5), 30.0) if math.isfinite(value) else 10.0


@require_GET
def healthz_worker(request: HttpRequest) -> JsonResponse:
    timeout = _timeout(request.GET.get("timeout", "10"))
    nonce = uuid.uuid4().hex
    started = time.monotonic()
    try:
        worker_ping.apply_async(args=[nonce])
    except Exception as exc:
        logger.warning("healthz/worker: the ping could not be published: %s", exc)
        body = {"status": "error", "worker": "unknown", "broker": _error(exc)}
        return JsonResponse(body, status=503)
    while time.monotonic() - started < timeout:
        if cache.get(f"health:pong:{nonce}") is not None:
            latency_ms = round((time.monotonic() - started) * 1000)
            return JsonResponse({"status": "ok", "worker": "ok", "latency_ms": latency_ms})
        time.sleep(0.05)
    return JsonResponse(
        {"status": "error", "worker": "no answer", "timeout_s": timeout}, status=503
    )
