"""Ledger throughput: holds per second on ONE account from 8 threads, against a raw
single-statement `UPDATE … SET balance = balance - 1` loop on the same database and threads.
Goal: ratio >= 0.3 (the hold does a guarded update plus an append-only row in a transaction)."""

from __future__ import annotations

import uuid

from bench.common import setup_django, threaded_rate

THREADS = 8
SECONDS = 5.0


def run() -> list[dict]:
    vendor = setup_django()
    from django.db import connection

    from accounts.models import User
    from billing.services import credits_grant, credits_hold

    run_id = uuid.uuid4().hex[:8]
    user = User.objects.create_user(email=f"bench-{run_id}@example.com")
    credits_grant(user=user, amount=10**12, idempotency_key=f"bench:{run_id}")

    def hold(index: int, n: int) -> None:
        credits_hold(user=user, amount=1, idempotency_key=f"bench:{run_id}:{index}:{n}")

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_balance "
            "(id integer PRIMARY KEY, balance bigint NOT NULL)"
        )
        cursor.execute("DELETE FROM bench_balance")
        cursor.execute("INSERT INTO bench_balance (id, balance) VALUES (1, 1000000000000)")

    def raw_update(index: int, n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE bench_balance SET balance = balance - 1 WHERE id = 1")

    raw = threaded_rate(THREADS, SECONDS, raw_update)
    holds = threaded_rate(THREADS, SECONDS, hold)
    note = "" if vendor == "postgresql" else "PostgreSQL unreachable: measured on SQLite"
    return [
        {
            "name": f"ledger holds/s, 1 account, {THREADS} threads ({vendor})",
            "value": holds,
            "unit": "holds/s",
            "baseline": raw,
            "ratio": holds / raw,
            "goal": ">= 0.3",
            "note": note or "baseline: raw UPDATE balance-1 loop",
        }
    ]
