"""The web process and a real Celery worker round-trip a task over the configured broker."""

from __future__ import annotations

import pytest
import requests

from tests.processes import running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_web_and_worker_round_trip_a_task(tmp_path) -> None:
    with running_stack(tmp_path) as stack:
        assert requests.get(f"{stack.base_url}/healthz", timeout=5).json()["database"] == "ok"

        def worker_answers() -> bool:
            response = requests.get(f"{stack.base_url}/healthz/worker?timeout=5", timeout=10)
            return response.status_code == 200 and response.json()["worker"] == "ok"

        stack.wait_for(worker_answers, "worker round trip", timeout=90)


def test_worker_check_reports_no_worker(tmp_path) -> None:
    with running_stack(tmp_path, worker=False) as stack:
        response = requests.get(f"{stack.base_url}/healthz/worker?timeout=1", timeout=10)
        assert response.status_code == 503
        assert response.json()["worker"] == "no answer"
