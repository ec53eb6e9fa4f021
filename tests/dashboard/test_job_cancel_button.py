"""The Cancel button of the job page: shown only while the job is queued or running; a CSRF
POST cancels it, redirects back to the page (PRG) and says what happened."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.selectors import balance_get
from generation.models import Job
from generation.services import JobSpec, job_run, job_submit
from generation.services.transitions import job_claim

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings) -> None:
    settings.GENERATION_RATE_LIMIT = 1000


def submit(user: Any) -> Job:
    spec = JobSpec(facade="dashboard", prompt="a heron", duration_seconds=4)
    return job_submit(user=user, spec=spec).job


def page(client: Client, job: Job) -> str:
    return client.get(reverse("dashboard:job", args=[job.id])).content.decode()


def cancel_url(job: Job) -> str:
    return reverse("dashboard:job-cancel", args=[job.id])


def test_the_button_shows_while_queued_and_cancels_with_credits_back(browser, member) -> None:
    job = submit(member)
    assert f'action="{cancel_url(job)}"' in page(browser, job)
    response = browser.post(cancel_url(job), follow=True)
    assert response.redirect_chain == [(reverse("dashboard:job", args=[job.id]), 302)]
    text = response.content.decode()
    assert f"its {job.credits_quoted} held credits were returned" in text
    assert cancel_url(job) not in text  # ended: no button any more
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED
    assert balance_get(user=member).available == 1000
    again = browser.post(cancel_url(job), follow=True).content.decode()
    assert "This video had already ended: nothing was cancelled." in again


def test_no_button_once_finished(browser, member) -> None:
    job = submit(member)
    job_run(job_id=str(job.id))
    assert cancel_url(job) not in page(browser, job)


def test_a_running_veo_job_says_cancel_requested(browser, member, settings) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"fast": "vertex"}
    job = submit(member)
    job_claim(job_id=str(job.id))
    text = browser.post(cancel_url(job), follow=True).content.decode()
    assert "Cancel requested: the provider is asked to stop." in text
    assert "waiting for the provider" in text and cancel_url(job) in text
    Job.objects.filter(pk=job.pk).update(provider="local")  # (end it for the ledger)
    browser.post(cancel_url(job))
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED


def test_in_turkish(browser, member) -> None:
    job = submit(member)
    browser.cookies["django_language"] = "tr"
    text = browser.post(cancel_url(job), follow=True, HTTP_ACCEPT_LANGUAGE="tr").content.decode()
    assert "Video iptal edildi" in text


def test_csrf_get_and_other_accounts(csrf_browser, member, stranger) -> None:
    job = submit(member)
    assert csrf_browser.post(cancel_url(job)).status_code == 403  # no token
    assert csrf_browser.get(cancel_url(job)).status_code == 405
    theirs = submit(stranger)
    client = Client()
    client.force_login(member)
    assert client.post(cancel_url(theirs)).status_code == 404
    assert Job.objects.get(pk=theirs.pk).state == Job.State.QUEUED
    anonymous = Client().post(cancel_url(job))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED
