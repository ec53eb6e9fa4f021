from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from accounts.services import CreatedApiKey, api_key_create
from tests.factories import UserFactory


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def api_key(user: Any) -> CreatedApiKey:
    return api_key_create(user=user, name="test")


@pytest.fixture
def require_postgres(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)")


def run_in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Run target(i) in `count` real threads, each with its own database connection.

    All threads start together (a barrier) to maximise contention. Returns each thread's result
    or the exception it raised.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
