"""Status polling on every facade: web CPU per request as a ratio to a bare Django JSON view.

One gunicorn (2 workers x 4 threads, as the Procfile) serves both the bare view
(`/healthz/live`, a `JsonResponse` with no database or cache) and each facade's status path,
so whatever runs in front of the app (middleware, an ASGI dispatcher) is paid by both. The
figure is the CPU time of the worker processes (utime + stime from /proc) divided by the
requests answered, which is steadier than requests/s on a shared machine. Rounds alternate
bare and status so a burst of noise hits both; medians are reported, with the load average.

Goal: every status path <= 1.6x the bare view. The jobs' status snapshots and the key's cache
entry are warm, as for any job a client polls. The cache is Redis (REDIS_URL, else database
10 of the loopback Redis) when it answers, else the file cache.
"""

from __future__ import annotations

import http.client
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench.bench_api import _free_port, _start_gunicorn, _stop
from bench.common import in_threads, loopback_redis, setup_django

THREADS = 8
SECONDS = 2.0
ROUNDS = 5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _workers_cpu(master: int) -> float:
    """CPU seconds used so far by the master's worker processes."""
    total = 0.0
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def _load(port: int, path: str, headers: dict[str, str]) -> int:
    """Requests answered by THREADS keep-alive clients in SECONDS."""
    counts = [0] * THREADS
    stop_at = time.perf_counter() + SECONDS

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.perf_counter() < stop_at:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            n += 1
        counts[index] = n
        conn.close()

    in_threads(worker, THREADS)
    return sum(counts)


def cpu_per_request(master: int, port: int, path: str, headers: dict[str, str]) -> float:
    """Milliseconds of worker CPU per request of `path`."""
    before = _workers_cpu(master)
    requests = _load(port, path, headers)
    return (_workers_cpu(master) - before) / max(requests, 1) * 1000


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def status_paths() -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, headers) of every facade's status read, on jobs made for the bench."""
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import api_key_create
    from generation.models import Job

    user = User.objects.create_user(email=f"bench-status-{time.time_ns()}@example.com")
    token = api_key_create(user=user, name="bench").token
    now = timezone.now()

    def job(facade: str, **fields: Any) -> Job:
        return Job.objects.create(
            user=user, facade=facade, prompt="bench", provider="local", **fields
        )

    running = {"state": "running", "progress": 40, "eta_seconds": 12, "started_at": now}
    veo3o1 = job("veo3o1", **running)
    kie = job("veo3api", raw_request={"prompt": "bench", "model": "veo3_fast"}, **running)
    done = {
        "state": "succeeded",
        "video_file": "bench/x.mp4",
        "started_at": now,
        "completed_at": now,
    }
    codefast_done = job("codefast", **done)
    codefast_running = job("codefast", **running)
    bearer = {"Authorization": f"Bearer {token}"}
    api_key = {"X-API-Key": token}
    paths = [
        ("veo3o1 GET /api/video-status/{uuid}", f"/api/video-status/{veo3o1.id}", bearer),
        (
            "kie GET /api/v1/veo/record-info",
            f"/api/v1/veo/record-info?taskId={kie.task_id}",
            bearer,
        ),
        ("OpenAI-style GET /v1/videos/{id}", f"/v1/videos/{veo3o1.id}", bearer),
        ("codefast GET /status/{id} (ended)", f"/status/{codefast_done.id}", api_key),
        ("codefast GET /status/{id} (running)", f"/status/{codefast_running.id}", api_key),
    ]
    return paths


def run() -> list[dict]:
    vendor = setup_django()
    paths = status_paths()
    redis_url = os.environ.get("REDIS_URL") or loopback_redis(10)
    extra_env = {"REDIS_URL": redis_url or ""}
    cache = "Redis cache" if redis_url else "file cache"
    port = _free_port()
    proc = _start_gunicorn(port, workers=2, threads=4, extra_env=extra_env)
    rows: list[dict] = []
    try:
        for _, path, headers in paths:  # warm up every path, the key and the snapshots
            _load(port, path, headers)
        for label, path, headers in paths:
            bares, statuses = [], []
            for _ in range(ROUNDS):
                bares.append(cpu_per_request(proc.pid, port, "/healthz/live", {}))
                statuses.append(cpu_per_request(proc.pid, port, path, headers))
            bare, status = statistics.median(bares), statistics.median(statuses)
            rows.append(
                {
                    "name": f"{label} web CPU, gunicorn 2x4 ({vendor}, {cache})",
                    "value": status,
                    "unit": "ms CPU/req",
                    "baseline": bare,
                    "ratio": status / bare,
                    "goal": "<= 1.6",
                    "note": f"baseline: bare JSON view, same server; medians of {ROUNDS} "
                    f"alternating {SECONDS:.0f} s runs; {load_note()}",
                }
            )
    finally:
        _stop(proc)
    return rows
