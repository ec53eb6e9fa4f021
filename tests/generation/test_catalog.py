"""The capability catalog: `GET /api/v1/models` agrees with what submit accepts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import Client

from billing.services import credits_grant
from generation.providers.catalog import CapabilityError, model_spec, spec_validate

pytestmark = pytest.mark.django_db

BASE: dict[str, Any] = {
    "mode": "text",
    "resolution": "720p",
    "duration_seconds": 8,
    "aspect_ratio": "16:9",
    "image_count": 0,
    "has_source_video": False,
}


def _check(provider: str, tier: str = "quality", **changes: Any) -> None:
    spec_validate(model_spec(provider=provider, tier=tier), **{**BASE, **changes})


@pytest.mark.parametrize("provider", ["vertex", "local"])
@pytest.mark.parametrize(
    ("tier", "changes", "field"),
    [
        pytest.param("quality", {"aspect_ratio": "1:1"}, "aspect_ratio", id="square"),
        pytest.param("quality", {"resolution": "480p"}, "resolution", id="480p"),
        pytest.param("quality", {"duration_seconds": 5}, "duration_seconds", id="5s"),
        pytest.param(
            "quality",
            {"resolution": "1080p", "duration_seconds": 6},
            "duration_seconds",
            id="1080p6",
        ),
        pytest.param(
            "quality", {"resolution": "4k", "duration_seconds": 4}, "duration_seconds", id="4k4"
        ),
        pytest.param("lite", {"resolution": "4k"}, "resolution", id="lite-no-4k"),
        pytest.param(
            "quality",
            {"mode": "reference", "image_count": 2, "duration_seconds": 6},
            "duration_seconds",
            id="reference-needs-8s",
        ),
        pytest.param("quality", {"mode": "reference", "image_count": 4}, "images", id="ref-max-3"),
        pytest.param("quality", {"mode": "reference", "image_count": 0}, "images", id="ref-min-1"),
        pytest.param(
            "quality",
            {"mode": "extend", "has_source_video": True, "resolution": "1080p"},
            "resolution",
            id="extend-720p-only",
        ),
        pytest.param("quality", {"mode": "extend"}, "source_video", id="extend-needs-source"),
        pytest.param("quality", {"mode": "first_last", "image_count": 1}, "images", id="fl-one"),
        pytest.param("quality", {"mode": "image", "image_count": 2}, "images", id="image-two"),
        pytest.param("quality", {"image_count": 1}, "images", id="text-with-image"),
        pytest.param("quality", {"has_source_video": True}, "source_video", id="text-with-video"),
        pytest.param("quality", {"mode": "remix"}, "mode", id="unknown-mode"),
    ],
)
def test_refusals_name_the_field_and_what_is_allowed(
    provider: str, tier: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(CapabilityError) as excinfo:
        _check(provider, tier, **changes)
    assert excinfo.value.field == field
    assert excinfo.value.message


def test_vertex_has_no_upscale_and_local_has() -> None:
    with pytest.raises(CapabilityError, match="must be one of text, image"):
        _check("vertex", mode="upscale")
    _check("local", mode="upscale", has_source_video=True)


def test_unknown_tier_and_provider() -> None:
    with pytest.raises(CapabilityError):
        model_spec(provider="vertex", tier="ultra")
    with pytest.raises(LookupError):
        model_spec(provider="nope", tier="fast")


def _submit(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    return client.post("/api/v1/veo/generate", body, format="json").json()


KIE_MODEL = {"quality": "veo3", "fast": "veo3_fast", "lite": "veo3_lite"}


@pytest.mark.parametrize("provider", ["local", "vertex"])
def test_models_endpoint_agrees_with_submit(provider: str, settings: Any, bearer: Any) -> None:
    """Every advertised (resolution, duration, aspect ratio) of every model is accepted by the
    kie facade; an unadvertised duration, resolution and aspect ratio are refused."""
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), provider)
    settings.GENERATION_MAX_ACTIVE_JOBS = 10_000
    settings.GENERATION_RATE_LIMIT = 10_000
    client = Client()
    answer = client.get("/api/v1/models").json()
    assert answer["code"] == 200
    models = answer["data"]["models"]
    assert [m["tier"] for m in models] == ["quality", "fast", "lite"]
    credits_grant(user=bearer.user, amount=10**7, idempotency_key="catalog-test")
    for model in models:
        assert model["provider"] == provider
        for resolution, price in model["prices"].items():
            assert resolution in model["resolutions"]
            for seconds, aspect in itertools.product(price["credits"], model["aspect_ratios"]):
                body = {
                    "prompt": "a lighthouse at dusk",
                    "model": KIE_MODEL[model["tier"]],
                    "resolution": resolution,
                    "duration": int(seconds),
                    "aspectRatio": aspect,
                }
                result = _submit(bearer, body)
                assert result["code"] == 200, (model["tier"], body, result)
        refused = [
            ({"duration": 5}, "duration"),
            ({"aspectRatio": "1:1"}, "aspectRatio"),
        ]
        if "4k" not in model["resolutions"]:
            refused.append(({"resolution": "4k"}, "resolution"))
        for change, field in refused:
            body = {"prompt": "x", "model": KIE_MODEL[model["tier"]], **change}
            result = _submit(bearer, body)
            assert result["code"] != 200 and field in result["msg"], (change, result)


def test_models_endpoint_is_public_and_prices_follow_the_table(settings: Any) -> None:
    from billing.models import Price

    Price.objects.create(
        operation="generate",
        model_tier="fast",
        resolution="1080p",
        flat_credits=3,
        credits_per_second=7,
    )
    data = Client().get("/api/v1/models").json()["data"]
    assert data["checked_on"] == "2026-12-07"
    fast = next(m for m in data["models"] if m["tier"] == "fast")
    assert fast["prices"]["1080p"] == {
        "flat_credits": 3,
        "credits_per_second": 7,
        "credits": {"8": 59},
        # BILLING_SILENT_PRICE_PERCENT (100) of the audio price without a silent row.
        "without_audio": {"flat_credits": 3, "credits_per_second": 7},
    }


def test_audio_off_where_the_model_allows_it_priced_from_the_silent_row(
    settings: Any, bearer: Any
) -> None:
    """Veo on Vertex can switch audio off (`generateAudio: false`, priced from the silent row);
    Omni always generates audio, so kie refuses it naming `generateAudio`."""
    from billing.models import Price
    from generation.models import Job

    credits_grant(user=bearer.user, amount=10_000, idempotency_key="audio-test")
    Price.objects.create(
        operation="generate", model_tier="fast", resolution="720p", credits_per_second=8
    )
    Price.objects.create(
        operation="generate",
        model_tier="fast",
        resolution="720p",
        audio=False,
        credits_per_second=5,
    )
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "vertex")
    fast = next(
        m for m in Client().get("/api/v1/models").json()["data"]["models"] if m["tier"] == "fast"
    )
    assert fast["audio_optional"] is True
    assert fast["prices"]["720p"]["without_audio"] == {"flat_credits": 0, "credits_per_second": 5}
    body = {"prompt": "x", "model": "veo3_fast", "duration": 8, "generateAudio": False}
    answer = _submit(bearer, body)
    assert answer["code"] == 200, answer
    job = Job.objects.get(pk=answer["data"]["taskId"].removeprefix("veo_task_"))
    assert (job.generate_audio, job.credits_quoted) == (False, 40)
    settings.GENERATION_PROVIDERS_BY_TIER = dict.fromkeys(("quality", "fast", "lite"), "omni")
    answer = _submit(bearer, body)
    assert answer["code"] != 200 and "generateAudio" in answer["msg"], answer
