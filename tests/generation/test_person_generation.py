"""Person generation (Veo's `personGeneration`) from a job spec to the JSON the real
google-genai SDK sends: validated against the catalog of the provider that will run the job,
stored on the job, kept by an extension, refused where the model has no such setting (Omni).

No seed wire contract (codefast, veo3o1, veo3api/kie) has a person generation field, so the
path starts at `JobSpec.person_generation`, which a facade with such a field fills."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from generation.errors import JobValidationError
from generation.models import Job
from generation.providers.base import ProviderFailed
from generation.providers.catalog import (
    PERSON_GENERATION,
    CapabilityError,
    model_spec,
    spec_validate,
)
from generation.services import JobSpec, job_poll, job_run, job_submit
from generation.services.fallback import _accepts as fallback_accepts
from generation.services.fallback import job_fall_back
from generation.services.upgrades import extend_submit
from tests.fake_interactions import running_fake_interactions
from tests.fake_vertex import running_fake_vertex, tiny_mp4

pytestmark = pytest.mark.django_db

TIERS = ("quality", "fast", "lite")
BASE: dict[str, Any] = {
    "resolution": "720p",
    "duration_seconds": 8,
    "aspect_ratio": "16:9",
    "has_source_video": False,
}


@pytest.fixture
def vertex(settings: Any) -> Any:
    with running_fake_vertex(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "vertex")
        settings.VERTEX_BASE_URL = server.base_url
        settings.VERTEX_STORAGE_BASE_URL = server.base_url
        settings.VERTEX_API_KEY = "test-key"
        settings.VERTEX_OUTPUT_GCS_URI = ""
        settings.VERTEX_POLL_INTERVAL_SECONDS = 1
        settings.GENERATION_RATE_LIMIT = 1000
        server.script.polls_until_done = 0
        yield server


@pytest.fixture
def omni(settings: Any) -> Any:
    with running_fake_interactions(mp4=tiny_mp4()) as server:
        settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "omni")
        settings.OMNI_SURFACE = "gemini"
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = "test-key"
        settings.OMNI_MODEL = "gemini-omni-1.2-flash"
        settings.OMNI_DELIVERY = "inline"
        settings.GENERATION_RATE_LIMIT = 1000
        server.script.polls_until_done = 0
        yield server


@pytest.mark.parametrize("provider", ["vertex", "local"])
@pytest.mark.parametrize("value", PERSON_GENERATION)
def test_veo_takes_every_value_in_text_mode(provider: str, value: str) -> None:
    spec = model_spec(provider=provider, tier="fast")
    spec_validate(spec, mode="text", image_count=0, person_generation=value, **BASE)


@pytest.mark.parametrize(("mode", "images"), [("image", 1), ("first_last", 2), ("reference", 3)])
def test_veo_refuses_allow_all_with_input_images(mode: str, images: int) -> None:
    spec = model_spec(provider="vertex", tier="fast")
    spec_validate(spec, mode=mode, image_count=images, person_generation="allow_adult", **BASE)
    with pytest.raises(CapabilityError) as excinfo:
        spec_validate(spec, mode=mode, image_count=images, person_generation="allow_all", **BASE)
    assert excinfo.value.field == "person_generation"
    assert "allow_adult, dont_allow" in excinfo.value.message


def test_omni_has_no_person_generation_setting(settings: Any) -> None:
    spec = model_spec(provider="omni", tier="fast")
    assert spec.person_generation == ()
    spec_validate(spec, mode="text", image_count=0, **BASE)  # the default always passes
    with pytest.raises(CapabilityError) as excinfo:
        spec_validate(spec, mode="text", image_count=0, person_generation="dont_allow", **BASE)
    assert excinfo.value.field == "person_generation"
    assert "no person generation setting" in excinfo.value.message


def test_models_endpoint_lists_the_values(settings: Any) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = {"quality": "vertex", "fast": "omni", "lite": "local"}
    models = {m["tier"]: m for m in Client().get("/api/v1/models").json()["data"]["models"]}
    assert models["quality"]["person_generation"] == list(PERSON_GENERATION)
    assert models["quality"]["person_generation_with_images"] == ["allow_adult", "dont_allow"]
    assert models["fast"]["person_generation"] == []
    assert models["lite"]["person_generation"] == list(PERSON_GENERATION)


def spec(**changes: Any) -> JobSpec:
    return JobSpec(facade="veo3api", prompt="a crowd at a market", **changes)


def test_vertex_job_sends_person_generation_and_audio_choice(vertex: Any, funded_user: Any) -> None:
    job = job_submit(
        user=funded_user, spec=spec(person_generation="dont_allow", generate_audio=False)
    ).job
    assert (job.person_generation, job.generate_audio) == ("dont_allow", False)
    job_run(job_id=str(job.id))
    job_poll(job_id=str(job.id))
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    parameters = vertex.last_submit_body()["parameters"]
    assert parameters["personGeneration"] == "dont_allow"
    assert parameters["generateAudio"] is False


def test_vertex_job_without_a_choice_sends_none(vertex: Any, funded_user: Any) -> None:
    job = job_submit(user=funded_user, spec=spec()).job
    job_run(job_id=str(job.id))
    parameters = vertex.last_submit_body()["parameters"]
    assert "personGeneration" not in parameters and parameters["generateAudio"] is True


def test_unknown_value_and_unsupported_model_are_refused_before_anything_is_held(
    omni: Any, funded_user: Any, settings: Any
) -> None:
    with pytest.raises(JobValidationError) as excinfo:
        job_submit(user=funded_user, spec=spec(person_generation="everyone"))
    assert excinfo.value.field == "person_generation"
    assert "allow_adult, dont_allow, allow_all" in excinfo.value.message
    with pytest.raises(JobValidationError) as excinfo:
        job_submit(user=funded_user, spec=spec(person_generation="allow_adult"))
    assert excinfo.value.field == "person_generation"
    assert "no person generation setting" in excinfo.value.message
    assert not Job.objects.exists() and not omni.creates()
    # Without a choice Omni runs the job, and nothing about people reaches its request.
    job = job_submit(user=funded_user, spec=spec()).job
    job_run(job_id=str(job.id))
    assert "person" not in str(omni.creates()[0].body)


def test_a_job_with_a_setting_does_not_fall_back_to_a_model_without_it(
    vertex: Any, funded_user: Any, settings: Any
) -> None:
    settings.GENERATION_FALLBACK_PROVIDERS = ["omni"]
    job = job_submit(user=funded_user, spec=spec(person_generation="allow_adult")).job
    assert not fallback_accepts("omni", job) and fallback_accepts("local", job)
    assert not job_fall_back(job=job, exc=ProviderFailed("upstream down"))
    assert fallback_accepts("omni", job_submit(user=funded_user, spec=spec()).job)


def test_extension_keeps_person_generation_and_silence(vertex: Any, funded_user: Any) -> None:
    parent = job_submit(
        user=funded_user, spec=spec(person_generation="dont_allow", generate_audio=False)
    ).job
    job_run(job_id=str(parent.id))
    job_poll(job_id=str(parent.id))
    parent.refresh_from_db()
    assert parent.state == Job.State.SUCCEEDED
    child = extend_submit(
        user=funded_user, parent=parent, prompt="the crowd disperses", model_tier="fast"
    ).job
    assert (child.person_generation, child.generate_audio) == ("dont_allow", False)
    job_run(job_id=str(child.id))
    parameters = vertex.last_submit_body()["parameters"]
    assert parameters["personGeneration"] == "dont_allow"
    assert parameters["generateAudio"] is False
