"""The Content-Security-Policy header of key-API responses (built once per process by
veosaas.middleware.ApiPolicyCSPMiddleware) is exactly django-csp's, follows the settings, and
pages keep django-csp's own per-request policy with its script nonce."""

from __future__ import annotations

import uuid
from dataclasses import asdict

import pytest
from csp.middleware import PolicyParts
from csp.utils import build_policy
from django.test import Client

from accounts.services import api_key_create

pytestmark = pytest.mark.django_db


def expected() -> str:
    return build_policy(**asdict(PolicyParts()))


def test_key_api_answers_carry_django_csps_policy(user) -> None:
    token = api_key_create(user=user, name="k").token
    client = Client()
    status = client.get(f"/api/video-status/{uuid.uuid4()}", HTTP_AUTHORIZATION=f"Bearer {token}")
    refused = client.get("/v1/videos")
    live = client.get("/healthz/live")
    for response in (status, refused, live):
        assert response["Content-Security-Policy"] == expected()
        assert "nonce" not in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in live["Content-Security-Policy"]


def test_a_settings_change_changes_the_header_at_once(settings) -> None:
    client = Client()
    before = client.get("/healthz/live")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    assert client.get("/healthz/live")["Content-Security-Policy"] == "default-src 'none'"
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
        "DIRECTIVES": {"default-src": ["'self'"]},
        "EXCLUDE_URL_PREFIXES": ["/healthz"],
    }
    response = client.get("/healthz/live")
    assert "Content-Security-Policy-Report-Only" not in response  # excluded there
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert before != "default-src 'none'"


def test_excluded_prefixes_get_no_header(settings) -> None:
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {"default-src": ["'self'"]},
        "EXCLUDE_URL_PREFIXES": ["/healthz"],
    }
    assert "Content-Security-Policy" not in Client().get("/healthz/live")


def test_pages_keep_their_nonce_per_request(client) -> None:
    first = client.get("/accounts/login/")
    second = client.get("/accounts/login/")
    assert first.status_code == 200
    assert "'nonce-" in first["Content-Security-Policy"]
    assert first["Content-Security-Policy"] != second["Content-Security-Policy"]
