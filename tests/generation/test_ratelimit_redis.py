"""The Redis side of the sliding-window rate limit (generation/ratelimit.py): its script runs
over the lean per-thread connection, counts atomically, survives the server forgetting the
script, and an unreachable server is RateLimitUnavailable (callers fail closed)."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from generation.ratelimit import RateLimitUnavailable, _redis_script, rate_limit_hit
from tests.processes import free_port
from tests.test_redis_wire import URL, redis_or_skip
from veosaas.redis_wire import Wire


@pytest.fixture
def server(settings) -> redis.Redis:
    client = redis_or_skip(URL)
    settings.REDIS_URL = URL
    return client


def test_hits_are_counted_until_the_limit_then_refused(server) -> None:
    key = f"test:{uuid.uuid4().hex}"
    decisions = [rate_limit_hit(key=key, limit=3, window=10) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[-1].retry_after >= 1 and decisions[0].retry_after == 0
    assert 0 < server.ttl(f"ratelimit:{key}") <= 11


def test_the_script_runs_over_the_lean_connection(server) -> None:
    rate_limit_hit(key=f"test:{uuid.uuid4().hex}", limit=5, window=10)
    assert _redis_script(URL).__name__ == "run"  # not redis-py's (kept for TLS / sockets)
    wire = Wire.for_pool(
        redis.Redis.from_url(URL, socket_connect_timeout=1.0, socket_timeout=2.0).connection_pool
    )
    assert wire is not None and wire._local.sock is not None  # this thread's socket was used


def test_a_server_that_forgot_the_script_is_sent_it_again(server) -> None:
    key = f"test:{uuid.uuid4().hex}"
    assert rate_limit_hit(key=key, limit=2, window=10).allowed
    server.script_flush()
    assert rate_limit_hit(key=key, limit=2, window=10).remaining == 0  # the count went on
    assert not rate_limit_hit(key=key, limit=2, window=10).allowed


def test_concurrent_hits_never_overshoot(server) -> None:
    key = f"test:{uuid.uuid4().hex}"
    allowed: list[bool] = []
    lock = threading.Lock()

    def hit() -> None:
        for _ in range(10):
            decision = rate_limit_hit(key=key, limit=25, window=30)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 80 and sum(allowed) == 25


def test_an_unreachable_server_is_unavailable(settings) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RateLimitUnavailable):
        rate_limit_hit(key="test:dead", limit=5, window=10)
