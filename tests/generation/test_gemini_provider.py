"""GeminiProvider with the real google-genai SDK against a local fake of Google's REST API.

Only the process boundary (Google's HTTP API) is faked: `tests/fake_gemini.py`. These tests
need no database.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import time
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
from generation.providers.gemini import GeminiProvider
from tests.fake_gemini import FakeGemini, running_fake_gemini, tiny_mp4

API_KEY = "test-key"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeGemini]:
    with running_fake_gemini(mp4=tiny_mp4(), api_key=API_KEY) as server:
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = API_KEY
        settings.GEMINI_POLL_INTERVAL_SECONDS = 10
        settings.GEMINI_HTTP_TIMEOUT_SECONDS = 10
        yield server


@pytest.fixture
def provider() -> GeminiProvider:
    return GeminiProvider()


def _png(color: str) -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return InputImage(data=buffer.getvalue(), mime_type="image/png", width=64, height=36)


RED, BLUE, GREEN = _png("red"), _png("blue"), _png("green")


def _request(**changes: Any) -> RenderRequest:
    base = RenderRequest(
        job_id="job-1",
        prompt="a lighthouse at dusk, waves crashing",
        mode="text",
        model_tier="quality",
        aspect_ratio="16:9",
        resolution="720p",
        duration_seconds=8,
        seed=1234,
    )
    return replace(base, **changes)


def _b64(image: InputImage) -> str:
    return base64.b64encode(image.data).decode()


def _submit(provider: GeminiProvider, request: RenderRequest, workdir: Path) -> Pending:
    outcome = provider.submit(request, workdir=workdir, progress=lambda fraction: None)
    assert isinstance(outcome, Pending)
    return outcome


def _run_to_completion(
    provider: GeminiProvider, request: RenderRequest, workdir: Path, *, max_polls: int = 5
) -> Completed:
    pending = _submit(provider, request, workdir)
    for _ in range(max_polls):
        outcome = provider.poll(pending.operation, request, workdir=workdir)
        if isinstance(outcome, Completed):
            return outcome
    raise AssertionError("the operation never completed")


# -- success and request mapping -------------------------------------------------------------


def test_text_to_video_is_pending_until_done_then_saves_the_served_video(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.polls_until_done = 2
    request = _request(negative_prompt="blurry", person_generation="allow_all")

    pending = _submit(provider, request, tmp_path)
    first = provider.poll(pending.operation, request, workdir=tmp_path)
    second = provider.poll(pending.operation, request, workdir=tmp_path)
    completed = provider.poll(pending.operation, request, workdir=tmp_path)

    assert pending.operation.startswith("models/veo-3.1-generate-preview/operations/")
    assert pending.poll_after_seconds == 10
    assert first == Pending(operation=pending.operation, poll_after_seconds=10)
    assert second == first
    assert isinstance(completed, Completed)
    assert completed.video_path == tmp_path / "video.mp4"
    assert completed.video_path.read_bytes() == fake.mp4
    assert (completed.width, completed.height) == (1280, 720)
    assert completed.duration_seconds == pytest.approx(1.0, abs=0.1)
    assert completed.poster_path is None
    op_id = pending.operation.rsplit("/", 1)[1]
    assert completed.provider_video_uri == fake.video_uri(fake.operations[op_id]["file"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]

    body = fake.last_submit_body()
    assert body["instances"] == [{"prompt": "a lighthouse at dusk, waves crashing"}]
    assert body["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 8,
        "aspectRatio": "16:9",
        "resolution": "720p",
        "personGeneration": "allow_all",
        "negativePrompt": "blurry",
    }


def test_sdk_sends_predict_long_running_poll_and_download_to_the_configured_base_url(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    """Pins the SDK behaviour the provider depends on (ARCHITECTURE.md §4).

    google-genai 3.x makes `generate_videos` Vertex-only; an upgrade that stops sending
    Gemini-API `predictLongRunning` requests to `HttpOptions.base_url`, or changes the poll or
    download URLs, fails here.
    """
    request = _request()
    completed = _run_to_completion(provider, request, tmp_path)

    op_path = "/v1beta/" + completed.details["gemini_operation"]
    file_id = completed.provider_video_uri.split("files/")[1].split(":")[0]
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1beta/models/veo-3.1-generate-preview:predictLongRunning"),
        ("GET", op_path),
        ("GET", op_path),
        ("GET", f"/v1beta/files/{file_id}:download"),
        ("GET", f"/_storage/{file_id}.mp4"),  # the redirect the real download answers with
    ]
    assert fake.requests[3].query == {"alt": ["media"]}


def test_sends_the_api_key_header_on_every_gemini_request(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    _run_to_completion(provider, _request(), tmp_path)

    api_requests = [r for r in fake.requests if r.path.startswith("/v1beta/")]
    assert len(api_requests) == 4
    assert all(r.headers.get("x-goog-api-key") == API_KEY for r in api_requests)
    assert all("key" not in r.query for r in fake.requests)


@pytest.mark.parametrize(
    ("tier", "model"),
    [
        ("quality", "veo-3.1-generate-preview"),
        ("fast", "veo-3.1-fast-generate-preview"),
        ("lite", "veo-3.1-lite-generate-preview"),
    ],
)
def test_submits_to_the_model_of_the_tier(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, tier: str, model: str
) -> None:
    pending = _submit(provider, _request(model_tier=tier), tmp_path)

    assert fake.submits()[-1].path == f"/v1beta/models/{model}:predictLongRunning"
    assert pending.operation.startswith(f"models/{model}/operations/")


def test_model_ids_come_from_settings(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, settings: Any
) -> None:
    settings.GEMINI_MODEL_FAST = "veo-3.1-fast-generate-001"

    _submit(provider, _request(model_tier="fast"), tmp_path)

    assert fake.submits()[-1].path == "/v1beta/models/veo-3.1-fast-generate-001:predictLongRunning"


def test_never_sends_the_seed(fake: FakeGemini, provider: GeminiProvider, tmp_path: Path) -> None:
    _submit(provider, _request(seed=42), tmp_path)

    body = fake.last_submit_body()
    assert "seed" not in body["parameters"]
    assert "seed" not in body["instances"][0]


def test_image_mode_inlines_the_first_frame(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    request = _request(mode="image", images=(RED,), aspect_ratio="9:16", resolution="1080p")

    completed = _run_to_completion(provider, request, tmp_path)

    instance = fake.last_submit_body()["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": _b64(RED), "mimeType": "image/png"}
    assert "lastFrame" not in instance
    parameters = fake.last_submit_body()["parameters"]
    assert (parameters["aspectRatio"], parameters["resolution"]) == ("9:16", "1080p")
    assert completed.video_path.read_bytes() == fake.mp4


def test_first_last_mode_sends_the_second_image_as_last_frame(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    _submit(provider, _request(mode="first_last", images=(RED, BLUE)), tmp_path)

    instance = fake.last_submit_body()["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": _b64(RED), "mimeType": "image/png"}
    assert instance["lastFrame"] == {"bytesBase64Encoded": _b64(BLUE), "mimeType": "image/png"}


def test_reference_mode_sends_asset_reference_images(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    _submit(provider, _request(mode="reference", images=(RED, BLUE, GREEN)), tmp_path)

    instance = fake.last_submit_body()["instances"][0]
    assert "image" not in instance
    # The SDK sends the enum's value: "ASSET" (Google's REST samples write "asset").
    assert instance["referenceImages"] == [
        {
            "image": {"bytesBase64Encoded": _b64(image), "mimeType": "image/png"},
            "referenceType": "ASSET",
        }
        for image in (RED, BLUE, GREEN)
    ]


def test_extend_mode_sends_the_source_video_uri(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    source_uri = "https://generativelanguage.googleapis.com/v1beta/files/abc123:download?alt=media"
    request = _request(
        mode="extend", source_video_uri=source_uri, source_video_path=str(tmp_path / "source.mp4")
    )

    _submit(provider, request, tmp_path)

    body = fake.last_submit_body()
    assert body["instances"][0]["video"] == {"uri": source_uri}
    assert body["parameters"]["resolution"] == "720p"


# -- refused before any request -------------------------------------------------------------


def test_upscale_is_refused_without_calling_google(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    with pytest.raises(ProviderFailed, match="upscale is not a Veo operation"):
        provider.submit(
            _request(mode="upscale", source_video_path=str(tmp_path / "s.mp4")),
            workdir=tmp_path,
            progress=lambda fraction: None,
        )

    assert fake.requests == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"resolution": "1080p", "duration_seconds": 4}, "duration_seconds"),
        ({"mode": "extend"}, "source_video"),  # no Veo URI for the source video
        ({"model_tier": "lite", "resolution": "4k"}, "resolution"),
    ],
)
def test_requests_veo_rejects_fail_without_calling_google(
    fake: FakeGemini,
    provider: GeminiProvider,
    tmp_path: Path,
    changes: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ProviderFailed) as excinfo:
        provider.submit(_request(**changes), workdir=tmp_path, progress=lambda fraction: None)

    assert excinfo.value.details["field"] == field
    assert fake.requests == []


def test_missing_api_key_fails_without_calling_google(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, settings: Any
) -> None:
    settings.GEMINI_API_KEY = ""

    with pytest.raises(ProviderFailed, match="GEMINI_API_KEY"):
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)

    assert fake.requests == []


# -- upstream outcomes ----------------------------------------------------------------------


def test_safety_block_raises_content_blocked_with_the_filter_reasons(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.result = "blocked"
    fake.script.block_reasons = ["We encountered an issue with the audio for your prompt."]

    with pytest.raises(ContentBlocked) as excinfo:
        _run_to_completion(provider, _request(), tmp_path)

    assert "We encountered an issue with the audio" in excinfo.value.message
    assert json.loads(excinfo.value.details["rai_media_filtered_reasons"]) == [
        "We encountered an issue with the audio for your prompt."
    ]
    assert excinfo.value.details["rai_media_filtered_count"] == "1"
    assert not (tmp_path / "video.mp4").exists()


def test_done_without_video_or_reason_is_a_failure_not_a_block(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.result = "empty"

    with pytest.raises(ProviderFailed, match="without a video or a reason"):
        _run_to_completion(provider, _request(), tmp_path)


def test_done_without_generate_video_response_is_a_failure(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.result = "no_response"

    with pytest.raises(ProviderFailed, match="without a response or an error"):
        _run_to_completion(provider, _request(), tmp_path)


def test_a_video_uri_the_sdk_cannot_download_is_a_failure(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.video_uri = "gs://some-bucket/video.mp4"

    with pytest.raises(ProviderFailed, match="cannot download"):
        _run_to_completion(provider, _request(), tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_operation_error_raises_provider_failed_with_the_upstream_message(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.result = "error"
    fake.script.operation_error = {"code": 3, "message": "Input image has unsupported size."}

    with pytest.raises(ProviderFailed) as excinfo:
        _run_to_completion(provider, _request(), tmp_path)

    assert "Input image has unsupported size." in excinfo.value.message
    assert excinfo.value.details["upstream_code"] == "3"
    assert excinfo.value.details["operation_done"] == "true"


@pytest.mark.parametrize(
    "error",
    [
        {"code": 14, "message": "The service is currently unavailable."},
        {"code": 8, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"},
        {"code": 503, "message": "The model is overloaded."},
    ],
)
def test_retryable_operation_error_raises_transient(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, error: dict[str, Any]
) -> None:
    fake.script.result = "error"
    fake.script.operation_error = error

    with pytest.raises(ProviderTransientError) as excinfo:
        _run_to_completion(provider, _request(), tmp_path)

    assert error["message"] in excinfo.value.message
    assert excinfo.value.details["operation_done"] == "true"


def test_429_on_submit_is_transient_with_retry_after_then_a_resubmit_succeeds(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.submit_errors = [429]

    with pytest.raises(ProviderTransientError) as excinfo:
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)
    completed = _run_to_completion(provider, _request(), tmp_path)

    assert excinfo.value.retry_after_seconds == 7
    assert "429" in excinfo.value.message
    assert "RESOURCE_EXHAUSTED" in excinfo.value.message
    assert len(fake.submits()) == 2  # one per call: the SDK itself did not retry
    assert completed.video_path.read_bytes() == fake.mp4


def test_429_on_a_poll_is_transient_and_the_next_poll_completes(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.polls_until_done = 0
    fake.script.retry_after = None
    request = _request()
    pending = _submit(provider, request, tmp_path)
    fake.script.poll_errors = [429]

    with pytest.raises(ProviderTransientError) as excinfo:
        provider.poll(pending.operation, request, workdir=tmp_path)
    completed = provider.poll(pending.operation, request, workdir=tmp_path)

    assert excinfo.value.retry_after_seconds is None
    assert isinstance(completed, Completed)


def test_429_takes_the_retry_delay_from_google_retry_info(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.submit_errors = [429]
    fake.script.retry_after = None
    fake.script.retry_delay = "30s"

    with pytest.raises(ProviderTransientError) as excinfo:
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)

    assert excinfo.value.retry_after_seconds == 30


def test_500_forever_is_transient_and_the_sdk_does_not_retry(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.always_status = 500

    started = time.monotonic()
    with pytest.raises(ProviderTransientError, match="500"):
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)

    assert len(fake.requests) == 1
    assert time.monotonic() - started < 2


def test_download_failure_is_transient_and_polling_again_downloads(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.polls_until_done = 0
    fake.script.download_errors = [503]
    request = _request()
    pending = _submit(provider, request, tmp_path)

    with pytest.raises(ProviderTransientError, match=r"files\.download"):
        provider.poll(pending.operation, request, workdir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    completed = provider.poll(pending.operation, request, workdir=tmp_path)

    assert isinstance(completed, Completed)
    assert completed.video_path.read_bytes() == fake.mp4


def test_a_submit_answer_that_is_not_json_is_transient(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    fake.script.malformed = {"submit"}

    with pytest.raises(ProviderTransientError, match="not JSON"):
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)


def test_a_poll_answer_that_is_not_json_is_transient(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    request = _request()
    pending = _submit(provider, request, tmp_path)
    fake.script.malformed = {"poll"}

    with pytest.raises(ProviderTransientError, match="not JSON"):
        provider.poll(pending.operation, request, workdir=tmp_path)


def test_a_wrong_api_key_fails_naming_the_upstream_message(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, settings: Any
) -> None:
    settings.GEMINI_API_KEY = "wrong-key"

    with pytest.raises(ProviderFailed) as excinfo:
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)

    assert "API key not valid" in excinfo.value.message
    assert excinfo.value.details["http_status"] == "400"
    assert "wrong-key" not in excinfo.value.message


def test_unknown_operation_fails(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path
) -> None:
    with pytest.raises(ProviderFailed, match="404"):
        provider.poll(
            "models/veo-3.1-generate-preview/operations/nope", _request(), workdir=tmp_path
        )


def test_connection_refused_is_transient(
    provider: GeminiProvider, tmp_path: Path, settings: Any
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.GEMINI_BASE_URL = f"http://127.0.0.1:{port}"
    settings.GEMINI_API_KEY = API_KEY

    with pytest.raises(ProviderTransientError, match="network error"):
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)


def test_a_slow_answer_times_out_as_transient(
    fake: FakeGemini, provider: GeminiProvider, tmp_path: Path, settings: Any
) -> None:
    settings.GEMINI_HTTP_TIMEOUT_SECONDS = 1
    fake.script.delay_seconds = 2

    started = time.monotonic()
    with pytest.raises(ProviderTransientError, match="network error"):
        provider.submit(_request(), workdir=tmp_path, progress=lambda fraction: None)

    assert time.monotonic() - started < 1.9
