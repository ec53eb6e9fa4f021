# ruff: noqa: RUF001 - Turkish strings use the dotless i on purpose
"""API docs pages (this server's base URL in every example), the OpenAPI schema and its local
viewers, static assets without CDNs, and the language switch (English, Turkish, Dutch)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

FACADE_PATHS = {
    "veo3o1": ["/api/generate-video", "/api/video-status/{uuid}", "/api/upload-video-image"],
    "veo3api": [
        "/api/v1/veo/generate",
        "/api/v1/veo/record-info",
        "/api/v1/veo/get-1080p-video",
        "/api/v1/veo/get-4k-video",
        "/api/v1/veo/extend",
        "/api/v1/common/credit",
        "/api/v1/chat/credit",
        "/api/v1/common/download-url",
        "/api/file-stream-upload",
        "/api/file-base64-upload",
        "/api/file-url-upload",
    ],
    "codefast": ["/", "/generate", "/status/{job_id}", "/videos"],
    "openai": [
        "/v1/videos",
        "/v1/videos/{video_id}",
        "/v1/videos/{video_id}/content",
        "/v1/videos/{video_id}/remix",
        "/v1/videos/{video_id}/cancel",
        "/v1/videos/extensions",
    ],
}


@pytest.mark.parametrize("facade", ["veo3o1", "veo3api", "codefast"])
def test_docs_examples_use_this_servers_base_url(client: Client, facade: str, settings) -> None:
    settings.PUBLIC_BASE_URL = ""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "video.example.test"]
    page = client.get(
        reverse("dashboard:docs-facade", args=[facade]), HTTP_HOST="video.example.test"
    ).content.decode()
    base = "http://video.example.test"
    assert "<h3>cURL</h3>" in page and "<h3>JavaScript (fetch)</h3>" in page
    assert "<h3>Python (requests)</h3>" in page
    assert page.count(f"curl -X POST &quot;{base}/") + page.count(f'curl "{base}/') >= 1
    assert f'fetch("{base}/' in page or f"fetch(`{base}/" in page
    assert f'requests.post(\n    "{base}/' in page or f'"{base}/' in page
    assert "codefast.app" not in page and "veo3api.ai/api" not in page
    for path in FACADE_PATHS[facade]:
        assert path.split("{")[0] in page, path


def test_docs_prefer_public_base_url(client: Client, settings) -> None:
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    page = client.get(reverse("dashboard:docs-facade", args=["codefast"])).content.decode()
    assert 'curl -X POST "https://api.example.com/generate"' in page.replace("&quot;", '"')
    index = client.get(reverse("dashboard:docs")).content.decode()
    assert '<code id="base-url">https://api.example.com</code>' in index


def test_openai_docs_page_shows_both_sdks_against_this_server(client: Client, settings) -> None:
    settings.PUBLIC_BASE_URL = "https://video.example.test"
    page = client.get(reverse("dashboard:docs-facade", args=["openai"])).content.decode()
    assert 'base_url="https://video.example.test/v1"' in page
    assert 'baseURL: "https://video.example.test/v1"' in page
    assert "videos.create_and_poll" in page and "downloadContent" in page
    index = client.get(reverse("dashboard:docs")).content.decode()
    assert reverse("dashboard:docs-facade", args=["openai"]) in index


def test_unknown_docs_page_is_404(client: Client) -> None:
    assert client.get(reverse("dashboard:docs-facade", args=["nope"])).status_code == 404


def test_openapi_schema_is_valid_json_with_every_facade_path(client: Client) -> None:
    response = client.get(reverse("dashboard:docs-schema"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    validate_schema(schema)  # the OpenAPI 3 JSON schema shipped with drf-spectacular
    for paths in FACADE_PATHS.values():
        for path in paths:
            assert path in schema["paths"], path
    assert schema["servers"] == [{"url": "http://testserver"}]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerApiKey"] == {
        **schemes["bearerApiKey"],
        "type": "http",
        "scheme": "bearer",
    }
    assert schemes["xApiKey"]["name"] == "X-API-Key"
    generate = schema["paths"]["/api/v1/veo/generate"]["post"]
    assert generate["security"] == [{"bearerApiKey": []}]
    assert "prompt" in generate["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert schema["paths"]["/generate"]["post"]["security"] == [{"xApiKey": []}]


def test_schema_generation_has_no_warnings(tmp_path: Path) -> None:
    # --fail-on-warn turns any "could not resolve" / "unable to guess serializer" into an error,
    # so a new facade view without a description is caught here.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(tmp_path / "schema.json"),
    )
    assert json.loads((tmp_path / "schema.json").read_text())["info"]["title"] == "veosaas API"


@pytest.mark.parametrize("name", ["dashboard:docs-swagger", "dashboard:docs-redoc"])
def test_schema_viewers_load_only_local_assets(client: Client, name: str) -> None:
    page = client.get(reverse(name)).content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    # Swagger UI's own script comes from the viewer's URL (`?script`: no inline script, CSP).
    local = ("/static/", reverse(name))
    assert sources and all(s.startswith(local) for s in sources), sources
    assert "cdn." not in page and "unpkg" not in page
    for source in sources:
        response = client.get(source)
        assert response.status_code == 200, source


def test_dashboard_assets_are_local(browser: Client) -> None:
    for url in (reverse("dashboard:home"), reverse("dashboard:new"), reverse("dashboard:docs")):
        page = browser.get(url).content.decode()
        for source in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page):
            assert source.startswith("/static/"), source
            assert browser.get(source).status_code == 200, source
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


# ---------------------------------------------------------------------------------------------
# Languages
# ---------------------------------------------------------------------------------------------


def test_language_switch_turns_the_dashboard_turkish_then_dutch(browser: Client) -> None:
    english = browser.get(reverse("dashboard:home")).content.decode()
    assert '<html lang="en">' in english and "Daily limit" in english
    response = browser.post(
        reverse("set_language"), {"language": "tr", "next": reverse("dashboard:home")}
    )
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "tr"
    turkish = browser.get(reverse("dashboard:home")).content.decode()
    assert '<html lang="tr">' in turkish
    for text in (
        "Günlük Limit",
        "Kalan Kullanım",
        "Toplam Video",
        "Yeni Video Oluştur",
        "Çıkış Yap",
        "Kullanılabilir Kredi",
    ):
        assert text in turkish, text
    browser.post(reverse("set_language"), {"language": "nl", "next": "/dashboard/"})
    dutch = browser.get(reverse("dashboard:home")).content.decode()
    assert '<html lang="nl">' in dutch and "Daglimiet" in dutch and "Uitloggen" in dutch


def test_browser_language_is_used_until_one_is_chosen(client: Client, db) -> None:
    page = client.get(reverse("dashboard:login"), HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9")
    assert "API Key ile Giriş" in page.content.decode()
    assert page["Content-Language"] == "tr"


def test_status_labels_and_errors_follow_the_language(browser: Client, member) -> None:
    from generation.services import JobSpec, job_submit

    job = job_submit(
        user=member, spec=JobSpec(facade="dashboard", prompt="x", duration_seconds=4)
    ).job
    browser.post(reverse("set_language"), {"language": "tr"})
    status = browser.get(reverse("dashboard:job-status", args=[job.id])).json()
    assert status["state_label"] == "Kuyrukta"
    assert status["queue_text"].startswith("Kuyruk Pozisyonu: 1")


def test_language_switch_refuses_a_post_without_csrf_token(csrf_browser: Client) -> None:
    response = csrf_browser.post(reverse("set_language"), {"language": "tr"})
    assert response.status_code == 403
    assert settings.LANGUAGE_COOKIE_NAME not in csrf_browser.cookies


def test_compiled_translations_match_their_po_files() -> None:
    # The .mo files are committed (no GNU gettext needed to run); this keeps them current.
    pytest.importorskip("polib")
    call_command("compiletranslations", "--check")


def test_every_translation_is_filled_in() -> None:
    polib = pytest.importorskip("polib")
    for lang in ("tr", "nl"):
        catalog = polib.pofile(
            str(Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po")
        )
        assert catalog.percent_translated() == 100, lang
        assert not [e.msgid for e in catalog.fuzzy_entries()], lang
