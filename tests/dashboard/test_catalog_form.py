"""The new-video form and the price page show the capability catalog from the same code as
`GET /api/v1/models` (models_published), so they cannot disagree with it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from billing.models import Price

pytestmark = pytest.mark.django_db


def published() -> list[dict[str, Any]]:
    return Client().get("/api/v1/models").json()["data"]["models"]


@pytest.mark.parametrize(
    "providers",
    [None, {"quality": "vertex", "fast": "vertex", "lite": "omni"}],
    ids=["local", "google"],
)
def test_the_new_video_forms_choices_equal_the_models_api(
    browser: Client, settings, providers
) -> None:  # type: ignore[no-untyped-def]
    if providers:
        settings.GENERATION_PROVIDERS_BY_TIER = providers
    models = published()
    response = browser.get("/dashboard/new/")
    form = response.context["form"]
    assert [v for v, _label in form.fields["model_tier"].choices] == [m["tier"] for m in models]
    for (_value, label), model in zip(form.fields["model_tier"].choices, models, strict=True):
        assert model["id"] in str(label)
    durations = sorted({d for m in models for d in m["durations"]})
    assert [v for v, _label in form.fields["duration_seconds"].choices] == durations
    resolutions = {r for m in models for r in m["resolutions"]}
    assert {v for v, _label in form.fields["resolution"].choices} == resolutions
    # Each model's capabilities, embedded for the page's script, are the API's.
    page = response.content.decode()
    embedded = json.loads(
        re.search(
            r'<script id="model-catalog" type="application/json">(.*?)</script>', page, re.S
        ).group(1)  # type: ignore[union-attr]
    )
    keys = ("id", "tier", "durations", "resolutions", "audio", "audio_optional", "modes")
    assert embedded == [{k: m[k] for k in keys} for m in models]
    for model in models:
        assert f"<code>{model['id']}</code>" in page
    if providers:  # Omni: 3-15 s, 360p and no way to switch sound off
        assert 15 in durations and "360p" in resolutions
        assert models[2]["audio_optional"] is False


def test_sound_off_is_priced_and_submitted(browser: Client, member) -> None:  # type: ignore[no-untyped-def]
    from generation.models import Job

    price = browser.get(
        "/dashboard/price/",
        {
            "mode": "text",
            "model_tier": "fast",
            "aspect_ratio": "16:9",
            "duration_seconds": "4",
            "resolution": "720p",
        },
    ).json()
    with_sound = browser.get(
        "/dashboard/price/",
        {
            "mode": "text",
            "model_tier": "fast",
            "aspect_ratio": "16:9",
            "duration_seconds": "4",
            "resolution": "720p",
            "generate_audio": "on",
        },
    ).json()
    assert price["credits"] is not None and with_sound["credits"] is not None
    assert price["credits"] <= with_sound["credits"]
    new = browser.get("/dashboard/new/").context["form"]
    response = browser.post(
        "/dashboard/new/",
        {
            "prompt": "a fox",
            "mode": "text",
            "model_tier": "fast",
            "aspect_ratio": "16:9",
            "duration_seconds": "4",
            "resolution": "720p",
            "form_token": new.initial["form_token"],
        },
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.generate_audio is False and job.raw_request["generate_audio"] is False


def test_the_price_page_shows_the_catalog_with_the_price_tables_rates(client: Client) -> None:
    Price.objects.create(
        operation="generate", model_tier="lite", resolution="720p", credits_per_second=3
    )
    page = client.get("/docs/prices/").content.decode()
    assert 'href="/api/v1/models"' in page
    table = page[page.index('id="model-table"') :].split("</table>")[0]
    for model in published():
        assert f"<code>{model['id']}</code>" in table
        for resolution, price in model["prices"].items():
            row = table.split(f'data-model="{model["id"]}" data-resolution="{resolution}"')[1]
            row = row.split("</tr>")[0]
            assert f'<td class="num">{price["credits_per_second"]}' in row
    lite = table.split('data-model="local-lite" data-resolution="720p"')[1].split("</tr>")[0]
    assert '<td class="num">3</td>' in lite
