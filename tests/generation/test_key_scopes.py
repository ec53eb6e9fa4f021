"""The scope table (K2): every endpoint of every facade and of the account API, called with a
key that has every scope but the one it needs → 403 in that facade's own format; with a key
that has only that scope → anything but 401/403 (the request passes the gate). The table must
name every API endpoint the URL configuration has, so a new endpoint cannot skip it."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from accounts.authentication import BearerApiKeyAuthentication, HeaderApiKeyAuthentication
from accounts.models import ALL_SCOPES
from accounts.services import api_key_create, api_key_limits_set
from billing.services import credits_grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
JOB = "7f0c7a52-3b8e-4c1a-9d4e-2a6b5c8d9e01"  # fixed: test ids must match across xdist workers

# (facade, method, path, scope needed). The facade decides the error format checked.
TABLE: list[tuple[str, str, str, str]] = [
    ("veo3o1", "post", "/api/generate-video", "generate"),
    ("veo3o1", "get", f"/api/video-status/{JOB}", "read"),
    ("veo3o1", "post", "/api/upload-video-image", "generate"),
    ("codefast", "get", "/", "read"),
    ("codefast", "post", "/generate", "generate"),
    ("codefast", "get", f"/status/{JOB}", "read"),
    ("codefast", "get", "/videos", "read"),
    ("veo3api", "post", "/api/v1/veo/generate", "generate"),
    ("veo3api", "get", "/api/v1/veo/record-info", "read"),
    ("veo3api", "get", "/api/v1/veo/get-1080p-video", "generate"),
    ("veo3api", "post", "/api/v1/veo/get-4k-video", "generate"),
    ("veo3api", "post", "/api/v1/veo/extend", "generate"),
    ("veo3api", "get", "/api/v1/common/credit", "read"),
    ("veo3api", "get", "/api/v1/chat/credit", "read"),
    ("veo3api", "post", "/api/v1/common/download-url", "read"),
    ("veo3api", "post", "/api/file-stream-upload", "generate"),
    ("veo3api", "post", "/api/file-base64-upload", "generate"),
    ("veo3api", "post", "/api/file-url-upload", "generate"),
    ("openai", "post", "/v1/videos", "generate"),
    ("openai", "get", "/v1/videos", "read"),
    ("openai", "post", "/v1/videos/extensions", "generate"),
    ("openai", "get", f"/v1/videos/video_{JOB.replace('-', '')}", "read"),
    ("openai", "delete", f"/v1/videos/video_{JOB.replace('-', '')}", "generate"),
    ("openai", "get", f"/v1/videos/video_{JOB.replace('-', '')}/content", "read"),
    ("openai", "post", f"/v1/videos/video_{JOB.replace('-', '')}/remix", "generate"),
    ("openai", "post", f"/v1/videos/video_{JOB.replace('-', '')}/cancel", "generate"),
    ("account", "get", "/api/v1/jobs", "read"),
    ("account", "get", f"/api/v1/jobs/{JOB}", "read"),
    ("account", "post", f"/api/v1/jobs/{JOB}/cancel", "generate"),
    ("account", "get", "/api/v1/billing/packs", "read"),
    ("account", "post", "/api/v1/billing/checkout-sessions", "manage"),
    ("account", "get", "/api/v1/account/usage", "read"),
    ("account", "get", "/api/v1/account/usage/daily", "read"),
    ("account", "get", "/api/v1/account/usage/keys", "read"),
    ("account", "get", "/api/v1/account/alerts", "manage"),
    ("account", "post", "/api/v1/account/alerts", "manage"),
    ("account", "get", "/api/v1/account/alerts/1", "manage"),
    ("account", "patch", "/api/v1/account/alerts/1", "manage"),
    ("account", "delete", "/api/v1/account/alerts/1", "manage"),
    ("account", "get", "/api/v1/account/callback-url", "manage"),
    ("account", "put", "/api/v1/account/callback-url", "manage"),
    ("account", "get", "/api/v1/account/keys", "manage"),
    ("account", "post", "/api/v1/account/keys", "manage"),
    ("account", "get", "/api/v1/account/keys/1", "manage"),
    ("account", "patch", "/api/v1/account/keys/1", "manage"),
    ("account", "delete", "/api/v1/account/keys/1", "manage"),
]
# URL names that are not API-key endpoints: permanent media URLs and signed download links
# (unguessable, no key), the Stripe webhook (signed by Stripe).
NOT_KEY_ENDPOINTS = {
    "media-video",
    "media-poster",
    "media-upload",
    "veo3api-full-video",
    "veo3api-download",
    "stripe-webhook",
}
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
KEY_AUTHENTICATIONS = (BearerApiKeyAuthentication, HeaderApiKeyAuthentication)


def _patterns(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found.extend(_patterns(entry, prefix + str(entry.pattern)))
        else:
            found.append((prefix + str(entry.pattern), entry))
    return found


def test_the_table_names_every_api_key_endpoint() -> None:
    covered = {(m, resolve(p.split("?")[0]).route) for _, m, p, _ in TABLE}
    expected = set()
    for route, pattern in _patterns(get_resolver()):
        if pattern.name in NOT_KEY_ENDPOINTS:
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        auth = getattr(view_class, "authentication_classes", ())
        if pattern.name == "codefast-root":
            expected.add(("get", route))
        elif any(issubclass(a, KEY_AUTHENTICATIONS) for a in auth):
            expected |= {(m, route) for m in HTTP_METHODS if hasattr(view_class, m)}
    assert expected - covered == set()


@pytest.fixture
def account(settings: Any) -> Any:
    settings.VEO3API_HTTP_ERROR_STATUS = True
    settings.VEO3O1_HTTP_ERROR_STATUS = True
    user = UserFactory()
    credits_grant(user=user, amount=10_000, idempotency_key=f"seed:{user.pk}")
    return user


def client_with(user: Any, scopes: list[str]) -> tuple[APIClient, Any]:
    created = api_key_create(user=user, name="scoped")
    api_key_limits_set(api_key=created.api_key, changes={"scopes": scopes}, actor=None, via="t")
    client = APIClient()
    client.token = created.token  # type: ignore[attr-defined]
    return client, created.api_key


def call(client: APIClient, facade: str, method: str, path: str) -> Any:
    token = client.token  # type: ignore[attr-defined]
    if facade == "codefast":
        headers = {"HTTP_X_API_KEY": token, "HTTP_ACCEPT": "application/json"}
    else:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    return getattr(client, method)(path, {} if method != "get" else None, format="json", **headers)


def assert_forbidden_in_format(facade: str, response: Any, scope: str) -> None:
    assert response.status_code == 403, (facade, response.status_code, response.content)
    body = response.json()
    text = f"lacks the '{scope}' scope"
    if facade == "codefast":
        assert set(body) == {"detail"} and text in body["detail"]
    elif facade == "openai":
        assert body["error"]["type"] == "permission_error" and text in body["error"]["message"]
    elif facade == "veo3o1":
        assert body["code"] == 1000 and text in body["msg"] and body["data"] is None
    else:  # veo3api and the account API: {code, msg, data} with code = HTTP status
        assert body["code"] == 403 and text in body["msg"] and body["data"] is None


@pytest.mark.parametrize(("facade", "method", "path", "scope"), TABLE)
def test_each_endpoint_answers_403_without_its_scope_and_passes_with_it(  # type: ignore[no-untyped-def]
    account, facade, method, path, scope
) -> None:
    without, _ = client_with(account, [s for s in ALL_SCOPES if s != scope])
    assert_forbidden_in_format(facade, call(without, facade, method, path), scope)
    only, _ = client_with(account, [scope])
    response = call(only, facade, method, path)
    assert response.status_code != 401, response.content
    # Past the scope gate; creating or changing keys then also needs a key of every scope.
    assert response.status_code != 403 or (
        path.startswith("/api/v1/account/keys")
        and method in ("post", "patch")
        and "only a key with every scope" in response.json()["msg"]
    ), response.content
