"""Veo 3.1's coupled constraints (https://ai.google.dev/gemini-api/docs/video, parameter table)."""

from __future__ import annotations

from typing import Any

import pytest

from generation.veo_rules import VeoConstraintError, veo_validate

BASE: dict[str, Any] = {
    "mode": "text",
    "model_tier": "quality",
    "resolution": "720p",
    "duration_seconds": 8,
    "aspect_ratio": "16:9",
    "image_count": 0,
    "has_source_video": False,
}


def _request(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="text-720p-8s"),
        pytest.param({"duration_seconds": 4}, id="text-720p-4s"),
        pytest.param({"duration_seconds": 6, "aspect_ratio": "9:16"}, id="text-vertical-6s"),
        pytest.param({"resolution": "1080p"}, id="1080p-8s"),
        pytest.param({"resolution": "4k", "model_tier": "fast"}, id="fast-4k-8s"),
        pytest.param({"resolution": "1080p", "model_tier": "lite"}, id="lite-1080p"),
        pytest.param({"mode": "image", "image_count": 1, "duration_seconds": 4}, id="image"),
        pytest.param({"mode": "first_last", "image_count": 2}, id="first-last"),
        pytest.param({"mode": "reference", "image_count": 1}, id="reference-1"),
        pytest.param({"mode": "reference", "image_count": 3}, id="reference-3"),
        pytest.param({"mode": "extend", "has_source_video": True}, id="extend"),
    ],
)
def test_accepts_combinations_veo_supports(changes: dict[str, Any]) -> None:
    veo_validate(**_request(**changes))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"mode": "upscale"}, "mode", id="upscale-is-not-veo"),
        pytest.param({"mode": "remix"}, "mode", id="unknown-mode"),
        pytest.param({"model_tier": "ultra"}, "model_tier", id="unknown-tier"),
        pytest.param({"aspect_ratio": "1:1"}, "aspect_ratio", id="square"),
        pytest.param({"aspect_ratio": "auto"}, "aspect_ratio", id="unresolved-auto"),
        pytest.param({"resolution": "480p"}, "resolution", id="unknown-resolution"),
        pytest.param({"duration_seconds": 5}, "duration_seconds", id="5s"),
        pytest.param({"duration_seconds": 10}, "duration_seconds", id="10s"),
        pytest.param(
            {"resolution": "1080p", "duration_seconds": 6}, "duration_seconds", id="1080p-needs-8s"
        ),
        pytest.param(
            {"resolution": "4k", "duration_seconds": 4}, "duration_seconds", id="4k-needs-8s"
        ),
        pytest.param({"model_tier": "lite", "resolution": "4k"}, "resolution", id="lite-no-4k"),
        pytest.param(
            {"mode": "reference", "image_count": 2, "duration_seconds": 6},
            "duration_seconds",
            id="reference-needs-8s",
        ),
        pytest.param({"mode": "reference", "image_count": 4}, "images", id="reference-max-3"),
        pytest.param({"mode": "reference", "image_count": 0}, "images", id="reference-needs-one"),
        pytest.param(
            {"mode": "extend", "has_source_video": True, "resolution": "1080p"},
            "resolution",
            id="extend-720p-only",
        ),
        pytest.param(
            {"mode": "extend", "has_source_video": True, "duration_seconds": 4},
            "duration_seconds",
            id="extend-needs-8s",
        ),
        pytest.param({"mode": "extend"}, "source_video", id="extend-needs-source"),
        pytest.param(
            {"mode": "extend", "has_source_video": True, "image_count": 1},
            "images",
            id="extend-takes-no-image",
        ),
        pytest.param({"mode": "first_last", "image_count": 1}, "images", id="first-last-one"),
        pytest.param({"mode": "first_last", "image_count": 3}, "images", id="first-last-three"),
        pytest.param({"mode": "image", "image_count": 0}, "images", id="image-without-image"),
        pytest.param({"mode": "image", "image_count": 2}, "images", id="image-with-two"),
        pytest.param({"image_count": 1}, "images", id="text-with-image"),
        pytest.param({"has_source_video": True}, "source_video", id="text-with-video"),
    ],
)
def test_refuses_combinations_veo_rejects(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(VeoConstraintError) as excinfo:
        veo_validate(**_request(**changes))

    assert excinfo.value.field == field
    assert excinfo.value.message
    assert isinstance(excinfo.value, ValueError)
