"""kie clients call get-1080p-video once the task succeeded and expect the URL on that first
call: the 1080p version of a 16:9 720p task is prepared when the task succeeds."""

from __future__ import annotations

import pytest

from billing.models import Transfer
from billing.selectors import balance_get
from generation.models import Job
from tests.generation.veo3api_helpers import run_job

pytestmark = pytest.mark.django_db


def _succeeded_task(bearer, **body) -> Job:  # type: ignore[no-untyped-def]
    answer = bearer.post(
        "/api/v1/veo/generate",
        {"prompt": "A lighthouse at dusk", "model": "veo3_fast", "duration": 4, **body},
        format="json",
    ).json()
    job = run_job(answer["data"]["taskId"].removeprefix("veo_task_"))
    assert job.state == Job.State.SUCCEEDED, job.error_message
    return job


def _get_1080p(bearer, task_id: str) -> dict:  # type: ignore[no-untyped-def]
    return bearer.get("/api/v1/veo/get-1080p-video", {"taskId": task_id}).json()


def test_first_get_1080p_call_answers_200_with_the_url(bearer) -> None:  # type: ignore[no-untyped-def]
    task = _succeeded_task(bearer)
    prepared = Job.objects.get(parent=task, kind=Job.Kind.UPGRADE_1080P)
    # The worker that rendered the task goes on to the prepared upgrade.
    upgrade = run_job(prepared.pk)
    assert (upgrade.output_width, upgrade.output_height) == (1920, 1080)
    before = balance_get(user=bearer.user).available

    assert _get_1080p(bearer, task.task_id) == {
        "code": 200,
        "msg": "success",
        "data": {"resultUrl": f"http://testserver/media/v/{upgrade.id}.mp4"},
    }
    # Bundled with the task, as kie does: free by default, and no second upgrade.
    assert upgrade.credits_quoted == 0
    assert balance_get(user=bearer.user).available == before
    assert not Transfer.objects.filter(job_id=upgrade.id).exists()
    assert Job.objects.filter(kind=Job.Kind.UPGRADE_1080P).count() == 1


def test_a_call_while_the_prepared_version_renders_waits_then_says_processing(
    bearer, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.GENERATION_AUTO_1080P_WAIT_SECONDS = 0.3
    task = _succeeded_task(bearer)
    assert _get_1080p(bearer, task.task_id)["code"] == 400
    assert Job.objects.filter(kind=Job.Kind.UPGRADE_1080P).count() == 1


@pytest.mark.parametrize("body", [{"aspectRatio": "9:16"}])
def test_portrait_tasks_are_not_prepared(bearer, body) -> None:  # type: ignore[no-untyped-def]
    _succeeded_task(bearer, **body)
    assert not Job.objects.filter(kind=Job.Kind.UPGRADE_1080P).exists()


def test_preparing_can_be_switched_off(bearer, settings) -> None:  # type: ignore[no-untyped-def]
    settings.GENERATION_AUTO_1080P = False
    _succeeded_task(bearer)
    assert not Job.objects.filter(kind=Job.Kind.UPGRADE_1080P).exists()
