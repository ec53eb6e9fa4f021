"""Gemini Omni Flash through the real google-genai 3.x SDK against the fake Interactions API,
driven by the pipeline's services: the maximum held, the delivered seconds captured, the rest
released; cancel reaches the cancel endpoint; nothing released while Google may still bill."""

from __future__ import annotations

import base64
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from billing.models import Transfer
from billing.selectors import balance_get
from generation.models import Job
from generation.services import CancelOutcome, JobSpec, job_cancel, job_poll, job_run, job_submit
from tests.fake_interactions import running_fake_interactions
from tests.fake_vertex import tiny_mp4

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with running_fake_interactions(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "omni")
        settings.OMNI_SURFACE = "gemini"
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = "test-key"
        settings.OMNI_MODEL = "gemini-omni-1.2-flash"
        settings.OMNI_DELIVERY = "inline"
        settings.OMNI_POLL_INTERVAL_SECONDS = 1
        settings.GENERATION_RATE_LIMIT = 1000
        server.script.polls_until_done = 0
        yield server


def submit(user, seconds: int = 12) -> Job:
    spec = JobSpec(facade="veo3api", prompt="a kite over dunes", duration_seconds=seconds)
    return job_submit(user=user, spec=spec).job


def transfers(job: Job, kind: str) -> int:
    return Transfer.objects.filter(job_id=job.pk, kind=kind).count()


def test_holds_the_maximum_and_captures_the_delivered_seconds(fake, funded_user) -> None:
    fake.delivered_mp4 = tiny_mp4(seconds=3)
    job = submit(funded_user, seconds=12)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.provider == "omni" and balance_get(user=funded_user).held == job.credits_quoted
    assert fake.creates()[0].body["response_format"]["duration"] == "12s"
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    with default_storage.open(job.video_file, "rb") as handle:
        assert handle.read() == fake.delivered_mp4
    assert job.credits_charged == -(-job.credits_quoted * 3 // 12) < job.credits_quoted
    assert transfers(job, "capture") == 1
    balance = balance_get(user=funded_user)
    assert (balance.held, balance.available) == (0, 1000 - job.credits_charged)


def test_safety_block_fails_releases_once_without_fallback(fake, funded_user, settings) -> None:
    settings.GENERATION_FALLBACK_PROVIDERS = ["local"]
    fake.script.result = "blocked"
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert (job.state, job.provider, job.error_code) == (Job.State.FAILED, "omni", 400)
    assert transfers(job, "release") == 1 and balance_get(user=funded_user).available == 1000


def test_429_then_success(fake, funded_user) -> None:
    fake.script.poll_errors = [429]
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING
    job_poll(job_id=str(job.id))
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED


def test_5xx_until_retries_run_out_releases(
    fake,
    funded_user,
    settings,
    django_capture_on_commit_callbacks,
) -> None:
    settings.GENERATION_MAX_ATTEMPTS = 3
    fake.script.always_status = 503
    job = submit(funded_user)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=False):
            job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and len(fake.creates()) == 3
    assert transfers(job, "release") == 1 and balance_get(user=funded_user).available == 1000


def test_deadline_passed_then_late_success_charged_once(fake, funded_user) -> None:
    fake.script.polls_until_done = 1
    job = submit(funded_user, seconds=8)
    job_run(job_id=str(job.id))
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=120))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.eta_seconds == 30
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert transfers(job, "capture") == 1 and transfers(job, "release") == 0


def test_cancel_of_a_running_job_reaches_upstream_and_releases_once(fake, funded_user) -> None:
    fake.script.polls_until_done = 100
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    job.refresh_from_db()
    assert job_cancel(job=job) == CancelOutcome.CANCELLED
    assert [r.path for r in fake.cancels()] == [f"/v1/interactions/{job.provider_operation}/cancel"]
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED
    assert job_cancel(job=job) == CancelOutcome.ENDED  # twice: nothing more
    job_poll(job_id=str(job.id))  # a late poll changes nothing
    assert transfers(job, "release") == 1 and balance_get(user=funded_user).available == 1000


