"""The job pipeline at the service level: J1-J4 and L7, with the real local provider."""

from __future__ import annotations

from datetime import timedelta

import av
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import price_quote
from generation.models import Job
from generation.services import JobSpec, job_fail, job_run, job_submit, jobs_reap
from tests.generation.conftest import enqueued, image_bytes

pytestmark = pytest.mark.django_db


def settled_holds_ok() -> None:
    """L7: every terminal job's hold is settled the right way."""
    for job in Job.objects.all():
        hold = Transfer.objects.filter(job_id=job.pk, phase="pending").first()
        resolution = Transfer.objects.filter(pending=hold).first() if hold else None
        if job.state == Job.State.SUCCEEDED:
            assert resolution is not None and resolution.phase == "post_pending"
        elif job.state in (Job.State.FAILED, Job.State.CANCELLED):
            assert resolution is not None and resolution.phase == "void_pending"
        else:
            assert resolution is None
    assert ledger_inconsistencies() == []


@pytest.fixture(autouse=True)
def _short_videos(settings):
    settings.GENERATION_RATE_LIMIT = 1000
    yield
    settled_holds_ok()


def submit(user, **overrides):
    spec = JobSpec(
        facade="veo3o1",
        prompt=overrides.pop("prompt", "a red kite"),
        duration_seconds=overrides.pop("duration_seconds", 4),
        **overrides,
    )
    return job_submit(user=user, spec=spec).job


def price(seconds: int = 4, tier: str = "fast", resolution: str = "720p") -> int:
    return price_quote(
        operation="generate", model_tier=tier, resolution=resolution, seconds=seconds
    ).credits


def test_successful_job_stores_video_and_charges_once(funded_user) -> None:
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.progress == 100 and job.completed_at and job.render_seconds
    assert (job.output_width, job.output_height) == (1280, 720)
    with default_storage.open(job.video_file, "rb") as handle, av.open(handle) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert abs(float(container.duration / av.time_base) - 4) < 1 / 24 + 0.05
    assert default_storage.exists(job.poster_file)
    assert balance_get(user=funded_user).available == 1000 - price()
    assert job.credits_charged == price()


def test_running_the_task_twice_charges_once(funded_user) -> None:
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_run(job_id=str(job.id))  # a redelivered message
    assert Transfer.objects.filter(kind="capture").count() == 1
    assert balance_get(user=funded_user).available == 1000 - price()


def test_scripted_failure_releases_the_hold(funded_user, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "scripted"}
    settings.GENERATION_TEST_OUTCOME = "fail"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.failure_stage == "generation" and job.error_code == 501
    assert "failed" in job.error_message
    assert balance_get(user=funded_user).available == 1000
    assert Transfer.objects.filter(kind="release").count() == 1
    job_run(job_id=str(job.id))
    job_fail(job_id=job.id, stage="generation", code=500, message="again")
    assert Transfer.objects.filter(kind="release").count() == 1  # J4: exactly once


def test_policy_block_fails_with_code_400(funded_user, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "scripted"}
    settings.GENERATION_TEST_OUTCOME = "block"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.error_code) == (Job.State.FAILED, 400)
    assert "content policies" in job.error_message
    assert balance_get(user=funded_user).available == 1000


