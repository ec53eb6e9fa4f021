"""`GET /api/v1/models` agrees with what submit accepts, mode by mode: for every model of every
provider, each mode the catalog lists (image, first+last frame, reference images, extension;
text is `test_catalog.py`'s) is accepted through the kie facade and priced at the listed
credits, and each mode it does not list is refused naming the field. Audio: the quoted price
follows the audio choice on every facade."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing.models import Price
from billing.services import credits_grant
from generation.errors import JobValidationError
from generation.models import Job
from generation.services import JobSpec, job_submit
from generation.services.submit import ImageInput
from tests.generation.veo3api_helpers import PUBLIC_IP, fake_getaddrinfo

pytestmark = pytest.mark.django_db

TIERS = ("quality", "fast", "lite")
KIE_MODEL = {"quality": "veo3", "fast": "veo3_fast", "lite": "veo3_lite"}
KIE_TYPE = {
    "image": "FIRST_AND_LAST_FRAMES_2_VIDEO",
    "first_last": "FIRST_AND_LAST_FRAMES_2_VIDEO",
    "reference": "REFERENCE_2_VIDEO",
}
IMAGES = {"image": 1, "first_last": 2, "reference": 2}
# A finished 720p 16:9 video (the file itself is not read at submit).
FINISHED = {
    "state": Job.State.SUCCEEDED,
    "resolved_aspect_ratio": "16:9",
    "video_file": "videos/source.mp4",
}


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo({"images.example.com": PUBLIC_IP}))


@pytest.fixture
def roomy(settings: Any, bearer: Any) -> Any:
    settings.GENERATION_MAX_ACTIVE_JOBS = 10_000
    settings.GENERATION_RATE_LIMIT = 10_000
    settings.OMNI_MODEL = "gemini-omni-1.2-flash"
    credits_grant(user=bearer.user, amount=10**7, idempotency_key="modes-test")
    return bearer


def _models() -> list[dict[str, Any]]:
    answer = Client().get("/api/v1/models").json()
    assert answer["code"] == 200
    return answer["data"]["models"]


def _job(answer: dict[str, Any]) -> Job:
    return Job.objects.get(
        pk=answer["data"]["taskId"].removeprefix("veo_extend_task_").removeprefix("veo_task_")
    )


def _generate(client: Any, tier: str, mode: str, **fields: Any) -> dict[str, Any]:
    count = IMAGES.get(mode, 0)
    body = {
        "prompt": "a lighthouse at dusk",
        "model": KIE_MODEL[tier],
        "imageUrls": [f"https://images.example.com/{i}.png" for i in range(count)],
        **fields,
    }
    if mode in KIE_TYPE:
        body["generationType"] = KIE_TYPE[mode]
    return client.post("/api/v1/veo/generate", body, format="json").json()


def _source(user: Any, tier: str) -> Job:
    """A finished 720p 16:9 video of the user's to extend."""
    job = job_submit(
        user=user, spec=JobSpec(facade="veo3api", prompt="a quiet harbour", model_tier=tier)
    ).job
    Job.objects.filter(pk=job.pk).update(**FINISHED)
    return Job.objects.get(pk=job.pk)


@pytest.mark.parametrize("provider", ["local", "vertex", "omni"])
def test_every_listed_mode_is_accepted_at_the_listed_price(
    provider: str, settings: Any, roomy: Any, dns: None
) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, provider)
    checked: set[tuple[str, str]] = set()
    for model in _models():
        tier, longest = model["tier"], max(model["durations"])
        assert model["provider"] == provider
        for mode in ("image", "first_last", "reference"):
            if mode not in model["modes"]:
                continue
            if mode == "reference" and tier == "quality":
                # kie's contract takes reference images on veo3_fast / veo3_lite only; the
                # shared submit path (what a facade without that rule calls) takes them.
                answer = _generate(roomy, tier, mode, duration=longest)
                assert answer["code"] == 422 and "model" in answer["msg"], answer
                job = job_submit(user=roomy.user, spec=_reference_spec(tier, longest)).job
                assert job.credits_quoted == model["prices"]["720p"]["credits"][str(longest)]
                checked.add((tier, mode))
                continue
            for resolution, price in model["prices"].items():
                for seconds in price["credits"]:
                    if mode == "reference" and int(seconds) != longest:
                        continue
                    answer = _generate(
                        roomy, tier, mode, resolution=resolution, duration=int(seconds)
                    )
                    assert answer["code"] == 200, (tier, mode, resolution, seconds, answer)
                    job = _job(answer)
                    assert job.mode == mode and job.provider == provider
                    assert job.credits_quoted == price["credits"][seconds], (tier, mode)
            checked.add((tier, mode))
        if "extend" in model["modes"]:
            source = _source(roomy.user, tier)
            body = {"taskId": source.task_id, "prompt": "and then it rains", "model": tier}
            answer = roomy.post("/api/v1/veo/extend", body, format="json").json()
            assert answer["code"] == 200, (tier, answer)
            job = _job(answer)
            assert (job.mode, job.resolution, job.duration_seconds) == ("extend", "720p", 8)
            assert job.credits_quoted == model["extend_prices"]["720p"]["credits"]["8"]
            checked.add((tier, "extend"))
    expected = {
        (tier, mode)
        for model in _models()
        for tier in [model["tier"]]
        for mode in model["modes"]
        if mode in ("image", "first_last", "reference", "extend")
    }
    assert checked == expected


