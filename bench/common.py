"""Shared setup for benchmarks: a Django environment on a dedicated benchmark database.

Which database: BENCH_DATABASE_URL when set (used as it is, created if missing); else, when
DATABASE_URL names a PostgreSQL server, a fresh database of the run's own on that server
(`<name>_bench_<pid>`), dropped when the run ends; else SQLite under var/bench. Every row
names the vendor.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import time
from collections.abc import Callable

import psycopg

_ready = False


def _admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def _fresh_pg_database(base_url: str) -> str | None:
    """A new, empty database on the server of `base_url`, dropped at exit; None if unreachable."""
    base = base_url.split("?", 1)[0]
    name = f"{base.rsplit('/', 1)[1] or 'veosaas'}_bench_{os.getpid()}"[:63]
    try:
        with psycopg.connect(_admin_url(base), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        return None
    atexit.register(_drop_pg_database, base, name)
    return base.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(base: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    try:
        with psycopg.connect(_admin_url(base), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"# could not drop benchmark database {name}: {exc}", flush=True)


def bench_database_url() -> str | None:
    """The database this run uses (see the module doc); None means SQLite."""
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return (
            explicit if explicit.startswith("postgres") and _ensure_pg_database(explicit) else None
        )
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        return _fresh_pg_database(base)
    return None


def load_average() -> str:
    """The machine's 1-minute load average now (other work shares the machine)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _ensure_pg_database(url: str) -> bool:
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    try:
        with psycopg.connect(
            _admin_url(url.split("?", 1)[0]), autocommit=True, connect_timeout=3
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return True
    except psycopg.OperationalError:
        return False


def loopback_redis(db: int) -> str | None:
    """The URL of database `db` of the Redis on 127.0.0.1:6379, if it answers."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return f"redis://127.0.0.1:6379/{db}"
    except OSError:
        return None


def choose_broker() -> str:
    """One Celery broker for the whole benchmark run, set before Django is configured.

    Benchmark modules run in one process and start Celery workers that must talk to the same
    broker as that process: Redis on loopback (database 5) when it answers, else the embedded
    filesystem broker. An explicit CELERY_BROKER_URL wins.
    """
    redis_url = loopback_redis(5)
    if not os.environ.get("CELERY_BROKER_URL") and redis_url:
        os.environ["CELERY_BROKER_URL"] = redis_url
    return os.environ.get("CELERY_BROKER_URL") or "filesystem"


def setup_django() -> str:
    """Configure and migrate the benchmark database once. Returns the database vendor."""
    global _ready
    if not _ready:
        url = bench_database_url()
        if url:
            os.environ["DATABASE_URL"] = url
        else:
            os.environ.pop("DATABASE_URL", None)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        _ready = True
    from django.db import connection

    return connection.vendor


def threaded_rate(threads: int, seconds: float, op: Callable[[int, int], None]) -> float:
    """Run op(thread_index, iteration) in `threads` threads for `seconds`; return ops/second."""
    from django.db import connections

    counts = [0] * threads
    start_barrier = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(index: int) -> None:
        start_barrier.wait()
        n = 0
        try:
            while time.perf_counter() < stop_at[0]:
                op(index, n)
                n += 1
        finally:
            counts[index] = n
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_barrier.wait()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - began)


def in_threads(worker: Callable[[int], object], count: int) -> None:
    """Run `worker(0)` … `worker(count - 1)` each on its own thread and wait for all."""
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
