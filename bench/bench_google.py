"""Upstream operations in flight, per Google provider: 1000 Veo operations pending on the fake
Vertex AI server (`vertex`), then 1000 background interactions on the fake Interactions API
(`omni`), each tracked by 2 Celery worker processes through the real google-genai 3.x SDK.

Figures: worker CPU seconds per operation poll (all worker processes' user+system time over
the polls they made), and how long a new local job waits to start meanwhile (goal: < 1 s —
polls never hold a render slot and run on their own queue).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import choose_broker, setup_django

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = 1000
SECONDS = 40.0
MODEL = "veo-3.1-fast-generate-001"


def _tree_cpu_seconds(root_pids: list[int]) -> float:
    """User + system CPU of the given processes and all their live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        stats[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    wanted = set(root_pids)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    return sum(stats.get(pid, 0.0) for pid in wanted)


def run() -> list[dict]:
    return _run("vertex") + _run("omni")


def _fake(provider: str) -> Any:
    from tests.fake_interactions import running_fake_interactions
    from tests.fake_vertex import running_fake_vertex, tiny_mp4

    if provider == "vertex":
        return running_fake_vertex(mp4=tiny_mp4(), api_key="bench-key")
    return running_fake_interactions(mp4=tiny_mp4(), api_key="bench-key")


def _in_flight(provider: str, fake: Any, index: int) -> str:
    """Register one pending upstream operation in the fake; its name for the job row."""
    op_id = f"{index:012x}"
    if provider == "vertex":
        fake.operations[op_id] = {"model": MODEL, "polls": 0, "storage_uri": ""}
        return f"publishers/google/models/{MODEL}/operations/{op_id}"
    fake.interactions[f"v1_{op_id}"] = {
        "body": {"model": "gemini-omni-1.2-flash", "response_format": {"duration": "8s"}},
        "polls": 0,
        "status": "in_progress",
        "file": op_id,
        "created": "2026-12-07T00:00:00Z",
    }
    return f"v1_{op_id}"


def _polls(provider: str, fake: Any) -> int:
    items = fake.operations if provider == "vertex" else fake.interactions
    return sum(item["polls"] for item in items.values())


def _run(provider: str) -> list[dict]:
    broker = choose_broker()  # the same as every other module's (bench/run.py chose it)
    os.environ.update(
        GENERATION_PROVIDER=provider,
        GENERATION_PROVIDER_LITE="local",
        VERTEX_API_KEY="bench-key",
        GEMINI_API_KEY="bench-key",
        VERTEX_POLL_INTERVAL_SECONDS="5",
        OMNI_POLL_INTERVAL_SECONDS="5",
        GENERATION_POLL_BUDGET_PER_MINUTE="1000000",
        GENERATION_RATE_LIMIT="1000000",
        GENERATION_MAX_ACTIVE_JOBS="100000",
    )
    with _fake(provider) as fake:
        fake.script.polls_until_done = 10**9
        os.environ["VERTEX_BASE_URL"] = fake.base_url
        os.environ["GEMINI_BASE_URL"] = fake.base_url
        vendor = setup_django()
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        from accounts.models import User
        from billing.services import credits_grant
        from generation.models import Job
        from generation.services import JobSpec, job_submit, jobs_poll_due
        from tests.processes import purge_broker

        # Django may already be set up by an earlier benchmark module in this process: apply the
        # same overrides to the live settings (the worker subprocesses read the environment).
        settings.VERTEX_BASE_URL = settings.GEMINI_BASE_URL = fake.base_url
        settings.VERTEX_API_KEY = settings.GEMINI_API_KEY = "bench-key"
        settings.GENERATION_PROVIDERS_BY_TIER = {
            "quality": provider,
            "fast": provider,
            "lite": "local",
        }
        settings.GENERATION_RATE_LIMIT = 1_000_000
        settings.GENERATION_MAX_ACTIVE_JOBS = 100_000
        settings.GENERATION_POLL_BUDGET_PER_MINUTE = 1_000_000
        purge_broker()
        user = User.objects.create_user(email=f"bench-{provider}-{time.time_ns()}@example.com")
        credits_grant(user=user, amount=10**9, idempotency_key=f"bench:{user.pk}")
        Job.objects.filter(state="running", provider=provider).update(state="failed")
        now = timezone.now()
        jobs = []
        for index in range(OPERATIONS):
            operation = _in_flight(provider, fake, index)
            jobs.append(
                Job(
                    user=user,
                    facade="veo3api",
                    prompt="bench",
                    state="running",
                    provider=provider,
                    model_tier="fast",
                    provider_operation=operation,
                    next_poll_at=now + timedelta(seconds=index % 5),
                    started_at=now,
                    attempts=1,
                    lease_expires_at=now + timedelta(hours=1),
                    deadline_at=now + timedelta(hours=1),
                )
            )
        Job.objects.bulk_create(jobs, batch_size=500)
        connection.close()

        env = dict(os.environ, DJANGO_SETTINGS_MODULE="veosaas.settings", PYTHONPATH=str(ROOT))
        workers = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "celery"),
                    "-A",
                    "veosaas",
                    "worker",
                    "--queues",
                    "generation,default",
                    "--concurrency",
                    "2",
                    "--loglevel",
                    "WARNING",
                    "--hostname",
                    f"bench{i}-{os.getpid()}@%h",
                    "--without-heartbeat",
                    "--without-mingle",
                    "--without-gossip",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            for i in range(2)
        ]
        try:
            time.sleep(6)  # workers boot
            polls_before = _polls(provider, fake)
            cpu_before = _tree_cpu_seconds([w.pid for w in workers])
            started = time.monotonic()
            waits: list[float] = []
            next_probe = started + 8
            while time.monotonic() - started < SECONDS:
                jobs_poll_due()
                if time.monotonic() >= next_probe:
                    probe = job_submit(
                        user=user,
                        spec=JobSpec(
                            facade="veo3api", prompt="probe", model_tier="lite", duration_seconds=4
                        ),
                    ).job
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        probe.refresh_from_db()
                        if probe.started_at:
                            break
                        time.sleep(0.02)
                    waits.append(
                        (probe.started_at - probe.created_at).total_seconds()
                        if probe.started_at
                        else float("inf")
                    )
                    next_probe = time.monotonic() + 8
                time.sleep(0.5)
            polls = _polls(provider, fake) - polls_before
            cpu = _tree_cpu_seconds([w.pid for w in workers]) - cpu_before
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
            Job.objects.filter(user=user, state__in=["running", "queued"]).update(state="failed")
    per_poll = cpu / polls if polls else float("nan")
    return [
        {
            "name": f"{provider}: {OPERATIONS} ops in flight, 2 workers ({vendor})",
            "value": per_poll * 1000,
            "unit": "worker CPU ms/poll",
            "note": f"{polls} polls in {SECONDS:.0f}s, {cpu:.1f} CPU s; broker "
            f"{broker.split(':')[0]}",
        },
        {
            "name": f"{provider}: new local job start delay under that load",
            "value": max(waits) if waits else float("nan"),
            "unit": f"s (worst of {len(waits)})",
            "goal": "< 1",
            "note": ", ".join(f"{w:.2f}" for w in waits),
        },
    ]
