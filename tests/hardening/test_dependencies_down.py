"""A dead cache: key authentication falls back to the database, submits fail closed with a
503 in each facade's format (nothing written), `/healthz` names the cache and answers 503,
`/healthz/worker` answers JSON. Revocation wins over a request that cached the key just
before it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from accounts.selectors import ApiKeyInvalid, api_key_authenticate
from accounts.services import api_key_create, api_key_revoke, api_key_touch
from billing.models import Transfer
from billing.services import credits_grant
from generation.models import Job
from tests.factories import UserFactory
from tests.processes import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> tuple[Any, str]:
    user = UserFactory()
    credits_grant(user=user, amount=1000, idempotency_key=f"deps:{user.pk}")
    return user, api_key_create(user=user, name="deps").token


@pytest.fixture
def dead_cache(settings: Any) -> str:
    url = f"redis://127.0.0.1:{free_port()}/1"  # nothing listens there
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "veosaas.cache.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return url


def test_reads_authenticate_through_the_database_when_the_cache_is_down(
    account, dead_cache
) -> None:
    _, token = account
    client = Client(raise_request_exception=False)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    credit = client.get("/api/v1/common/credit", **bearer)
    assert credit.status_code == 200 and credit.json()["data"] == 1000, credit.content
    status = client.get(f"/api/video-status/{uuid.uuid4()}", **bearer)
    assert status.status_code == 404 and status.json()["code"] == 1000, status.content
    codefast = client.get(f"/status/{uuid.uuid4()}", HTTP_X_API_KEY=token)
    assert codefast.status_code == 404 and "detail" in codefast.json(), codefast.content
    videos = client.get(f"/v1/videos/video_{uuid.uuid4().hex}", **bearer)
    assert videos.status_code == 404 and videos.json()["error"]["code"] == "not_found"
    assert client.get("/v1/videos", **bearer).status_code == 200
    usage = client.get("/api/v1/account/usage", **bearer)
    assert usage.status_code == 200, usage.content
    wrong = client.get("/api/v1/common/credit", HTTP_AUTHORIZATION="Bearer vsk_wrong")
    assert wrong.status_code in (200, 401) and wrong.json()["code"] == 401


@pytest.mark.parametrize(
    ("path", "auth", "body", "check"),
    [
        (
            "/api/generate-video",
            "bearer",
            {"generationType": "text_to_video", "prompt": "x"},
            lambda r: r.status_code == 503 and r.json()["code"] == 5000,
        ),
        (
            "/api/v1/veo/generate",
            "bearer",
            {"prompt": "x"},
            lambda r: r.status_code in (200, 503) and r.json()["code"] == 455,
        ),
        (
            "/generate",
            "x-api-key",
            {"prompt": "x"},
            lambda r: r.status_code == 503 and isinstance(r.json()["detail"], str),
        ),
        (
            "/v1/videos",
            "bearer",
            {"prompt": "x"},
            lambda r: r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable",
        ),
    ],
)
def test_submits_fail_closed_with_a_facade_503_when_limits_cannot_be_checked(
    account, dead_cache, path, auth, body, check
) -> None:
    _, token = account
    headers = (
        {"HTTP_X_API_KEY": token}
        if auth == "x-api-key"
        else {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    )
    transfers = Transfer.objects.count()
    response = Client(raise_request_exception=False).post(
        path, body, content_type="application/json", **headers
    )
    assert check(response), response.content
    assert response["Retry-After"]
    assert Job.objects.count() == 0 and Transfer.objects.count() == transfers


def test_healthz_reports_each_dependency_and_503_when_the_cache_is_down(dead_cache) -> None:
    response = Client(raise_request_exception=False).get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["database"] == "ok" and body["broker"] == "ok"
    assert body["cache"].startswith("error")
    worker = Client(raise_request_exception=False).get("/healthz/worker?timeout=0.5")
    assert worker.status_code == 503 and worker.json()["status"] == "error"


def test_healthz_is_ok_with_every_dependency_up(db) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}


def test_revocation_wins_over_a_request_that_authenticated_just_before_it(
    account, django_capture_on_commit_callbacks
) -> None:
    user, token = account
    early = api_key_authenticate(token=token)  # a request authenticates (and caches the key)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=user.api_keys.get())  # the key is revoked (and committed)
    api_key_touch(api_key=early)  # then the early request records use: writes its old copy
    with pytest.raises(ApiKeyInvalid):
        api_key_authenticate(token=token)
    response = Client().get("/api/v1/common/credit", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.json()["code"] == 401


def test_revocation_wins_when_the_stale_copy_is_read_and_touched_again(
    account, django_capture_on_commit_callbacks
) -> None:
    user, token = account
    early = api_key_authenticate(token=token)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=user.api_keys.get())
    api_key_touch(api_key=early)
    for _ in range(3):
        with pytest.raises(ApiKeyInvalid):
            api_key_authenticate(token=token)
    response = Client().get(
        f"/api/video-status/{uuid.uuid4()}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 401
