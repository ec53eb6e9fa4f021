"""What a key may ask for, through each facade: model allow-list, max resolution and max
seconds refused before any hold in the facade's own format (an allowed request still passes);
the key budget's 402 naming the budget; the allowed source addresses checked at
authentication (also on veo3o1's hand-rolled status path)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_limits_set
from billing.models import Transfer
from billing.selectors import balance_get
from billing.services import credits_grant, price_quote
from generation.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CREDITS = 10_000


@pytest.fixture
def user(settings: Any) -> Any:
    settings.VEO3API_HTTP_ERROR_STATUS = True
    settings.VEO3O1_HTTP_ERROR_STATUS = True
    account = UserFactory()
    credits_grant(user=account, amount=CREDITS, idempotency_key=f"seed:{account.pk}")
    return account


def keyed(user: Any, **limits: Any) -> APIClient:
    created = api_key_create(user=user, name="handed-out")
    api_key_limits_set(api_key=created.api_key, changes=limits, actor=None, via="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.token}", HTTP_X_API_KEY=created.token)
    client.api_key = created.api_key  # type: ignore[attr-defined]
    return client


def nothing_held(user: Any) -> bool:
    return (
        not Transfer.objects.filter(kind="hold").exists()
        and balance_get(user=user).available == CREDITS
        and not Job.objects.exists()
    )


def veo3api(client: APIClient, **body: Any) -> Any:
    return client.post("/api/v1/veo/generate", {"prompt": "a fox", **body}, format="json")


@pytest.mark.parametrize(
    ("limits", "body", "field"),
    [
        ({"allowed_models": ["fast", "lite"]}, {"model": "veo3"}, "model"),
        ({"max_resolution": "720p"}, {"model": "veo3_fast", "resolution": "1080p"}, "resolution"),
        ({"max_seconds": 6}, {"model": "veo3_fast", "duration": 8}, "duration"),
    ],
)
def test_veo3api_refuses_what_the_key_may_not_ask_for_before_any_hold(  # type: ignore[no-untyped-def]
    user, limits, body, field
) -> None:
    client = keyed(user, **limits)
    response = veo3api(client, **body)
    answer = response.json()
    assert (response.status_code, answer["code"]) == (422, 422), answer
    assert answer["msg"].startswith(f"{field} ") and "API key" in answer["msg"]
    assert nothing_held(user)


def test_veo3api_still_accepts_what_the_key_allows(user) -> None:  # type: ignore[no-untyped-def]
    client = keyed(user, allowed_models=["fast"], max_resolution="1080p", max_seconds=8)
    answer = veo3api(client, model="veo3_fast", resolution="1080p", duration=8).json()
    assert answer["code"] == 200, answer
    assert Job.objects.get().resolution == "1080p"


def test_veo3o1_refuses_a_model_outside_the_allow_list_in_its_format(user) -> None:  # type: ignore[no-untyped-def]
    client = keyed(user, allowed_models=["lite"])  # veo3o1 runs VEO3O1_MODEL_TIER = fast
    response = client.post(
        "/api/generate-video", {"generationType": "text_to_video", "prompt": "x"}, format="json"
    )
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == 1000 and answer["msg"].startswith("Invalid parameters: model ")
    assert nothing_held(user)


def test_codefast_refuses_seconds_over_the_key_limit_in_its_format(user) -> None:  # type: ignore[no-untyped-def]
    client = keyed(user, max_seconds=4)
    response = client.post("/generate", {"prompt": "x", "duration_seconds": 8}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("duration_seconds ")
    assert nothing_held(user)
    assert (
        client.post("/generate", {"prompt": "x", "duration_seconds": 4}, "json").status_code == 200
    )


def test_a_key_budget_refusal_is_a_402_naming_the_budget_in_each_facade(user) -> None:  # type: ignore[no-untyped-def]
    price = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    client = keyed(user, budget_credits=price.credits, budget_period="day")
    first = veo3api(client, model="veo3_fast").json()
    assert first["code"] == 200
    refused = veo3api(client, model="veo3_fast")
    assert refused.status_code == 402
    assert "key 'handed-out' may spend" in refused.json()["msg"]
    veo3o1 = client.post(
        "/api/generate-video", {"generationType": "text_to_video", "prompt": "x"}, format="json"
    )
    assert veo3o1.status_code == 402
    assert veo3o1.json()["code"] == 1001 and "per day" in veo3o1.json()["msg"]
    codefast = client.post("/generate", {"prompt": "x"}, format="json")
    assert codefast.status_code == 402 and "API key budget" in codefast.json()["detail"]
    assert Job.objects.count() == 1
    assert balance_get(user=user).available == CREDITS - price.credits


def test_allowed_source_addresses_are_checked_at_authentication(user, settings) -> None:  # type: ignore[no-untyped-def]
    client = keyed(user, allowed_ips=["203.0.113.0/24", "2001:db8::/32"])
    credit = "/api/v1/common/credit"
    assert client.get(credit, REMOTE_ADDR="203.0.113.9").json()["code"] == 200
    assert client.get(credit, REMOTE_ADDR="2001:db8::1").json()["code"] == 200
    assert client.get(credit, REMOTE_ADDR="198.51.100.1").status_code == 401
    assert client.get("/videos", REMOTE_ADDR="198.51.100.1").status_code == 401  # codefast
    job = Job.objects.create(user=user, facade="veo3o1", prompt="x")
    status = f"/api/video-status/{job.pk}"
    assert client.get(status, REMOTE_ADDR="198.51.100.1").status_code == 401
    assert client.get(status, REMOTE_ADDR="203.0.113.9").status_code == 200
    # Behind one trusted proxy the address is the last X-Forwarded-For entry.
    settings.ACCOUNTS_TRUSTED_PROXY_COUNT = 1
    forwarded = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.5"}
    assert client.get(credit, **forwarded).json()["code"] == 200
    spoofed = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.5, 1.2.3.4"}
    assert client.get(credit, **spoofed).status_code == 401


def test_a_key_rate_limit_and_concurrency_cap_sit_under_the_accounts(user, settings) -> None:  # type: ignore[no-untyped-def]
    from generation.ratelimit import rate_limit_reset

    settings.GENERATION_RATE_LIMIT = 1000
    capped = keyed(user, max_concurrent_jobs=1)
    assert veo3api(capped, model="veo3_fast").json()["code"] == 200
    refused = veo3api(capped, model="veo3_fast")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "for this API key" in refused.json()["msg"]
    throttled = keyed(user, rate_limit_per_minute=1)
    rate_limit_reset(key=f"generate:key:{throttled.api_key.pk}")  # a window left by an old run
    assert veo3api(throttled, model="veo3_fast").json()["code"] == 200
    limited = veo3api(throttled, model="veo3_fast")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another key of the same account is not held back by either.
    assert veo3api(keyed(user), model="veo3_fast").json()["code"] == 200


def test_an_expired_key_is_refused(user) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    client = keyed(user, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get("/api/v1/common/credit").status_code == 401


def test_a_daily_key_budget_rolls_over_at_the_business_midnight_through_the_api(  # type: ignore[no-untyped-def]
    user, settings
) -> None:
    from datetime import UTC, datetime

    import time_machine

    settings.TIME_ZONE = "America/New_York"  # UTC-5 in January
    price = price_quote(operation="generate", model_tier="fast", resolution="720p", seconds=8)
    client = keyed(user, budget_credits=price.credits, budget_period="day")
    with time_machine.travel(datetime(2026, 1, 15, 4, 59, 58, tzinfo=UTC), tick=False):
        assert veo3api(client, model="veo3_fast").json()["code"] == 200
        assert veo3api(client, model="veo3_fast").status_code == 402
    with time_machine.travel(datetime(2026, 1, 15, 5, 0, 0, tzinfo=UTC), tick=False):
        assert veo3api(client, model="veo3_fast").json()["code"] == 200  # a new local day
        assert veo3api(client, model="veo3_fast").status_code == 402
    assert Job.objects.count() == 2