def test_transient_errors_retry_then_fail(
    funded_user,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "scripted"}
    settings.GENERATION_TEST_OUTCOME = "transient"
    settings.GENERATION_MAX_ATTEMPTS = 2
    job = submit(funded_user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED and job.attempts == 1
    assert len(enqueued(callbacks)) == 1  # re-enqueued with a countdown
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.error_code == 500
    assert balance_get(user=funded_user).available == 1000


def test_image_to_video_first_frame_from_upload(funded_user) -> None:
    from generation.services import ImageInput, upload_create

    upload = upload_create(user=funded_user, source=image_bytes("PNG", (360, 640)), max_bytes=10**7)
    job = submit(funded_user, images=(ImageInput(upload_id=upload.id),), aspect_ratio="auto")
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.resolved_aspect_ratio == "9:16"  # auto follows the image's orientation
    assert (job.output_width, job.output_height) == (720, 1280)


def test_unfetchable_image_url_fails_before_start(funded_user, settings) -> None:
    from generation.services import ImageInput

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    job = submit(funded_user, images=(ImageInput(url="http://127.0.0.1:9/missing.png"),))
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert job.failure_stage == "pre_start" and job.error_code == 400
    assert job.error_message.startswith("Failed to fetch the image")
    assert balance_get(user=funded_user).available == 1000


def test_reaper_requeues_a_job_whose_message_was_lost(
    funded_user, settings, django_capture_on_commit_callbacks
) -> None:
    job = submit(funded_user)
    later = timezone.now() + timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = jobs_reap(now=later)
        again = jobs_reap(now=later)
    assert (report.requeued, again.requeued) == (1, 0)
    assert len(enqueued(callbacks)) == 1
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.requeues == 1


def test_reaper_recovers_a_job_whose_worker_died(funded_user, settings) -> None:
    job = submit(funded_user)
    Job.objects.filter(pk=job.pk).update(
        state="running",
        attempts=1,
        progress=40,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    report = jobs_reap()
    job.refresh_from_db()
    assert report.requeued == 1 and job.state == Job.State.QUEUED
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.attempts == 2
    assert Transfer.objects.filter(kind="capture").count() == 1


def test_reaper_fails_and_refunds_once_when_attempts_run_out(funded_user, settings) -> None:
    job = submit(funded_user)
    Job.objects.filter(pk=job.pk).update(
        state="running",
        attempts=settings.GENERATION_MAX_ATTEMPTS,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert jobs_reap().failed == 1
    assert jobs_reap().failed == 0
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert Transfer.objects.filter(kind="release").count() == 1
    assert balance_get(user=funded_user).available == 1000


def test_a_live_lease_is_not_taken_over(funded_user) -> None:
    job = submit(funded_user)
    Job.objects.filter(pk=job.pk).update(
        state="running", attempts=1, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    job_run(job_id=str(job.id))
    assert jobs_reap().requeued == 0
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.attempts == 1
    job_fail(job_id=job.id, stage="generation", code=500, message="cleanup")


def test_submit_rolls_back_job_and_enqueue_when_the_hold_fails(
    db, django_capture_on_commit_callbacks
) -> None:
    from billing.errors import InsufficientCredits
    from tests.factories import UserFactory

    poor = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(InsufficientCredits):
        submit(poor)
    assert not Job.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"resolution": "1080p", "duration_seconds": 4}, "duration"),
        ({"resolution": "4k", "duration_seconds": 6}, "duration"),
        ({"model_tier": "lite", "resolution": "4k", "duration_seconds": 8}, "resolution"),
    ],
)
def test_veo_constraints_are_checked_before_any_hold(funded_user, overrides, field) -> None:
    from generation.services import JobValidationError

    with pytest.raises(JobValidationError) as excinfo:
        submit(funded_user, **overrides)
    assert field in excinfo.value.field
    assert not Job.objects.exists()
    assert balance_get(user=funded_user).held == 0


def test_daily_limit_counts_todays_jobs_and_failed_ones_give_back(funded_user, settings) -> None:
    from generation.selectors import daily_usage
    from generation.services import DailyLimitReached

    funded_user.daily_limit = 2
    funded_user.save()
    first = submit(funded_user, enforce_daily_limit=True)
    submit(funded_user, enforce_daily_limit=True)
    with pytest.raises(DailyLimitReached):
        submit(funded_user, enforce_daily_limit=True)
    submit(funded_user)  # facades without a daily limit are not capped by it
    job_fail(job_id=first.id, stage="generation", code=501, message="failed")
    assert daily_usage(user=funded_user).remaining == 0  # the uncapped job counts too
    for job in Job.objects.filter(state="queued"):
        job_fail(job_id=job.id, stage="generation", code=501, message="cleanup")
    assert daily_usage(user=funded_user).remaining == 2
