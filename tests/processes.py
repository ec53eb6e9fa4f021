"""Start the real web (gunicorn, as the Procfile's `web`) and worker (celery) processes against
the test database.

Used by end-to-end tests, which must be transactional (`django_db(transaction=True)`) so that
the processes see committed rows. The processes share the test run's VAR_DIR (broker folder,
cache and media) and its broker/cache URLs from the environment. Under pytest-xdist those are
the worker's own (tests/settings.py), and ports come from a block of the worker's own, so
stacks of different workers never meet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else -1


# Ports below the kernel's ephemeral range (32768+): 200 per xdist worker from 20000, walked
# round-robin from a per-process start; without xdist the kernel picks.
_PORT_BLOCK = 200
_next_port = itertools.cycle(range(_PORT_BLOCK))
for _ in range(os.getpid() % _PORT_BLOCK):
    next(_next_port)


def free_port() -> int:
    """A loopback TCP port free right now: from E2E_PORT_RANGE ("low-high") when set, else from
    this xdist worker's own block when under xdist."""
    low, _, high = os.environ.get("E2E_PORT_RANGE", "").partition("-")
    if low.isdigit() and high.isdigit():  # a range of one's own on a shared machine
        for port in range(int(low), int(high) + 1):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    index = _worker_index()
    if index < 0 or index >= 60:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(_PORT_BLOCK):
        port = 20000 + index * _PORT_BLOCK + next(_next_port)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in xdist worker {index}'s block")


def database_url() -> str:
    """The URL of the database the test run is using right now (the test database)."""
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    user = quote(cfg.get("USER") or "")
    password = f":{quote(cfg['PASSWORD'])}" if cfg.get("PASSWORD") else ""
    host = cfg.get("HOST") or "127.0.0.1"
    port = cfg.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{cfg['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="veosaas.settings",
        VAR_DIR=str(settings.VAR_DIR),
        DATABASE_URL=database_url(),
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def purge_broker() -> None:
    """Drop messages left in the broker by earlier tests (their rows are gone)."""
    from veosaas.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in ("generation", "callbacks", "default"):
            # A queue that was never declared has nothing to purge.
            with contextlib.suppress(Exception):
                channel.queue_purge(queue)


class Stack:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str], **env: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self, name: str = "web", port: int | None = None) -> str:
        """Start the web server as the Procfile's `web` does (gunicorn, 2 uvicorn workers with 4
        WSGI threads each) on `port` (default: the stack's); returns its URL."""
        port = port or self.port
        base_url = f"http://127.0.0.1:{port}"
        self._spawn(
            name,
            [
                str(BIN / "gunicorn"),
                "veosaas.asgi",
                "--worker-class",
                "veosaas.server.Worker",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
            ],
            WEB_THREADS="4",
        )
        self.wait_for(lambda: requests.get(f"{base_url}/healthz/live", timeout=2).ok, name)
        return base_url

    def start_worker(
        self,
        name: str = "worker",
        queues: str = "generation,callbacks,default",
        concurrency: int = 2,
    ) -> None:
        self._spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "veosaas",
                "worker",
                "--queues",
                queues,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{name}-{self.port}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
        )

    def start_beat(self) -> None:
        self._spawn(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "veosaas",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.log_dir / "beat-schedule"),
            ],
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited early:\n{self.log(name)[-4000:]}")
            try:
                if check():
                    return
            except Exception as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout}s ({last})")

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            self.procs.pop(name, None)


@contextmanager
def running_stack(
    tmp_path: Path, *, web: bool = True, worker: bool = True, **env: str
) -> Iterator[Stack]:
    purge_broker()
    stack = Stack(process_env(**env), tmp_path)
    try:
        if web:
            stack.start_web()
        if worker:
            stack.start_worker()
        yield stack
    finally:
        stack.stop()
