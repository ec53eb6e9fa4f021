"""Counters of a failing job, in-process: the provider error by kind, the job's outcome, the
hold and its release; nothing is counted for a submit that was refused."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from billing.errors import InsufficientCredits
from generation.services import JobSpec, job_run, job_submit
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_failed_job_moves_the_error_outcome_and_ledger_counters(funded_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_ENABLED = True
    settings.GENERATION_PROVIDER = "scripted"
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "scripted")
    settings.GENERATION_TEST_OUTCOME = "fail"
    labels = {"facade": "veo3o1", "provider": "scripted", "model": "fast"}
    before = {
        "submitted": value("veosaas_jobs_submitted_total", **labels),
        "failed": value("veosaas_jobs_finished_total", outcome="failed", **labels),
        "error": value("veosaas_provider_errors_total", provider="scripted", kind="ProviderFailed"),
        "hold": value("veosaas_ledger_entries_total", kind="hold"),
        "release": value("veosaas_ledger_entries_total", kind="release"),
        "released": value("veosaas_ledger_credits_total", kind="release"),
    }
    job = job_submit(
        user=funded_user, spec=JobSpec(facade="veo3o1", prompt="fails", duration_seconds=4)
    ).job
    job_run(job_id=str(job.id))
    with pytest.raises(InsufficientCredits):
        job_submit(
            user=UserFactory(), spec=JobSpec(facade="veo3o1", prompt="no", duration_seconds=4)
        )

    assert value("veosaas_jobs_submitted_total", **labels) == before["submitted"] + 1
    assert value("veosaas_jobs_finished_total", outcome="failed", **labels) == before["failed"] + 1
    assert (
        value("veosaas_provider_errors_total", provider="scripted", kind="ProviderFailed")
        == before["error"] + 1
    )
    assert value("veosaas_ledger_entries_total", kind="hold") == before["hold"] + 1
    assert value("veosaas_ledger_entries_total", kind="release") == before["release"] + 1
    released = value("veosaas_ledger_credits_total", kind="release") - before["released"]
    assert released == job.credits_quoted
