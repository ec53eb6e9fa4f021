"""`/api/v1/jobs` in our envelope: the list (every facade's jobs of the account, newest first,
paginated), one job, and its cancel; with an API key or the dashboard session (a session POST
needs the CSRF token); another account's job is 404, an ended one's cancel 409."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.selectors import balance_get
from generation.models import Job
from generation.services import JobSpec, job_run, job_submit
from generation.services.transitions import job_claim

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000


def submit(user: Any, facade: str = "veo3o1", prompt: str = "a lantern") -> Job:
    spec = JobSpec(facade=facade, prompt=prompt, duration_seconds=4)
    return job_submit(user=user, spec=spec).job


def keyed(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='k').token}")
    return client


def test_list_is_newest_first_paginated_and_only_the_accounts(member, stranger) -> None:
    jobs = [
        submit(member, facade, f"job {i}")
        for i, facade in enumerate(["veo3o1", "veo3api", "codefast", "dashboard", "veo3o1"])
    ]
    submit(stranger)
    client = keyed(member)
    first = client.get("/api/v1/jobs", {"limit": 2}).json()
    assert first["code"] == 200 and first["msg"] == "success"
    data = first["data"]
    assert [j["id"] for j in data["jobs"]] == [str(jobs[4].id), str(jobs[3].id)]
    assert (data["page"], data["limit"], data["total"], data["has_more"]) == (1, 2, 5, True)
    last = client.get("/api/v1/jobs", {"limit": 2, "page": 3}).json()["data"]
    assert [j["id"] for j in last["jobs"]] == [str(jobs[0].id)] and last["has_more"] is False
    row = data["jobs"][0]
    assert row["state"] == "queued" and row["facade"] == "veo3o1"
    assert row["credits_quoted"] == jobs[4].credits_quoted and row["error"] is None
    assert row["cancel_requested_at"] is None and row["created_at"].endswith("Z")
    bad = client.get("/api/v1/jobs", {"limit": 0})
    assert bad.status_code == 422 and bad.json()["msg"].startswith("limit:")
    assert client.get("/api/v1/jobs", {"state": "nope"}).status_code == 422


@pytest.mark.parametrize("page", ["0", "-3", "x", "1000001", "58663034577007912788426752"])
def test_a_page_number_out_of_range_is_422_naming_it(member, page) -> None:
    """A page past any offset the database can take is refused before the query (a fuzzed
    26-digit page number once overflowed SQLite's 64-bit OFFSET into a 500)."""
    submit(member)
    answer = keyed(member).get("/api/v1/jobs", {"page": page})
    assert answer.status_code == 422
    assert answer.json()["code"] == 422 and answer.json()["msg"].startswith("page:")


def test_the_last_allowed_page_is_an_empty_page(member) -> None:
    submit(member)
    data = keyed(member).get("/api/v1/jobs", {"page": 1_000_000, "limit": 100}).json()["data"]
    assert (data["jobs"], data["total"], data["has_more"]) == ([], 1, False)


def test_get_one_job_and_another_accounts_is_404(member, stranger) -> None:
    mine, theirs = submit(member), submit(stranger)
    client = keyed(member)
    body = client.get(f"/api/v1/jobs/{mine.id}").json()
    assert body["data"]["id"] == str(mine.id) and body["data"]["progress"] == 0
    for job_id in (theirs.id, "not-a-uuid", "7f0c7a52-3b8e-4c1a-9d4e-2a6b5c8d9e01"):
        response = client.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 404
        assert response.json() == {"code": 404, "msg": "job: no job with this id", "data": None}
    assert client.post(f"/api/v1/jobs/{theirs.id}/cancel").status_code == 404
    assert Job.objects.get(pk=theirs.pk).state == Job.State.QUEUED


def test_cancel_a_queued_job_then_again_is_409(member) -> None:
    job = submit(member)
    client = keyed(member)
    response = client.post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["outcome"] == "cancelled"
    assert body["msg"] == "Cancelled; the held credits were returned."
    assert body["data"]["job"]["state"] == "cancelled"
    assert body["data"]["job"]["error"]["message"] == "Cancelled by the customer."
    assert balance_get(user=member).available == 1000
    again = client.post(f"/api/v1/jobs/{job.id}/cancel")
    assert again.status_code == 409
    assert again.json()["msg"] == "job: the job has already ended (cancelled)"


def test_cancel_of_a_finished_job_is_409_and_changes_nothing(member) -> None:
    job = submit(member)
    job_run(job_id=str(job.id))
    response = keyed(member).post(f"/api/v1/jobs/{job.id}/cancel")
    assert response.status_code == 409 and "(succeeded)" in response.json()["msg"]
    assert Job.objects.get(pk=job.pk).state == Job.State.SUCCEEDED


def test_cancel_of_a_running_veo_job_says_it_is_requested(member, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(member, "veo3api")
    job_claim(job_id=str(job.id))
    body = keyed(member).post(f"/api/v1/jobs/{job.id}/cancel").json()
    assert body["data"]["outcome"] == "cancel_requested"
    assert "charged" in body["msg"] and body["data"]["job"]["state"] == "running"
    assert body["data"]["job"]["cancel_requested_at"] is not None
    Job.objects.filter(pk=job.pk).update(provider="local")  # (end it for the ledger checks)
    assert keyed(member).post(f"/api/v1/jobs/{job.id}/cancel").json()["data"]["outcome"] == (
        "cancelled"
    )


def test_the_dashboard_session_works_and_its_post_needs_the_csrf_token(member) -> None:
    job = submit(member)
    session = Client(enforce_csrf_checks=True)
    session.force_login(member)
    assert session.get("/api/v1/jobs").json()["data"]["total"] == 1
    assert session.get(f"/api/v1/jobs/{job.id}").status_code == 200
    refused = session.post(f"/api/v1/jobs/{job.id}/cancel")
    assert refused.status_code == 403 and "CSRF" in refused.json()["msg"]
    session.get("/dashboard/")  # sets the csrftoken cookie
    token = session.cookies["csrftoken"].value
    response = session.post(f"/api/v1/jobs/{job.id}/cancel", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["data"]["outcome"] == "cancelled"


def test_anonymous_is_401_in_our_envelope(member) -> None:
    response = Client().get("/api/v1/jobs")
    assert response.status_code == 401 and response.json()["code"] == 401
