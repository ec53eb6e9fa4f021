"""Refusals read as sentences and name what the client can do (issue 16)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_form_encoded_body_is_told_to_be_json(bearer: APIClient) -> None:
    response = bearer.post(
        "/api/generate-video",
        "generationType=text_to_video&prompt=A+lighthouse",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.json()["msg"] == (
        "Invalid parameters: body must be JSON (send Content-Type: application/json)"
    )
    kie = bearer.post(
        "/api/v1/veo/generate",
        "prompt=A+lighthouse",
        content_type="application/x-www-form-urlencoded",
    )
    assert kie.json()["msg"] == "body must be JSON (send Content-Type: application/json)"


def test_image_to_video_without_an_image_names_image_key_too(bearer: APIClient) -> None:
    body = {"generationType": "image_to_video", "prompt": "A lighthouse"}
    message = bearer.post("/api/generate-video", body, format="json").json()["msg"]
    assert "imageUrl" in message and "imageKey" in message


def test_a_duration_refusal_reads_after_the_field_name(bearer: APIClient) -> None:
    body = {"prompt": "A lighthouse", "resolution": "1080p", "duration": 4}
    answer = bearer.post("/api/v1/veo/generate", body, format="json").json()
    assert answer["msg"] == "duration must be 8 seconds for 1080p videos"


def test_an_unrecognised_upload_reads_after_the_field_name(bearer: APIClient) -> None:
    upload = SimpleUploadedFile("x.png", b"not an image at all", content_type="image/png")
    answer = bearer.post("/api/upload-video-image", {"file": upload}, format="multipart").json()
    assert answer["msg"].endswith(
        "file is not a recognised image; allowed formats are JPEG, PNG and WebP"
    ), answer
