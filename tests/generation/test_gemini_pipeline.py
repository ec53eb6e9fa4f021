"""Google Veo through the real google-genai SDK against the fake Gemini server, driven by the
pipeline's own services: credits held, captured once on success, released on every failure."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get
from generation.models import Job
from generation.services import JobSpec, job_poll, job_run, job_submit, jobs_poll_due
from tests.factories import UserFactory
from tests.fake_gemini import running_fake_gemini, tiny_mp4
from tests.processes import running_stack

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with running_fake_gemini(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = {
            "quality": "gemini",
            "fast": "gemini",
            "lite": "gemini",
        }
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = "test-key"
        settings.GEMINI_POLL_INTERVAL_SECONDS = 1
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
    assert job.state == Job.State.RUNNING and job.provider == "gemini"
    assert job.provider_operation.startswith("models/veo-3.1-fast-generate-preview/operations/")
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
    assert job.provider_video_uri.startswith("https://fake.local/v1beta/files/")
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1
    assert held(funded_user) == 0
    job_poll(job_id=str(job.id))  # a late duplicate poll changes nothing
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_safety_block_fails_and_releases_without_fallback(fake, funded_user, settings) -> None:
    settings.GENERATION_FALLBACK_PROVIDER = "local"
    fake.script.result = "blocked"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.error_code, job.provider) == (Job.State.FAILED, 400, "gemini")
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


def test_deadline_fails_and_releases(fake, funded_user, settings) -> None:
    fake.script.polls_until_done = 100
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))
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
    assert job.error_details["fallback_from"] == "gemini"
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.provider == "local"
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1


def test_polls_respect_the_project_budget(fake, funded_user, settings) -> None:
    from generation.ratelimit import rate_limit_reset

    rate_limit_reset(key="provider-polls:gemini")  # earlier tests' polls are in the window
    settings.GENERATION_POLL_BUDGET_PER_MINUTE = 1
    fake.script.polls_until_done = 5
    first, second = submit(funded_user), submit(funded_user)
    job_run(job_id=str(first.id))
    job_run(job_id=str(second.id))
    polls_before = sum(1 for r in fake.requests if "/operations/" in r.path)
    job_poll(job_id=str(first.id))
    job_poll(job_id=str(second.id))
    polls = sum(1 for r in fake.requests if "/operations/" in r.path) - polls_before
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_gemini_job_end_to_end_with_worker_and_beat(tmp_path) -> None:
    from accounts.services import api_key_create
    from billing.services import credits_grant

    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key="gemini-e2e")
    headers = {"Authorization": f"Bearer {api_key_create(user=user).token}"}
    with running_fake_gemini(mp4=tiny_mp4()) as fake:
        fake.script.polls_until_done = 2
        env = {
            "GENERATION_PROVIDER": "gemini",
            "GEMINI_BASE_URL": fake.base_url,
            "GEMINI_API_KEY": "test-key",
            "GEMINI_POLL_INTERVAL_SECONDS": "1",
            "GENERATION_POLL_TICK_SECONDS": "1",
        }
        with running_stack(tmp_path, **env) as stack:
            stack.start_beat()
            created = requests.post(
                f"{stack.base_url}/api/generate-video",
                headers=headers,
                json={"generationType": "text_to_video", "prompt": "a fox"},
                timeout=30,
            ).json()
            uuid = created["data"]["uuid"]

            def done() -> bool:
                data = requests.get(
                    f"{stack.base_url}/api/video-status/{uuid}", headers=headers, timeout=10
                ).json()["data"]
                return data["status"] in ("completed", "failed")

            stack.wait_for(done, "gemini job", timeout=120)
            data = requests.get(
                f"{stack.base_url}/api/video-status/{uuid}", headers=headers, timeout=10
            ).json()["data"]
            assert data["status"] == "completed", data
            assert requests.get(data["videoUrl"], timeout=30).content == fake.mp4
    job = Job.objects.get(pk=uuid)
    assert job.provider == "gemini" and job.poll_count >= 2
    assert Transfer.objects.filter(job_id=job.pk, kind="capture").count() == 1