def _reference_spec(tier: str, seconds: int) -> JobSpec:
    return JobSpec(
        facade="veo3api",
        prompt="a lighthouse at dusk",
        mode="reference",
        model_tier=tier,
        duration_seconds=seconds,
        images=tuple(ImageInput(url=f"https://images.example.com/{i}.png") for i in range(2)),
    )


def test_unlisted_modes_are_refused_naming_the_field(settings: Any, roomy: Any, dns: None) -> None:
    """Omni has no first+last frame mode; Veo's reference images and 1080p need 8 s."""
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "omni")
    for model in _models():
        assert "first_last" not in model["modes"]
        answer = _generate(roomy, model["tier"], "first_last")
        assert answer["code"] == 422 and "generationType" in answer["msg"], answer
        assert "text, image, reference" in answer["msg"]
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "vertex")
    answer = _generate(roomy, "fast", "reference", duration=6)
    assert answer["code"] == 422 and "duration" in answer["msg"], answer
    answer = _generate(roomy, "fast", "image", duration=3)
    assert answer["code"] == 422 and "duration" in answer["msg"], answer
    assert not Job.objects.exists()


# ---------------------------------------------------------------------------------------------
# Audio: the quote follows the audio choice on every facade
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def silent_cheaper(settings: Any) -> None:
    """Veo on Vertex everywhere; 720p fast and extension priced 8 with sound, 5 without."""
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "vertex")
    for operation in ("generate", "extend"):
        for audio, rate in ((True, 8), (False, 5)):
            Price.objects.create(
                operation=operation,
                model_tier="fast",
                resolution="720p",
                audio=audio,
                credits_per_second=rate,
            )


def test_facades_without_an_audio_field_quote_the_price_with_sound(
    settings: Any, funded_user: Any, silent_cheaper: None
) -> None:
    settings.CODEFAST_MODEL_TIER = settings.VEO3O1_MODEL_TIER = "fast"
    settings.CODEFAST_RESOLUTION = settings.VEO3O1_RESOLUTION = "720p"
    settings.VEO3O1_DURATION_SECONDS = 8
    token = api_key_create(user=funded_user, name="audio").token
    codefast = APIClient()
    codefast.credentials(HTTP_X_API_KEY=token)
    answer = codefast.post(
        "/generate", {"prompt": "x", "duration_seconds": 8}, format="json"
    ).json()
    assert Job.objects.get(pk=answer["job_id"]).credits_quoted == 64
    veo3o1 = APIClient()
    veo3o1.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = veo3o1.post(
        "/api/generate-video",
        {"prompt": "x", "generationType": "text_to_video"},
        format="json",
    ).json()
    job = Job.objects.get(pk=answer["data"]["uuid"])
    assert (job.generate_audio, job.credits_quoted) == (True, 64)


def test_kie_quotes_follow_generate_audio_including_extensions(
    bearer: Any, silent_cheaper: None
) -> None:
    models = {m["tier"]: m for m in _models()}
    assert models["fast"]["prices"]["720p"]["without_audio"]["credits_per_second"] == 5
    assert models["fast"]["extend_prices"]["720p"]["without_audio"]["credits_per_second"] == 5
    loud = _job(_generate(bearer, "fast", "text", duration=8))
    quiet = _job(_generate(bearer, "fast", "text", duration=8, generateAudio=False))
    assert (loud.credits_quoted, quiet.credits_quoted) == (64, 40)
    for source, quote in ((loud, 64), (quiet, 40)):
        Job.objects.filter(pk=source.pk).update(**FINISHED)
        body = {"taskId": source.task_id, "prompt": "more", "model": "fast"}
        extension = _job(bearer.post("/api/v1/veo/extend", body, format="json").json())
        assert extension.generate_audio == source.generate_audio
        assert extension.credits_quoted == quote


def test_a_model_that_always_has_sound_refuses_silence_in_each_facade_format(
    settings: Any, bearer: Any
) -> None:
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(TIERS, "omni")
    answer = _generate(bearer, "fast", "text", duration=8, generateAudio=False)
    assert answer["code"] == 422 and "generateAudio" in answer["msg"], answer
    with pytest.raises(JobValidationError) as excinfo:
        job_submit(
            user=bearer.user,
            spec=JobSpec(facade="veo3api", prompt="x", generate_audio=False),
        )
    assert excinfo.value.field == "generate_audio"
    assert not Job.objects.exists()
