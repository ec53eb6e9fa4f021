"""Veo 3.1 on Vertex AI through the real google-genai 3.x SDK against the fake Vertex server,
driven by the pipeline's own services: credits held, captured once on success, released on
every confirmed failure, never while the operation may still finish."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get
from generation.models import Job
from generation.services import JobSpec, job_poll, job_run, job_submit, jobs_poll_due
from tests.fake_vertex import running_fake_vertex, tiny_mp4

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with running_fake_vertex(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = {
            "quality": "vertex",
            "fast": "vertex",
            "lite": "vertex",
        }
        settings.VERTEX_BASE_URL = server.base_url
        settings.VERTEX_STORAGE_BASE_URL = server.base_url
        settings.VERTEX_API_KEY = "test-key"
        settings.VERTEX_OUTPUT_GCS_URI = ""
        settings.VERTEX_POLL_INTERVAL_SECONDS = 1
        settings.GENERATION_RATE_LIMIT = 1000
        server.script.polls_until_done = 0  # done at the first poll unless a test says more
        yield server


def submit(user) -> Job:
    return job_submit(
        user=user, spec=JobSpec(facade="veo3api", prompt="a fox in snow", duration_seconds=8)
    ).job


def held(user) -> int:
    return balance_get(user=user).held


def test_success_after_polls_saves_the_bytes_served_and_charges_once(fake, funded_user) -> None:
    fake.script.polls_until_done = 1  # one poll answers "not done", the next one "done"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.provider == "vertex"
    assert job.provider_operation.startswith(
        "publishers/google/models/veo-3.1-fast-generate-001/operations/"
    )
    assert job.next_poll_at is not None and held(funded_user) == job.credits_quoted
    body = fake.last_submit_body()
    assert body["parameters"]["durationSeconds"] == 8
    job_poll(job_id=str(job.id))
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    with default_storage.open(job.video_file, "rb") as handle:
        assert handle.read() == fake.mp4
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1
    assert held(funded_user) == 0
    # Veo bills the requested seconds: 8 s of the fast model at 720p.
    assert (job.upstream_model, job.upstream_seconds) == ("veo-3.1-fast-generate-001", 8)
    assert job.credits_charged == job.credits_quoted
    assert str(job.upstream_cost_usd) == "0.8000"
    job_poll(job_id=str(job.id))  # a late duplicate poll changes nothing
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_safety_block_fails_and_releases_without_fallback(fake, funded_user, settings) -> None:
    settings.GENERATION_FALLBACK_PROVIDER = "local"
    fake.script.result = "blocked"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.error_code, job.provider) == (Job.State.FAILED, 400, "vertex")
    assert job.error_message
    assert balance_get(user=funded_user).available == 1000


def test_429_then_success(fake, funded_user) -> None:
    fake.script.poll_errors = [429]
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    before = Job.objects.get(pk=job.pk).next_poll_at
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.next_poll_at > before  # backed off
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED


def test_500_until_retries_run_out_releases(
    fake,
    funded_user,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.GENERATION_MAX_ATTEMPTS = 3
    fake.script.always_status = 500
    job = submit(funded_user)
    for _ in range(settings.GENERATION_MAX_ATTEMPTS):
        with django_capture_on_commit_callbacks(execute=False):
            job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error_code == 500
    assert len(fake.submits()) == settings.GENERATION_MAX_ATTEMPTS
    assert balance_get(user=funded_user).available == 1000


def test_deadline_passed_then_late_success_is_charged_once_never_released(
    fake, funded_user, settings
) -> None:
    """Past GENERATION_DEADLINE_SECONDS the job keeps running (Google may still bill it): it is
    reconciled with backoff and an honest ETA, and its late success is captured once."""
    fake.script.polls_until_done = 2
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    lease = Job.objects.get(pk=job.pk).lease_expires_at
    assert lease > timezone.now() + timedelta(seconds=settings.GENERATION_RECONCILE_SECONDS)
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=400))
    for _ in range(2):
        job_poll(job_id=str(job.id))
        job.refresh_from_db()
        assert job.state == Job.State.RUNNING and held(funded_user) == job.credits_quoted
        assert job.eta_seconds == 100  # a quarter of the time past the deadline
        assert job.next_poll_at > timezone.now() + timedelta(seconds=90)
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1
    assert not Transfer.objects.filter(job_id=job.pk, kind="release").exists()
    assert balance_get(user=funded_user).available == 1000 - job.credits_quoted


def test_past_deadline_not_found_releases(fake, funded_user) -> None:
    fake.script.polls_until_done = 100
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    Job.objects.filter(pk=job.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=60),
        provider_operation="publishers/google/models/veo-3.1-fast-generate-001/operations/gone",
    )
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error_details.get("not_found") == "true"
    assert balance_get(user=funded_user).available == 1000


def test_reconciliation_window_exhausted_fails_and_releases(fake, funded_user, settings) -> None:
    fake.script.polls_until_done = 100
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    past = settings.GENERATION_RECONCILE_SECONDS + 1
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=past))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "in time" in job.error_message
    assert balance_get(user=funded_user).available == 1000


def test_permanent_upstream_failure_falls_back_to_another_provider(
    fake,
    funded_user,
    settings,
) -> None:
    settings.GENERATION_FALLBACK_PROVIDER = "local"
    fake.script.result = "error"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and job.provider == "local"
    assert job.error_details["fallback_from"] == "vertex"
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.provider == "local"
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_polls_respect_the_project_budget(fake, funded_user, settings) -> None:
    from generation.ratelimit import rate_limit_reset

    rate_limit_reset(key="provider-polls:vertex")  # earlier tests' polls are in the window
    settings.GENERATION_POLL_BUDGET_PER_MINUTE = 1
    fake.script.polls_until_done = 5
    first, second = submit(funded_user), submit(funded_user)
    job_run(job_id=str(first.id))
    job_run(job_id=str(second.id))
    polls_before = len(fake.polls())
    job_poll(job_id=str(first.id))
    job_poll(job_id=str(second.id))
    polls = len(fake.polls()) - polls_before
    assert polls == 1
    deferred = Job.objects.get(pk=second.pk)
    assert deferred.next_poll_at > timezone.now() + timedelta(seconds=30)
    for job in (first, second):
        from generation.services import job_fail

        job_fail(job_id=job.id, stage="generation", code=500, message="cleanup")


def test_poll_due_claims_each_job_once(fake, funded_user) -> None:
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    later = timezone.now() + timedelta(seconds=5)
    assert jobs_poll_due(now=later) == 1
    assert jobs_poll_due(now=later) == 0


def test_fallback_chain_skips_tried_providers_and_records_each_attempt(
    fake, funded_user, settings
) -> None:
    """vertex fails upstream -> scripted (fails too) -> local succeeds; never back to vertex."""
    settings.GENERATION_FALLBACK_PROVIDERS = ["vertex", "scripted", "local"]
    settings.GENERATION_TEST_OUTCOME = "fail"
    fake.script.result = "error"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.provider) == (Job.State.QUEUED, "scripted")
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.provider) == (Job.State.QUEUED, "local")
    assert [a["provider"] for a in job.error_details["attempts"]] == ["vertex", "scripted"]
    assert "Unsupported input" in job.error_details["attempts"][0]["error"]
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and len(fake.submits()) == 1
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_fallback_chain_per_tier_wins(fake, funded_user, settings) -> None:
    settings.GENERATION_FALLBACK_PROVIDERS = ["scripted"]
    settings.GENERATION_FALLBACK_PROVIDERS_BY_TIER = {"fast": ["local"]}
    fake.script.result = "error"
    job = submit(funded_user)  # the fast tier
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.provider) == (Job.State.QUEUED, "local")


def test_fallback_chain_end_fails_and_releases_once(fake, funded_user, settings) -> None:
    settings.GENERATION_FALLBACK_PROVIDERS = ["scripted"]
    settings.GENERATION_TEST_OUTCOME = "fail"
    fake.script.result = "error"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.provider == "scripted"
    assert [a["provider"] for a in job.error_details["attempts"]] == ["vertex"]
    assert Transfer.objects.filter(job_id=job.pk, kind="release").count() == 1
    assert balance_get(user=funded_user).available == 1000
