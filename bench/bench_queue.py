"""codefast queue positions: `GET /status/{job_id}` CPU with 100,000 queued jobs as a ratio to
the same with 100, for the job in the middle and the job at the end of the queue (the worst
cases for counting the jobs ahead). Goal: ratio <= 1.5. CPU, not latency: the CPU time of
this process and of its PostgreSQL backend (read from /proc) per request, median of batches,
is steady on a shared machine where latency is not; latency is printed beside it.

Jobs are inserted in bulk (one INSERT … SELECT over generate_series on PostgreSQL) for a
handful of users; the measured jobs belong to their own account. Requests go through the Django
test client in this process (the whole stack: middleware, key auth, status, daily usage, queue
place), one at a time. Also reported, for context: what an exact count
of the jobs ahead costs at 100,000 (the queue snapshot avoids it) and what one snapshot costs.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench.common import setup_django

SMALL = 100
LARGE = 100_000
FILLER_USERS = 5
WARMUP = 20
REQUESTS = 600
BATCHES = 12
_TICK = os.sysconf("SC_CLK_TCK")
MARK = "bench-queue"


def _fill(count: int, owner, fillers: list) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Replace the bench's jobs by `count` queued ones 1 ms apart; return the ids of the jobs
    at rank count/2 and at rank count, which are given to `owner`."""
    from django.db import connection
    from django.utils import timezone

    from generation.models import Job

    Job.objects.filter(prompt__startswith=MARK).delete()
    start = timezone.now() - timedelta(hours=1)
    if connection.vendor == "postgresql":
        template = Job.objects.create(
            user=fillers[0], facade="codefast", prompt=f"{MARK} template", created_at=start
        )
        skip = {"id", "created_at", "user_id"}
        columns = [f.column for f in Job._meta.concrete_fields if f.column not in skip]
        quote = connection.ops.quote_name
        copied = ", ".join(quote(c) for c in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {quote(Job._meta.db_table)} ({copied}, id, created_at, user_id) "
                f"SELECT {copied}, gen_random_uuid(), %s + g * interval '1 millisecond', "
                f"(%s::bigint[])[1 + g %% %s] "
                f"FROM {quote(Job._meta.db_table)}, generate_series(0, %s) AS g WHERE id = %s",
                [start, [u.pk for u in fillers], len(fillers), count - 1, template.pk],
            )
            template.delete()
            cursor.execute(f"VACUUM ANALYZE {quote(Job._meta.db_table)}")
    else:
        for first in range(0, count, 5000):
            Job.objects.bulk_create(
                [
                    Job(
                        user=fillers[i % len(fillers)],
                        facade="codefast",
                        prompt=MARK,
                        created_at=start + timedelta(milliseconds=i),
                    )
                    for i in range(first, min(count, first + 5000))
                ]
            )
    ordered = Job.objects.filter(prompt__startswith=MARK).order_by("created_at", "id")
    middle = ordered.values_list("pk", flat=True)[count // 2 - 1]
    end = ordered.values_list("pk", flat=True)[count - 1]
    Job.objects.filter(pk__in=[middle, end]).update(user=owner)
    if connection.vendor == "postgresql":
        # Each run deletes the previous run's rows: reclaim them and refresh the planner's
        # statistics, as autovacuum would on a database in steady state.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {Job._meta.db_table}")
    return str(middle), str(end)


def _backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (0 elsewhere): the
    server's share of a status read (a queue count runs there) is part of its cost."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a server on another host: its CPU is not ours to read
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _latency(client, job_id: str, token: str) -> tuple[float, float, float, dict]:  # type: ignore[no-untyped-def]
    """Median and p95 milliseconds of GET /status/{job_id}, the median CPU milliseconds per
    request (this process plus its database backend, per batch), and the last body."""
    headers = {"HTTP_X_API_KEY": token, "HTTP_HOST": "127.0.0.1"}
    body: dict = {}
    for _ in range(WARMUP):
        body = client.get(f"/status/{job_id}", **headers).json()
    times, cpus = [], []
    for _ in range(BATCHES):
        cpu, db = time.process_time(), _backend_cpu()
        for _ in range(REQUESTS // BATCHES):
            began = time.perf_counter()
            response = client.get(f"/status/{job_id}", **headers)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.content
        used = time.process_time() - cpu + _backend_cpu() - db
        cpus.append(used / (REQUESTS // BATCHES) * 1000)
    body = response.json()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], statistics.median(cpus), body


def run() -> list[dict]:
    vendor = setup_django()
    from django.test import Client

    from accounts.models import User
    from accounts.services import api_key_create, api_key_revoke
    from generation.models import Job
    from generation.selectors import (
        job_queue_place,
        queue_snapshot_forget,
        queue_snapshot_take,
    )

    owner, _ = User.objects.get_or_create(email=f"{MARK}-owner@example.com")
    fillers = [
        User.objects.get_or_create(email=f"{MARK}-filler{i}@example.com")[0]
        for i in range(FILLER_USERS)
    ]
    created = api_key_create(user=owner, name=f"{MARK}-{uuid.uuid4().hex[:8]}")
    client = Client()
    figures: dict[int, dict[str, tuple[float, float, float, dict]]] = {}
    extra: dict[str, float] = {}
    try:
        for count in (SMALL, LARGE):
            began = time.perf_counter()
            middle, end = _fill(count, owner, fillers)
            print(
                f"# {count:,} queued jobs inserted in {time.perf_counter() - began:.1f} s",
                flush=True,
            )
            queue_snapshot_forget()
            figures[count] = {
                name: _latency(client, job_id, created.token)
                for name, job_id in (("middle", middle), ("end", end))
            }
        job = Job.objects.get(pk=end)
        began = time.perf_counter()
        for _ in range(5):
            job_queue_place(job=job, exact_max=10**9)
        extra["exact"] = (time.perf_counter() - began) / 5 * 1000
        began = time.perf_counter()
        queue_snapshot_take()
        extra["snapshot"] = (time.perf_counter() - began) * 1000
    finally:
        Job.objects.filter(prompt__startswith=MARK).delete()
        api_key_revoke(api_key=created.api_key)
        queue_snapshot_forget()

    note = "" if vendor == "postgresql" else "PostgreSQL unreachable: measured on SQLite; "
    rows: list[dict] = []
    for name in ("middle", "end"):
        large_ms, large_p95, large_cpu, body = figures[LARGE][name]
        small_ms, small_p95, small_cpu, small_body = figures[SMALL][name]
        rows.append(
            {
                "name": f"codefast GET /status CPU, job at the {name} of {LARGE:,} queued vs "
                f"{SMALL} ({vendor})",
                "value": large_cpu,
                "unit": "ms CPU/req",
                "baseline": small_cpu,
                "ratio": large_cpu / small_cpu,
                "goal": "<= 1.5",
                "note": f"{note}web process + its database backend, median of {BATCHES} "
                f"batches; position {body['queue_position']:,}/{body['total_in_queue']:,} vs "
                f"{small_body['queue_position']}/{small_body['total_in_queue']}; latency "
                f"median {large_ms:.2f} vs {small_ms:.2f} ms, p95 {large_p95:.1f} vs "
                f"{small_p95:.1f} ms; load {os.getloadavg()[0]:.2f}",
            }
        )
    rows.append(
        {
            "name": f"exact count of the jobs ahead at {LARGE:,} queued, end of queue ({vendor})",
            "value": extra["exact"],
            "unit": "ms",
            "note": "what each status would cost without the snapshot (context, no goal)",
        }
    )
    rows.append(
        {
            "name": f"one queue snapshot of {LARGE:,} queued jobs ({vendor})",
            "value": extra["snapshot"],
            "unit": "ms",
            "note": "shared; taken at most every CODEFAST_QUEUE_SNAPSHOT_SECONDS (or 20x its cost)",
        }
    )
    return rows
