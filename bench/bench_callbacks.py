"""Callbacks: delivery throughput, and isolation of generation from slow receivers.

Real Celery worker processes run against the benchmark database and broker: one consumes
the "generation" queue (prefork, 2 processes, like the Procfile worker's default concurrency)
and one the "callbacks" queue (thread pool, 16 threads: deliveries wait on the network, not
the CPU). Receivers are HTTP servers on 127.0.0.1 (loopback only; private addresses allowed
for the workers through WEBHOOK_ALLOW_PRIVATE_NETWORKS).

Rows:
- "callbacks delivered/s": N finished jobs with a callback URL are scheduled
  (`callback_schedule`) and the clock stops when every delivery is `delivered`: render,
  sign, guarded POST, attempt log, state change, through the broker. Two baselines, two
  rows, measured in the same run: the same number of bare `netguard.guarded_post` calls
  from 16 threads of this process to the same receiver (the network part alone, the same
  guarded POST without our bookkeeping), once with a new connection per request (the
  original measurement) and once with `keep_alive=True` (each thread keeping its connection
  alive as the delivering threads do). Goal: ratio >= 0.5. Each
  message carries up to 32 of the deliveries one transaction enqueued, claims them in one
  transaction, POSTs them on the worker thread's kept-alive connection to the receiver and
  logs their attempts in one more (outbound/batch.py).
- "generation with 50 callbacks hanging 10 s": wall time until 4 generation jobs (local
  renderer, 4 s 720p) succeed while 50 callbacks are stuck on a receiver that answers after
  10 s, against the same 4 jobs with idle callbacks (baseline). Goal: ratio <= 1.2 (unchanged
  within noise): slow receivers must not starve generation.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import setup_django

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DELIVERIES = 300
WARM_UP = 20
HANGING = 50
HANG_SECONDS = 10.0
GENERATION_JOBS = 4
POST_THREADS = 16
REPEATS = 3


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default listen backlog of 5 drops bursts of connections

    def __init__(self, delay: float) -> None:
        self.delay = delay

        class Handler(BaseHTTPRequestHandler):
            # Keeps connections open when the client asks, as receivers behind any common
            # server do (both the deliveries and the bare loop ask).
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as production servers do (TCP_NODELAY)

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if delay:
                    time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@contextmanager
def _receiver(delay: float = 0.0) -> Iterator[_Receiver]:
    server = _Receiver(delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _workers(log_dir: Path) -> Iterator[None]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",
        GENERATION_PROVIDER="local",
    )
    tag = uuid.uuid4().hex[:6]
    specs = {
        "generation": ["--queues", "generation", "--concurrency", "2"],
        "callbacks": [
            "--queues",
            "callbacks",
            "--pool",
            "threads",
            "--concurrency",
            str(POST_THREADS),
        ],
    }
    procs = []
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name, args in specs.items():
            log = (log_dir / f"{name}.log").open("ab")
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "celery"),
                        "-A",
                        "veosaas",
                        "worker",
                        *args,
                        "--loglevel",
                        "WARNING",
                        "--hostname",
                        f"bench-{name}-{tag}@%h",
                        "--without-heartbeat",
                        "--without-mingle",
                        "--without-gossip",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _purge() -> None:
    from veosaas.celery import app

    with app.connection_for_write() as conn:
        for queue in ("generation", "callbacks", "default"):
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(queue)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout:g} s")
        time.sleep(0.05)


def _finished_jobs(user: Any, url: str, count: int) -> list[Any]:
    from django.utils import timezone

    from generation.models import Job

    now = timezone.now()
    return Job.objects.bulk_create(
        [
            Job(
                user=user,
                facade=Job.Facade.VEO3API,
                prompt=f"bench {i}",
                state=Job.State.FAILED,
                failure_stage=Job.FailureStage.GENERATION,
                error_code=501,
                error_message="bench failure",
                callback_url=url,
                created_at=now,
                completed_at=now,
            )
            for i in range(count)
        ]
    )


def _deliver_all(user: Any, url: str, count: int, timeout: float) -> float:
    """Seconds from enqueueing `count` callbacks until all are delivered.

    The deliveries are scheduled in one transaction, so their messages are published in one
    burst at its commit, where the clock starts: the figure is the workers' rate, not this
    process's scheduling loop.
    """
    from django.db import transaction

    from generation.facades.callbacks import callback_schedule
    from outbound.models import Delivery

    jobs = _finished_jobs(user, url, count)
    started = [0.0]
    with transaction.atomic():
        ids = [callback_schedule(job_id=job.pk).pk for job in jobs]
        transaction.on_commit(lambda: started.__setitem__(0, time.perf_counter()))
    _wait(
        lambda: (
            Delivery.objects.filter(pk__in=ids, status=Delivery.Status.DELIVERED).count() == count
        ),
        timeout,
        "callback deliveries",
    )
    return time.perf_counter() - started[0]


def _bare_posts(url: str, count: int, *, keep_alive: bool = True) -> float:
    from outbound import netguard

    remaining = list(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not remaining:
                    return
                remaining.pop()
            netguard.guarded_post(
                url,
                body=b'{"code":200}',
                headers={"Content-Type": "application/json"},
                keep_alive=keep_alive,
            )

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(POST_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _generation_seconds(user: Any, label: str) -> float:
    from generation.models import Job
    from generation.services import JobSpec, job_submit

    started = time.perf_counter()
    ids = [
        job_submit(
            user=user,
            spec=JobSpec(
                facade=Job.Facade.VEO3API,
                prompt=f"bench render {label} {i}",
                model_tier="fast",
                duration_seconds=4,
                seed=1000 + i,
            ),
        ).job.pk
        for i in range(GENERATION_JOBS)
    ]
    _wait(
        lambda: (
            Job.objects.filter(pk__in=ids, state__in=Job.TERMINAL_STATES).count() == GENERATION_JOBS
        ),
        300,
        "generation jobs",
    )
    failed = Job.objects.filter(pk__in=ids).exclude(state=Job.State.SUCCEEDED).count()
    if failed:
        raise RuntimeError(f"{failed} bench generation jobs did not succeed")
    return time.perf_counter() - started


def run() -> list[dict[str, Any]]:
    vendor = setup_django()
    from django.conf import settings

    from accounts.models import User
    from billing.services import credits_grant

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # this process's baseline POSTs
    run_id = uuid.uuid4().hex[:8]
    user = User.objects.create_user(email=f"bench-callbacks-{run_id}@example.com")
    credits_grant(user=user, amount=10**9, idempotency_key=f"bench:callbacks:{run_id}")
    _purge()
    note = "" if vendor == "postgresql" else "PostgreSQL unreachable: measured on SQLite; "
    log_dir = Path(settings.VAR_DIR) / "bench-logs"
    rows = []
    with _receiver() as fast, _receiver(HANG_SECONDS) as hanging, _workers(log_dir):
        # Warm-up: both workers up and connected (their first tasks prove it).
        _deliver_all(user, fast.url, WARM_UP, timeout=120)
        _generation_seconds(user, "warm-up")
        _bare_posts(fast.url, WARM_UP)

        kept_alive = DELIVERIES / _bare_posts(fast.url, DELIVERIES)
        new_connection = DELIVERIES / _bare_posts(fast.url, DELIVERIES, keep_alive=False)
        delivered = DELIVERIES / _deliver_all(user, fast.url, DELIVERIES, timeout=120)
        load = f"load {os.getloadavg()[0]:.2f}"
        # Both peers, from the same run: the bare guarded POST as it was first measured (a new
        # connection per request) and the same POST on a kept-alive connection.
        for peer, baseline_posts in (
            ("bare guarded POSTs, new connection each", new_connection),
            ("bare guarded POSTs, kept alive", kept_alive),
        ):
            rows.append(
                {
                    "name": f"callbacks delivered/s ({vendor}, {POST_THREADS} threads) vs {peer}",
                    "value": delivered,
                    "unit": "callbacks/s",
                    "baseline": baseline_posts,
                    "ratio": delivered / baseline_posts,
                    "goal": ">= 0.5",
                    "note": note + f"{DELIVERIES} signed callbacks through Celery; baseline: "
                    f"{peer}; {load}",
                }
            )

        # The machine may be shared: best of REPEATS on each side. The hanging callbacks
        # keep the callbacks worker's threads busy for HANG_SECONDS * HANGING / POST_THREADS
        # (> 30 s), longer than the loaded runs take.
        idle = min(_generation_seconds(user, f"idle {i}") for i in range(REPEATS))
        from generation.facades.callbacks import callback_schedule

        for job in _finished_jobs(user, hanging.url, HANGING):
            callback_schedule(job_id=job.pk)
        time.sleep(1.0)  # the callbacks worker is now blocked on the hanging receiver
        loaded = min(_generation_seconds(user, f"loaded {i}") for i in range(REPEATS))
        rows.append(
            {
                "name": f"generation with {HANGING} callbacks hanging {HANG_SECONDS:g} s",
                "value": loaded,
                "unit": "s",
                "baseline": idle,
                "ratio": loaded / idle,
                "goal": "<= 1.2",
                "note": note + f"{GENERATION_JOBS} jobs, local 4 s 720p, best of {REPEATS}; "
                "baseline: idle callbacks",
            }
        )
    _purge()
    return rows
