"""Cancel, path by path (generation/services/cancel.py; RELIABILITY.md A3): a queued job and a
running in-process render are cancelled at once and released once; the local renderer stops at
its next frame batch and leaves no file; an upstream job without a cancel endpoint (Veo) is
marked cancel-requested and settled by what it finally reports; a job asked to cancel is never
run again nor ends failed."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get
from generation.errors import CANCEL_MESSAGE
from generation.facades.jobs import job_data
from generation.models import Job
from generation.providers.base import RenderCancelled, RenderRequest
from generation.providers.local import LocalProvider
from generation.providers.omni import OmniProvider
from generation.services import (
    CancelOutcome,
    JobSpec,
    _progress_reporter,
    job_cancel,
    job_fail,
    job_poll,
    job_run,
    job_submit,
    job_succeed,
    jobs_reap,
)
from generation.services.pipeline import _handle_outcome
from generation.services.transitions import job_claim, job_retry
from generation.snapshots import job_snapshot_get
from tests.fake_interactions import running_fake_interactions
from tests.fake_vertex import running_fake_vertex, tiny_mp4
from tests.generation.test_pipeline import settled_holds_ok

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checks(settings):
    settings.GENERATION_RATE_LIMIT = 1000
    yield
    settled_holds_ok()  # L7 for every job, and the ledger recomputed without drift


def submit(user, **overrides) -> Job:
    spec = JobSpec(
        facade=overrides.pop("facade", "veo3o1"),
        prompt="a paper boat",
        duration_seconds=overrides.pop("duration_seconds", 4),
        **overrides,
    )
    return job_submit(user=user, spec=spec).job


def releases(job: Job) -> int:
    return Transfer.objects.filter(job_id=job.pk, kind="release").count()


def captures(job: Job) -> int:
    return Transfer.objects.filter(job_id=job.pk, kind="capture").count()


def test_a_queued_job_is_cancelled_at_once_and_released_once(funded_user) -> None:
    job = submit(funded_user)
    assert balance_get(user=funded_user).held == job.credits_quoted
    assert job_cancel(job=job) == CancelOutcome.CANCELLED
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.error_message == CANCEL_MESSAGE
    assert job.cancel_requested_at is not None and job.completed_at is not None
    assert balance_get(user=funded_user).available == 1000
    assert job_cancel(job=job) == CancelOutcome.ENDED
    job_run(job_id=str(job.id))  # the queued message arrives later: nothing runs
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.attempts == 0
    assert releases(job) == 1 and captures(job) == 0


def test_cancel_of_an_ended_job_changes_nothing(funded_user) -> None:
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.ENDED
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.cancel_requested_at is None
    assert captures(job) == 1 and releases(job) == 0


def _request(job: Job, seconds: int = 4) -> RenderRequest:
    return RenderRequest(
        job_id=str(job.id),
        prompt=job.prompt,
        mode="text",
        model_tier=job.model_tier,
        aspect_ratio="16:9",
        resolution="720p",
        duration_seconds=seconds,
        seed=1,
    )


def test_the_local_render_stops_at_its_next_frame_batch_and_leaves_no_file(
    funded_user, tmp_path: Path
) -> None:
    job = submit(funded_user)
    claimed = job_claim(job_id=str(job.id))
    assert claimed is not None
    report = _progress_reporter(claimed)
    seen: list[float] = []

    def progress(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 3:
            # A customer cancels mid-render: settled at once (nothing upstream bills it).
            assert job_cancel(job=job) == CancelOutcome.CANCELLED
            assert balance_get(user=funded_user).available == 1000
        report(fraction if len(seen) < 3 else 1.0)  # (1.0 skips the writes' 0.5 s throttle)

    with pytest.raises(RenderCancelled):
        LocalProvider().submit(_request(job, seconds=4), workdir=tmp_path, progress=progress)
    assert len(seen) == 3 and max(seen) < 0.2  # stopped at the batch after the cancel
    assert list(tmp_path.iterdir()) == []  # no video, no partial file, no poster
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.progress < 100 and not job.video_file
    assert releases(job) == 1


def test_a_render_that_finishes_after_the_cancel_is_discarded(
    funded_user, tmp_path, django_capture_on_commit_callbacks
) -> None:
    job = submit(funded_user)
    job_claim(job_id=str(job.id))
    result = LocalProvider().submit(_request(job), workdir=tmp_path, progress=lambda f: None)
    assert job_cancel(job=job) == CancelOutcome.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        assert job_succeed(job_id=job.id, result=result, render_seconds=1.0) is False
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and not job.video_file
    prefix = f"videos/{timezone.now():%Y/%m}/{job.id}"
    assert not default_storage.exists(f"{prefix}.mp4")
    assert not default_storage.exists(f"{prefix}.jpg")
    assert captures(job) == 0 and releases(job) == 1


def test_a_job_asked_to_cancel_and_queued_again_is_cancelled_instead_of_run(
    funded_user, settings
) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(funded_user, facade="veo3api")
    job_claim(job_id=str(job.id))  # running; its submit upstream is in flight (no operation)
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    assert job_retry(job_id=job.id, delay=0)  # the submit failed transiently: queued again
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.attempts == 1
    assert releases(job) == 1


def test_a_failure_of_a_job_asked_to_cancel_ends_it_cancelled(funded_user, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(funded_user, facade="veo3api")
    job_claim(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    assert job_fail(job_id=job.id, stage="generation", code=501, message="upstream gave up")
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.error_message == CANCEL_MESSAGE
    assert job.error_code is None and job.error_details["failure"] == "upstream gave up"
    assert releases(job) == 1


def test_an_ordinary_failure_is_unchanged(funded_user) -> None:
    job = submit(funded_user)
    assert job_fail(job_id=job.id, stage="generation", code=501, message="no", details={"a": "b"})
    job.refresh_from_db()
    assert (job.state, job.error_code, job.error_message) == ("failed", 501, "no")
    assert job.error_details == {"a": "b"}


def test_the_reaper_requeues_a_dead_workers_job_and_the_claim_cancels_it(
    funded_user, settings
) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(funded_user, facade="veo3api")
    job_claim(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    later = timezone.now() + timedelta(seconds=settings.GENERATION_LEASE_SECONDS + 5)
    assert jobs_reap(now=later).requeued == 1  # its worker died
    job_run(job_id=str(job.id))  # the redelivered run
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and releases(job) == 1


@pytest.fixture
def vertex(settings):
    with running_fake_vertex(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "vertex")
        settings.VERTEX_BASE_URL = server.base_url
        settings.VERTEX_STORAGE_BASE_URL = server.base_url
        settings.VERTEX_API_KEY = "test-key"
        settings.VERTEX_OUTPUT_GCS_URI = ""
        settings.VERTEX_POLL_INTERVAL_SECONDS = 1
        server.script.polls_until_done = 1
        yield server


def test_veo_has_no_cancel_a_completion_after_the_request_is_charged(vertex, funded_user) -> None:
    job = submit(funded_user, facade="veo3api", duration_seconds=8)
    job_run(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.cancel_requested_at is not None
    snapshot = job_snapshot_get(user_id=funded_user.pk, job_id=job.id)
    assert snapshot is not None and job_data(snapshot)["cancel_requested_at"] is not None
    assert job_cancel(job=job) == CancelOutcome.REQUESTED  # asked again: still waiting
    job_poll(job_id=str(job.id))  # not done yet
    job_poll(job_id=str(job.id))  # done: Google billed it, so it is delivered and charged
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.credits_charged == job.credits_quoted
    assert captures(job) == 1 and releases(job) == 0
    data = job_data(Job.objects.get(pk=job.pk))
    assert data["state"] == "succeeded" and data["cancel_requested_at"] is not None


def test_veo_failing_after_the_request_ends_cancelled_and_released(vertex, funded_user) -> None:
    vertex.script.result = "error"
    job = submit(funded_user, facade="veo3api", duration_seconds=8)
    job_run(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    job_poll(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and captures(job) == 0 and releases(job) == 1
    assert balance_get(user=funded_user).available == 1000


@pytest.fixture
def omni(settings):
    with running_fake_interactions(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "omni")
        settings.OMNI_SURFACE = "gemini"
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = "test-key"
        settings.OMNI_POLL_INTERVAL_SECONDS = 1
        server.script.polls_until_done = 100
        yield server


def test_a_cancel_during_the_omni_submit_reaches_upstream_once_it_answers(
    omni, funded_user, tmp_path
) -> None:
    job = submit(funded_user, facade="veo3api", duration_seconds=8)
    claimed = job_claim(job_id=str(job.id))
    assert claimed is not None
    # The submit is in flight (no operation known yet): recorded, nothing to call upstream.
    assert job_cancel(job=job) == CancelOutcome.REQUESTED and omni.cancels() == []
    request = _request(job, seconds=8)
    outcome = OmniProvider().submit(request, workdir=tmp_path, progress=lambda f: None)
    _handle_outcome(claimed, outcome, time.monotonic())  # the worker, once it answered
    job.refresh_from_db()
    assert [r.path for r in omni.cancels()] == [f"/v1/interactions/{outcome.operation}/cancel"]
    assert job.state == Job.State.CANCELLED and releases(job) == 1 and captures(job) == 0


def test_an_omni_cancel_that_fails_upstream_is_retried_at_the_next_poll(omni, funded_user) -> None:
    job = submit(funded_user, facade="veo3api", duration_seconds=8)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    omni.script.cancel_errors = [503]
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING
    job_poll(job_id=str(job.id))  # still running upstream: the cancel is asked again
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and releases(job) == 1
    assert len(omni.cancels()) == 2


def test_the_job_admin_shows_when_a_cancel_was_asked(admin_client, funded_user, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(funded_user, facade="veo3api")
    job_claim(job_id=str(job.id))
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    page = admin_client.get(f"/admin/generation/job/{job.pk}/change/").content.decode()
    assert "Cancel requested at" in page
    asked = Job.objects.get(pk=job.pk).cancel_requested_at
    assert asked is not None and str(asked.year) in page
    job_fail(job_id=job.id, stage="generation", code=500, message="stop")  # (settle it)
