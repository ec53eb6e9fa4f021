"""VertexProvider with the real google-genai 3.x SDK against a local fake of Vertex AI's REST
API and Cloud Storage (`tests/fake_vertex.py`). Only the process boundary is faked."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from generation.providers.base import (
    Completed,
    ContentBlocked,
    InputImage,
    Pending,
    ProviderFailed,
    ProviderTransientError,
    RenderRequest,
)
from generation.providers.vertex import VertexProvider
from tests.fake_vertex import FakeVertex, running_fake_vertex, tiny_mp4

API_KEY = "test-key"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeVertex]:
    with running_fake_vertex(mp4=tiny_mp4(), api_key=API_KEY) as server:
        settings.VERTEX_BASE_URL = server.base_url
        settings.VERTEX_STORAGE_BASE_URL = server.base_url
        settings.VERTEX_API_KEY = API_KEY
        settings.VERTEX_OUTPUT_GCS_URI = ""
        settings.VERTEX_POLL_INTERVAL_SECONDS = 10
        settings.VERTEX_HTTP_TIMEOUT_SECONDS = 10
        yield server


@pytest.fixture
def provider() -> VertexProvider:
    return VertexProvider()


def _png(color: str) -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return InputImage(data=buffer.getvalue(), mime_type="image/png", width=64, height=36)


RED, BLUE = _png("red"), _png("blue")


def _request(**changes: Any) -> RenderRequest:
    base = RenderRequest(
        job_id="job-1",
        prompt="a lighthouse at dusk",
        mode="text",
        model_tier="quality",
        aspect_ratio="16:9",
        resolution="720p",
        duration_seconds=8,
        seed=1234,
    )
    return replace(base, **changes)


def _run(provider: VertexProvider, request: RenderRequest, workdir: Path) -> Completed:
    pending = provider.submit(request, workdir=workdir, progress=lambda fraction: None)
    assert isinstance(pending, Pending)
    for _ in range(5):
        outcome = provider.poll(pending.operation, request, workdir=workdir)
        if isinstance(outcome, Completed):
            return outcome
    raise AssertionError("the operation never completed")


def test_sdk_request_paths_and_bodies_are_pinned(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    """A google-genai release that moves Vertex express mode's paths or renames the body's
    fields fails here (the request shapes of ../shared/reference/google-video-2026-12.md)."""
    fake.script.polls_until_done = 1
    request = _request(
        model_tier="fast", negative_prompt="blur", person_generation="allow_adult", seed=7
    )
    completed = _run(provider, request, tmp_path)

    model = "veo-3.1-fast-generate-001"
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths == [
        ("POST", f"/v1beta1/publishers/google/models/{model}:predictLongRunning"),
        ("POST", f"/v1beta1/publishers/google/models/{model}:fetchPredictOperation"),
        ("POST", f"/v1beta1/publishers/google/models/{model}:fetchPredictOperation"),
    ]
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in fake.requests)
    submit = fake.submits()[0].body
    assert submit == {
        "instances": [{"prompt": "a lighthouse at dusk"}],
        "parameters": {
            "sampleCount": 1,
            "durationSeconds": 8,
            "seed": 7,
            "aspectRatio": "16:9",
            "resolution": "720p",
            "personGeneration": "allow_adult",
            "negativePrompt": "blur",
            "generateAudio": True,
        },
    }
    operation = fake.polls()[0].body["operationName"]
    assert operation.startswith(f"publishers/google/models/{model}/operations/")
    assert completed.details == {"vertex_operation": operation, "vertex_model": model}


def test_audio_off_is_sent_as_generate_audio_false(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    provider.submit(_request(generate_audio=False), workdir=tmp_path, progress=print)
    assert fake.last_submit_body()["parameters"]["generateAudio"] is False


def test_inline_video_is_saved_byte_for_byte(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    completed = _run(provider, _request(), tmp_path)
    assert completed.video_path.read_bytes() == fake.mp4
    assert (completed.width, completed.height) == (1280, 720)
    assert completed.provider_video_uri == ""


def test_gcs_output_is_copied_from_cloud_storage(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path, settings: Any
) -> None:
    settings.VERTEX_OUTPUT_GCS_URI = "gs://veo-out/jobs/"
    completed = _run(provider, _request(), tmp_path)
    assert fake.last_submit_body()["parameters"]["storageUri"] == "gs://veo-out/jobs/"
    assert completed.video_path.read_bytes() == fake.mp4
    assert completed.provider_video_uri.startswith("gs://veo-out/jobs/")
    reads = [r for r in fake.requests if r.path.startswith("/storage/v1/b/veo-out/o/")]
    assert len(reads) == 1 and reads[0].query == {"alt": ["media"]}


def test_inputs_map_to_vertex_fields(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    b64 = base64.b64encode
    provider.submit(
        _request(mode="first_last", images=(RED, BLUE)), workdir=tmp_path, progress=print
    )
    body = fake.last_submit_body()
    assert body["instances"][0]["image"] == {
        "bytesBase64Encoded": b64(RED.data).decode(),
        "mimeType": "image/png",
    }
    assert body["instances"][0]["lastFrame"]["bytesBase64Encoded"] == b64(BLUE.data).decode()
    provider.submit(_request(mode="reference", images=(RED,)), workdir=tmp_path, progress=print)
    refs = fake.last_submit_body()["instances"][0]["referenceImages"]
    assert refs[0]["referenceType"] == "ASSET"  # the SDK enum value; Vertex docs show "asset"
    source = tmp_path / "source.mp4"
    source.write_bytes(fake.mp4)
    provider.submit(
        _request(mode="extend", source_video_path=str(source)), workdir=tmp_path, progress=print
    )
    video = fake.last_submit_body()["instances"][0]["video"]
    assert base64.b64decode(video["bytesBase64Encoded"]) == fake.mp4
    provider.submit(
        _request(mode="extend", source_video_uri="gs://b/o.mp4"), workdir=tmp_path, progress=print
    )
    assert fake.last_submit_body()["instances"][0]["video"] == {"gcsUri": "gs://b/o.mp4"}


def test_safety_block_is_content_blocked(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    fake.script.result = "blocked"
    with pytest.raises(ContentBlocked, match="usage guidelines"):
        _run(provider, _request(), tmp_path)


def test_429_is_transient_with_retry_after(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    fake.script.submit_errors = [429]
    with pytest.raises(ProviderTransientError) as excinfo:
        provider.submit(_request(), workdir=tmp_path, progress=print)
    assert excinfo.value.retry_after_seconds == 7
    assert isinstance(provider.submit(_request(), workdir=tmp_path, progress=print), Pending)


def test_5xx_is_transient_and_400_is_permanent(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    fake.script.submit_errors = [503, 400]
    with pytest.raises(ProviderTransientError):
        provider.submit(_request(), workdir=tmp_path, progress=print)
    with pytest.raises(ProviderFailed):
        provider.submit(_request(), workdir=tmp_path, progress=print)


def test_unknown_operation_is_not_found(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    name = "publishers/google/models/veo-3.1-generate-001/operations/abc123"
    with pytest.raises(ProviderFailed) as excinfo:
        provider.poll(name, _request(), workdir=tmp_path)
    assert excinfo.value.details["not_found"] == "true"


def test_operation_error_and_garbage(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    fake.script.result = "error"
    with pytest.raises(ProviderFailed, match="Unsupported input"):
        _run(provider, _request(), tmp_path)
    fake.script.operation_error = {"code": 14, "message": "try later"}
    with pytest.raises(ProviderTransientError) as excinfo:
        _run(provider, _request(), tmp_path)
    assert excinfo.value.details["operation_done"] == "true"
    fake.script.malformed = {"poll"}
    pending = provider.submit(_request(), workdir=tmp_path, progress=print)
    with pytest.raises(ProviderTransientError):
        provider.poll(pending.operation, _request(), workdir=tmp_path)


def test_wrong_key_and_missing_configuration(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path, settings: Any
) -> None:
    settings.VERTEX_API_KEY = "wrong"
    with pytest.raises(ProviderFailed, match="API key not valid"):
        provider.submit(_request(), workdir=tmp_path, progress=print)
    settings.VERTEX_API_KEY = ""
    settings.VERTEX_PROJECT = ""
    with pytest.raises(ProviderFailed, match="VERTEX_API_KEY or VERTEX_PROJECT"):
        provider.submit(_request(), workdir=tmp_path, progress=print)


def test_catalog_refusal_before_any_request(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path
) -> None:
    with pytest.raises(ProviderFailed, match="duration"):
        provider.submit(
            _request(resolution="1080p", duration_seconds=4), workdir=tmp_path, progress=print
        )
    with pytest.raises(ProviderFailed, match="mode"):
        provider.submit(_request(mode="upscale"), workdir=tmp_path, progress=print)
    assert fake.requests == []


def _service_account_file(path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "veo-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "veosaas@veo-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    target = path / "service-account.json"
    target.write_text(json.dumps(info))
    return target


def test_service_account_mode_uses_project_paths_and_oauth(
    fake: FakeVertex, provider: VertexProvider, tmp_path: Path, settings: Any, monkeypatch: Any
) -> None:
    """GOOGLE_APPLICATION_CREDENTIALS + VERTEX_PROJECT/LOCATION: the project-scoped paths,
    a Bearer token from the key's token endpoint, and Cloud Storage read with it too."""
    key_file = _service_account_file(tmp_path, f"{fake.base_url}/token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    settings.VERTEX_API_KEY = ""
    settings.VERTEX_PROJECT = "veo-project"
    settings.VERTEX_LOCATION = "europe-west4"
    settings.VERTEX_OUTPUT_GCS_URI = "gs://veo-sa/out/"
    completed = _run(provider, _request(), tmp_path)
    assert completed.video_path.read_bytes() == fake.mp4
    scope = "/v1beta1/projects/veo-project/locations/europe-west4/publishers/google/models"
    vertex = [r for r in fake.requests if r.path.startswith("/v1")]
    assert vertex[0].path == f"{scope}/veo-3.1-generate-001:predictLongRunning"
    assert vertex[1].path == f"{scope}/veo-3.1-generate-001:fetchPredictOperation"
    assert (
        fake.polls()[0]
        .body["operationName"]
        .startswith("projects/veo-project/locations/europe-west4/publishers/google/models/")
    )
    bearer = f"Bearer {fake.access_token}"
    assert all(r.headers.get("authorization") == bearer for r in vertex)
    assert "x-goog-api-key" not in vertex[0].headers
    reads = [r for r in fake.requests if r.path.startswith("/storage/")]
    assert len(reads) == 1 and reads[0].headers["authorization"] == bearer
