"""D1: the deploy checklist passes with production settings."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_passes_with_production_settings(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="veosaas.settings",
        SECRET_KEY=secrets.token_urlsafe(60),
        DEBUG="0",
        SECURE_HTTPS="1",
        ALLOWED_HOSTS="api.example.com",
        VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_defaults_fail_the_deploy_check(tmp_path: Path) -> None:
    """Without TLS settings the checklist warns: production must opt in explicitly."""
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="veosaas.settings", VAR_DIR=str(tmp_path), SECURE_HTTPS="0")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stdout + result.stderr


def test_api_answers_in_english_whatever_the_accept_language(client) -> None:
    response = client.post(
        "/api/generate-video",
        b"{bad json",
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="tr",
        HTTP_AUTHORIZATION="Bearer x",
    )
    assert response.status_code == 401
    assert response.json()["msg"] == "Authentication failed"
    assert "Content-Language" not in response


@pytest.mark.parametrize(
    "path",
    ["/v1/videos", f"/v1/videos/video_{'0' * 32}", "/api/v1/jobs", "/status/x", "/healthz/live"],
)
def test_every_api_answers_without_the_dashboards_language_or_zone(client, path) -> None:
    """API paths (the OpenAI-style /v1/ ones too) skip the dashboard's language and display
    time zone: no Content-Language, no Vary on Accept-Language or Cookie for them."""
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="tr", HTTP_COOKIE="veosaas_tz=Europe/Istanbul")
    assert "Content-Language" not in response, path
    assert "Accept-Language" not in response.get("Vary", ""), path
