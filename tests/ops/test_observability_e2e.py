"""Observability end to end with real gunicorn (2 workers) and Celery processes:

- a request id sent with a submit is echoed, and appears in the web's JSON request line, the
  worker's task log lines and the callback attempt row;
- `/metrics` (multiprocess mode) shows the counters moved by exactly the jobs, callbacks and
  ledger entries made, and aggregates the samples of both gunicorn workers.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import api_key_create
from billing.models import Transfer
from billing.services import credits_grant
from generation.models import Job
from outbound.models import Attempt
from tests.factories import UserFactory
from tests.generation.veo3api_helpers import receiver_running
from tests.processes import free_port, running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TOKEN = "scrape-token-for-tests"


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and set(labels.items()) <= set(sample_labels)
    )


def log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


def gunicorn_workers(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_request_id_and_metrics_follow_jobs_through_every_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    credits_grant(user=user, amount=2000, idempotency_key=f"e2e:{user.pk}")
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='e2e').token}"}
    key_id = user.api_keys.get().pk
    worker_port = free_port()
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
        "METRICS_ENABLED": "1",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "LOG_FORMAT": "json",
        "METRICS_WORKER_PORT": str(worker_port),
        # Counts one submit per request: no prepared 1080p version on success (issue 16).
        "GENERATION_AUTO_1080P": "0",
    }
    request_id = "ticket-4711-0123456789abcdef"
    with receiver_running() as receiver, running_stack(tmp_path, **env) as stack:
        assert requests.get(f"{stack.base_url}/metrics", timeout=10).status_code == 401
        task_ids = []
        for index in range(2):
            answer = requests.post(
                f"{stack.base_url}/api/v1/veo/generate",
                headers={**headers, **({"X-Request-Id": request_id} if index == 0 else {})},
                json={
                    "prompt": f"A lighthouse at dusk {index}",
                    "model": "veo3_fast",
                    "duration": 4,
                    "callBackUrl": receiver.url("/kie"),
                },
                timeout=30,
            )
            body = answer.json()
            assert body["code"] == 200, body
            if index == 0:
                assert answer.headers["X-Request-Id"] == request_id
            else:
                assert len(answer.headers["X-Request-Id"]) == 32  # generated
            task_ids.append(body["data"]["taskId"])
        receiver.wait_for(2, timeout=240)
        jobs = [Job.objects.get(pk=task_id.removeprefix("veo_task_")) for task_id in task_ids]

        # Status reads spread over both gunicorn workers until each has written samples.
        workers = gunicorn_workers(stack.procs["web"].pid)
        assert len(workers) == 2
        reads = 0

        def read(_: int) -> int:
            with requests.Session() as session:  # a new connection per read
                return session.get(
                    f"{stack.base_url}/api/v1/veo/record-info",
                    headers=headers,
                    params={"taskId": task_ids[0]},
                    timeout=30,
                ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(10):
                assert set(pool.map(read, range(16))) == {200}
                reads += 16
                if all((multiproc / f"counter_{pid}.db").exists() for pid in workers):
                    break
        assert all((multiproc / f"counter_{pid}.db").exists() for pid in workers)

        deadline = time.monotonic() + 30
        while True:
            samples = scrape(stack.base_url)
            if total(samples, "veosaas_deliveries_total", outcome="delivered") >= 2:
                break
            assert time.monotonic() < deadline, "delivery counter never moved"
            time.sleep(0.5)
        # A worker machine without a web process serves the same samples on its own port.
        from_worker = requests.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=10).text
        web_log = stack.log("web")
        worker_log = stack.log("worker")

    # Counters moved by exactly what happened.
    assert total(samples, "veosaas_jobs_submitted_total", facade="veo3api", model="fast") == 2
    assert total(samples, "veosaas_jobs_finished_total", outcome="succeeded") == 2
    assert total(samples, "veosaas_jobs_finished_total", outcome="failed") == 0
    assert total(samples, "veosaas_deliveries_total", topic="job_callback") == 2
    assert total(samples, "veosaas_deliveries_total", outcome="delivered") == 2
    transfers = Transfer.objects.filter(job_id__in=[job.pk for job in jobs])
    for kind in ("hold", "capture"):
        made = transfers.filter(kind=kind)
        assert made.count() == 2
        assert total(samples, "veosaas_ledger_entries_total", kind=kind) == 2
        credits = sum(t.amount for t in made)
        assert total(samples, "veosaas_ledger_credits_total", kind=kind) == credits
    assert total(samples, "veosaas_job_render_seconds_count") == 2
    # HTTP requests from both gunicorn workers, aggregated.
    route = "api/v1/veo/record-info"
    assert total(samples, "veosaas_http_requests_total", route=route, status="200") == reads
    assert total(samples, "veosaas_http_requests_total", route="api/v1/veo/generate") == 2
    assert total(samples, "veosaas_jobs_in_state", state="queued") == 0
    assert 'veosaas_jobs_finished_total{facade="veo3api",model="fast",outcome="succeeded"' in (
        from_worker
    )

    # One request id finds the web line, the worker's task lines and the callback attempt.
    web_lines = [line for line in log_lines(web_log) if line.get("request_id") == request_id]
    (submit_line,) = [line for line in web_lines if line.get("event") == "request"]
    assert submit_line["route"] == "api/v1/veo/generate"
    assert submit_line["status"] == 200
    assert submit_line["account_id"] == str(user.pk)
    assert submit_line["key_id"] == str(key_id)
    assert submit_line["job_id"] == str(jobs[0].pk)
    assert submit_line["latency_ms"] > 0
    worker_lines = [line for line in log_lines(worker_log) if line.get("request_id") == request_id]
    messages = " ".join(line["message"] for line in worker_lines)
    assert f"job {jobs[0].pk} running" in messages
    assert f"job {jobs[0].pk} succeeded" in messages
    assert "delivered" in messages
    assert {line.get("job_id") for line in worker_lines} == {str(jobs[0].pk)}
    assert jobs[0].request_id == request_id
    (attempt,) = Attempt.objects.filter(delivery__reference=jobs[0].pk.hex)
    assert attempt.request_id == request_id
    (other,) = Attempt.objects.filter(delivery__reference=jobs[1].pk.hex)
    assert other.request_id == jobs[1].request_id != request_id
