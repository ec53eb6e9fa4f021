"""A3 under real concurrency: a cancel settles a job exactly once whatever it races with.

Real threads, each with its own PostgreSQL connection, started together by a barrier:
- cancel vs completion: the local renderer's result (either captured, or cancelled and
  released with the stored files deleted) and a Veo job's (no cancel upstream: always captured,
  the cancel answers requested or ended); cancel vs an upstream failure;
- cancel vs a worker kill: the reaper, a redelivered run and the cancel on a job whose worker
  died mid-render → one release;
- many concurrent cancels of one job → one release.
After each, every hold is settled the right way and the ledger recomputes without drift
(`checkledger`'s check). PostgreSQL only: SQLite serialises every write, which proves nothing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import credits_grant
from generation.models import Job
from generation.providers.base import Completed, RenderRequest
from generation.providers.local import LocalProvider
from generation.services import (
    CancelOutcome,
    JobSpec,
    job_cancel,
    job_fail,
    job_run,
    job_submit,
    job_succeed,
    jobs_reap,
)
from generation.services.transitions import job_claim, job_upstream_wait
from tests.conftest import run_in_threads
from tests.factories import UserFactory
from tests.generation.test_pipeline import settled_holds_ok

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROUNDS = 4


@pytest.fixture
def user(require_postgres: None, settings) -> Any:
    settings.GENERATION_RATE_LIMIT = 10_000
    settings.GENERATION_MAX_ACTIVE_JOBS = 10_000
    settings.GENERATION_MAX_ATTEMPTS = 10
    user = UserFactory()
    credits_grant(user=user, amount=100_000, idempotency_key=f"seed:{user.pk}")
    return user


@pytest.fixture(autouse=True)
def _ledger_clean() -> Any:
    yield
    settled_holds_ok()
    assert ledger_inconsistencies() == []
    call_command("checkledger")  # raises CommandError on any drift


def submit(user: Any, facade: str = "veo3o1") -> Job:
    spec = JobSpec(facade=facade, prompt="a race", duration_seconds=4)
    return job_submit(user=user, spec=spec).job


def rendered(job: Job, workdir: Path) -> Completed:
    request = RenderRequest(
        job_id=str(job.id),
        prompt="a race",
        mode="text",
        model_tier="fast",
        aspect_ratio="16:9",
        resolution="720p",
        duration_seconds=1,
        seed=3,
    )
    return LocalProvider().submit(request, workdir=workdir, progress=lambda f: None)


def kinds(job: Job) -> tuple[int, int]:
    rows = Transfer.objects.filter(job_id=job.pk)
    return rows.filter(kind="capture").count(), rows.filter(kind="release").count()


def test_cancel_vs_completion_of_a_local_render_settles_once(user, tmp_path: Path) -> None:
    outcomes = set()
    for index in range(ROUNDS):
        job = submit(user)
        assert job_claim(job_id=str(job.id)) is not None
        result = rendered(job, tmp_path / str(index))

        def race(which: int, job: Job = job, result: Completed = result) -> Any:
            if which == 0:
                return job_succeed(job_id=job.id, result=result, render_seconds=1.0)
            return job_cancel(job=job)

        succeeded, cancel = run_in_threads(2, race)
        job.refresh_from_db()
        if job.state == Job.State.SUCCEEDED:
            assert succeeded is True and cancel == CancelOutcome.ENDED
            assert kinds(job) == (1, 0) and job.video_file
        else:
            assert job.state == Job.State.CANCELLED
            assert succeeded is False and cancel == CancelOutcome.CANCELLED
            assert kinds(job) == (0, 1) and not job.video_file
        outcomes.add(job.state)
    assert outcomes <= {Job.State.SUCCEEDED, Job.State.CANCELLED}


def _veo_running(user: Any, settings: Any) -> Job:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(user, "veo3api")
    job_claim(job_id=str(job.id))
    job_upstream_wait(job_id=job.id, operation="operations/race", poll_after_seconds=10)
    return job


def test_cancel_vs_completion_upstream_is_charged_once_never_released(
    user, settings, tmp_path: Path
) -> None:
    for index in range(ROUNDS):
        job = _veo_running(user, settings)
        local = rendered(job, tmp_path / str(index))
        # What the Veo provider returns for a finished operation: upstream billed it.
        result = Completed(
            video_path=local.video_path,
            width=local.width,
            height=local.height,
            duration_seconds=local.duration_seconds,
            upstream_model="veo-3.1-fast-generate-001",
        )

        def race(which: int, job: Job = job, result: Completed = result) -> Any:
            if which == 0:
                return job_succeed(job_id=job.id, result=result, render_seconds=1.0)
            return job_cancel(job=job)

        succeeded, cancel = run_in_threads(2, race)
        job.refresh_from_db()
        assert succeeded is True and job.state == Job.State.SUCCEEDED
        assert cancel in (CancelOutcome.REQUESTED, CancelOutcome.ENDED)
        assert kinds(job) == (1, 0) and job.credits_charged == job.credits_quoted


def test_cancel_vs_an_upstream_failure_releases_once(user, settings) -> None:
    for _ in range(ROUNDS):
        job = _veo_running(user, settings)

        def race(which: int, job: Job = job) -> Any:
            if which == 0:
                return job_fail(job_id=job.id, stage="generation", code=501, message="gave up")
            return job_cancel(job=job)

        run_in_threads(2, race)
        job.refresh_from_db()
        # Failed first (the cancel found it ended), or asked first (the failure ends it
        # cancelled): released exactly once either way.
        assert job.state in (Job.State.FAILED, Job.State.CANCELLED)
        assert kinds(job) == (0, 1)


def test_cancel_vs_a_worker_kill_the_reaper_and_a_redelivered_run(user, settings) -> None:
    for _ in range(ROUNDS):
        job = submit(user)
        job_claim(job_id=str(job.id))
        # Its worker was killed mid-render: the lease runs out.
        Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

        def race(which: int, job: Job = job) -> Any:
            if which == 0:
                return jobs_reap()
            if which == 1:
                return job_run(job_id=str(job.id))  # a redelivered message, maybe claiming it
            return job_cancel(job=job)

        results = run_in_threads(3, race)
        assert not [r for r in results if isinstance(r, BaseException)], results
        job.refresh_from_db()
        assert results[2] == CancelOutcome.CANCELLED
        assert job.state == Job.State.CANCELLED and not job.video_file
        assert kinds(job) == (0, 1)
    assert balance_get(user=user).held == 0


@pytest.mark.parametrize("where", ["queued", "running_local", "running_veo"])
def test_many_concurrent_cancels_release_once(user, settings, where: str) -> None:
    if where == "running_veo":
        job = _veo_running(user, settings)
    else:
        job = submit(user)
        if where == "running_local":
            job_claim(job_id=str(job.id))
    outcomes = run_in_threads(10, lambda _: job_cancel(job=job))
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    job.refresh_from_db()
    if where == "running_veo":
        assert set(outcomes) == {CancelOutcome.REQUESTED} and job.state == Job.State.RUNNING
        assert job.cancel_requested_at is not None and kinds(job) == (0, 0)
        run_in_threads(
            4,
            lambda _: job_fail(job_id=job.id, stage="generation", code=500, message="stopped"),
        )
        job.refresh_from_db()
    else:
        assert CancelOutcome.CANCELLED in outcomes
        assert set(outcomes) <= {CancelOutcome.CANCELLED, CancelOutcome.ENDED}
    assert job.state == Job.State.CANCELLED and kinds(job) == (0, 1)
