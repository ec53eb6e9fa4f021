"""Live status streams (SSE) held by ONE web process, started as the Procfile's `web` (gunicorn
with one uvicorn worker, veosaas/asgi.py), on the benchmark database, loopback only.

1. Open streams held at once (each on its own running job, every one answered with its first
   event), with the worker's RSS and thread count while they are open. Goal: >= 1000.
2. Status-change-to-event latency, p50 and p95: a change made by the service that workers use
   (`job_progress_set`: UPDATE, commit, snapshot publication, Redis announcement) until the
   event arrives on that job's open stream, over a bounded number of changes while every stream
   stays open. Needs Redis on loopback (the subscription); without it the streams poll the
   snapshot every GENERATION_EVENTS_POLL_SECONDS and the row says so.
3. `GET /healthz/live` requests/s on the same process while the streams are open, against the
   same with none open: the streams hold no thread of the sync API.
4. What serving WSGI through the ASGI process costs: `GET /api/video-status` requests/s on the
   Procfile's web (2 uvicorn workers, 4 WSGI threads each) against gunicorn's threaded workers
   (2 x 4) on the same job and key, alternating rounds, medians.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.common import in_threads, loopback_redis, setup_django

ROOT = Path(__file__).resolve().parent.parent
STREAMS = int(os.environ.get("BENCH_EVENTS_STREAMS", "1000"))
CHANGES = 200  # latency samples
OPEN_CONCURRENCY = 64  # connections being opened at once
REDIS_DB = int(os.environ.get("BENCH_EVENTS_REDIS_DB", "13"))
READ_GUARD = 30.0  # seconds: a stream that stays silent this long counts as failed
EVENT_GUARD = 5.0  # seconds: a change whose event has not come by then counts as missed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


ASGI_WEB = ["veosaas.asgi", "--worker-class", "veosaas.server.Worker"]
GTHREAD_WEB = ["veosaas.wsgi", "--threads", "4"]


def _start_web(
    port: int, env: dict[str, str], server: list[str] = ASGI_WEB, workers: int = 1
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            *server,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "veosaas.settings", **env},
        start_new_session=True,
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
    raise RuntimeError("web did not start")


def _worker(master: int) -> int:
    return int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


class Stream:
    """One raw HTTP/1.1 SSE connection; records when each progress value arrived."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.arrived: dict[int, float] = {}
        self.first = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, token: str) -> None:
        import json

        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /api/v1/jobs/{self.job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await self.writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head[:200])
        while True:
            line = await reader.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                progress = int(json.loads(line[6:])["progress"])
                self.arrived.setdefault(progress, time.perf_counter())
                self.first.set()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _jobs(count: int) -> tuple[str, list[str]]:
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import api_key_create
    from generation.models import Job

    user = User.objects.create_user(email=f"bench-events-{time.time_ns()}@example.com")
    token = api_key_create(user=user, name="bench").token
    jobs = Job.objects.bulk_create(
        Job(
            user=user,
            facade="veo3o1",
            prompt="bench",
            state="running",
            progress=1,
            started_at=timezone.now(),
            provider="local",
        )
        for _ in range(count)
    )
    return token, [str(job.id) for job in jobs]


def _change(job_id: str, progress: int) -> None:
    import uuid

    from generation.services.transitions import job_progress_set

    job_progress_set(job_id=uuid.UUID(job_id), progress=progress, eta_seconds=None)


