"""OmniProvider with the real google-genai 3.x SDK against a local fake of the Interactions API
(`tests/fake_interactions.py`). Only the process boundary is faked."""

from __future__ import annotations

import base64
import io
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
from generation.providers.omni import OmniProvider
from tests.fake_interactions import FakeInteractions, running_fake_interactions
from tests.fake_vertex import tiny_mp4

API_KEY = "test-key"


@pytest.fixture
def fake(settings: Any) -> Iterator[FakeInteractions]:
    with running_fake_interactions(mp4=tiny_mp4(), api_key=API_KEY) as server:
        settings.OMNI_SURFACE = "gemini"
        settings.GEMINI_BASE_URL = server.base_url
        settings.GEMINI_API_KEY = API_KEY
        settings.OMNI_MODEL = "gemini-omni-1.2-flash"
        settings.OMNI_DELIVERY = "inline"
        settings.OMNI_POLL_INTERVAL_SECONDS = 10
        yield server


def _png() -> InputImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), "red").save(buffer, format="PNG")
    return InputImage(data=buffer.getvalue(), mime_type="image/png", width=64, height=36)


def _request(**changes: Any) -> RenderRequest:
    base = RenderRequest(
        job_id="job-1",
        prompt="a paper boat on a river",
        mode="text",
        model_tier="fast",
        aspect_ratio="9:16",
        resolution="360p",
        duration_seconds=12,
        seed=1,
    )
    return replace(base, **changes)


def _run(provider: OmniProvider, request: RenderRequest, workdir: Path) -> Completed:
    pending = provider.submit(request, workdir=workdir, progress=lambda fraction: None)
    assert isinstance(pending, Pending)
    for _ in range(5):
        outcome = provider.poll(pending.operation, request, workdir=workdir)
        if isinstance(outcome, Completed):
            return outcome
    raise AssertionError("never completed")


def test_sdk_request_paths_and_body_are_pinned(fake: FakeInteractions, tmp_path: Path) -> None:
    """A google-genai release that moves the Interactions paths or body fails here."""
    completed = _run(OmniProvider(), _request(mode="image", images=(_png(),)), tmp_path)
    paths = [(r.method, r.path) for r in fake.requests]
    interaction_id = completed.details["omni_interaction"]
    assert paths == [
        ("POST", "/v1/interactions"),
        ("GET", f"/v1/interactions/{interaction_id}"),
        ("GET", f"/v1/interactions/{interaction_id}"),
    ]
    assert fake.requests[1].query == {"stream": ["false"]}
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in fake.requests)
    body = fake.creates()[0].body
    assert body == {
        "model": "gemini-omni-1.2-flash",
        "background": True,
        "input": [
            {
                "type": "user_input",
                "content": [
                    {"type": "text", "text": "a paper boat on a river"},
                    {
                        "type": "image",
                        "data": base64.b64encode(_png().data).decode(),
                        "mime_type": "image/png",
                    },
                ],
            }
        ],
        "response_format": {
            "type": "video",
            "aspect_ratio": "9:16",
            "duration": "12s",
            "resolution": "360p",
            "delivery": "inline",
        },
        "generation_config": {"video_config": {"task": "image_to_video"}},
    }


def test_vertex_surface_uses_v1beta1(fake: FakeInteractions, tmp_path: Path, settings: Any) -> None:
    settings.OMNI_SURFACE = "vertex"
    settings.VERTEX_API_KEY = API_KEY
    settings.VERTEX_BASE_URL = fake.base_url
    _run(OmniProvider(), _request(), tmp_path)
    assert fake.requests[0].path == "/v1beta1/interactions"


def test_inline_and_uri_delivery_store_exact_bytes_and_bill_delivered_seconds(
    fake: FakeInteractions, tmp_path: Path, settings: Any
) -> None:
    fake.delivered_mp4 = tiny_mp4(seconds=2)
    completed = _run(OmniProvider(), _request(), tmp_path)
    assert completed.video_path.read_bytes() == fake.delivered_mp4
    assert completed.billed_seconds == pytest.approx(2.0, abs=0.1)
    settings.OMNI_DELIVERY = "uri"
    completed = _run(OmniProvider(), _request(), tmp_path / "uri")
    assert completed.video_path.read_bytes() == fake.delivered_mp4
    assert any(":download" in r.path for r in fake.requests)


def test_uri_on_a_foreign_host_is_not_fetched(
    fake: FakeInteractions, tmp_path: Path, settings: Any
) -> None:
    from types import SimpleNamespace

    from generation.providers.omni import _video_bytes

    with pytest.raises(ProviderFailed, match="will not fetch"):
        _video_bytes(SimpleNamespace(data=None, uri="https://evil.example/v.mp4"))


@pytest.mark.parametrize(
    ("result", "error"),
    [
        ("blocked", ContentBlocked),
        ("error", ProviderFailed),
        ("cancelled", ProviderFailed),
        ("requires_action", ProviderFailed),
    ],
)
def test_terminal_statuses_map_to_outcomes(
    fake: FakeInteractions, tmp_path: Path, result: str, error: type[Exception]
) -> None:
    fake.script.result = result
    with pytest.raises(error) as excinfo:
        _run(OmniProvider(), _request(), tmp_path)
    assert type(excinfo.value) is error
    if result == "requires_action":
        assert len(fake.cancels()) == 1


@pytest.mark.parametrize("result", ["incomplete", "budget_exceeded"])
def test_partial_results_deliver_what_was_made_or_fail(
    fake: FakeInteractions, tmp_path: Path, result: str
) -> None:
    fake.script.result = result
    fake.delivered_mp4 = tiny_mp4(seconds=2)
    completed = _run(OmniProvider(), _request(), tmp_path)
    assert completed.billed_seconds == pytest.approx(2.0, abs=0.1)
    fake.script.with_partial_video = False
    with pytest.raises(ProviderFailed):
        _run(OmniProvider(), _request(), tmp_path)


def test_cancel_reaches_the_cancel_endpoint(fake: FakeInteractions, tmp_path: Path) -> None:
    fake.script.polls_until_done = 100
    provider = OmniProvider()
    pending = provider.submit(_request(), workdir=tmp_path, progress=print)
    assert provider.cancel(pending.operation) is True
    assert fake.cancels()[0].path == f"/v1/interactions/{pending.operation}/cancel"


def test_http_errors(fake: FakeInteractions, tmp_path: Path) -> None:
    fake.script.create_errors = [429, 503, 400]
    provider = OmniProvider()
    with pytest.raises(ProviderTransientError):
        provider.submit(_request(), workdir=tmp_path, progress=print)
    with pytest.raises(ProviderTransientError):
        provider.submit(_request(), workdir=tmp_path, progress=print)
    with pytest.raises(ProviderFailed):
        provider.submit(_request(), workdir=tmp_path, progress=print)
    # One request per call: the SDK adds no retries under the pipeline's own.
    assert len(fake.creates()) == 3
    with pytest.raises(ProviderFailed) as excinfo:
        provider.poll("v1_gone", _request(), workdir=tmp_path)
    assert excinfo.value.details.get("not_found") == "true"


def test_catalog_refuses_before_any_request(fake: FakeInteractions, tmp_path: Path) -> None:
    with pytest.raises(ProviderFailed, match="duration"):
        OmniProvider().submit(_request(duration_seconds=16), workdir=tmp_path, progress=print)
    with pytest.raises(ProviderFailed, match="mode"):
        OmniProvider().submit(
            _request(mode="first_last", images=(_png(), _png())), workdir=tmp_path, progress=print
        )
    assert fake.requests == []