def test_cancel_after_upstream_finished_keeps_the_job(fake, funded_user) -> None:
    fake.script.polls_until_done = 0
    job = submit(funded_user)
    job_run(job_id=str(job.id))
    interaction = fake.interactions[Job.objects.get(pk=job.pk).provider_operation]
    interaction["status"] = "completed"
    job.refresh_from_db()
    assert job_cancel(job=job) == CancelOutcome.REQUESTED
    assert Job.objects.get(pk=job.pk).state == Job.State.RUNNING
    job_poll(job_id=str(job.id))
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED


def test_models_endpoint_lists_omni_and_submit_agrees(fake, bearer, settings) -> None:
    from billing.services import credits_grant

    credits_grant(user=bearer.user, amount=10**6, idempotency_key="omni-models")
    settings.GENERATION_MAX_ACTIVE_JOBS = 10_000
    models = bearer.get("/api/v1/models").json()["data"]["models"]
    fast = next(m for m in models if m["tier"] == "fast")
    assert fast["provider"] == "omni" and fast["upstream_model"] == "gemini-omni-1.2-flash"
    assert fast["durations"] == list(range(3, 16))
    assert fast["resolutions"] == ["360p", "720p", "1080p", "4k"]
    for resolution in fast["prices"]:
        for seconds in fast["prices"][resolution]["credits"]:
            body = {"prompt": "x", "model": "veo3_fast", "resolution": resolution}
            answer = bearer.post(
                "/api/v1/veo/generate", {**body, "duration": int(seconds)}, format="json"
            ).json()
            assert answer["code"] == 200, (resolution, seconds, answer)
    refused = bearer.post(
        "/api/v1/veo/generate", {"prompt": "x", "model": "veo3_fast", "duration": 16}, format="json"
    ).json()
    assert refused["code"] != 200 and "duration" in refused["msg"]


def test_upstream_cost_recorded_and_margin_summary(
    fake, funded_user, settings, admin_client
) -> None:
    """Omni at 360p, 3 of 12 s delivered: upstream units and cost on the job, and the admin's
    margin summary shows revenue, upstream cost and margin for the day."""
    settings.UPSTREAM_COST_PER_SECOND_USD = {"gemini-omni-1.2-flash:360p": 0.02}
    settings.BILLING_CREDIT_VALUE_USD = "0.01"
    fake.delivered_mp4 = tiny_mp4(seconds=3)
    job = job_submit(
        user=funded_user,
        spec=JobSpec(facade="veo3api", prompt="x", duration_seconds=12, resolution="360p"),
    ).job
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.upstream_model == "gemini-omni-1.2-flash"
    assert job.upstream_seconds == pytest.approx(3.0, abs=0.1)
    assert job.upstream_cost_usd == pytest.approx(Decimal("0.06"), abs=Decimal("0.003"))
    page = admin_client.get("/admin/generation/job/margin/?days=2").content.decode()
    revenue = (Decimal("0.01") * job.credits_charged).quantize(Decimal("0.0001"))
    assert str(revenue) in page and str(job.upstream_cost_usd) in page
    assert str(revenue - job.upstream_cost_usd) in page


def test_1080p_upgrade_runs_on_omni_as_an_upscale(fake, funded_user) -> None:
    """With Omni as the tier's provider, kie's 1080p upgrade is an Omni `upscale` task given the
    source video, instead of the local re-encoder."""
    from generation.services import upgrade_request

    fake.delivered_mp4 = tiny_mp4(seconds=2)
    source = submit(funded_user, seconds=8)
    job_run(job_id=str(source.id))
    job_poll(job_id=str(source.id))
    source.refresh_from_db()
    assert source.state == Job.State.SUCCEEDED
    upgrade = upgrade_request(user=funded_user, parent=source, kind="upgrade_1080p").job
    assert (upgrade.provider, upgrade.mode) == ("omni", "upscale")
    job_run(job_id=str(upgrade.id))
    body = fake.creates()[-1].body
    assert body["generation_config"] == {"video_config": {"task": "upscale"}}
    assert body["response_format"]["resolution"] == "1080p"
    with default_storage.open(source.video_file, "rb") as handle:
        source_bytes = handle.read()
    video = body["input"][0]["content"][-1]
    assert video["type"] == "video" and base64.b64decode(video["data"]) == source_bytes
    job_poll(job_id=str(upgrade.id))
    upgrade.refresh_from_db()
    # Free by default (kie bundles the 1080p version): nothing held, nothing captured.
    assert upgrade.state == Job.State.SUCCEEDED and transfers(upgrade, "capture") == 0