def _rate(
    port: int, seconds: float = 2.0, threads: int = 8, path: str = "/healthz/live", token: str = ""
) -> float:
    import http.client

    counts = [0] * threads
    stop_at = time.perf_counter() + seconds

    def work(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while time.perf_counter() < stop_at:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            counts[index] += 1
        conn.close()

    began = time.perf_counter()
    in_threads(work, threads)
    return sum(counts) / (time.perf_counter() - began)


async def _hold(port: int, token: str, job_ids: list[str], worker: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    streams = [Stream(job_id) for job_id in job_ids]
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    tasks: list[asyncio.Task[None]] = []

    async def open_one(stream: Stream) -> bool:
        async with gate:
            tasks.append(asyncio.create_task(stream.run(port, token)))
            try:
                await asyncio.wait_for(stream.first.wait(), READ_GUARD)
            except TimeoutError:
                return False
            return True

    began = time.perf_counter()
    opened = sum(await asyncio.gather(*(open_one(s) for s in streams)))
    open_seconds = time.perf_counter() - began
    rss = _status(worker, "VmRSS") / 1024
    threads = _status(worker, "Threads")
    rate_open = await loop.run_in_executor(None, _rate, port)
    # Latency: one change at a time on a spread of the open streams.
    latencies = []
    for index in range(CHANGES):
        stream = streams[(index * 7919) % len(streams)]
        progress = 2 + index // len(streams)  # rises on each stream, stays <= 100
        t0 = time.perf_counter()
        await loop.run_in_executor(None, _change, stream.job_id, progress)
        for _ in range(int(EVENT_GUARD / 0.001)):
            if progress in stream.arrived:
                break
            await asyncio.sleep(0.001)
        if progress in stream.arrived:
            latencies.append(stream.arrived[progress] - t0)
        elif index >= 4 and not latencies:
            break  # events do not arrive at all: stop, the row says how many were seen
    still_open = sum(not t.done() for t in tasks)
    for stream in streams:
        stream.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "opened": opened,
        "open_seconds": open_seconds,
        "rss_mib": rss,
        "threads": threads,
        "still_open": still_open,
        "rate_open": rate_open,
        "latencies": latencies,  # type: ignore[dict-item]
    }


def run() -> list[dict]:
    from django.test import override_settings

    vendor = setup_django()
    limit = _raise_fd_limit(STREAMS * 2 + 256)  # the web process inherits it
    redis_url = loopback_redis(REDIS_DB)
    if not redis_url:
        return _run(vendor, limit, "")
    # This process makes the changes: it must publish to the web process's cache and channel.
    cache = {"BACKEND": "veosaas.cache.RedisCache", "LOCATION": redis_url}
    with override_settings(REDIS_URL=redis_url, CACHES={"default": cache}):
        return _run(vendor, limit, redis_url)


def _run(vendor: str, limit: int, redis_url: str) -> list[dict]:
    source = "Redis pub/sub" if redis_url else "snapshot polling (no Redis)"
    token, job_ids = _jobs(STREAMS)
    port = _free_port()
    env = {
        "REDIS_URL": redis_url,
        "GENERATION_EVENTS_MAX_SECONDS": "3600",
        "WEB_THREADS": "4",
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
    }
    proc = _start_web(port, env)
    try:
        worker = _worker(proc.pid)
        rate_idle = _rate(port)
        idle_rss = _status(worker, "VmRSS") / 1024
        idle_threads = _status(worker, "Threads")
        held = asyncio.run(_hold(port, token, job_ids, worker))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    latencies = sorted(held["latencies"])  # type: ignore[arg-type]
    load = "load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    rows = [
        {
            "name": f"open SSE streams held by one web process ({vendor}, {source})",
            "value": float(held["opened"]),
            "unit": "streams",
            "baseline": float(STREAMS),
            "ratio": held["opened"] / STREAMS,
            "goal": ">= 1000 streams",
            "note": f"RSS {held['rss_mib']:.0f} MiB open vs {idle_rss:.0f} idle; threads "
            f"{held['threads']} vs {idle_threads}; opened in {held['open_seconds']:.1f} s; "
            f"{held['still_open']} still open after the latency run; fd limit {limit}; {load}",
        }
    ]
    if latencies:
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000
        rows.append(
            {
                "name": f"status change -> SSE event latency p50 ({source})",
                "value": p50,
                "unit": "ms",
                "baseline": p95,
                "ratio": p95 / p50 if p50 else 0.0,
                "goal": "",
                "note": f"baseline: p95; {len(latencies)}/{CHANGES} changes seen, each with "
                f"{held['opened']} streams open; from job_progress_set (UPDATE, commit, "
                f"publication) to the event read by the client; {load}",
            }
        )
    rows.append(_server_row(env, token, job_ids[0], load))
    rows.append(
        {
            "name": "GET /healthz/live rps, same process, streams open",
            "value": held["rate_open"],
            "unit": "req/s",
            "baseline": rate_idle,
            "ratio": held["rate_open"] / rate_idle if rate_idle else 0.0,
            "goal": "",
            "note": f"baseline: no stream open; 8 client threads, 2 s; {load}",
        }
    )
    return rows


def _server_row(env: dict[str, str], token: str, job_id: str, load: str) -> dict:
    path = f"/api/video-status/{job_id}"
    rates: dict[str, list[float]] = {"asgi": [], "gthread": []}
    servers = {"asgi": ASGI_WEB, "gthread": GTHREAD_WEB}
    procs = {}
    try:
        for name, server in servers.items():
            port = _free_port()
            procs[name] = (port, _start_web(port, env, server, workers=2))
            _rate(port, 1.0, path=path, token=token)  # warm up
        for _ in range(3):
            for name, (port, _) in procs.items():
                rates[name].append(_rate(port, path=path, token=token))
    finally:
        for _, proc in procs.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    asgi, gthread = statistics.median(rates["asgi"]), statistics.median(rates["gthread"])
    return {
        "name": "GET /api/video-status rps, Procfile web (uvicorn + WSGI pool, 2 x 4 threads)",
        "value": asgi,
        "unit": "req/s",
        "baseline": gthread,
        "ratio": asgi / gthread if gthread else 0.0,
        "goal": "",
        "note": f"baseline: gunicorn threaded workers 2 x 4 on the same job; medians of 3 "
        f"alternating 2 s runs; {load}",
    }
