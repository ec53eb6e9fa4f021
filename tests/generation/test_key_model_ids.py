"""A key's model allow-list names the capability catalog's model ids (`GET /api/v1/models`):
a key limited to model X submits X on every facade and is refused Y before any hold, in each
facade's own format, the message naming the allowed ids. Older keys holding tier names keep
working (mapped when checked, no data migration)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import ApiKeyLimitsInvalid, api_key_create
from billing.models import Transfer
from billing.services import credits_grant
from generation.errors import KeyLimitRefused
from generation.models import Job
from generation.services import (
    api_key_settings_update,
    job_key_limits_check,
    key_model_choices,
    key_models_validate,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def catalog_ids() -> dict[str, str]:
    """tier → model id, as GET /api/v1/models publishes them."""
    models = Client().get("/api/v1/models").json()["data"]["models"]
    return {m["tier"]: m["id"] for m in models}


@pytest.fixture
def user(settings: Any) -> Any:
    settings.VEO3API_HTTP_ERROR_STATUS = True
    settings.VEO3O1_HTTP_ERROR_STATUS = True
    settings.VEO3O1_MODEL_TIER = "fast"
    settings.CODEFAST_MODEL_TIER = "fast"
    account = UserFactory()
    credits_grant(user=account, amount=10_000, idempotency_key=f"seed:{account.pk}")
    return account


def keyed(user: Any, models: list[str]) -> APIClient:
    created = api_key_create(user=user, name="contractor")
    api_key_settings_update(
        api_key=created.api_key, changes={"allowed_models": models}, actor=None, via="test"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}", HTTP_X_API_KEY=created.token)
    return client


def submit(client: APIClient, facade: str, model: str = "veo3_fast") -> Any:
    if facade == "veo3api":
        return client.post("/api/v1/veo/generate", {"prompt": "a fox", "model": model}, "json")
    if facade == "veo3o1":
        body = {"generationType": "text_to_video", "prompt": "a fox"}
        return client.post("/api/generate-video", body, format="json")
    return client.post("/generate", {"prompt": "a fox", "duration_seconds": 8}, format="json")


@pytest.mark.parametrize("facade", ["veo3api", "veo3o1", "codefast"])
def test_a_key_limited_to_a_catalog_model_submits_it_on_each_facade(user, facade) -> None:  # type: ignore[no-untyped-def]
    client = keyed(user, [catalog_ids()["fast"]])
    response = submit(client, facade)
    assert response.status_code == 200, response.content
    assert Job.objects.get().model_tier == "fast"


@pytest.mark.parametrize("facade", ["veo3api", "veo3o1", "codefast"])
def test_a_key_limited_to_another_model_is_refused_in_each_facades_format(user, facade) -> None:  # type: ignore[no-untyped-def]
    lite = catalog_ids()["lite"]
    client = keyed(user, [lite])
    response = submit(client, facade)
    answer = response.json()
    if facade == "veo3api":
        assert (response.status_code, answer["code"]) == (422, 422)
        message = answer["msg"]
        assert message.startswith("model ")
    elif facade == "veo3o1":
        assert (response.status_code, answer["code"]) == (400, 1000)
        message = answer["msg"]
        assert message.startswith("Invalid parameters: model ")
    else:
        assert response.status_code == 422
        message = answer["detail"]
        assert message.startswith("model ")
    assert catalog_ids()["fast"] in message and f"allowed: {lite}" in message
    assert not Job.objects.exists() and not Transfer.objects.filter(kind="hold").exists()


def test_veo3api_model_names_map_onto_the_catalog_ids(user) -> None:  # type: ignore[no-untyped-def]
    ids = catalog_ids()
    client = keyed(user, [ids["quality"], ids["lite"]])
    assert submit(client, "veo3api", "veo3").json()["code"] == 200
    assert submit(client, "veo3api", "veo3_lite").json()["code"] == 200
    assert submit(client, "veo3api", "veo3_fast").status_code == 422
    assert sorted(Job.objects.values_list("model_tier", flat=True)) == ["lite", "quality"]


def test_unknown_ids_are_refused_naming_the_valid_ones() -> None:
    with pytest.raises(ApiKeyLimitsInvalid) as refused:
        key_models_validate(models=["sora-2"])
    assert refused.value.field == "allowed_models"
    for model_id, _tiers in key_model_choices():
        assert model_id in refused.value.message
    assert "/api/v1/models" in refused.value.message


def test_upstream_ids_with_google_providers_and_tier_names_of_older_keys(settings) -> None:  # type: ignore[no-untyped-def]
    settings.GENERATION_PROVIDERS_BY_TIER = {"quality": "vertex", "fast": "vertex", "lite": "omni"}
    assert key_model_choices() == [
        ("veo-3.1-generate-001", ["quality"]),
        ("veo-3.1-fast-generate-001", ["fast"]),
        (settings.OMNI_MODEL, ["lite"]),
    ]
    assert key_models_validate(models=[" VEO-3.1-FAST-GENERATE-001", "veo-3.1-generate-001"]) == [
        "veo-3.1-generate-001",
        "veo-3.1-fast-generate-001",
    ]
    fast_only = ApiKey(allowed_models=["veo-3.1-fast-generate-001"])
    job_key_limits_check(
        api_key=fast_only, model_tier="fast", resolution="720p", duration_seconds=8
    )
    with pytest.raises(KeyLimitRefused) as refused:
        job_key_limits_check(
            api_key=fast_only, model_tier="quality", resolution="720p", duration_seconds=8
        )
    assert "veo-3.1-generate-001 is not allowed" in refused.value.message
    # A key saved before the catalog ids (tier names) keeps its meaning: the tier's model now.
    older = ApiKey(allowed_models=["lite"])
    job_key_limits_check(api_key=older, model_tier="lite", resolution="720p", duration_seconds=8)
    with pytest.raises(KeyLimitRefused) as refused:
        job_key_limits_check(
            api_key=older, model_tier="fast", resolution="720p", duration_seconds=8
        )
    assert f"allowed: {settings.OMNI_MODEL}" in refused.value.message
    assert key_models_validate(models=["fast"]) == ["fast"]
