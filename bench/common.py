"""Shared setup for benchmarks: a Django environment on a dedicated benchmark database.

PostgreSQL at BENCH_DATABASE_URL (default: the local server, database `veosaas_bench`, created
if missing) when it is reachable; otherwise SQLite under var/bench, noted in the table.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import psycopg

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/veosaas_bench"
_ready = False


def _ensure_pg_database(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
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
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG)
        if url.startswith("postgres") and _ensure_pg_database(url):
            os.environ["DATABASE_URL"] = url
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
