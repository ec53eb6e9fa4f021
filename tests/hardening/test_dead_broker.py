"""Item 1 of the hardening issue: with the broker unreachable, a submit whose job and hold
committed answers "queued" (never an error the client would retry and pay for again), and the
reaper enqueues the job once the broker is back: charged exactly once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from accounts.services import api_key_create
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant
from generation.models import Job
from generation.services import jobs_reap
from tests.factories import UserFactory
from tests.processes import free_port, running_stack

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def _submit(base: str, headers: dict[str, str], prompt: str) -> requests.Response:
    return requests.post(
        f"{base}/api/generate-video",
        headers=headers,
        json={"generationType": "text_to_video", "prompt": prompt},
        timeout=60,
    )


def test_submit_with_a_dead_broker_answers_queued_and_charges_once_when_it_is_back(
    tmp_path,
) -> None:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"dead-broker:{user.pk}")
    headers = {"Authorization": f"Bearer {api_key_create(user=user, name='e2e').token}"}
    dead = f"redis://127.0.0.1:{free_port()}/1"  # nothing listens there
    with running_stack(
        tmp_path, worker=False, CELERY_BROKER_URL=dead, VEO3O1_DURATION_SECONDS="4"
    ) as stack:
        plain = _submit(stack.base_url, headers, "no key")
        assert plain.status_code == 200, plain.text
        assert plain.json()["code"] == 0
        keyed_headers = {**headers, "Idempotency-Key": "retry-me"}
        first = _submit(stack.base_url, keyed_headers, "with key")
        retry = _submit(stack.base_url, keyed_headers, "with key")
        assert first.status_code == retry.status_code == 200, (first.text, retry.text)
        assert first.json()["data"]["uuid"] == retry.json()["data"]["uuid"]
    ids = {plain.json()["data"]["uuid"], first.json()["data"]["uuid"]}
    assert set(map(str, Job.objects.filter(user=user).values_list("pk", flat=True))) == ids
    assert set(Job.objects.filter(user=user).values_list("state", flat=True)) == {"queued"}
    holds = Transfer.objects.filter(job_id__in=ids, kind="hold")
    assert holds.count() == 2
    held = sum(holds.values_list("amount", flat=True))

    # The broker is back (this process and the new worker use the real one): the reaper
    # enqueues both jobs again, the worker runs them, each is captured once.
    later = timezone.now() + timedelta(seconds=settings.GENERATION_REQUEUE_AFTER_SECONDS + 1)
    with running_stack(tmp_path, web=False):  # (purges the broker first, then the reaper runs)
        assert jobs_reap(now=later).requeued == 2
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            states = set(Job.objects.filter(pk__in=ids).values_list("state", flat=True))
            if states <= {"succeeded", "failed"}:
                break
            time.sleep(0.5)
    assert states == {"succeeded"}
    assert Transfer.objects.filter(job_id__in=ids, kind="capture").count() == 2
    assert balance_get(user=user).available == 1000 - held
