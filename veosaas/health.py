"""Operator health checks: `/healthz/live` (process), `/healthz` (database) and
`/healthz/worker` (a real task round trip).

`/healthz/worker` publishes a ping through the broker and waits for a worker to answer in the
shared cache, so it proves the web process, the broker, a worker and the cache work together.
"""

from __future__ import annotations

import time
import uuid

from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

PONG_TTL_SECONDS = 120


@shared_task(ignore_result=True)
def worker_ping(nonce: str) -> None:
    cache.set(f"health:pong:{nonce}", time.time(), PONG_TTL_SECONDS)


@require_GET
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers (no database or broker involved)."""
    return JsonResponse({"status": "ok"})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def healthz_worker(request: HttpRequest) -> JsonResponse:
    try:
        timeout = min(max(float(request.GET.get("timeout", "10")), 0.5), 30.0)
    except ValueError:
        timeout = 10.0
    nonce = uuid.uuid4().hex
    started = time.monotonic()
    worker_ping.apply_async(args=[nonce])
    while time.monotonic() - started < timeout:
        if cache.get(f"health:pong:{nonce}") is not None:
            latency_ms = round((time.monotonic() - started) * 1000)
            return JsonResponse({"status": "ok", "worker": "ok", "latency_ms": latency_ms})
        time.sleep(0.05)
    return JsonResponse(
        {"status": "error", "worker": "no answer", "timeout_s": timeout}, status=503
    )
