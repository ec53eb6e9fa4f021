"""Submit figures: SQL per submit, web CPU per submit, one account against many.

1. SQL statements and commits of one `POST /api/v1/veo/generate` (in process, counted at the
   database connection). Goal: <= 5 statements, 1 commit.
2. Web CPU per submit under a real gunicorn, read from /proc (utime + stime of the worker
   processes over the run, divided by the requests served), against the bare JSON view
   (`/healthz/live`) on the same server. Goal: <= 5 ms.
3. Submits per second from one account against the same load spread over 32 accounts
   (alternating rounds, medians). Goal: ratio >= 0.8 (no row lock held across statements).
4. The submit's web CPU (2.) against LiteLLM's proxy create, `POST /v1/videos` to a loopback
   fake upstream, measured the same way in rounds alternating with ours, so both see the same
   load (bench/peer_litellm.py). Goal: ratio <= 0.5. LiteLLM is an optional bench extra
   (`make bench-peers`); without it the row says it was skipped.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.bench_api import _free_port, _start_gunicorn, _stop
from bench.common import in_threads, load_average, loopback_redis, setup_django
from bench.peer_litellm import Peer, peer_rows, running_peer

THREADS = 8
SECONDS = 3.0
THROUGHPUT_ROUNDS = 5  # the ratio is the noisiest figure on a shared machine
ACCOUNTS = 32
CPU_REQUESTS = 400
CPU_ROUNDS = 5  # medians of alternating rounds: ours, the bare view, LiteLLM's
BODY = json.dumps({"prompt": "bench submit", "model": "veo3_fast"}).encode()
_TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def count_sql():  # type: ignore[no-untyped-def]
    """Count statements and commits on the default connection while the block runs."""
    from django.db import connection

    counts = {"statements": 0, "commits": 0}

    def wrapper(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        counts["statements"] += 1
        verb = sql.lstrip()[:9].upper()
        if not connection.in_atomic_block and not verb.startswith(("SELECT", "BEGIN")):
            counts["commits"] += 1  # a write outside a transaction commits on its own
        return execute(sql, params, many, context)

    real_commit = connection.commit

    def commit() -> None:  # the outermost atomic block's COMMIT
        counts["commits"] += 1
        real_commit()

    connection.commit = commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(wrapper):
            yield counts
    finally:
        del connection.commit


def _funded_key(tag: str) -> str:
    from accounts.models import User
    from accounts.services import api_key_create
    from billing.services import credits_grant

    user = User.objects.create_user(email=f"bench-submit-{tag}-{time.time_ns()}@example.com")
    credits_grant(user=user, amount=10**12, idempotency_key=f"bench-submit:{user.pk}")
    return api_key_create(user=user, name="bench").token


def _sql_rows(vendor: str) -> list[dict]:
    from django.core.cache import cache
    from django.test import Client

    from accounts.selectors import auth_fence_key
    from accounts.tokens import digest

    token = _funded_key("sql")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    for _ in range(3):  # warm: caches (key, price table, budget slot) as a busy server has them
        client.post("/api/v1/veo/generate", BODY, content_type="application/json")
    # A key younger than its fence's margin is read from the database; an older one is not.
    cache.delete(auth_fence_key(digest(token)))
    with count_sql() as counts:
        response = client.post("/api/v1/veo/generate", BODY, content_type="application/json")
    if response.json().get("code") != 200:
        raise RuntimeError(f"submit refused: {response.content[:200]!r}")
    return [
        {
            "name": f"SQL statements per submit, veo3api ({vendor})",
            "value": float(counts["statements"]),
            "unit": "statements",
            "goal": "<= 5",
            "note": f"{counts['commits']} commit(s) (goal 1)",
            "load": load_average(),
        }
    ]


def _cpu_ticks(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _requests(port: int, method: str, path: str, tokens: list[str], count: int) -> float:
    """Send `count` requests from THREADS threads (token i % len(tokens)); returns seconds."""
    per_thread = [count // THREADS + (1 if i < count % THREADS else 0) for i in range(THREADS)]
    errors: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(per_thread[index]):
            headers = {"Content-Type": "application/json"}
            if tokens:
                headers["Authorization"] = f"Bearer {tokens[(index + n * THREADS) % len(tokens)]}"
            conn.request(method, path, body=BODY if method == "POST" else None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200 or (method == "POST" and b'"code":200' not in payload):
                errors.append(f"{path} answered {response.status} {payload[:120]!r}")
                return
        conn.close()

    began = time.perf_counter()
    in_threads(worker, THREADS)
    if errors:
        raise RuntimeError(errors[0])
    return time.perf_counter() - began


def _rate(port: int, tokens: list[str]) -> float:
    counts = [0] * THREADS
    stop_at = time.perf_counter() + SECONDS

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.perf_counter() < stop_at:
            token = tokens[(index + n * THREADS) % len(tokens)]
            conn.request(
                "POST",
                "/api/v1/veo/generate",
                body=BODY,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            response = conn.getresponse()
            if response.status != 200 or b'"code":200' not in response.read():
                raise RuntimeError(f"submit answered {response.status}")
            n += 1
        counts[index] = n
        conn.close()

    began = time.perf_counter()
    in_threads(worker, THREADS)
    return sum(counts) / (time.perf_counter() - began)


def _server_env() -> dict[str, str]:
    env = {
        "GENERATION_RATE_LIMIT": "100000000",
        "GENERATION_MAX_ACTIVE_JOBS": "100000000",
        "LOG_LEVEL": "WARNING",
    }
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = loopback_redis(12) or ""
    return env


def _cpu_rows(vendor: str) -> list[dict]:
    """Our submit's web CPU against the bare view and, when installed, LiteLLM's create, in
    alternating rounds (the three see the same load; a shared machine's load drifts)."""
    tokens = [_funded_key(f"cpu{i}") for i in range(4)]
    port = _free_port()
    proc = _start_gunicorn(port, workers=1, threads=4, extra_env=_server_env())
    try:
        _requests(port, "POST", "/api/v1/veo/generate", tokens, 40)  # warm up
        _requests(port, "GET", "/healthz/live", [], 40)
        bares: list[float] = []
        submits: list[float] = []
        with running_peer() as peer:
            theirs: list[float] | str = peer if isinstance(peer, str) else []
            for _ in range(CPU_ROUNDS):
                before = _cpu_ticks(proc.pid)
                _requests(port, "GET", "/healthz/live", [], CPU_REQUESTS)
                bares.append((_cpu_ticks(proc.pid) - before) / _TICK * 1000 / CPU_REQUESTS)
                before = _cpu_ticks(proc.pid)
                _requests(port, "POST", "/api/v1/veo/generate", tokens, CPU_REQUESTS)
                submits.append((_cpu_ticks(proc.pid) - before) / _TICK * 1000 / CPU_REQUESTS)
                if isinstance(peer, Peer) and isinstance(theirs, list):
                    try:
                        theirs.append(peer.round(CPU_REQUESTS))
                    except Exception as exc:  # the peer is optional: say why, go on
                        theirs = f"LiteLLM failed: {exc}"
        load = load_average()
    finally:
        _stop(proc)
    bare, submit = statistics.median(bares), statistics.median(submits)
    return [
        {
            "name": f"submit web CPU per request, gunicorn 1x4 ({vendor})",
            "value": submit,
            "unit": "ms",
            "baseline": bare,
            "ratio": submit / bare,
            "goal": "<= 5 ms",
            "note": f"baseline: bare JSON view; /proc utime+stime, medians of {CPU_ROUNDS} x "
            f"{CPU_REQUESTS} requests",
            "load": load,
        },
        *peer_rows(submit, CPU_REQUESTS, CPU_ROUNDS, theirs),
    ]


def _throughput_rows(vendor: str) -> list[dict]:
    many = [_funded_key(f"many{i}") for i in range(ACCOUNTS)]
    one = [_funded_key("one")]
    port = _free_port()
    proc = _start_gunicorn(port, workers=2, threads=4, extra_env=_server_env())
    try:
        _rate(port, many)  # warm up every key's cache entry
        _rate(port, one)
        ones, manys = [], []
        for _ in range(THROUGHPUT_ROUNDS):
            manys.append(_rate(port, many))
            ones.append(_rate(port, one))
        load = load_average()
    finally:
        _stop(proc)
    one_rate, many_rate = statistics.median(ones), statistics.median(manys)
    return [
        {
            "name": f"submits/s, one account vs {ACCOUNTS} accounts, gunicorn 2x4 ({vendor})",
            "value": one_rate,
            "unit": "req/s",
            "baseline": many_rate,
            "ratio": one_rate / many_rate,
            "goal": ">= 0.8",
            "note": f"{THREADS} client threads; medians of {THROUGHPUT_ROUNDS} alternating "
            f"{SECONDS:.0f} s runs",
            "load": load,
        }
    ]


def _purge_broker() -> None:
    """Drop the run tasks the submits enqueued (no worker runs them in this benchmark)."""
    from veosaas.celery import app

    try:
        app.control.purge()
    except Exception as exc:
        print(f"# bench_submit: broker not purged: {exc}", flush=True)


def run() -> list[dict[str, Any]]:
    vendor = setup_django()
    try:
        rows = _sql_rows(vendor)
        rows += _cpu_rows(vendor)
        return rows + _throughput_rows(vendor)
    finally:
        _purge_broker()
