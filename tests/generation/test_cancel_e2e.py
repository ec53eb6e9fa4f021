"""Cancel mid-render end to end: a real worker process renders a long local video (8 s at
1080p); the customer cancels it over `/api/v1/jobs/{id}/cancel` while it renders; the job is
cancelled at once with its credits back, and the worker stops at its next frame batch: it logs
the stop, never finishes the render, and leaves no file in storage or in its work directory."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get, ledger_inconsistencies
from billing.services import credits_grant
from generation.models import Job
from generation.services import JobSpec, job_submit
from tests.factories import UserFactory
from tests.processes import running_stack

logger = logging.getLogger(__name__)
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def wait(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def test_a_long_local_render_cancelled_mid_way_stops_early_and_returns_the_credits(
    tmp_path: Path,
) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"e2e-cancel:{user.pk}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='c').token}")
    with running_stack(
        tmp_path, web=False, GENERATION_PROVIDER="local", GENERATION_RATE_LIMIT="1000"
    ) as stack:
        spec = JobSpec(
            facade="veo3o1", prompt="a long slow pan", duration_seconds=8, resolution="1080p"
        )
        job = job_submit(user=user, spec=spec).job
        assert balance_get(user=user).held == job.credits_quoted

        def rendering() -> bool:
            row = Job.objects.get(pk=job.pk)
            return row.state == Job.State.RUNNING and row.progress >= 3

        wait(rendering, "the worker to start rendering")
        response = client.post(f"/api/v1/jobs/{job.id}/cancel")
        assert response.status_code == 200, response.content
        assert response.json()["data"]["outcome"] == "cancelled"
        progress_at_cancel = Job.objects.get(pk=job.pk).progress
        cancelled_at = time.monotonic()
        wait(lambda: "render stopped" in stack.log("worker"), "the worker to stop")
        # A figure for the record, never asserted on (no timed assertions).
        stopped = [line for line in stack.log("worker").splitlines() if "render stopped" in line]
        logger.info("cancelled at %s%%: %s", progress_at_cancel, stopped[0][-160:])
        logger.info("stop seen %.2fs after the cancel answer", time.monotonic() - cancelled_at)
        work = Path(settings.VAR_DIR) / "work"
        # The worker removes its work directory right after it stopped.
        wait(lambda: not list(work.glob(f"{job.id}-*")), "the work directory to go")
        log = stack.log("worker")
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.progress == progress_at_cancel < 100
    assert not job.video_file and not job.poster_file and job.render_seconds is None
    assert f"job {job.id} succeeded" not in log
    prefix = f"videos/{job.created_at:%Y/%m}/{job.id}"
    assert not default_storage.exists(f"{prefix}.mp4")
    assert not default_storage.exists(f"{prefix}.jpg")
    assert balance_get(user=user).available == 1000 and balance_get(user=user).held == 0
    rows = Transfer.objects.filter(job_id=job.pk)
    assert rows.filter(kind="release").count() == 1 and not rows.filter(kind="capture").exists()
    assert ledger_inconsistencies() == []
