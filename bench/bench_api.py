"""API figures under a real gunicorn on the benchmark database.

1. `GET /api/video-status/{uuid}` requests/s (authenticated, a running job) as a ratio to a
   bare Django JSON view (`/healthz/live`) on the same server. Goal >= 0.6.
2. Peak memory of a 50 MB image upload to `/api/upload-video-image`, above the idle worker
   process (peak RSS after minus RSS before). Goal: under 3x the file size.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from bench.common import in_threads, loopback_redis, setup_django

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
SECONDS = 3.0
ROUNDS = 5  # bare and status alternate, so a burst of noise hits both; medians are reported


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_gunicorn(
    port: int, workers: int, threads: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="veosaas.settings",
        PYTHONPATH=str(ROOT),
        **(extra_env or {}),
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "veosaas.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        # One JSON log line per request (as in production) is written, but not onto the table.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz/live", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _rate(port: int, path: str, headers: dict[str, str]) -> float:
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

    began = time.perf_counter()
    in_threads(worker, THREADS)
    return sum(counts) / (time.perf_counter() - began)


def _finished_job(user):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from generation.models import Job

    # A running job: what clients poll (its progress and ETA come from the row).
    return Job.objects.create(
        user=user,
        facade="veo3o1",
        prompt="bench",
        state="running",
        progress=40,
        eta_seconds=12,
        started_at=timezone.now(),
        provider="local",
    )


def _status_rows(vendor: str) -> list[dict]:
    """Status polling against the embedded cache (files) and, when reachable, Redis.

    The job's status snapshot and the key's cache entry are filled by the warm-up, as they are
    for any job a client polls (every change of a job republishes its snapshot).
    """
    from accounts.models import User
    from accounts.services import api_key_create

    user = User.objects.create_user(email=f"bench-api-{time.time_ns()}@example.com")
    token = api_key_create(user=user, name="bench").token
    job = _finished_job(user)
    headers = {"Authorization": f"Bearer {token}"}
    caches = [("file cache", {"REDIS_URL": ""})]
    redis_url = loopback_redis(12)  # the shared cache for the second row, if Redis answers
    if redis_url:
        caches.append(("Redis cache", {"REDIS_URL": redis_url}))
    rows = []
    for label, extra_env in caches:
        port = _free_port()
        proc = _start_gunicorn(port, workers=2, threads=4, extra_env=extra_env)
        try:
            _rate(port, f"/api/video-status/{job.id}", headers)  # warm up both paths
            bares, statuses = [], []
            for _ in range(ROUNDS):
                bares.append(_rate(port, "/healthz/live", {}))
                statuses.append(_rate(port, f"/api/video-status/{job.id}", headers))
            bare, status = statistics.median(bares), statistics.median(statuses)
        finally:
            _stop(proc)
        rows.append(
            {
                "name": f"GET /api/video-status rps, gunicorn 2x4 ({vendor}, {label})",
                "value": status,
                "unit": "req/s",
                "baseline": bare,
                "ratio": status / bare,
                "goal": ">= 0.6",
                "note": f"baseline: bare JSON view on the same server; medians of "
                f"{ROUNDS} alternating {SECONDS:.0f} s runs",
            }
        )
    return rows


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def _upload_rows() -> list[dict]:
    from accounts.models import User
    from accounts.services import api_key_create

    user = User.objects.create_user(email=f"bench-up-{time.time_ns()}@example.com")
    token = api_key_create(user=user, name="bench").token
    path = Path(os.environ.get("VAR_DIR", ROOT / "var" / "bench")) / "bench-50mb.png"
    if not path.exists():
        rng = np.random.default_rng(7)
        noise = rng.integers(0, 256, size=(4096, 4096, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path, format="PNG", compress_level=1)
    size = path.stat().st_size
    port = _free_port()
    proc = _start_gunicorn(port, workers=1, threads=1)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        worker = _worker_pid(proc.pid)
        requests.get(f"http://127.0.0.1:{port}/api/video-status/x", headers=headers, timeout=10)
        idle = _rss_kib(worker, "VmRSS") * 1024
        with path.open("rb") as handle:
            response = requests.post(
                f"http://127.0.0.1:{port}/api/upload-video-image",
                headers=headers,
                files={"file": ("big.png", handle)},
                timeout=120,
            )
        if response.json().get("code") != 0:
            raise RuntimeError(f"upload refused: {response.text[:200]}")
        peak = _rss_kib(worker, "VmHWM") * 1024
    finally:
        _stop(proc)
    above = peak - idle
    return [
        {
            "name": f"peak memory, {size / 2**20:.0f} MB PNG upload",
            "value": above / 2**20,
            "unit": "MiB above idle",
            "baseline": size / 2**20,
            "ratio": above / size,
            "goal": "< 3.0",
            "note": "baseline: file size (MiB)",
        }
    ]


def run() -> list[dict]:
    vendor = setup_django()
    return _status_rows(vendor) + _upload_rows()
